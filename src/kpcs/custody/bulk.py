"""Bulk intake of a file of custody events, all or nothing (BRIEF §6: >= 50,000 rows/s).

`services.import_events` records a file one event at a time through `record_event` (a few queries, a conditional
UPDATE and an audit entry each: a few hundred events a second). Here the file is checked whole in memory instead:
the records it names are read once (sites, operators and their licences, the parcels it consumes, locked), then
every event goes through the same rules, in the same order and with the same refusals as `record_event`
(`_Planner`, no database), against the parcels as the file leaves them line by line. Only then is it written, in
the same transaction, in a few statements: the events, the parcels (those made and consumed within the file
written consumed), their origin rows, and one conditional UPDATE per parcel of the stock it consumes. One audit
entry (`custody.imported`) binds the batch: the file's SHA-256, what it recorded by type, and the events' ids.

Ids are given here, before writing (SQLite: above the table's last, under the write lock that its IMMEDIATE
transactions take at BEGIN; PostgreSQL: drawn from the table's sequence), so that events and parcels refer to
each other without reading anything back, in the file's order, as the one-by-one path would give them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.custody import rules, services
from kpcs.custody.models import CustodyBatch, CustodyEvent, Licence, Parcel, ParcelOrigin, Site
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.registry import services as registry
from kpcs.registry.models import Operator
from kpcs.registry.services import Actor

VIRTUAL = 2**53  # ids of the parcels a file makes, while it is checked (ids from here on are refused below)
CHUNK = 900  # ids per IN (...) when reading (SQLite's historical limit of 999 parameters)
WRITE_BATCH = 20_000  # rows per executemany


@dataclass(slots=True)
class _Parcel:
    """A parcel as the check sees it: read from the database, or made by an earlier line of the file. Its
    attributes are a `Parcel`'s where `services._outputs` reads them."""

    pk: int
    holder_id: int
    participant_id: str
    carats_centi: int
    usd_cents: int
    hs_code: str
    stones: int | None
    made_at: dt.datetime
    shares: list[rules.Share]
    existing: bool  # in the database before this file
    held: bool = True
    consumed_by: int | None = None  # the event (database id, or index in the file's plan) that consumed it
    consumed_line: int | None = None
    consumed_on: dt.date | None = None


@dataclass(slots=True)
class _Event:
    line: int
    type: str
    participant: str
    occurred_at: dt.datetime
    operator: int
    counterparty: int | None
    site: int | None
    details: dict[str, Any]
    operator_licence: int | None
    counterparty_licence: int | None
    inputs: list[int]
    outputs: list[int] = field(default_factory=list)


@dataclass
class _Records:
    """What the file names, read once: sites, operators and their licences, the parcels it consumes."""

    sites: dict[int, Site]
    operators: dict[int, Operator]
    licences: dict[int, list[rules.LicenceView]]
    parcels: dict[int, _Parcel]


@dataclass
class BulkResult:
    batch: int
    lines: int
    events: int  # with the splits a partial transfer makes
    by_type: dict[str, int]
    parcels_made: int
    parcels_consumed: int  # of the stock held before the file
    sha256: str
    event_ids: list[int]


def _int_ids(value: Any) -> Iterable[int]:
    values = value if isinstance(value, list | tuple) else [value]
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and 1 <= v < VIRTUAL:
            yield v


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i:i + CHUNK])


