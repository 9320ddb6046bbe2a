"""Custody use cases: register licences and sites, record custody events with mass balance (INT-06..INT-12).

Each change is one transaction, audited. A parcel is consumed by a conditional UPDATE (held, by the expected
holder) whose row count must equal the parcels asked for; otherwise the whole event rolls back with 409.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.audit import rules as audit_rules
from kpcs.audit import services as audit
from kpcs.custody import rules, selectors
from kpcs.custody.models import CustodyControl, CustodyEvent, Licence, Parcel, ParcelOrigin, Site
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.registry import selectors as registry_selectors
from kpcs.registry import services as registry
from kpcs.registry.models import Operator
from kpcs.registry.services import Actor

IDEMPOTENCY_KEY_MAX = 200


def _operator(pk: int, what: str = "operator") -> Operator:
    op = registry_selectors.operators_by_id([pk]).get(pk)
    if op is None:
        raise NotFound(_("%(what)s %(pk)s not found") % {"what": what, "pk": pk}, details={"field": what})
    return op


def _visible_operator(actor: Actor, pk: int, action: str, what: str = "operator") -> Operator:
    """An operator the actor may act on for `action`; another participant's is the same 404 as a missing one."""
    return _visible(actor, registry_selectors.operators_by_id([pk]).get(pk), pk, action, what)


def _visible(actor: Actor, op: Operator | None, pk: int, action: str, what: str) -> Operator:
    if op is None:
        raise NotFound(_("%(what)s %(pk)s not found") % {"what": what, "pk": pk}, details={"field": what})
    if not actor.may(action, op.participant_id):
        if actor.may(action):
            raise NotFound(_("%(what)s %(pk)s not found") % {"what": what, "pk": pk}, details={"field": what})
        registry.require(actor, action, op.participant_id)
    return op


# --- licences ------------------------------------------------------------------------------------

def licence_record(lic: Licence) -> dict[str, Any]:
    return {"operator": lic.operator_id, "participant": lic.participant_id, "kind": lic.kind, "number": lic.number,
            "area": lic.area, "valid_from": lic.valid_from.isoformat(),
            "valid_until": lic.valid_until.isoformat() if lic.valid_until else None}


def _audit_licence(actor_label: str, lic: Licence) -> None:
    record = licence_record(lic)
    payload = {k: v for k, v in record.items() if k != "area"}
    audit.record(actor=actor_label, action="custody.licence_registered", object_type="licence",
                 object_id=str(lic.pk), participant=lic.participant_id,
                 payload={**payload, "record_hash": audit_rules.record_hash(record)})


def register_licence(actor: Actor, *, operator: int, kind: str, number: str, valid_from: dt.date,
                     valid_until: dt.date | None = None, area: str = "") -> Licence:
    """A licence of an operator of the officer's participant (INT-06..08); a renewal is a new licence."""
    registry.require(actor, "custody.register")
    op = _visible_operator(actor, operator, "custody.register")
    if kind not in rules.LICENCE_KINDS:
        raise ValidationFailed(_("kind must be one of %(kinds)s") % {"kinds": ", ".join(rules.LICENCE_KINDS)},
                               code="invalid_kind")
    number = number.strip()
    if not number:
        raise ValidationFailed(_("a licence has a number (INT-08)"), code="number_required", rule="INT-08")
    if valid_until is not None and valid_until < valid_from:
        raise ValidationFailed(_("valid_until is before valid_from"), code="invalid_dates")
    try:
        with transaction.atomic():
            lic = Licence.objects.create(operator=op, participant_id=op.participant_id, kind=kind,
                                         number=number[:64], area=area.strip(), valid_from=valid_from,
                                         valid_until=valid_until, recorded_at=clock.now(), recorded_by=actor.label)
            _audit_licence(actor.label, lic)
    except IntegrityError:
        raise Conflict(_("licence %(number)s is already registered for %(participant)s")
                       % {"number": repr(number), "participant": op.participant_id},
                       code="duplicate_licence") from None
    return lic


def licence_for_new_operator(sender: Any, instance: Operator, created: bool, raw: bool = False,
                             **_kwargs: Any) -> None:
    """An operator registered through the registry gets its licence as a custody licence too (post_save on
    Operator): same number, kind and validity, so the registry's one licence needs no second registration.

    Derived in the transaction of the registration, whose `operator.registered` entry already says all the
    licence says (kind, number, validity): no entry of its own, as for other derived data (docs/decisions.md).
    """
    kind = rules.OPERATOR_KIND_TO_LICENCE.get(instance.kind)
    if not created or raw or kind is None:
        return
    with transaction.atomic():
        if Licence.objects.filter(participant_id=instance.participant_id, number=instance.licence).exists():
            return
        Licence.objects.create(operator=instance, participant_id=instance.participant_id, kind=kind,
                               number=instance.licence, valid_from=instance.valid_from,
                               valid_until=instance.valid_until, recorded_at=clock.now(),
                               recorded_by="operator registration")


