"""Read-only queries the certificates app publishes to other apps.

A certificate's tracked state (status, signing key and serial, hash of the signed document, whether its signer
was revoked for it): what its audit entries keep (`payload["state"]`) and what the audit log's replay compares
with the rows. No commercial details: the audit log is read by roles that may not see them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min, Q, Sum

from kpcs.certificates.models import Cancellation, Certificate, CertificateLine, Discrepancy, ImportConfirmation

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


# --- certificates as figures, for statistics and monitoring (issue 10 item 7) ----------------------------------
# Those apps read certificates only through these functions, never the tables (tests/test_boundaries.py): plain
# values out (integers of centi-carats and cents, dates, codes), streamed where the caller streams. Effective
# status (CERT-09): a certificate still `issued` past its expiry date on `as_of` is expired, whether or not the
# hourly expiry job has written it yet.

# Certificates that stand for a shipment that left the country: cancelled and expired ones never did.
EXPORTED = ("issued", "confirmed", "rejected")
# A certificate counts once, on its first line, so that certificate counts add up across HS codes.
_FIRST_LINES = Count("certificate_id", filter=Q(position=1))

# (quarter, participant, flow, partner, origin, HS code or "", centi-carats, cents, certificates)
TradeRow = tuple[str, str, str, str, str, str, int, int, int]


def expired_unused_exports(as_of: dt.date, quarters: Iterable[str] | None = None, participant: str | None = None,
                           by_hs: bool = True) -> Iterator[TradeRow]:
    """Export figures of certificates past their expiry date on `as_of` and still `issued` (CERT-09): not exports,
    though the trade cells still count them. Few: only those the expiry job has not reached yet. Without `by_hs`
    the HS code is "" and the lines of a certificate are added together."""
    lines = CertificateLine.objects.filter(certificate__status="issued", certificate__expires_on__lt=as_of,
                                           certificate__signer_revoked=False)
    if quarters is not None:
        lines = lines.filter(certificate__issued_quarter__in=list(quarters))
    if participant:
        lines = lines.filter(certificate__exporting_participant_id=participant)
    keys = ["certificate__issued_quarter", "certificate__exporting_participant_id",
            "certificate__importing_participant_id", "certificate__origin"] + (["hs_code"] if by_hs else [])
    for *key, c, v, n in (lines.values_list(*keys).annotate(c=Sum("carats_centi"), v=Sum("value_cents"),
                                                            n=_FIRST_LINES).order_by()):
        q, p, partner, origin, *hs = key
        yield q, p, "export", partner, origin, hs[0] if hs else "", c or 0, v or 0, n or 0


def trade_from_lines(quarters: Iterable[str] | None = None) -> Iterator[TradeRow]:
    """Quarterly trade aggregated straight from certificate lines, by the status stored (not the effective one):
    exports by quarter of issue (EXPORTED), imports by quarter of receipt (confirmed); the reference the
    statistics' trade cells must equal."""
    wanted = None if quarters is None else list(quarters)
    for flow, status_filter, quarter_field, who, other in (
            ("export", Q(certificate__status__in=EXPORTED), "certificate__issued_quarter",
             "certificate__exporting_participant_id", "certificate__importing_participant_id"),
            ("import", Q(certificate__status="confirmed"), "certificate__confirmation__received_quarter",
             "certificate__importing_participant_id", "certificate__exporting_participant_id")):
        lines = CertificateLine.objects.filter(status_filter, certificate__signer_revoked=False)
        if wanted is not None:
            lines = lines.filter(**{f"{quarter_field}__in": wanted})
        rows = (lines.values_list(quarter_field, who, other, "certificate__origin", "hs_code")
                .annotate(c=Sum("carats_centi"), v=Sum("value_cents"), n=_FIRST_LINES).order_by())
        for q, p, partner, origin, hs, c, v, n in rows:
            yield q, p, flow, partner, origin, hs, c, v, n


def export_quarters(as_of: dt.date, participant: str | None = None) -> Iterator[tuple[str, str]]:
    """(exporting participant, quarter of issue) of every quarter with an export by effective status on `as_of`:
    the trade a participant reported through its certificates (STAT-10)."""
    certificates = Certificate.objects.filter(status__in=EXPORTED, signer_revoked=False).exclude(
        status="issued", expires_on__lt=as_of)
    if participant:
        certificates = certificates.filter(exporting_participant_id=participant)
    yield from certificates.values_list("exporting_participant_id", "issued_quarter").distinct().order_by()


@dataclass(frozen=True)
class Reconciled:
    """A certificate's declared totals beside what the importing authority confirmed (None until confirmed)."""

    number: str
    status: str
    exporting: str
    importing: str
    issued_on: dt.date
    carats_centi: int
    value_cents: int
    parcels: int
    confirmed_carats_centi: int | None
    confirmed_parcels: int | None
    received_on: dt.date | None


def reconciliation(quarters: Iterable[str], participant: str) -> list[Reconciled]:
    """Every certificate of `participant` (either side) issued in `quarters`, by issue day and number."""
    wanted = list(quarters)
    qs = Certificate.objects.filter(Q(exporting_participant_id=participant) | Q(importing_participant_id=participant),
                                    issued_quarter__in=wanted)
    out = []
    for (number, status, exp, imp, issued_on, c, v, n, conf_c, conf_n, received_on) in qs.values_list(
            "number", "status", "exporting_participant_id", "importing_participant_id", "issued_on",
            "total_carats_centi", "total_value_cents", "total_parcels", "confirmation__carats_centi",
            "confirmation__parcels", "confirmation__received_on").order_by("issued_on", "number"):
        confirmed = status == "confirmed"
        out.append(Reconciled(number, status, exp, imp, issued_on, c, v, n, conf_c if confirmed else None,
                              conf_n if confirmed else None, received_on if confirmed else None))
    return out


def awaiting_confirmation(as_of: dt.date, issued_by: dt.date) -> Iterator[tuple[str, str, str, dt.date, int, int]]:
    """Certificates issued on or before `issued_by` that the importer has not confirmed and that have not expired
    on `as_of` (whatever the status the expiry job wrote): (number, exporting, importing, issued on, centi-carats,
    cents), streamed (IMP-02)."""
    yield from Certificate.objects.filter(
        status__in=("issued", "expired"), expires_on__gte=as_of, signer_revoked=False,
        issued_on__lte=issued_by).values_list(
        "number", "exporting_participant_id", "importing_participant_id", "issued_on", "total_carats_centi",
        "total_value_cents").iterator(chunk_size=2000)


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