def _read_records(events: Sequence[tuple[int, dict[str, Any]]]) -> _Records:
    """Every record the file names, a few queries per thousand; the parcels it consumes are locked (PostgreSQL;
    SQLite's IMMEDIATE transaction already holds the write lock), so no one else consumes them meanwhile."""
    site_ids: set[int] = set()
    operator_ids: set[int] = set()
    parcel_ids: set[int] = set()
    for _line, e in events:
        if not isinstance(e, dict):
            continue
        site_ids.update(_int_ids(e.get("site")))
        for key in ("operator", "seller", "buyer"):
            operator_ids.update(_int_ids(e.get(key)))
        parcel_ids.update(_int_ids(e.get("parcels")))
    sites = Site.objects.in_bulk(sorted(site_ids)) if site_ids else {}
    operator_ids.update(s.holder_id for s in sites.values())
    parcels: dict[int, _Parcel] = {}
    for chunk in _chunks(sorted(parcel_ids)):
        rows = (Parcel.objects.filter(pk__in=chunk).select_for_update(of=("self",)).order_by("pk")
                .values_list("pk", "holder_id", "participant_id", "carats_centi", "usd_cents", "hs_code", "stones",
                             "status", "consumed_by_id", "created_by__occurred_at"))
        for pk, holder, participant, carats, usd, hs, stones, status, consumed_by, made_at in rows:
            parcels[pk] = _Parcel(pk, holder, participant, carats, usd, hs, stones, made_at, [], True,
                                  held=status == "held", consumed_by=consumed_by)
            operator_ids.add(holder)
        for pid, country, site, carats in ParcelOrigin.objects.filter(parcel_id__in=chunk).order_by(
                "parcel_id", "country", "site_id").values_list("parcel_id", "country", "site_id", "carats_centi"):
            parcels[pid].shares.append(rules.Share(country, site, carats))
    operators: dict[int, Operator] = {}
    for chunk in _chunks(sorted(operator_ids)):
        operators.update(Operator.objects.in_bulk(chunk))
    licences: dict[int, list[rules.LicenceView]] = {pk: [] for pk in operators}
    for chunk in _chunks(sorted(operators)):
        for lic in Licence.objects.filter(operator_id__in=chunk).order_by("valid_from", "pk"):
            licences[lic.operator_id].append(rules.LicenceView(lic.pk, lic.kind, lic.number, lic.valid_from,
                                                               lic.valid_until, lic.area))
    return _Records(sites, operators, licences, parcels)