def licences_of(operator_ids: Sequence[int]) -> dict[int, list[rules.LicenceView]]:
    out: dict[int, list[rules.LicenceView]] = {pk: [] for pk in operator_ids}
    for lic in Licence.objects.filter(operator_id__in=operator_ids).order_by("valid_from", "pk"):
        out[lic.operator_id].append(rules.LicenceView(lic.pk, lic.kind, lic.number, lic.valid_from, lic.valid_until,
                                                      lic.area))
    return out


# --- sites ---------------------------------------------------------------------------------------

def register_site(actor: Actor, *, name: str, kind: str, region: str, holder: int) -> Site:
    """A production site of the officer's participant, held by a licensed operator (INT-06, INT-07)."""
    registry.require(actor, "custody.register")
    op = _visible_operator(actor, holder, "custody.register", "holder")
    if kind not in rules.SITE_KINDS:
        raise ValidationFailed(_("kind must be one of %(kinds)s") % {"kinds": ", ".join(rules.SITE_KINDS)},
                               code="invalid_kind")
    if not name.strip() or not region.strip():
        raise ValidationFailed(_("a site has a name and a region"), code="invalid_site")
    try:
        with transaction.atomic():
            site = Site.objects.create(participant_id=op.participant_id, name=name.strip()[:200], kind=kind,
                                       region=region.strip()[:200], holder=op, recorded_at=clock.now(),
                                       recorded_by=actor.label)
            audit.record(actor=actor.label, action="custody.site_registered", object_type="site",
                         object_id=str(site.pk), participant=site.participant_id,
                         payload={"name": site.name, "kind": kind, "region": site.region, "holder": op.pk})
    except IntegrityError:
        raise Conflict(_("a site named %(name)s is already registered for %(participant)s")
                       % {"name": repr(name), "participant": op.participant_id}, code="duplicate_site") from None
    return site


# --- events --------------------------------------------------------------------------------------

@dataclass
class Recorded:
    event: CustodyEvent
    replayed: bool  # True: an earlier request with the same Idempotency-Key; nothing applied now
    made: list[int] | None = None  # the parcels it made, when recorded now

    def outputs(self) -> list[int]:
        if self.made is None:
            self.made = list(self.event.outputs.order_by("pk").values_list("pk", flat=True))
        return self.made


def idempotency_scope(actor: Actor) -> str:
    """Keys are the caller's own: a person's (whatever way they sign in), or the actor's label."""
    return f"user:{actor.user_id}" if actor.user_id is not None else f"actor:{actor.label}"


def _request_hash(request: Any) -> str:
    try:
        return hashlib.sha256(audit_rules.canonical(request)).hexdigest()
    except Exception:  # noqa: BLE001 - whatever the JSON library refuses (floats out of range, huge integers)
        raise ValidationFailed(_("the event cannot be written as canonical JSON (RFC 8785)"),
                               code="invalid_event") from None


def _replay(scope: str, key: str, request_hash: str) -> CustodyEvent | None:
    event = CustodyEvent.objects.filter(idempotency_scope=scope, idempotency_key=key).first()
    if event is not None and event.request_hash != request_hash:
        raise ValidationFailed(_("the Idempotency-Key %(key)s was used for another request: use a new key for a "
                                 "new event") % {"key": repr(key)}, code="idempotency_key_reused",
                               details={"event": event.pk})
    return event


def record_event(actor: Actor, request: Mapping[str, Any], *, idempotency_key: str | None = None,
                 now: dt.datetime | None = None) -> Recorded:
    """Record one custody event (production, transfer, split, merge, loss, seizure), all or nothing.

    With an idempotency key, a retry of the same request returns the event first recorded and applies nothing;
    the same key with another request is refused (422 `idempotency_key_reused`).
    """
    registry.require(actor, "custody.record")
    now = now or clock.now()
    request_hash = _request_hash(request)
    scope = idempotency_scope(actor)
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX or not idempotency_key.isprintable():
            raise ValidationFailed(_("an Idempotency-Key has 1 to %(max)s printable characters")
                                   % {"max": IDEMPOTENCY_KEY_MAX}, code="invalid_idempotency_key")
        earlier = _replay(scope, idempotency_key, request_hash)
        if earlier is not None:
            return Recorded(earlier, True)
    wanted = rules.parse_event(request, now)
    try:
        with transaction.atomic():
            if wanted.carats_centi is not None:
                wanted = _split_off(actor, wanted, now)
            event, made = _apply(actor, wanted, now, key=(scope, idempotency_key, request_hash))
    except IntegrityError:
        # the same key raced in from a retry that won: answer as the retry it is
        earlier = _replay(scope, idempotency_key, request_hash) if idempotency_key is not None else None
        if earlier is None:
            raise
        return Recorded(earlier, True)
    return Recorded(event, False, made)


