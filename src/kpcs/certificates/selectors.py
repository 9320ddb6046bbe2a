"""Read-only queries the certificates app publishes to other apps.

A certificate's tracked state (status, signing key and serial, hash of the signed document, whether its signer
was revoked for it): what its audit entries keep (`payload["state"]`) and what the audit log's replay compares
with the rows. No commercial details: the audit log is read by roles that may not see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kpcs.certificates.models import Cancellation, Certificate, Discrepancy, ImportConfirmation

State = dict[str, Any]
_TRACKED = ("number", "status", "kid", "serial", "payload_hash", "signer_revoked")


def _state(status: str, kid: str, serial: int, payload_hash: str, signer_revoked: bool) -> State:
    return {"status": status, "kid": kid, "serial": serial, "payload_hash": payload_hash,
            "signer_revoked": signer_revoked}


def certificate_state(cert: Certificate) -> State:
    return _state(cert.status, cert.kid, cert.serial, cert.payload_hash, cert.signer_revoked)


def certificate_states() -> Iterator[tuple[str, State]]:
    for number, *values in Certificate.objects.order_by().values_list(*_TRACKED).iterator(chunk_size=5000):
        yield number, _state(*values)


def certificate_state_of(number: str) -> State | None:
    row = Certificate.objects.filter(number=number).values_list(*_TRACKED[1:]).first()
    return _state(*row) if row else None


# The full records behind a confirmation, rejection or cancellation, as their audit entries hash them
# (`record_hash`): the log is bound to the row without disclosing figures, parties or reasons.

def confirmation_record(c: ImportConfirmation) -> dict[str, Any]:
    return {"received_on": c.received_on.isoformat(), "parcels": c.parcels, "carats_centi": c.carats_centi,
            "seals_intact": c.seals_intact, "differences": c.differences, "authority": c.authority_id}


def discrepancy_record(d: Discrepancy) -> dict[str, Any]:
    return {"kind": d.kind, "declared": d.declared, "found": d.found, "reason": d.reason,
            "authority": d.authority_id}


def cancellation_record(x: Cancellation) -> dict[str, Any]:
    return {"reason": x.reason}
