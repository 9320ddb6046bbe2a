"""Statistics keep the derived trade in step with certificates (STAT-01), from the events certificates publish
(`kpcs.certificates.events`), in the transaction of the certificate's change. Subscribed in StatisticsConfig.ready.

Exports count from the quarter of issue until a certificate is cancelled or expires unused (a rejected shipment
did leave the country); imports from the quarter of receipt once confirmed. A certificate whose signer was
revoked for it left the statistics then and does not come back (IMP-08).
"""

from __future__ import annotations

from kpcs import events
from kpcs.certificates import events as certificate_events
from kpcs.certificates.events import CertificateEvent
from kpcs.certificates.selectors import EXPORTED
from kpcs.statistics import services


def _trade(event: CertificateEvent, flow: str, sign: int, quarter: str) -> None:
    mine, theirs = ((event.exporting, event.importing) if flow == "export" else (event.importing, event.exporting))
    services.record_trade(flow=flow, quarter=quarter, participant=mine, partner=theirs, origin=event.origin,
                          lines=[(ln.position, ln.hs_code, ln.carats_centi, ln.value_cents) for ln in event.lines],
                          sign=sign)


def on_issued(event: certificate_events.CertificateIssued) -> None:
    if not event.signer_revoked:
        _trade(event, "export", +1, event.issued_quarter)


def on_confirmed(event: certificate_events.CertificateConfirmed) -> None:
    if not event.signer_revoked:
        _trade(event, "import", +1, event.received_quarter)


def on_not_exported(event: certificate_events.CertificateCancelled | certificate_events.CertificateExpired) -> None:
    """Cancelled or expired unused: the goods never left, out of the exports of its quarter of issue."""
    if not event.signer_revoked and event.status_before in EXPORTED:
        _trade(event, "export", -1, event.issued_quarter)


def on_signer_revoked(event: certificate_events.CertificateSignerRevoked) -> None:
    """Not genuine any more: out of every trade figure it was counted in."""
    if event.status_before in EXPORTED:
        _trade(event, "export", -1, event.issued_quarter)
    if event.status_before == "confirmed" and event.received_quarter:
        _trade(event, "import", -1, event.received_quarter)


def subscribe() -> None:
    events.subscribe(certificate_events.CertificateIssued, on_issued)
    events.subscribe(certificate_events.CertificateConfirmed, on_confirmed)
    events.subscribe(certificate_events.CertificateCancelled, on_not_exported)
    events.subscribe(certificate_events.CertificateExpired, on_not_exported)
    events.subscribe(certificate_events.CertificateSignerRevoked, on_signer_revoked)