def _split_off(actor: Actor, ev: rules.EventRequest, now: dt.datetime) -> rules.EventRequest:
    """A transfer of part of a parcel: the part is split off first (its own split event, in the same transaction)
    and the transfer takes that piece. Asking for more than the parcel holds is refused with the figures."""
    assert ev.carats_centi is not None
    [parcel] = _inputs(actor, ev)
    if ev.carats_centi > parcel.carats_centi:
        raise Conflict(_("parcel %(parcel)s holds %(held)s ct; %(asked)s ct cannot be sold from it")
                       % {"parcel": parcel.pk, "held": rules.centi_text(parcel.carats_centi),
                          "asked": rules.centi_text(ev.carats_centi)}, code="insufficient_stock", rule="INT-09",
                       details={"parcel": parcel.pk, "held": rules.centi_text(parcel.carats_centi),
                                "asked": rules.centi_text(ev.carats_centi)})
    if ev.carats_centi == parcel.carats_centi:
        return replace(ev, carats_centi=None)
    split = rules.EventRequest("split", ev.occurred_at, parcels=(parcel.pk,), operator=ev.seller,
                               new=(rules.NewParcel(ev.carats_centi, None, None),
                                    rules.NewParcel(parcel.carats_centi - ev.carats_centi, None, None)))
    _split_event, pieces = _apply(actor, split, now, key=("", None, ""))
    return replace(ev, parcels=(pieces[0],), carats_centi=None)


@dataclass
class _Out:
    holder: Operator
    carats: int
    usd: int
    hs_code: str
    stones: int | None
    shares: list[rules.Share]


def _apply(actor: Actor, ev: rules.EventRequest, now: dt.datetime,
           key: tuple[str, str | None, str]) -> tuple[CustodyEvent, list[int]]:
    """Check, write and audit one event; return it with the ids of the parcels it made."""
    day = ev.occurred_at.date()
    site: Site | None = None
    counterparty: Operator | None = None
    operator_licence: rules.LicenceView | None = None
    counterparty_licence: rules.LicenceView | None = None
    inputs: list[Parcel] = []
    if ev.type == "production":
        site = selectors.site(ev.site or 0)
        if site is None or not actor.may("custody.record", site.participant_id):
            raise NotFound(_("site %(pk)s not found") % {"pk": ev.site}, details={"field": "site"})
        operator = _operator(site.holder_id)
        if ev.operator is not None and ev.operator != operator.pk:
            raise ValidationFailed(_("only the site's holder (operator %(holder)s) records its production")
                                   % {"holder": operator.pk}, code="not_site_holder", rule="INT-06")
        rule = "INT-06" if site.kind == "industrial_mine" else "INT-07"
        operator_licence = rules.producing_licence(licences_of([operator.pk])[operator.pk],
                                                   rules.PRODUCING_LICENCES[site.kind], day, operator=operator.name,
                                                   site_name=site.name, region=site.region, rule=rule,
                                                   role=_("producer"))
    else:
        inputs = _inputs(actor, ev)
        if ev.type == "transfer":
            assert ev.seller is not None and ev.buyer is not None
            operator = _visible_operator(actor, ev.seller, "custody.record", "seller")
            counterparty = _visible_operator(actor, ev.buyer, "custody.record", "buyer")
            if counterparty.participant_id != operator.participant_id:
                raise ValidationFailed(_("a transfer stays within one participant; across borders goods travel "
                                         "under a KP certificate"), code="cross_border", rule="EXP-01")
            licences = licences_of([operator.pk, counterparty.pk])
            operator_licence = rules.licence_for(licences[operator.pk], rules.SELLING_LICENCES, day,
                                                 operator=operator.name, rule="INT-08", role=_("seller"))
            counterparty_licence = rules.licence_for(licences[counterparty.pk], rules.BUYING_LICENCES, day,
                                                     operator=counterparty.name, rule="INT-08", role=_("buyer"))
        else:
            holders = {p.holder_id for p in inputs}
            if len(holders) != 1:
                raise Conflict(_("the parcels of one %(type)s must have one holder")
                               % {"type": ev.type}, code="not_holder", rule="INT-09")
            operator = _operator(holders.pop())
            if ev.operator is not None and ev.operator != operator.pk:
                _not_holder(inputs[0], ev.operator)
            if ev.type in ("split", "merge"):
                operator_licence = rules.licence_for(licences_of([operator.pk])[operator.pk],
                                                     rules.HOLDING_LICENCES, day, operator=operator.name,
                                                     rule="INT-08", role=_("holder"))
        for p in inputs:
            if p.holder_id != operator.pk:
                _not_holder(p, operator.pk)
            if p.created_by.occurred_at > ev.occurred_at:
                raise ValidationFailed(_("parcel %(parcel)s was made on %(made)s, after this event")
                                       % {"parcel": p.pk, "made": p.created_by.occurred_at.isoformat()},
                                       code="before_parcel", rule="INT-09", details={"parcel": p.pk})
    registry.require(actor, "custody.record", operator.participant_id)
    outputs = _outputs(ev, operator, counterparty, inputs, site)
    if ev.type in rules.CONSERVING:
        rules.check_conserved(sum(p.carats_centi for p in inputs), sum(o.carats for o in outputs))
    scope, idem_key, request_hash = key
    event = CustodyEvent.objects.create(
        type=ev.type, participant_id=operator.participant_id, occurred_at=ev.occurred_at, recorded_at=now,
        actor=actor.label, operator=operator, counterparty=counterparty, site=site, details=ev.details(),
        operator_licence_id=operator_licence.id if operator_licence else None,
        counterparty_licence_id=counterparty_licence.id if counterparty_licence else None,
        idempotency_scope=scope if idem_key is not None else "", idempotency_key=idem_key,
        request_hash=request_hash)
    if inputs:
        _consume(inputs, operator.pk, event, day)
    made = Parcel.objects.bulk_create([
        Parcel(holder=o.holder, participant_id=o.holder.participant_id, carats_centi=o.carats, usd_cents=o.usd,
               hs_code=o.hs_code, stones=o.stones, status="held", created_by=event, created_on=day)
        for o in outputs])
    rows = sorted(((p.pk, s) for p, o in zip(made, outputs, strict=True) for s in o.shares),
                  key=lambda row: (row[0], row[1].key))
    ParcelOrigin.objects.bulk_create([ParcelOrigin(parcel_id=pk, country=s.country, site_id=s.site,
                                                   carats_centi=s.carats_centi) for pk, s in rows])
    shares: list[list[Any]] = [[pk, s.country, s.site, s.carats_centi] for pk, s in rows]
    record = selectors.event_record(
        event, inputs=[{"id": p.pk, "carats": rules.centi_text(p.carats_centi)} for p in sorted(inputs,
                                                                                              key=lambda p: p.pk)],
        outputs=[selectors.output_view(p) for p in made], origins=shares)
    audit.record(actor=actor.label, action=f"custody.{ev.type}", object_type="custody_event",
                 object_id=str(event.pk), participant=event.participant_id,
                 payload={"type": ev.type, "occurred_at": audit_rules.iso(ev.occurred_at),
                          "inputs": [p.pk for p in inputs], "outputs": [p.pk for p in made],
                          "record_hash": audit_rules.record_hash(record)})
    return event, [p.pk for p in made]