class _Planner:
    """The file's events checked in order against the records in memory, as `services._apply` checks one against
    the database: same rules, same order of checks, same refusals (a line's number added). No database."""

    def __init__(self, actor: Actor, records: _Records, now: dt.datetime) -> None:
        self.actor, self.records, self.now = actor, records, now
        self.events: list[_Event] = []
        self.made: list[_Parcel] = []  # parcels made by the file, in order: virtual id VIRTUAL + index
        self.made_by: list[int] = []  # for each, the index of the event that made it
        self._may: dict[str, bool] = {}
        # the roles a refusal names, translated once (not for every event)
        self.roles = {"producer": _("producer"), "seller": _("seller"), "buyer": _("buyer"), "holder": _("holder")}
        self._licence: dict[tuple[Any, ...], rules.LicenceView] = {}

    # --- checks shared with services, over the records in memory ---

    def may(self, participant: str) -> bool:
        found = self._may.get(participant)
        if found is None:
            found = self._may[participant] = self.actor.may("custody.record", participant)
        return found

    def operator(self, pk: int, what: str = "operator", visible: bool = False) -> Operator:
        op = self.records.operators.get(pk)
        if visible:
            return services._visible(self.actor, op, pk, "custody.record", what)
        if op is None:
            raise NotFound(_("%(what)s %(pk)s not found") % {"what": what, "pk": pk}, details={"field": what})
        return op

    def licence(self, op: Operator, kinds: frozenset[str], day: dt.date, rule: str, role: str,
                site: Site | None = None) -> rules.LicenceView:
        key = (op.id, kinds, day, rule, site.id if site else None)
        found = self._licence.get(key)
        if found is None:
            held = self.records.licences.get(op.id, [])
            if site is not None:
                found = rules.producing_licence(held, kinds, day, operator=op.name, site_name=site.name,
                                                region=site.region, rule=rule, role=role)
            else:
                found = rules.licence_for(held, kinds, day, operator=op.name, rule=rule, role=role)
            self._licence[key] = found
        return found

    def parcel(self, pk: int) -> _Parcel | None:
        if pk >= VIRTUAL:
            return self.made[pk - VIRTUAL]
        return self.records.parcels.get(pk)

    def inputs(self, ev: rules.EventRequest) -> list[_Parcel]:
        out = []
        for pk in ev.parcels:
            p = self.parcel(pk)
            if p is None or not self.may(p.participant_id):
                raise NotFound(_("parcel %(pk)s not found") % {"pk": pk}, details={"parcel": pk})
            if not p.held:
                self.consumed(p)
            out.append(p)
        return out

    def consumed(self, p: _Parcel) -> None:
        if p.consumed_line is not None:
            raise Conflict(_("parcel %(parcel)s (%(carats)s ct) is no longer held: line %(line)s of this file "
                             "consumed it") % {"parcel": self.label(p), "carats": rules.centi_text(p.carats_centi),
                                               "line": p.consumed_line},
                           code="parcel_consumed", rule="INT-09",
                           details={"parcel": self.label(p), "carats": rules.centi_text(p.carats_centi),
                                    "line": p.consumed_line})
        raise Conflict(_("parcel %(parcel)s (%(carats)s ct) is no longer held: it was consumed by event %(event)s")
                       % {"parcel": p.pk, "carats": rules.centi_text(p.carats_centi), "event": p.consumed_by},
                       code="parcel_consumed", rule="INT-09",
                       details={"parcel": p.pk, "carats": rules.centi_text(p.carats_centi), "event": p.consumed_by})

    def label(self, p: _Parcel) -> str | int:
        """A parcel as a refusal names it: its id, or for one the file made, the line and place that made it."""
        if p.existing:
            return p.pk
        made_by = self.events[self.made_by[p.pk - VIRTUAL]]
        return f"@{made_by.line}.{made_by.outputs.index(p.pk) + 1}"

    def not_holder(self, p: _Parcel, expected: int) -> None:
        raise Conflict(_("parcel %(parcel)s (%(carats)s ct) is not held by operator %(operator)s")
                       % {"parcel": self.label(p), "carats": rules.centi_text(p.carats_centi), "operator": expected},
                       code="not_holder", rule="INT-09",
                       details={"parcel": self.label(p), "carats": rules.centi_text(p.carats_centi),
                                "operator": expected})

    # --- the file ---

    def plan(self, events: Sequence[tuple[int, dict[str, Any]]],
             progress: Callable[[int], None] | None = None) -> None:
        made_by_line: dict[int, list[int]] = {}
        for n, (line, raw) in enumerate(events, start=1):
            try:
                resolved = rules.resolve_refs(raw, line, made_by_line)  # first, as services.import_events
                if not _canonical(raw):  # the file's own values (its parcels' ids are within range)
                    raise ValidationFailed(_("the event cannot be written as canonical JSON (RFC 8785)"),
                                           code="invalid_event")
                ev = rules.parse_event(resolved, self.now)
                if ev.carats_centi is not None:
                    ev = self.split_off(ev, line)
                made_by_line[line] = self.apply(ev, line)
            except rules.LineError:
                raise
            except (ValidationFailed, Conflict, NotFound, PermissionDenied) as exc:
                raise rules.LineError(line, exc.message, code=exc.code, rule=exc.rule) from None
            if progress is not None and n % 1000 == 0:
                progress(n)

    def split_off(self, ev: rules.EventRequest, line: int) -> rules.EventRequest:
        """As `services._split_off`: the part sold is split off first, its own event on the same line."""
        assert ev.carats_centi is not None
        [parcel] = self.inputs(ev)
        if ev.carats_centi > parcel.carats_centi:
            held, asked = rules.centi_text(parcel.carats_centi), rules.centi_text(ev.carats_centi)
            raise Conflict(_("parcel %(parcel)s holds %(held)s ct; %(asked)s ct cannot be sold from it")
                           % {"parcel": self.label(parcel), "held": held, "asked": asked},
                           code="insufficient_stock", rule="INT-09",
                           details={"parcel": self.label(parcel), "held": held, "asked": asked})
        if ev.carats_centi == parcel.carats_centi:
            return _replace(ev, carats_centi=None)
        split = rules.EventRequest("split", ev.occurred_at, parcels=(parcel.pk,), operator=ev.seller,
                                   new=(rules.NewParcel(ev.carats_centi, None, None),
                                        rules.NewParcel(parcel.carats_centi - ev.carats_centi, None, None)))
        pieces = self.apply(split, line)
        return _replace(ev, parcels=(pieces[0],), carats_centi=None)

    def apply(self, ev: rules.EventRequest, line: int) -> list[int]:
        """`services._apply` in memory: check the event, mark its inputs consumed, make its outputs."""
        day = ev.occurred_at.date()
        site: Site | None = None
        counterparty: Operator | None = None
        operator_licence: rules.LicenceView | None = None
        counterparty_licence: rules.LicenceView | None = None
        inputs: list[_Parcel] = []
        if ev.type == "production":
            site = self.records.sites.get(ev.site or 0)
            if site is None or not self.may(site.participant_id):
                raise NotFound(_("site %(pk)s not found") % {"pk": ev.site}, details={"field": "site"})
            operator = self.operator(site.holder_id)
            if ev.operator is not None and ev.operator != operator.id:
                raise ValidationFailed(_("only the site's holder (operator %(holder)s) records its production")
                                       % {"holder": operator.id}, code="not_site_holder", rule="INT-06")
            rule = "INT-06" if site.kind == "industrial_mine" else "INT-07"
            operator_licence = self.licence(operator, rules.PRODUCING_LICENCES[site.kind], day, rule,
                                            self.roles["producer"], site=site)
        else:
            inputs = self.inputs(ev)
            if ev.type == "transfer":
                assert ev.seller is not None and ev.buyer is not None
                operator = self.operator(ev.seller, "seller", visible=True)
                counterparty = self.operator(ev.buyer, "buyer", visible=True)
                if counterparty.participant_id != operator.participant_id:
                    raise ValidationFailed(_("a transfer stays within one participant; across borders goods "
                                             "travel under a KP certificate"), code="cross_border", rule="EXP-01")
                operator_licence = self.licence(operator, rules.SELLING_LICENCES, day, "INT-08",
                                                self.roles["seller"])
                counterparty_licence = self.licence(counterparty, rules.BUYING_LICENCES, day, "INT-08",
                                                    self.roles["buyer"])
            else:
                holders = {p.holder_id for p in inputs}
                if len(holders) != 1:
                    raise Conflict(_("the parcels of one %(type)s must have one holder")
                                   % {"type": ev.type}, code="not_holder", rule="INT-09")
                operator = self.operator(holders.pop())
                if ev.operator is not None and ev.operator != operator.id:
                    self.not_holder(inputs[0], ev.operator)
                if ev.type in ("split", "merge"):
                    operator_licence = self.licence(operator, rules.HOLDING_LICENCES, day, "INT-08",
                                                    self.roles["holder"])
            for p in inputs:
                if p.holder_id != operator.id:
                    self.not_holder(p, operator.id)
                if p.made_at > ev.occurred_at:
                    raise ValidationFailed(_("parcel %(parcel)s was made on %(made)s, after this event")
                                           % {"parcel": self.label(p), "made": p.made_at.isoformat()},
                                           code="before_parcel", rule="INT-09", details={"parcel": self.label(p)})
        if not self.may(operator.participant_id):
            registry.require(self.actor, "custody.record", operator.participant_id)
        outputs = services._outputs(ev, operator, counterparty, inputs, site,
                                    shares={p.pk: p.shares for p in inputs})
        if ev.type in rules.CONSERVING:
            rules.check_conserved(sum(p.carats_centi for p in inputs), sum(o.carats for o in outputs))
        index = len(self.events)
        event = _Event(line, ev.type, operator.participant_id, ev.occurred_at, operator.id,
                       counterparty.id if counterparty else None, site.id if site else None, ev.details(),
                       operator_licence.id if operator_licence else None,
                       counterparty_licence.id if counterparty_licence else None, [p.pk for p in inputs])
        for p in inputs:
            p.held, p.consumed_by, p.consumed_line, p.consumed_on = False, index, line, day
        for o in outputs:
            pk = VIRTUAL + len(self.made)
            self.made.append(_Parcel(pk, o.holder.id, o.holder.participant_id, o.carats, o.usd, o.hs_code, o.stones,
                                     ev.occurred_at, o.shares, False))
            self.made_by.append(index)
            event.outputs.append(pk)
        self.events.append(event)
        return event.outputs


