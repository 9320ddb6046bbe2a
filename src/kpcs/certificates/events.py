"""What happens to a certificate, as the certificates app tells the rest of the node (issue 10 item 7).

Published by `certificates.services` inside the transaction of the change (`kpcs.events.publish`): statistics
keeps its trade cells in step with them, custody moves the goods (an import on confirmation, a return of the
exported parcels when a certificate from custody is cancelled, rejected or expires unused); the transparency log
and federation will read the same events. Plain values only, so a handler never reaches back into certificates'
tables: quantities in hundredths (carats) and cents (US$), as the rows keep them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One HS-code line of the certificate (CERT-02 items 11–14)."""

    position: int
    hs_code: str
    carats_centi: int
    value_cents: int
    parcels: int


@dataclass(frozen=True, kw_only=True)
class CertificateEvent:
    """The certificate as it stands after the change, and the change: status before and after, when, by whom."""

    number: str
    exporting: str  # participant codes
    importing: str
    origin: str  # the country of origin, or "mixed"
    origin_countries: tuple[str, ...]
    issued_on: dt.date
    issued_quarter: str  # e.g. "2025-Q3": the quarter statistics count its export in
    expires_on: dt.date
    total_carats_centi: int
    total_value_cents: int
    total_parcels: int
    lines: tuple[Line, ...]
    from_custody: bool  # issued from parcels in custody (CERT-10): they left the exporter's stock with it
    exporter: int  # the exporting operator's id
    importer_name: str  # the importer as the certificate names it (CERT-02 item 10)
    signer_revoked: bool  # its key was revoked for it: not genuine, out of the statistics since (IMP-08)
    status_before: str  # "" when issued
    status_after: str
    at: dt.datetime  # when the change was recorded
    actor: str  # who made it, as the audit log names them


@dataclass(frozen=True, kw_only=True)
class CertificateIssued(CertificateEvent):
    """Signed and numbered (CERT-02, EXP-01): an export from its quarter of issue."""


@dataclass(frozen=True, kw_only=True)
class CertificateConfirmed(CertificateEvent):
    """The importing authority confirmed receipt (IMP-02): an import in its quarter of receipt."""

    received_on: dt.date
    received_quarter: str
    parcels_found: int
    carats_found_centi: int
    seals_intact: bool
    with_differences: bool


@dataclass(frozen=True, kw_only=True)
class CertificateRejected(CertificateEvent):
    """The importing authority refused the shipment (IMP-08)."""

    discrepancy: str  # the kind of discrepancy found


@dataclass(frozen=True, kw_only=True)
class CertificateCancelled(CertificateEvent):
    """The issuing participant withdrew it unused: the goods never left."""


@dataclass(frozen=True, kw_only=True)
class CertificateExpired(CertificateEvent):
    """Past its expiry date and never used (CERT-09): the goods never left."""

    as_of: dt.date  # the day the expiry run judged it on


@dataclass(frozen=True, kw_only=True)
class CertificateSignerRevoked(CertificateEvent):
    """Its signing key was revoked before its serial (IMP-08): not genuine any more, whatever its status (which
    this does not change: `status_before == status_after`)."""

    kid: str
    received_quarter: str | None  # the quarter of receipt when it had been confirmed