def _not_holder(parcel: Parcel, expected: int) -> None:
    raise Conflict(_("parcel %(parcel)s (%(carats)s ct) is not held by operator %(operator)s")
                   % {"parcel": parcel.pk, "carats": rules.centi_text(parcel.carats_centi), "operator": expected},
                   code="not_holder", rule="INT-09",
                   details={"parcel": parcel.pk, "carats": rules.centi_text(parcel.carats_centi),
                            "operator": expected})


def _inputs(actor: Actor, ev: rules.EventRequest) -> list[Parcel]:
    """The parcels an event consumes, as read now (the conditional UPDATE decides): 404 for one the actor may
    not see, 409 for one already consumed."""
    found = {p.pk: p for p in Parcel.objects.select_related("created_by").filter(pk__in=ev.parcels)}
    out = []
    for pk in ev.parcels:
        p = found.get(pk)
        if p is None or not actor.may("custody.record", p.participant_id):
            raise NotFound(_("parcel %(pk)s not found") % {"pk": pk}, details={"parcel": pk})
        if p.status != "held":
            _consumed(p)
        out.append(p)
    return out


def _consumed(p: Parcel) -> None:
    raise Conflict(_("parcel %(parcel)s (%(carats)s ct) is no longer held: it was consumed by event %(event)s")
                   % {"parcel": p.pk, "carats": rules.centi_text(p.carats_centi), "event": p.consumed_by_id},
                   code="parcel_consumed", rule="INT-09",
                   details={"parcel": p.pk, "carats": rules.centi_text(p.carats_centi), "event": p.consumed_by_id})


def _consume(inputs: list[Parcel], holder: int, event: CustodyEvent, day: dt.date) -> None:
    """Mark the inputs consumed, only if each is still held by `holder`: a parcel is consumed once, also when
    requests race (INT-09). A shortfall rolls the whole event back, naming the parcel."""
    ids = [p.pk for p in inputs]
    done = Parcel.objects.filter(pk__in=ids, status="held", holder_id=holder).update(
        status="consumed", consumed_by=event, consumed_on=day)
    if done == len(ids):
        return
    now_rows = {p.pk: p for p in Parcel.objects.filter(pk__in=ids).exclude(consumed_by=event)}
    for p in inputs:
        current = now_rows.get(p.pk)
        if current is not None and current.status != "held":
            _consumed(current)
        if current is not None and current.holder_id != holder:
            _not_holder(current, holder)
    raise Conflict(_("the parcels changed while this event was recorded; nothing was applied"),
                   code="parcel_consumed", rule="INT-09")


