"""Read-only queries of custody records: parcels, events, traces, the stock ledger (INT-08, INT-09, CERT-10).

Scoping (who may read which participant's records) is the caller's: services and the API check it first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum

from kpcs.audit.rules import iso
from kpcs.custody import rules
from kpcs.custody.models import CustodyControl, CustodyEvent, Licence, Parcel, ParcelOrigin, Site

ct = rules.centi_text


def _operator(op: Any) -> dict[str, Any] | None:
    if op is None:
        return None
    return {"id": op.pk, "name": op.name, "participant": op.participant_id}


def _licence(lic: Licence | None) -> dict[str, Any] | None:
    if lic is None:
        return None
    return {"id": lic.pk, "kind": lic.kind, "number": lic.number, "valid_from": lic.valid_from,
            "valid_until": lic.valid_until}


def _site(site: Site | None) -> dict[str, Any] | None:
    if site is None:
        return None
    return {"id": site.pk, "name": site.name, "kind": site.kind, "region": site.region,
            "participant": site.participant_id}


def licence_view(lic: Licence) -> dict[str, Any]:
    return {"id": lic.pk, "operator": lic.operator_id, "participant": lic.participant_id, "kind": lic.kind,
            "number": lic.number, "area": lic.area, "valid_from": lic.valid_from, "valid_until": lic.valid_until,
            "recorded_at": lic.recorded_at}


def site_view(site: Site) -> dict[str, Any]:
    return {"id": site.pk, "participant": site.participant_id, "name": site.name, "kind": site.kind,
            "region": site.region, "holder": site.holder_id, "recorded_at": site.recorded_at}


def licences(participants: set[str] | None, *, operator: int | None = None) -> QuerySet[Licence]:
    qs = Licence.objects.all()
    if participants is not None:
        qs = qs.filter(participant_id__in=participants)
    if operator is not None:
        qs = qs.filter(operator_id=operator)
    return qs.order_by("participant_id", "number", "pk")


def sites(participants: set[str] | None) -> QuerySet[Site]:
    qs = Site.objects.all()
    if participants is not None:
        qs = qs.filter(participant_id__in=participants)
    return qs.order_by("participant_id", "name", "pk")


def site(pk: int) -> Site | None:
    return Site.objects.filter(pk=pk).first()


# --- parcels and events -----------------------------------------------------------------------------

def parcel(pk: int) -> Parcel | None:
    return Parcel.objects.select_related("holder").filter(pk=pk).first()


def parcels(participants: set[str] | None, *, holder: int | None = None, status: str | None = None,
            site: int | None = None) -> QuerySet[Parcel]:
    qs = Parcel.objects.select_related("holder")
    if participants is not None:
        qs = qs.filter(participant_id__in=participants)
    if holder is not None:
        qs = qs.filter(holder_id=holder)
    if status is not None:
        qs = qs.filter(status=status)
    if site is not None:
        qs = qs.filter(pk__in=ParcelOrigin.objects.filter(site_id=site).values("parcel_id"))
    return qs.order_by("pk")


def parcel_view(p: Parcel) -> dict[str, Any]:
    return {"id": p.pk, "holder": _operator(p.holder), "participant": p.participant_id,
            "carats": ct(p.carats_centi), "value_usd": ct(p.usd_cents), "hs_code": p.hs_code, "stones": p.stones,
            "status": p.status, "created_by": p.created_by_id, "consumed_by": p.consumed_by_id}


def origins(parcel_id: int) -> list[dict[str, Any]]:
    """A parcel's origin shares, one query: [{country, site, carats}] adding up to its carats."""
    rows = ParcelOrigin.objects.filter(parcel_id=parcel_id).select_related("site").order_by("country", "site_id")
    return [{"country": o.country, "site": _site(o.site), "carats": ct(o.carats_centi)} for o in rows]


def origin_by_country(parcel_ids: Iterable[int]) -> dict[str, int]:
    """Carats (hundredths) per country of origin over some parcels, largest first: what a certificate from
    custody states (one country, or mixed with each country's share, CERT-10)."""
    rows = ParcelOrigin.objects.filter(parcel_id__in=list(parcel_ids)).values("country").annotate(
        c=Sum("carats_centi")).order_by("-c", "country")
    return {row["country"]: row["c"] for row in rows}


def _events(ids: Iterable[int]) -> QuerySet[CustodyEvent]:
    return CustodyEvent.objects.filter(pk__in=list(ids)).select_related(
        "operator", "counterparty", "site", "operator_licence", "counterparty_licence")