def _canonical(value: Any) -> bool:
    """Whether RFC 8785 can write the event, as `record_event` requires of each (its request hash): integers
    within ±(2**53 − 1), finite numbers. A walk, much cheaper than writing it."""
    stack = [value]
    while stack:
        v = stack.pop()
        kind = type(v)
        if kind is str or v is None or kind is bool:
            continue
        if kind is dict:
            stack.extend(v.values())
        elif kind is list:
            stack.extend(v)
        elif kind is int:
            if not -VIRTUAL < v < VIRTUAL:
                return False
        elif kind is float:
            if not math.isfinite(v):
                return False
        else:
            return False
    return True


def _replace(ev: rules.EventRequest, **changes: Any) -> rules.EventRequest:
    from dataclasses import replace

    return replace(ev, **changes)


# --- writing ---------------------------------------------------------------------------------------

def _new_ids(model: type[Any], count: int) -> list[int]:
    """`count` ids for new rows of `model`, in order, that no other writer can take."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # the IMMEDIATE transaction holds the write lock: nobody else inserts until it commits. AUTOINCREMENT
            # never reuses an id, so start above both the last row and the last id ever given.
            cursor.execute(f"SELECT MAX(id) FROM {table}")  # noqa: S608 - a model's table name
            last = cursor.fetchone()[0] or 0
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            last = max(last, row[0] if row else 0)
            return list(range(last + 1, last + 1 + count))
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [table, count])
            return sorted(row[0] for row in cursor.fetchall())
    raise ValidationFailed(_("bulk intake writes through SQLite or PostgreSQL, the engines the node supports, not "
                             "%(engine)s: record the file with --one-by-one") % {"engine": connection.vendor},
                           code="engine_not_supported")


def _insert(model: type[Any], fields: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Rows into a model's table: COPY on PostgreSQL (several times faster than INSERTs there), else one
    parameterised INSERT run over all rows (executemany)."""
    columns = [model._meta.get_field(f).column if f != "id" else "id" for f in fields]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
        for i in range(0, len(rows), WRITE_BATCH):
            cursor.executemany(sql, rows[i:i + WRITE_BATCH])