def _shares_of(parcels: Sequence[Parcel]) -> dict[int, list[rules.Share]]:
    out: dict[int, list[rules.Share]] = {p.pk: [] for p in parcels}
    for pid, country, site, carats in ParcelOrigin.objects.filter(parcel_id__in=out).order_by(
            "parcel_id", "country", "site_id").values_list("parcel_id", "country", "site_id", "carats_centi"):
        out[pid].append(rules.Share(country, site, carats))
    return out


def _outputs(ev: rules.EventRequest, operator: Operator, counterparty: Operator | None, inputs: Sequence[Any],
             site: Site | None, shares: Mapping[int, list[rules.Share]] | None = None) -> list[_Out]:
    """The parcels an event makes from its inputs (Parcel rows, or the bulk intake's parcels in memory with the
    same attributes), with their origin shares: `shares` of the inputs, else read from the database."""
    if ev.type == "production":
        assert site is not None
        return [_Out(operator, n.carats_centi, n.usd_cents or 0, n.hs_code or "", n.stones,
                     [rules.Share(site.participant_id, site.pk, n.carats_centi)]) for n in ev.new]
    if ev.type in ("loss", "seizure"):
        return []
    if shares is None:
        shares = _shares_of(inputs)
    if ev.type == "transfer":
        assert counterparty is not None
        values = ([p.usd_cents for p in inputs] if ev.value_cents is None
                  else rules.divide_value(ev.value_cents, [p.carats_centi for p in inputs]))
        return [_Out(counterparty, p.carats_centi, v, p.hs_code, p.stones, shares[p.pk])
                for p, v in zip(inputs, values, strict=True)]
    if ev.type == "merge":
        codes = {p.hs_code for p in inputs}
        if ev.hs_code is None and len(codes) > 1:
            raise ValidationFailed(_("the parcels differ in HS code (%(codes)s): name the merged parcel's hs_code")
                                   % {"codes": ", ".join(sorted(codes))}, code="hs_code_required", rule="DEF-05")
        stones = [p.stones for p in inputs]
        return [_Out(operator, sum(p.carats_centi for p in inputs), sum(p.usd_cents for p in inputs),
                     ev.hs_code or codes.pop(), sum(s for s in stones if s) if all(stones) else None,
                     rules.merge_shares(shares.values()))]
    # split
    [source] = inputs
    amounts = [n.carats_centi for n in ev.new]
    rules.check_conserved(source.carats_centi, sum(amounts))
    if ev.new[0].usd_cents is None:
        values = rules.divide_value(source.usd_cents, amounts)
    else:
        values = [n.usd_cents or 0 for n in ev.new]
        if sum(values) != source.usd_cents:
            raise ValidationFailed(_("the pieces' values add up to US$ %(pieces)s, the parcel's is US$ %(parcel)s")
                                   % {"pieces": rules.centi_text(sum(values)),
                                      "parcel": rules.centi_text(source.usd_cents)},
                                   code="value_not_conserved", rule="INT-09")
    divided = rules.divide_shares(shares[source.pk], amounts)
    return [_Out(operator, n.carats_centi, v, n.hs_code or source.hs_code, n.stones, part)
            for n, v, part in zip(ev.new, values, divided, strict=True)]


# --- reads ---------------------------------------------------------------------------------------

def readable(actor: Actor) -> set[str] | None:
    """Participants whose custody records the actor reads (None: all)."""
    registry.require(actor, "custody.read")
    return actor.participants_for("custody.read")


def _in_scope(actor: Actor, participant: str) -> bool:
    scope = readable(actor)
    return scope is None or participant in scope


def get_parcel(actor: Actor, pk: int) -> Parcel:
    p = selectors.parcel(pk)
    if p is None or not _in_scope(actor, p.participant_id):
        raise NotFound(_("parcel %(pk)s not found") % {"pk": pk})
    return p


def trace(actor: Actor, pk: int) -> dict[str, Any]:
    """A parcel's origins and its path back to production (CERT-10, INT-06..09)."""
    return selectors.trace(get_parcel(actor, pk))


def get_site(actor: Actor, pk: int) -> Site:
    site = selectors.site(pk)
    if site is None or not _in_scope(actor, site.participant_id):
        raise NotFound(_("site %(pk)s not found") % {"pk": pk})
    return site


def site_trace(actor: Actor, pk: int) -> dict[str, Any]:
    return selectors.site_trace(get_site(actor, pk))


def get_event(actor: Actor, pk: int) -> CustodyEvent:
    event = selectors.event(pk)
    if event is None or not _in_scope(actor, event.participant_id):
        raise NotFound(_("event %(pk)s not found") % {"pk": pk})
    return event