def event_view(event: CustodyEvent, inputs: list[dict[str, Any]] | None = None,
               outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An event as the API answers it; the same for a retry of its request (nothing in it changes later)."""
    if inputs is None:
        inputs = _inputs_of(event)
    if outputs is None:
        outputs = _outputs_of(event)
    return {"id": event.pk, "type": event.type, "participant": event.participant_id,
            "occurred_at": event.occurred_at, "recorded_at": event.recorded_at, "recorded_by": event.actor,
            "operator": _operator(event.operator), "operator_licence": _licence(event.operator_licence),
            "counterparty": _operator(event.counterparty),
            "counterparty_licence": _licence(event.counterparty_licence), "site": _site(event.site),
            "details": event.details, "inputs": inputs, "outputs": outputs}


def _inputs_of(event: CustodyEvent) -> list[dict[str, Any]]:
    return [{"id": pk, "carats": ct(c)} for pk, c in
            Parcel.objects.filter(consumed_by=event).order_by("pk").values_list("pk", "carats_centi")]


def _outputs_of(event: CustodyEvent) -> list[dict[str, Any]]:
    return [output_view(p) for p in Parcel.objects.filter(created_by=event).order_by("pk")]


def output_view(p: Parcel) -> dict[str, Any]:
    return {"id": p.pk, "holder": p.holder_id, "carats": ct(p.carats_centi), "value_usd": ct(p.usd_cents),
            "hs_code": p.hs_code, "stones": p.stones}


def event_record(event: CustodyEvent, inputs: list[dict[str, Any]] | None = None,
                 outputs: list[dict[str, Any]] | None = None, origins: list[list[Any]] | None = None) -> dict[str, Any]:
    """The full record an event's audit entry hashes (`record_hash`): the log binds it without disclosing it.

    The service that records the event passes what it just wrote (no queries); read back, it is the same."""
    if origins is None:  # ordered as the service writes them (NULL sites first on every engine)
        origins = sorted(([o.parcel_id, o.country, o.site_id, o.carats_centi] for o in
                          ParcelOrigin.objects.filter(parcel__created_by=event)),
                         key=lambda r: (r[0], r[1], -1 if r[2] is None else r[2]))
    return {"type": event.type, "participant": event.participant_id, "occurred_at": iso(event.occurred_at),
            "operator": event.operator_id, "counterparty": event.counterparty_id, "site": event.site_id,
            "operator_licence": event.operator_licence_id, "counterparty_licence": event.counterparty_licence_id,
            "details": event.details, "inputs": _inputs_of(event) if inputs is None else inputs,
            "outputs": _outputs_of(event) if outputs is None else outputs, "origins": origins}


def event(pk: int) -> CustodyEvent | None:
    return _events([pk]).first()


def events(participants: set[str] | None, *, operator: int | None = None, parcel: int | None = None,
           site: int | None = None) -> QuerySet[CustodyEvent]:
    qs = CustodyEvent.objects.select_related("operator", "counterparty", "site", "operator_licence",
                                             "counterparty_licence")
    if participants is not None:
        qs = qs.filter(participant_id__in=participants)
    if operator is not None:
        qs = qs.filter(Q(operator_id=operator) | Q(counterparty_id=operator))
    if parcel is not None:
        qs = qs.filter(Q(outputs__pk=parcel) | Q(inputs__pk=parcel)).distinct()
    if site is not None:
        qs = qs.filter(site_id=site)
    return qs.order_by("occurred_at", "pk")


# --- traces -----------------------------------------------------------------------------------------

def _ancestry_sql(count: int) -> str:
    """The recursive query behind the traces, from `count` parcels: each event leads to the events that made the
    parcels it consumed, and a `return` to the `export` under the same certificate, whose parcels came back with
    it (the returned parcels copy them; the export consumed them). One step, one row per edge."""
    parcels, events = Parcel._meta.db_table, CustodyEvent._meta.db_table
    marks = ", ".join(["%s"] * count)
    return (f"WITH RECURSIVE anc(event_id) AS ("
            f" SELECT created_by_id FROM {parcels} WHERE id IN ({marks})"
            f" UNION"
            f" SELECT COALESCE(p.created_by_id, (SELECT x.id FROM {events} x WHERE e.type = 'return'"
            f" AND x.certificate = e.certificate AND x.type = 'export' LIMIT 1)) FROM anc"
            f" JOIN {events} e ON e.id = anc.event_id"
            f" LEFT JOIN {parcels} p ON p.consumed_by_id = e.id"
            f" WHERE p.id IS NOT NULL OR e.type = 'return'"
            f") SELECT event_id FROM anc WHERE event_id IS NOT NULL")


def ancestry(parcel_id: int) -> list[int]:
    """Every event a parcel came through, back to production (through the export of any parcels returned to
    stock under a certificate): one recursive query, whatever the depth."""
    with connection.cursor() as cursor:
        cursor.execute(_ancestry_sql(1), [parcel_id])
        return [row[0] for row in cursor.fetchall()]


def trace(p: Parcel) -> dict[str, Any]:
    """Back from a parcel to production: its origin shares (rows kept with it) and the path of events, each with
    its operators, licences, site, inputs and outputs; newest first. Four queries, whatever the depth."""
    return {"parcel": parcel_view(p), "origins": origins(p.pk), "path": _path(ancestry(p.pk))}


def _path(ids: list[int]) -> list[dict[str, Any]]:
    inputs: dict[int, list[dict[str, Any]]] = {}
    for pk, used_by, carats in Parcel.objects.filter(consumed_by__in=ids).order_by("pk").values_list(
            "pk", "consumed_by_id", "carats_centi"):
        inputs.setdefault(used_by, []).append({"id": pk, "carats": ct(carats)})
    outputs: dict[int, list[dict[str, Any]]] = {}
    for pk, made_by, holder, carats, usd, hs, stones in Parcel.objects.filter(created_by__in=ids).order_by("pk") \
            .values_list("pk", "created_by_id", "holder_id", "carats_centi", "usd_cents", "hs_code", "stones"):
        outputs.setdefault(made_by, []).append({"id": pk, "holder": holder, "carats": ct(carats),
                                                "value_usd": ct(usd), "hs_code": hs, "stones": stones})
    steps = [event_view(e, inputs.get(e.pk, []), outputs.get(e.pk, [])) for e in _events(ids)]
    steps.sort(key=lambda s: (s["occurred_at"], s["id"]), reverse=True)
    return steps


def site_trace(s: Site) -> dict[str, Any]:
    """Forward from a site: what it produced and where it is now, from the origin rows of every parcel (held
    parcels by holder, and what left stock by loss or seizure); held + removed = produced."""
    produced = Parcel.objects.filter(created_by__site=s, created_by__type="production").aggregate(
        c=Sum("carats_centi"))["c"] or 0
    held = ParcelOrigin.objects.filter(site=s, parcel__status="held").select_related("parcel__holder") \
        .order_by("parcel_id")
    parcels: list[dict[str, Any]] = []
    by_holder: dict[int, dict[str, Any]] = {}
    for o in held:
        parcels.append({"parcel": o.parcel_id, "holder": _operator(o.parcel.holder), "carats": ct(o.carats_centi),
                        "parcel_carats": ct(o.parcel.carats_centi)})
        entry = by_holder.setdefault(o.parcel.holder_id, {"operator": _operator(o.parcel.holder), "centi": 0})
        entry["centi"] += o.carats_centi
    removed = {row["parcel__consumed_by__type"]: row["c"] for row in
               ParcelOrigin.objects.filter(site=s, parcel__status="consumed",
                                           parcel__consumed_by__type__in=("loss", "seizure"))
               .values("parcel__consumed_by__type").annotate(c=Sum("carats_centi")).order_by()}
    return {"site": _site(s), "produced": ct(produced),
            "held": ct(sum(e["centi"] for e in by_holder.values())),
            "holders": [{"operator": e["operator"], "carats": ct(e["centi"])} for e in by_holder.values()],
            "removed": {k: ct(v) for k, v in sorted(removed.items())}, "parcels": parcels}


# --- the stock ledger --------------------------------------------------------------------------------

def movements(operator: int, end: dt.date) -> list[rules.Movement]:
    """Every parcel entering or leaving the operator's stock up to `end`, as plain values for rules.ledger."""
    out = []
    rows = Parcel.objects.filter(holder_id=operator, created_on__lte=end).values_list(
        "created_on", "created_by__type", "consumed_on", "consumed_by__type", "carats_centi", "usd_cents")
    for made_on, made_by, used_on, used_by, carats, usd in rows:
        out.append(rules.Movement(made_on, made_by, carats, usd))
        if used_on is not None and used_on <= end:
            out.append(rules.Movement(used_on, used_by, -carats, -usd))
    return out


def stock_on(operator: int, day: dt.date) -> int:
    """What the operator held at the end of `day`, counted from the parcels themselves (an inventory check)."""
    return Parcel.objects.filter(holder_id=operator, created_on__lte=day).filter(
        Q(consumed_on__isnull=True) | Q(consumed_on__gt=day)).aggregate(c=Sum("carats_centi"))["c"] or 0


# --- for the pages -----------------------------------------------------------------------------------

def held_by_operator(participants: set[str] | None) -> dict[int, tuple[int, int]]:
    """What each operator holds now, from its held parcels (INT-09): {operator: (parcels, carats hundredths)}."""
    qs = Parcel.objects.filter(status="held")
    if participants is not None:
        qs = qs.filter(participant_id__in=participants)
    return {row["holder_id"]: (row["n"], row["c"]) for row in
            qs.values("holder_id").annotate(n=Count("pk"), c=Sum("carats_centi")).order_by()}


def parcels_of_events(ids: Iterable[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """The parcels some events consumed and made, two queries for a page of events: {event: {inputs, outputs}}."""
    wanted = list(ids)
    out: dict[int, dict[str, list[dict[str, Any]]]] = {pk: {"inputs": [], "outputs": []} for pk in wanted}
    for pk, used_by, carats in Parcel.objects.filter(consumed_by__in=wanted).order_by("pk").values_list(
            "pk", "consumed_by_id", "carats_centi"):
        out[used_by]["inputs"].append({"id": pk, "carats": ct(carats)})
    for pk, made_by, holder, carats in Parcel.objects.filter(created_by__in=wanted).order_by("pk").values_list(
            "pk", "created_by_id", "holder_id", "carats_centi"):
        out[made_by]["outputs"].append({"id": pk, "holder": holder, "carats": ct(carats)})
    return out
# --- custody control ---------------------------------------------------------------------------------

def custody_required(participant: str, day: dt.date) -> bool:
    """Whether the participant runs custody control on `day` (its latest setting from on or before it): one
    indexed query, the only custody cost of issuing a certificate for a participant without it."""
    enabled = CustodyControl.objects.filter(participant_id=participant, valid_from__lte=day).order_by(
        "-valid_from").values_list("enabled", flat=True).first()
    return bool(enabled)


def controls(participant: str | None = None) -> QuerySet[CustodyControl]:
    qs = CustodyControl.objects.all()
    if participant is not None:
        qs = qs.filter(participant_id=participant)
    return qs.order_by("participant_id", "valid_from")


# --- certificates from custody: their trace across borders ------------------------------------------

def _ancestry_many(parcel_ids: list[int]) -> set[int]:
    """Every event some parcels came through back to production or to their import: one recursive query."""
    if not parcel_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(_ancestry_sql(len(parcel_ids)), parcel_ids)
        return {row[0] for row in cursor.fetchall()}


def ancestry_across_borders(parcel_ids: list[int]) -> set[int]:
    """As `ancestry`, continuing past each import to the export under the same certificate and the parcels it
    took: the path back to the sites, whatever the number of borders crossed (a few queries per crossing)."""
    seen: set[int] = set()
    frontier = list(parcel_ids)
    while frontier:
        found = _ancestry_many(frontier) - seen
        seen |= found
        certs = list(CustodyEvent.objects.filter(pk__in=found, type="import").values_list("certificate", flat=True))
        exports = set(CustodyEvent.objects.filter(type="export", certificate__in=certs).values_list(
            "pk", flat=True)) - seen
        seen |= exports
        frontier = list(Parcel.objects.filter(consumed_by__in=exports).values_list("pk", flat=True))
    return seen


def _withheld(step: dict[str, Any]) -> dict[str, Any]:
    return {"id": step["id"], "type": step["type"], "participant": step["participant"],
            "occurred_at": step["occurred_at"], "withheld": True}


def certificate_trace(certificate: str, visible: set[str] | None) -> dict[str, Any]:
    """What a certificate exported and where it was mined (CERT-10): its parcels, their origin shares per
    country and site (adding up to its carats), and the path back to the sites across earlier certificates.
    Events of participants outside `visible` (None: all) are named but withheld: their operators, licences and
    invoices are that participant's."""
    export = CustodyEvent.objects.filter(certificate=certificate, type="export").first()
    if export is None:
        return {"certificate": certificate, "from_custody": False, "carats": "0.00", "parcels": [], "origins": [],
                "path": []}
    parcels = list(Parcel.objects.filter(consumed_by=export).select_related("holder").order_by("pk"))
    ids = [p.pk for p in parcels]
    rows = ParcelOrigin.objects.filter(parcel_id__in=ids).values("country", "site_id").annotate(
        c=Sum("carats_centi")).order_by("-c", "country", "site_id")
    sites = Site.objects.in_bulk([r["site_id"] for r in rows if r["site_id"] is not None])
    steps = _path(sorted(ancestry_across_borders(ids) | {export.pk}))
    return {"certificate": certificate, "from_custody": True,
            "carats": ct(sum(p.carats_centi for p in parcels)),
            "parcels": [parcel_view(p) for p in parcels],
            "origins": [{"country": r["country"], "site": _site(sites.get(r["site_id"])) if r["site_id"] else None,
                         "carats": ct(r["c"])} for r in rows],
            "path": [s if visible is None or s["participant"] in visible else _withheld(s) for s in steps]}