def _consume_existing(rows: list[tuple[Any, ...]]) -> None:
    """Stock the file consumes, each parcel only if still held by the holder the check saw: one conditional
    UPDATE each (INT-09). The rows were locked when read, so a shortfall means the records moved underneath:
    the whole file rolls back."""
    table = Parcel._meta.db_table
    sql = (f"UPDATE {table} SET status = 'consumed', consumed_by_id = %s, consumed_on = %s "  # noqa: S608
           f"WHERE id = %s AND status = 'held' AND holder_id = %s")
    done = 0
    with connection.cursor() as cursor:
        for i in range(0, len(rows), WRITE_BATCH):
            part = rows[i:i + WRITE_BATCH]
            if connection.vendor == "sqlite":
                cursor.executemany(sql, part)
                done += cursor.rowcount
            else:  # one statement per chunk, whose row count is certain on every driver
                for j in range(0, len(part), CHUNK // 4):
                    few = part[j:j + CHUNK // 4]
                    values = ", ".join(["(%s::bigint, %s::date, %s::bigint, %s::bigint)"] * len(few))
                    cursor.execute(
                        f"UPDATE {table} AS p SET status = 'consumed', consumed_by_id = v.event, "  # noqa: S608
                        f"consumed_on = v.day FROM (VALUES {values}) AS v(event, day, id, holder) "
                        f"WHERE p.id = v.id AND p.status = 'held' AND p.holder_id = v.holder",
                        [x for row in few for x in row])
                    done += cursor.rowcount
    if done != len(rows):
        raise Conflict(_("the parcels changed while this file was recorded; nothing was applied"),
                       code="parcel_consumed", rule="INT-09")


def _write(batch: CustodyBatch, actor: Actor, planner: _Planner, now: dt.datetime) -> tuple[list[int], int]:
    """Events, parcels and origin rows in a few statements; returns the events' ids and how many parcels of the
    stock held before the file it consumed."""
    ops = connection.ops
    event_ids = _new_ids(CustodyEvent, len(planner.events))
    parcel_ids = _new_ids(Parcel, len(planner.made))
    real = {VIRTUAL + i: pk for i, pk in enumerate(parcel_ids)}
    recorded_at = ops.adapt_datetimefield_value(now)
    dumps = json.JSONEncoder().encode
    # SQLite keeps UTC times as text, as Django writes them (str() of the naive UTC time); written here directly
    utc_text = connection.vendor == "sqlite" and connection.timezone_name == "UTC"
    events = []
    for e, pk in zip(planner.events, event_ids, strict=True):
        at = (str(e.occurred_at.astimezone(dt.UTC).replace(tzinfo=None)) if utc_text
              else ops.adapt_datetimefield_value(e.occurred_at))
        details = dumps(e.details)  # JSON text: SQLite keeps it so, PostgreSQL's COPY reads it into jsonb
        events.append((pk, e.type, e.participant, at, recorded_at, actor.label, e.operator, e.operator_licence,
                       e.counterparty, e.counterparty_licence, e.site, details, "", None, "", "", batch.pk))
    _insert(CustodyEvent, ("id", "type", "participant", "occurred_at", "recorded_at", "actor", "operator",
                           "operator_licence", "counterparty", "counterparty_licence", "site", "details",
                           "idempotency_scope", "idempotency_key", "request_hash", "certificate", "batch"), events)
    days: dict[dt.date, Any] = {}

    def day(value: dt.date) -> Any:
        found = days.get(value)
        if found is None:
            found = days[value] = ops.adapt_datefield_value(value)
        return found

    parcels, origins = [], []
    for p in planner.made:
        pk = real[p.pk]
        consumed = p.consumed_by is not None
        parcels.append((pk, p.holder_id, p.participant_id, p.carats_centi, p.usd_cents, p.hs_code, p.stones,
                        "consumed" if consumed else "held", event_ids[planner.made_by[p.pk - VIRTUAL]],
                        day(p.made_at.date()), event_ids[p.consumed_by] if consumed else None,  # type: ignore[index]
                        day(p.consumed_on) if consumed else None))  # type: ignore[arg-type]
        for s in sorted(p.shares, key=lambda s: s.key):
            origins.append((pk, s.country, s.site, s.carats_centi))
    _insert(Parcel, ("id", "holder", "participant", "carats_centi", "usd_cents", "hs_code", "stones", "status",
                     "created_by", "created_on", "consumed_by", "consumed_on"), parcels)
    _insert(ParcelOrigin, ("parcel", "country", "site", "carats_centi"), origins)
    existing = [(event_ids[p.consumed_by], day(p.consumed_on), p.pk, p.holder_id)  # type: ignore[index,arg-type]
                for p in planner.records.parcels.values() if p.consumed_line is not None]
    _consume_existing(existing)
    return event_ids, len(existing)


def import_events(actor: Actor, events: Sequence[tuple[int, dict[str, Any]]], *, sha256: str, filename: str = "",
                  now: dt.datetime | None = None, progress: Callable[[int], None] | None = None) -> BulkResult:
    """Check a file's events whole, then record them together, all or nothing: the first refusal names its line
    and its rule, and nothing is kept. One audit entry for the file."""
    registry.require(actor, "custody.record")
    if not events:
        raise rules.LineError(1, _("the file holds no custody event"), code="empty_file")
    now = now or clock.now()
    try:
        return _import(actor, events, sha256=sha256, filename=filename, now=now, progress=progress)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "40P01":  # PostgreSQL's deadlock_detected
            raise
        # the file's stock and another request's parcels were locked in opposite orders: one of them gives way
        raise Conflict(_("the parcels changed while this file was recorded; nothing was applied"),
                       code="parcel_consumed", rule="INT-09") from None


def _import(actor: Actor, events: Sequence[tuple[int, dict[str, Any]]], *, sha256: str, filename: str,
            now: dt.datetime, progress: Callable[[int], None] | None) -> BulkResult:
    with _without_gc(), transaction.atomic():
        batch = CustodyBatch.objects.create(filename=filename[:255], sha256=sha256, events=0, recorded_at=now,
                                            recorded_by=actor.label)
        planner = _Planner(actor, _read_records(events), now)
        planner.plan(events, progress)
        event_ids, consumed = _write(batch, actor, planner, now)
        by_type: dict[str, int] = {}
        for e in planner.events:
            by_type[e.type] = by_type.get(e.type, 0) + 1
        CustodyBatch.objects.filter(pk=batch.pk).update(events=len(event_ids))
        participants = sorted({e.participant for e in planner.events})
        audit.record(actor=actor.label, action="custody.imported", object_type="custody_batch",
                     object_id=str(batch.pk), participant=participants[0] if len(participants) == 1 else "",
                     payload={"file": filename, "sha256": sha256, "lines": len(events), "events": len(event_ids),
                              "by_type": dict(sorted(by_type.items())), "participants": participants,
                              "parcels_made": len(planner.made), "parcels_consumed": consumed,
                              "event_ids": _ranges(event_ids)})
    return BulkResult(batch.pk, len(events), len(event_ids), by_type, len(planner.made), consumed, sha256,
                      event_ids)


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
    """No cyclic garbage collection while a file is checked and written: it makes hundreds of thousands of small
    objects that live until the end, which the collector would walk again and again for nothing (a third of the
    time). Reference counting still frees what dies; the collector runs again afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _ranges(ids: list[int]) -> list[list[int]]:
    """Ids as [first, last] runs: what the entry binds, short even for a million events."""
    out: list[list[int]] = []
    for pk in ids:
        if out and out[-1][1] == pk - 1:
            out[-1][1] = pk
        else:
            out.append([pk, pk])
    return out


def import_file(actor: Actor, data: bytes, filename: str = "", *, now: dt.datetime | None = None,
                progress: Callable[[int], None] | None = None) -> BulkResult:
    """`kpcs custody import`: a file of custody events (JSON lines or CSV, as `rules.read_events`), in bulk."""
    registry.require(actor, "custody.record")
    with _without_gc():
        events = rules.read_events(data, filename)
        return import_events(actor, events, sha256=hashlib.sha256(data).hexdigest(), filename=filename, now=now,
                             progress=progress)