def ledger(actor: Actor, operator: int, start: dt.date, end: dt.date) -> dict[str, Any]:
    """An operator's stock for a date range: opening + in − out = closing, by day, and the closing checked
    against the parcels it holds (INT-08 daily records, INT-09 inventory)."""
    op = _operator(operator)
    if not _in_scope(actor, op.participant_id):
        raise NotFound(_("operator %(pk)s not found") % {"pk": operator})
    book = rules.ledger(selectors.movements(op.pk, end), start, end)
    stock = selectors.stock_on(op.pk, end)
    ct = rules.centi_text

    def sides(received: dict[str, int], removed: dict[str, int]) -> dict[str, Any]:
        return {"in": {k: ct(v) for k, v in sorted(received.items())},
                "out": {k: ct(v) for k, v in sorted(removed.items())},
                "total_in": ct(sum(received.values())), "total_out": ct(sum(removed.values()))}

    return {"operator": {"id": op.pk, "name": op.name, "participant": op.participant_id},
            "from": start, "to": end, "opening": ct(book.opening), **sides(book.received, book.removed),
            "closing": ct(book.closing), "opening_value_usd": ct(book.opening_usd),
            "closing_value_usd": ct(book.closing_usd), "stock": ct(stock), "balanced": stock == book.closing,
            "days": [{"day": d.day, "opening": ct(d.opening), **sides(d.received, d.removed),
                      "closing": ct(d.closing)} for d in book.days]}


def import_events(actor: Actor, events: Sequence[tuple[int, dict[str, Any]]], *,
                  progress: Any = None, now: dt.datetime | None = None) -> list[CustodyEvent]:
    """Record a file's events in order, all or nothing: the first refusal names its line and nothing is kept."""
    registry.require(actor, "custody.record")
    made: dict[int, list[int]] = {}
    recorded = []
    with transaction.atomic():
        for n, (line, event) in enumerate(events, start=1):
            try:
                done = record_event(actor, rules.resolve_refs(event, line, made), now=now)
            except rules.LineError:
                raise
            except (ValidationFailed, Conflict, NotFound, PermissionDenied) as exc:
                raise rules.LineError(line, exc.message, code=exc.code, rule=exc.rule) from None
            made[line] = done.outputs()
            recorded.append(done.event)
            if progress is not None:
                progress(n)
    return recorded


def origin_clearance(p: Parcel, day: dt.date) -> list[dict[str, Any]]:
    """Each origin share of a parcel with whether its region may export on `day` under the measures in force
    for its country (SPEC-03, SPEC-04: only declared compliant zones, read from the registry's measures). For
    certificates from custody: a share from a region outside the compliant zones is refused there."""
    snap = registry.snapshot()
    out = []
    for o in ParcelOrigin.objects.filter(parcel=p).select_related("site").order_by("country", "site_id"):
        region = o.site.region if o.site else ""
        measures = snap.measures_on(o.country, day)
        cleared = rules.region_cleared(measures, region, day) if o.site else not any(
            m.kind == "compliant_zones_only" for m in measures)
        out.append({"country": o.country, "site": o.site_id, "region": region,
                    "carats": rules.centi_text(o.carats_centi), "cleared": cleared})
    return out



# --- custody control -----------------------------------------------------------------------------

def set_control(actor: Actor, participant: str, valid_from: dt.date, enabled: bool) -> CustodyControl:
    """Switch custody control on or off for a participant from a day on (the node operator). A new row, never an
    edit: what was in force on any past day stays answerable. A second setting for the same day is 409."""
    registry.require(actor, "custody.control")
    participant = participant.strip().upper()
    registry.get_participant(participant)  # 404 for an unknown participant
    try:
        with transaction.atomic():
            row = CustodyControl.objects.create(participant_id=participant, valid_from=valid_from,
                                                enabled=enabled, recorded_at=clock.now(), recorded_by=actor.label)
            audit.record(actor=actor.label, action="custody.control_set", object_type="participant",
                         object_id=participant, participant=participant,
                         payload={"valid_from": valid_from.isoformat(), "enabled": enabled})
    except IntegrityError:
        raise Conflict(_("custody control of %(participant)s is already set from %(day)s")
                       % {"participant": participant, "day": valid_from.isoformat()},
                       code="duplicate_control") from None
    return row


def custody_required(participant: str, day: dt.date) -> bool:
    return selectors.custody_required(participant, day)


# --- certificates from custody: export and import (CERT-10, EXP-06, SPEC-03/04) ----------------------

@dataclass(frozen=True)
class ExportPlan:
    """What a certificate issued from parcels states, checked before it is numbered: the exporter, its parcels,
    lines and origin shares. `record_export` consumes the parcels in the certificate's transaction."""

    operator: int
    participant: str
    parcels: tuple[int, ...]
    lines: list[rules.ExportLine]
    by_country: dict[str, int]
    origin: dict[str, Any]
    licence: int


