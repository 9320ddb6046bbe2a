"""Read-only queries the certificates app publishes to other apps.

A certificate's tracked state (status, signing key and serial, hash of the signed document, whether its signer
was revoked for it): what its audit entries keep (`payload["state"]`) and what the audit log's replay compares
with the rows. No commercial details: the audit log is read by roles that may not see them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection
from django.db.models import Max, Min

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


# --- for the anomaly scan (monitoring) ---------------------------------------------------------------

# number, exporting participant, origin, issued on, gem centi-carats, gem cents
PricedShipment = tuple[str, str, str, dt.date, int, int]


def issued_between(origins: Iterable[str]) -> tuple[dt.date, dt.date] | None:
    """The first and last issue days of the certificates of these origins (two index look-ups; on SQLite,
    `.dates()` would call Django's Python date_trunc function once per certificate), None without any."""
    span = Certificate.objects.filter(origin__in=list(origins)).aggregate(first=Min("issued_on"),
                                                                          last=Max("issued_on"))
    return None if span["first"] is None else (span["first"], span["last"])


def priced_outside(bands: Iterable[tuple[str, int, float, float]], *, statuses: Sequence[str], min_gem_centi: int,
                   as_of: dt.date) -> Iterator[PricedShipment]:
    """Certificates whose gem-quality US$/ct lies at or outside a band, per (origin, year of issue, low, high):
    gem value ≤ low × gem carats or ≥ high × gem carats, at least `min_gem_centi` gem centi-carats, in
    `statuses`, signer not revoked, and not expired unused on `as_of` (effective status, CERT-09).

    One statement run once per band on the (origin, issued_on, status, gem carats, gem value) index: a scan asks
    for hundreds of bands, and building a queryset for each cost more than running it."""
    t = Certificate._meta
    col = {f.name: connection.ops.quote_name(f.column) for f in t.concrete_fields if f.column}
    status_in = ", ".join(["%s"] * len(statuses))
    sql = (f"SELECT {col['number']}, {col['exporting_participant']}, {col['issued_on']}, {col['gem_carats_centi']}, "
           f"{col['gem_value_cents']} FROM {connection.ops.quote_name(t.db_table)} "
           f"WHERE {col['origin']} = %s AND {col['issued_on']} >= %s AND {col['issued_on']} <= %s "
           f"AND {col['status']} IN ({status_in}) AND {col['signer_revoked']} = %s "
           f"AND {col['gem_carats_centi']} >= %s "
           f"AND NOT ({col['status']} = %s AND {col['expires_on']} < %s) "
           f"AND ({col['gem_value_cents']} <= {col['gem_carats_centi']} * %s "
           f"OR {col['gem_value_cents']} >= {col['gem_carats_centi']} * %s)")
    day = connection.ops.adapt_datefield_value
    expired_before = day(as_of)
    with connection.cursor() as cursor:
        for origin, year, low, high in bands:
            cursor.execute(sql, [origin, day(dt.date(year, 1, 1)), day(dt.date(year, 12, 31)), *statuses, False,
                                 min_gem_centi, "issued", expired_before, low, high])
            for number, participant, issued_on, carats, cents in cursor.fetchall():
                if isinstance(issued_on, str):  # a backend that gives dates as text
                    issued_on = dt.date.fromisoformat(issued_on)
                yield number, participant, origin, issued_on, carats, cents
