"""Custody follows the certificates' events (`kpcs.certificates.events`), in the transaction of the certificate's
change: a confirmed certificate from custody brings its goods into the importer's stock (IMP-02, CERT-10); one
cancelled, rejected or expired unused returns its parcels to the exporter's stock (issue 9). Subscribed in
CustodyConfig.ready. A refusal here (e.g. 422 `importer_not_registered`) undoes the certificate's change too.
"""

from __future__ import annotations

from kpcs import events
from kpcs.certificates import events as certificate_events
from kpcs.certificates.events import CertificateEvent
from kpcs.custody import services


def on_confirmed(event: certificate_events.CertificateConfirmed) -> None:
    if event.from_custody:
        services.record_import(event.actor, certificate=event.number, importing=event.importing,
                               importer_name=event.importer_name, now=event.at)


def on_not_used(event: CertificateEvent) -> None:
    """Cancelled, rejected or expired unused: the goods are the exporter's again."""
    if event.from_custody:
        services.record_return(event.actor, certificate=event.number, status=event.status_after, now=event.at)


def subscribe() -> None:
    events.subscribe(certificate_events.CertificateConfirmed, on_confirmed)
    for kind in (certificate_events.CertificateCancelled, certificate_events.CertificateRejected,
                 certificate_events.CertificateExpired):
        events.subscribe(kind, on_not_used)