def _parcel_ids(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValidationFailed(_("parcels must be a list of parcel ids held by the exporter (EXP-06)"),
                               code="invalid_parcels", rule="EXP-06")
    if len(value) > rules.MAX_PARCELS:
        raise ValidationFailed(_("a certificate covers at most %(max)s parcels") % {"max": rules.MAX_PARCELS},
                               code="invalid_parcels", rule="EXP-06")
    ids = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v < 2**63:
            raise ValidationFailed(_("parcels must be a list of parcel ids held by the exporter (EXP-06)"),
                                   code="invalid_parcels", rule="EXP-06")
        ids.append(v)
    if len(set(ids)) != len(ids):
        raise ValidationFailed(_("a parcel is named twice"), code="invalid_parcels", rule="EXP-06")
    return tuple(ids)


def plan_export(exporter: int, parcels: Any, day: dt.date) -> ExportPlan:
    """Check the parcels a certificate would cover: held now by the exporter named on it, each origin share
    from a region cleared on `day` (SPEC-03, SPEC-04); derive its lines and origin (CERT-10)."""
    ids = _parcel_ids(parcels)
    op = _operator(exporter)
    found = {p.pk: p for p in Parcel.objects.filter(pk__in=ids)}
    for pk in ids:
        p = found.get(pk)
        if p is None or p.participant_id != op.participant_id:
            raise NotFound(_("parcel %(pk)s not found") % {"pk": pk}, details={"parcel": pk})
        if p.status != "held":
            _consumed(p)
        if p.holder_id != op.pk:
            _not_holder(p, op.pk)
    licence = rules.licence_for(licences_of([op.pk])[op.pk], rules.EXPORTING_LICENCES, day, operator=op.name,
                                rule="INT-08", role=_("exporter"))
    for pk in ids:
        for share in origin_clearance(found[pk], day):
            if not share["cleared"]:
                raise ValidationFailed(
                    _("parcel %(parcel)s holds %(carats)s ct from region %(region)s of %(country)s, outside the "
                      "compliant zones on %(day)s (SPEC-03, SPEC-04)")
                    % {"parcel": pk, "carats": share["carats"], "region": repr(share["region"]),
                       "country": share["country"], "day": day.isoformat()},
                    code="origin_not_cleared", rule="SPEC-03", details={"parcel": pk, **share})
    lines = rules.export_lines((found[pk].hs_code, found[pk].carats_centi, found[pk].usd_cents) for pk in ids)
    by_country = selectors.origin_by_country(ids)
    return ExportPlan(op.pk, op.participant_id, ids, lines, by_country, rules.export_origin(by_country),
                      licence.id)


def record_export(actor: Actor, plan: ExportPlan, *, certificate: str, importing: str,
                  now: dt.datetime) -> CustodyEvent:
    """The parcels leave the exporter's stock under the certificate: one `export` event consuming them, in the
    caller's (the certificate's) transaction. The conditional consumption decides races: of two certificates
    over one parcel exactly one is issued, the other rolls back with 409 (INT-09)."""
    event = CustodyEvent.objects.create(
        type="export", participant_id=plan.participant, occurred_at=now, recorded_at=now, actor=actor.label,
        operator_id=plan.operator, operator_licence_id=plan.licence, certificate=certificate,
        details={"certificate": certificate, "importing_participant": importing})
    inputs = list(Parcel.objects.filter(pk__in=plan.parcels).order_by("pk"))
    _consume(inputs, plan.operator, event, now.date())
    record = selectors.event_record(event, inputs=[{"id": p.pk, "carats": rules.centi_text(p.carats_centi)}
                                                   for p in inputs], outputs=[], origins=[])
    audit.record(actor=actor.label, action="custody.export", object_type="custody_event", object_id=str(event.pk),
                 participant=plan.participant,
                 payload={"type": "export", "occurred_at": audit_rules.iso(now), "certificate": certificate,
                          "inputs": [p.pk for p in inputs], "outputs": [],
                          "record_hash": audit_rules.record_hash(record)})
    return event


def _importer(importing: str, name: str, day: dt.date) -> tuple[Operator, rules.LicenceView]:
    """The importer named on a certificate as a registered operator of the importing participant with an
    importing licence valid on `day` (INT-08): matched by name, as the certificate names it (CERT-02 item 10)."""
    wanted = " ".join(name.split()).casefold()
    ops = {lic.operator_id for lic in Licence.objects.filter(participant_id=importing, kind="importing")
           .select_related("operator") if " ".join(lic.operator.name.split()).casefold() == wanted}
    if len(ops) != 1:
        raise ValidationFailed(_("%(participant)s runs custody control: the importer named on the certificate "
                                 "(%(name)s) must be one registered operator of it with an importing licence "
                                 "(INT-08)") % {"participant": importing, "name": repr(name)},
                               code="importer_not_registered", rule="INT-08")
    op = _operator(ops.pop())
    licence = rules.licence_for(licences_of([op.pk])[op.pk], rules.IMPORTING_LICENCES, day, operator=op.name,
                                rule="INT-08", role=_("importer"))
    return op, licence


def record_import(actor: str, *, certificate: str, importing: str, importer_name: str,
                  now: dt.datetime) -> CustodyEvent | None:
    """The goods of a certificate issued from custody enter the importer's stock when the importing authority
    confirms it (IMP-02): one `import` event making a parcel per parcel exported, with the same carats, value,
    HS code and origin shares (CERT-10), in the caller's (the confirmation's) transaction. Nothing when the
    importing participant does not run custody control that day, or the certificate did not come from custody.
    `actor` names who confirmed, as the audit log does."""
    day = now.date()
    if not selectors.custody_required(importing, day):
        return None
    export = CustodyEvent.objects.filter(certificate=certificate, type="export").first()
    if export is None:
        return None
    op, licence = _importer(importing, importer_name, day)
    event = CustodyEvent.objects.create(
        type="import", participant_id=importing, occurred_at=now, recorded_at=now, actor=actor,
        operator=op, operator_licence_id=licence.id, certificate=certificate,
        details={"certificate": certificate, "exporting_participant": export.participant_id,
                 "export_event": export.pk})
    _copy_exported(event, export, op)
    return event


def record_return(actor: str, *, certificate: str, status: str, now: dt.datetime) -> CustodyEvent | None:
    """The parcels a certificate from custody took out of stock come back to the exporter when it is cancelled,
    rejected or expires unused (`status` says which): one `return` event making a parcel per parcel exported,
    the same carats, value, HS code, stones and origin shares, for the operator that exported them, in the
    caller's (the certificate change's) transaction. The exported parcels stay consumed by the export (history
    does not change); the new ones can be sold or exported again. No licence is asked for: the goods come back
    to whoever sent them. Nothing when the certificate did not come from custody, or its parcels came back
    already. `actor` names who changed the certificate, as the audit log does."""
    export = CustodyEvent.objects.filter(certificate=certificate, type="export").first()
    if export is None or CustodyEvent.objects.filter(certificate=certificate, type="return").exists():
        return None
    when = max(now, export.occurred_at)  # never before the goods left (a clock set back, a test's fixed time)
    event = CustodyEvent.objects.create(
        type="return", participant_id=export.participant_id, occurred_at=when, recorded_at=now, actor=actor,
        operator_id=export.operator_id, certificate=certificate,
        details={"certificate": certificate, "certificate_status": status, "export_event": export.pk})
    _copy_exported(event, export, _operator(export.operator_id))
    return event


def _copy_exported(event: CustodyEvent, export: CustodyEvent, holder: Operator) -> list[Parcel]:
    """For an import or a return: a new parcel for `holder` per parcel the export consumed (carats, value, HS
    code, stones, origin rows copied, so every origin's carats carry over exactly), audited."""
    day = event.occurred_at.date()
    exported = list(Parcel.objects.filter(consumed_by=export).order_by("pk"))
    shares = _shares_of(exported)
    made = Parcel.objects.bulk_create([
        Parcel(holder=holder, participant_id=holder.participant_id, carats_centi=p.carats_centi,
               usd_cents=p.usd_cents, hs_code=p.hs_code, stones=p.stones, status="held", created_by=event,
               created_on=day)
        for p in exported])
    rows = sorted(((new.pk, s) for new, old in zip(made, exported, strict=True) for s in shares[old.pk]),
                  key=lambda r: (r[0], r[1].country, -1 if r[1].site is None else r[1].site))
    ParcelOrigin.objects.bulk_create([ParcelOrigin(parcel_id=pk, country=s.country, site_id=s.site,
                                                   carats_centi=s.carats_centi) for pk, s in rows])
    record = selectors.event_record(event, inputs=[], outputs=[selectors.output_view(p) for p in made],
                                    origins=[[pk, s.country, s.site, s.carats_centi] for pk, s in rows])
    audit.record(actor=event.actor, action=f"custody.{event.type}", object_type="custody_event",
                 object_id=str(event.pk), participant=event.participant_id,
                 payload={"type": event.type, "occurred_at": audit_rules.iso(event.occurred_at),
                          "certificate": event.certificate, "inputs": [], "outputs": [p.pk for p in made],
                          "record_hash": audit_rules.record_hash(record)})
    return made


def certificate_trace(certificate: str, visible: set[str] | None) -> dict[str, Any]:
    """The trace of a certificate's goods (CERT-10); who may read the certificate is the caller's check."""
    return selectors.certificate_trace(certificate, visible)
