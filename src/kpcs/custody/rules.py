"""Custody rules: licences, events, conservation of carats, origin shares, the stock ledger (INT-06..INT-12).

Plain functions over plain values; no database, no request. Quantities are integers in hundredths (carats in
hundredths of a carat, US$ in cents), so that conservation is exact to 0.01 ct.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kpcs.errors import ValidationFailed
from kpcs.registry import rules as registry_rules

# --- the commodity profile (BRIEF §2) -------------------------------------------------------------
# The unit and HS codes come from a profile, so a second commodity (e.g. 3T ores in kg) can use the same code.


@dataclass(frozen=True)
class Commodity:
    code: str
    unit: str  # what `carats_centi` counts hundredths of
    hs_codes: tuple[str, ...]


ROUGH_DIAMONDS = Commodity("rough_diamonds", "ct", registry_rules.HS_IN_SCOPE)
COMMODITY = ROUGH_DIAMONDS

# --- registers -------------------------------------------------------------------------------------

LICENCE_KINDS = ("mining", "digging", "buying", "dealing", "exporting", "importing", "agent", "courier")
LICENCE_KIND_LABELS = {
    "mining": gettext_lazy("mining (industrial mine)"),
    "digging": gettext_lazy("artisanal or alluvial digging"),
    "buying": gettext_lazy("buying"),
    "dealing": gettext_lazy("dealing"),
    "exporting": gettext_lazy("exporting"),
    "importing": gettext_lazy("importing"),
    "agent": gettext_lazy("agent"),
    "courier": gettext_lazy("courier"),
}
# The registry's operator kinds (one licence per operator before custody) as licence kinds: the migration and
# the registration of new operators use this.
OPERATOR_KIND_TO_LICENCE = {"exporter": "exporting", "importer": "importing", "miner": "mining",
                            "digger": "digging", "buyer": "buying", "dealer": "dealing", "agent": "agent",
                            "courier": "courier"}
SITE_KINDS = ("industrial_mine", "alluvial_area")
SITE_KIND_LABELS = {"industrial_mine": gettext_lazy("industrial mine"),
                    "alluvial_area": gettext_lazy("alluvial or artisanal area")}
# Who may produce at a site of each kind (INT-06 mines, INT-07 artisanal and alluvial diggers).
PRODUCING_LICENCES = {"industrial_mine": frozenset({"mining"}),
                      "alluvial_area": frozenset({"digging", "mining"})}
# Who may sell and who may buy rough diamonds (INT-08): agents and couriers carry, they do not own.
SELLING_LICENCES = frozenset({"mining", "digging", "buying", "dealing", "exporting", "importing"})
BUYING_LICENCES = frozenset({"buying", "dealing", "exporting"})
# Who may sort a parcel into several or mix several into one: anyone who may hold them.
HOLDING_LICENCES = SELLING_LICENCES

# --- events ----------------------------------------------------------------------------------------

EVENT_TYPES = ("production", "transfer", "split", "merge", "loss", "seizure")
EVENT_TYPE_LABELS = {"production": gettext_lazy("production"), "transfer": gettext_lazy("transfer"),
                     "split": gettext_lazy("split"), "merge": gettext_lazy("merge"), "loss": gettext_lazy("loss"),
                     "seizure": gettext_lazy("seizure"), "export": gettext_lazy("export"),
                     "import": gettext_lazy("import"), "return": gettext_lazy("return")}
# Recorded only with a KP certificate (its issue, its confirmation; its cancellation, rejection or expiry unused
# for a return of the exported parcels to the exporter), never through the event API.
BORDER_TYPES = ("export", "import", "return")
# Why the parcels of a certificate from custody came back (a return event's `certificate_status`).
RETURN_REASON_LABELS = {"cancelled": gettext_lazy("the certificate was cancelled"),
                        "rejected": gettext_lazy("the importing authority rejected the shipment"),
                        "expired": gettext_lazy("the certificate expired unused")}
EXPORTING_LICENCES = frozenset({"exporting"})
IMPORTING_LICENCES = frozenset({"importing"})
# Events whose outputs weigh what their inputs weighed; production adds to custody, loss and seizure take away.
CONSERVING = frozenset({"transfer", "split", "merge"})
PARCEL_STATUSES = ("held", "consumed")
PARCEL_STATUS_LABELS = {"held": gettext_lazy("held"), "consumed": gettext_lazy("consumed")}
MAX_PARCELS = 1000  # inputs or outputs of one event
MAX_CENTI = 10**13  # 100 billion carats or US$: far above any parcel, far below an integer overflow
TEXT_MAX = 2000
FIRST_DAY = dt.date(1990, 1, 1)
# Clocks of recording offices differ a little; an event further in the future than this is refused.
FUTURE_SKEW = dt.timedelta(minutes=5)
_QUANTITY = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,2})?$")


def to_centi(text: str, what: str = "carats") -> int:
    """A quantity written "12.5" or "12.50" in hundredths (1250); refuses floats, signs, more than 2 places."""
    if not isinstance(text, str) or not _QUANTITY.match(text):
        raise ValidationFailed(_("%(what)s must be a non-negative decimal with at most 2 places, as a string, "
                                 "not %(value)s") % {"what": what, "value": repr(text)}, code="invalid_quantity",
                               details={"field": what})
    whole, _dot, frac = text.partition(".")
    value = int(whole) * 100 + int((frac + "00")[:2])
    if value > MAX_CENTI:
        raise ValidationFailed(_("%(what)s is too large") % {"what": what}, code="invalid_quantity",
                               details={"field": what})
    return value


def centi_text(value: int) -> str:
    """Hundredths as the API writes quantities: 1250 -> "12.50"."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}{value // 100}.{value % 100:02d}"


@dataclass(frozen=True)
class NewParcel:
    """A parcel an event creates: production's lots, the pieces of a split."""

    carats_centi: int
    usd_cents: int | None  # None: divided from the source in proportion (split)
    hs_code: str | None  # None: the source's (split)
    stones: int | None = None


@dataclass(frozen=True)
class EventRequest:
    """One custody event as asked for, checked for shape; the service checks it against the records."""

    type: str
    occurred_at: dt.datetime
    parcels: tuple[int, ...] = ()  # inputs: consumed by the event
    new: tuple[NewParcel, ...] = ()  # production's lots or a split's pieces
    site: int | None = None
    operator: int | None = None  # the producer (production) or the holder (split, merge, loss, seizure)
    seller: int | None = None
    buyer: int | None = None
    invoice: str = ""
    warranty: str = ""
    reason: str = ""
    value_cents: int | None = None  # a transfer's invoice value
    carats_centi: int | None = None  # a transfer of part of one parcel: split off first, in the same transaction
    hs_code: str | None = None  # a merge's HS code when its sources differ

    def details(self) -> dict[str, Any]:
        """The event's own words, kept with it: invoice and warranty (INT-11), reason (loss, seizure)."""
        out: dict[str, Any] = {}
        if self.invoice:
            out["invoice"] = self.invoice
        if self.warranty:
            out["warranty"] = self.warranty
        if self.reason:
            out["reason"] = self.reason
        return out


def _refuse(message: str, code: str = "invalid_event", rule: str | None = None, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, code=code, rule=rule, details=details or None)


def _id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**63 - 1:
        raise _refuse(_("%(what)s must be an id (a positive integer)") % {"what": what}, field=what)
    return value


def _ids(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise _refuse(_("%(what)s must be a list of parcel ids") % {"what": what}, field=what)
    if len(value) > MAX_PARCELS:
        raise _refuse(_("at most %(max)s parcels per event") % {"max": MAX_PARCELS}, field=what)
    ids = tuple(_id(v, what) for v in value)
    if len(set(ids)) != len(ids):
        raise _refuse(_("a parcel is named twice in %(what)s") % {"what": what}, field=what)
    return ids


def _text(request: Mapping[str, Any], key: str, required: bool, code: str, rule: str | None = None) -> str:
    value = request.get(key)
    if value is None or value == "":
        if required:
            raise _refuse(_("%(field)s is required") % {"field": key}, code=code, rule=rule, field=key)
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > TEXT_MAX:
        raise _refuse(_("%(field)s must be a text of 1 to %(max)s characters") % {"field": key, "max": TEXT_MAX},
                      code=code, rule=rule, field=key)
    return value.strip()


def _when(value: Any, now: dt.datetime) -> dt.datetime:
    if value is None or value == "":
        return now
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise _refuse(_("occurred_at must be an ISO 8601 date and time with its offset, e.g. "
                            "2026-01-31T10:00:00Z"), code="invalid_date", field="occurred_at") from None
    if when.tzinfo is None:
        raise _refuse(_("occurred_at must carry its UTC offset, e.g. 2026-01-31T10:00:00Z"), code="invalid_date",
                      field="occurred_at")
    when = when.astimezone(dt.UTC)
    if when.date() < FIRST_DAY or when > now + FUTURE_SKEW:
        raise _refuse(_("occurred_at must lie between %(first)s and now") % {"first": FIRST_DAY.isoformat()},
                      code="invalid_date", field="occurred_at")
    return when


def _new_parcels(value: Any, what: str, *, split: bool) -> tuple[NewParcel, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise _refuse(_("%(what)s must be a list of parcels") % {"what": what}, field=what)
    if len(value) > MAX_PARCELS:
        raise _refuse(_("at most %(max)s parcels per event") % {"max": MAX_PARCELS}, field=what)
    out = []
    for item in value:
        if not isinstance(item, Mapping):
            raise _refuse(_("each of %(what)s is an object with carats") % {"what": what}, field=what)
        carats = to_centi(item.get("carats"), "carats")  # type: ignore[arg-type]
        if carats <= 0:
            raise _refuse(_("a parcel weighs more than 0.00 carats"), code="invalid_quantity", field="carats")
        raw_value = item.get("value_usd")
        if raw_value is None and not split:
            raise _refuse(_("value_usd is required"), code="invalid_quantity", field="value_usd")
        usd = None if raw_value is None else to_centi(raw_value, "value_usd")
        hs = item.get("hs_code")
        if hs is None and not split:
            raise _refuse(_("hs_code is required"), code="hs_out_of_scope", rule="DEF-05", field="hs_code")
        stones = item.get("stones")
        if stones is not None and (isinstance(stones, bool) or not isinstance(stones, int)
                                   or not 1 <= stones <= 10**9):
            raise _refuse(_("stones must be a whole number from 1"), field="stones")
        out.append(NewParcel(carats, usd, None if hs is None else registry_rules.normalise_hs(hs, COMMODITY.hs_codes),
                             stones))
    return tuple(out)


def parse_event(request: Mapping[str, Any], now: dt.datetime) -> EventRequest:
    """Read one event as the API and `kpcs custody import` send it; refuse what no record could make right."""
    if not isinstance(request, Mapping):
        raise _refuse(_("an event is a JSON object"))
    kind = request.get("type")
    if kind not in EVENT_TYPES:
        raise _refuse(_("type must be one of %(types)s") % {"types": ", ".join(EVENT_TYPES)}, code="invalid_type",
                      field="type")
    when = _when(request.get("occurred_at"), now)
    operator = _id(request["operator"], "operator") if request.get("operator") is not None else None
    if kind == "production":
        site = _id(request.get("site"), "site")
        return EventRequest(kind, when, new=_new_parcels(request.get("produced"), "produced", split=False),
                            site=site, operator=operator)
    parcels = _ids(request.get("parcels"), "parcels")
    if kind == "transfer":
        seller, buyer = _id(request.get("seller"), "seller"), _id(request.get("buyer"), "buyer")
        if seller == buyer:
            raise _refuse(_("a transfer goes from one operator to another"), code="same_operator", rule="INT-08")
        value = request.get("value_usd")
        part = request.get("carats")
        if part is not None and len(parcels) != 1:
            raise _refuse(_("carats names part of one parcel: give exactly one parcel"), field="carats")
        part_centi = None if part is None else to_centi(part, "carats")
        if part_centi == 0:
            raise _refuse(_("a parcel weighs more than 0.00 carats"), code="invalid_quantity", field="carats")
        return EventRequest(kind, when, parcels=parcels, seller=seller, buyer=buyer, carats_centi=part_centi,
                            invoice=_text(request, "invoice", True, "invoice_required", "INT-11"),
                            warranty=check_warranty(_text(request, "warranty", True, "warranty_required", "INT-11")),
                            value_cents=None if value is None else to_centi(value, "value_usd"))
    if kind == "split":
        if len(parcels) != 1:
            raise _refuse(_("a split takes exactly one parcel"), field="parcels")
        pieces = _new_parcels(request.get("into"), "into", split=True)
        if len(pieces) < 2:
            raise _refuse(_("a split makes at least two parcels"), field="into")
        if len({p.usd_cents is None for p in pieces}) != 1:
            raise _refuse(_("give value_usd for every piece of the split or for none"), field="into")
        return EventRequest(kind, when, parcels=parcels, new=pieces, operator=operator)
    if kind == "merge":
        if len(parcels) < 2:
            raise _refuse(_("a merge takes at least two parcels"), field="parcels")
        hs = request.get("hs_code")
        return EventRequest(kind, when, parcels=parcels, operator=operator,
                            hs_code=None if hs is None else registry_rules.normalise_hs(hs, COMMODITY.hs_codes))
    # loss, seizure
    return EventRequest(kind, when, parcels=parcels, operator=operator,
                        reason=_text(request, "reason", True, "reason_required"))


# The core of the WDC System of Warranties statement (INT-11): the seller guarantees the goods are conflict free.
_WARRANTY_CORE = re.compile(r"conflict[\s-]*free", re.IGNORECASE)


def check_warranty(statement: str) -> str:
    """INT-11: the invoice carries the warranty statement; whichever version, it guarantees "conflict free"."""
    if not _WARRANTY_CORE.search(statement):
        raise _refuse(_("the warranty statement must guarantee that the diamonds are conflict free (WDC System "
                        "of Warranties)"), code="warranty_required", rule="INT-11", field="warranty")
    return statement


# --- licences --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LicenceView:
    id: int
    kind: str
    number: str
    valid_from: dt.date
    valid_until: dt.date | None  # inclusive; None = open
    area: str = ""  # the authorised area (INT-07); empty: none recorded

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


def licence_for(licences: Iterable[LicenceView], kinds: frozenset[str], day: dt.date, *, operator: str,
                rule: str, role: str) -> LicenceView:
    """The licence that lets an operator act in `role` on `day`, else a refusal naming why (INT-06..08).

    Among several valid ones the most recent wins (a renewal is a new licence, the old one kept).
    """
    held = [lic for lic in licences if lic.kind in kinds]
    valid = [lic for lic in held if lic.valid_on(day)]
    if valid:
        return max(valid, key=lambda lic: (lic.valid_from, lic.id))
    wanted = ", ".join(sorted(kinds))
    if held:
        numbers = ", ".join(f"{lic.number} ({lic.valid_from}–{lic.valid_until or '…'})" for lic in held)
        raise _refuse(_("%(operator)s holds no %(kinds)s licence valid on %(day)s to act as %(role)s: %(numbers)s")
                      % {"operator": operator, "kinds": wanted, "day": day.isoformat(), "role": role,
                         "numbers": numbers}, code="licence_not_valid", rule=rule, role=role)
    raise _refuse(_("%(operator)s holds no %(kinds)s licence to act as %(role)s")
                  % {"operator": operator, "kinds": wanted, "role": role}, code="unlicensed", rule=rule, role=role)


_AREA_ENTRIES = re.compile(r"[;\n]+")


def area_places(area: str) -> list[str]:
    """The places an authorised area names: entries separated by ";" or new lines, each entry's place being what
    comes before its first comma ("Lerala river, lot 7" -> "lerala river"), compared without case or extra
    spaces."""
    out = []
    for entry in _AREA_ENTRIES.split(area or ""):
        place = " ".join(entry.split(",", 1)[0].split()).casefold()
        if place:
            out.append(place)
    return out


def area_covers(area: str, site_name: str, region: str) -> bool:
    """Whether a licence's authorised area covers a site (INT-06, INT-07): one of its places is the site's name or
    its region. An empty area restricts nothing: licences migrated from the registry recorded none."""
    places = area_places(area)
    if not places:
        return True
    wanted = {" ".join(site_name.split()).casefold(), " ".join(region.split()).casefold()}
    return any(place in wanted for place in places)


def producing_licence(licences: Iterable[LicenceView], kinds: frozenset[str], day: dt.date, *, operator: str,
                      site_name: str, region: str, rule: str, role: str) -> LicenceView:
    """The licence under which a site's holder records production on `day`: valid that day (as `licence_for`)
    and authorised for the site's area (INT-06..08); the most recent such. Refused with the site, its region
    and each valid licence's area when none covers it."""
    licences = list(licences)
    licence_for(licences, kinds, day, operator=operator, rule=rule, role=role)  # refuses when none is valid
    valid = [lic for lic in licences if lic.kind in kinds and lic.valid_on(day)]
    covering = [lic for lic in valid if area_covers(lic.area, site_name, region)]
    if covering:
        return max(covering, key=lambda lic: (lic.valid_from, lic.id))
    areas = "; ".join(f"{lic.number}: {lic.area}" for lic in sorted(valid, key=lambda lic: (lic.valid_from, lic.id)))
    raise _refuse(_("site %(site)s (region %(region)s) lies outside the authorised area of %(operator)s's "
                    "licences valid on %(day)s (%(areas)s)")
                  % {"site": site_name, "region": region, "operator": operator, "day": day.isoformat(),
                     "areas": areas}, code="outside_licensed_area", rule=rule, field="site", site=site_name,
                  region=region, licences=[{"number": lic.number, "area": lic.area} for lic in valid])


# --- origin shares ---------------------------------------------------------------------------------
# A parcel's origin is rows (country, site, carats): computed when the parcel is made, so that reading where a
# parcel came from is one query and every parcel's rows add up to its carats.

@dataclass(frozen=True, order=True)
class Share:
    country: str
    site: int | None  # None: a country without a known site
    carats_centi: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.country, -1 if self.site is None else self.site)


def _apportion(weights: Sequence[int], amount: int) -> list[int]:
    """`amount` divided in proportion to `weights` (sum > 0), rounded by largest remainder: the parts are
    whole, add up to `amount` exactly, and none exceeds its weight when amount ≤ sum(weights)."""
    total = sum(weights)
    exact = [w * amount for w in weights]
    parts = [e // total for e in exact]
    short = amount - sum(parts)
    # the largest fractional remainders get one more; ties go to the earlier weight (a stable, repeatable order)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] % total), i))
    for i in order[:short]:
        parts[i] += 1
    return parts


def divide_shares(shares: Sequence[Share], amounts: Sequence[int]) -> list[list[Share]]:
    """A split: the parent's shares divided among pieces of `amounts` carats (which add up to the parent's).

    Pieces are served in turn from what remains, each in proportion by largest remainder, and the last takes
    the rest: each piece's rows add up to its carats and each origin's rows across the pieces add up to the
    parent's share of it, exactly (0.01 ct).
    """
    remaining = [s.carats_centi for s in shares]
    if sum(amounts) != sum(remaining) or any(a <= 0 for a in amounts):
        raise ValueError("the pieces must add up to the parcel")
    out = []
    for n, amount in enumerate(amounts):
        parts = list(remaining) if n == len(amounts) - 1 else _apportion(remaining, amount)
        remaining = [r - p for r, p in zip(remaining, parts, strict=True)]
        out.append([Share(s.country, s.site, p) for s, p in zip(shares, parts, strict=True) if p > 0])
    return out


def merge_shares(groups: Iterable[Iterable[Share]]) -> list[Share]:
    """A merge (a mixed parcel): the union of its sources' origins, same origin summed, in a stable order."""
    sums: dict[tuple[str, int | None], int] = {}
    for group in groups:
        for s in group:
            sums[(s.country, s.site)] = sums.get((s.country, s.site), 0) + s.carats_centi
    return sorted((Share(c, site, v) for (c, site), v in sums.items() if v > 0), key=lambda s: s.key)


def divide_value(total: int, weights: Sequence[int]) -> list[int]:
    """A value divided in proportion to carats (a split without values, a transfer's invoice over parcels)."""
    if sum(weights) == 0:
        return [0] * len(weights)
    return _apportion(weights, total)


def check_conserved(inputs: int, outputs: int) -> None:
    """Carats in = carats out, to 0.01 ct (INT-09, DOMAIN invariant)."""
    if inputs != outputs:
        raise _refuse(_("carats are not conserved: %(inputs)s ct in, %(outputs)s ct out")
                      % {"inputs": centi_text(inputs), "outputs": centi_text(outputs)}, code="carats_not_conserved",
                      rule="INT-09", carats_in=centi_text(inputs), carats_out=centi_text(outputs))


# --- compliant zones (SPEC-03, SPEC-04) -------------------------------------------------------------

def region_cleared(zone_measures: Iterable[Any], region: str, day: dt.date) -> bool:
    """Whether goods mined in `region` may leave a participant under its measures in force on `day`: under a
    `compliant_zones_only` measure only its declared zones may export; without one, every region may.

    `zone_measures` are registry measures (kind, in_force(day), zones_on(day)); names compare without case.
    """
    restricting = [m for m in zone_measures if m.kind == "compliant_zones_only" and m.in_force(day)]
    if not restricting:
        return True
    wanted = region.strip().casefold()
    return any(wanted in {z.casefold() for z in m.zones_on(day)} for m in restricting)


# --- the stock ledger (INT-08, INT-09) -------------------------------------------------------------

@dataclass(frozen=True)
class Movement:
    """A parcel entering (+) or leaving (−) an operator's stock on a day, by the event type that moved it."""

    day: dt.date
    type: str
    carats_centi: int  # signed
    usd_cents: int  # signed


@dataclass
class LedgerDay:
    day: dt.date
    opening: int
    received: dict[str, int] = field(default_factory=dict)  # by event type
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def closing(self) -> int:
        return self.opening + sum(self.received.values()) - sum(self.removed.values())


@dataclass
class Ledger:
    start: dt.date
    end: dt.date
    opening: int
    opening_usd: int
    received: dict[str, int]
    removed: dict[str, int]
    closing_usd: int
    days: list[LedgerDay]

    @property
    def closing(self) -> int:
        return self.opening + sum(self.received.values()) - sum(self.removed.values())


def ledger(movements: Iterable[Movement], start: dt.date, end: dt.date) -> Ledger:
    """Opening + in − out = closing for [start, end] (days inclusive), and the same per day with movements.

    In and out are kept by event type (production, transfer, split…): a split or merge moves stock out and back
    in within the operator, which shows, and cancels, on both sides.
    """
    if end < start:
        raise _refuse(_("the ledger's end (%(end)s) is before its start (%(start)s)")
                      % {"end": end.isoformat(), "start": start.isoformat()}, code="invalid_dates")
    opening = opening_usd = closing_usd = 0
    received: dict[str, int] = {}
    removed: dict[str, int] = {}
    by_day: dict[dt.date, list[Movement]] = {}
    for m in movements:
        if m.day < start:
            opening += m.carats_centi
            opening_usd += m.usd_cents
        elif m.day <= end:
            side = received if m.carats_centi > 0 else removed
            side[m.type] = side.get(m.type, 0) + abs(m.carats_centi)
            by_day.setdefault(m.day, []).append(m)
        if m.day <= end:
            closing_usd += m.usd_cents
    days, running = [], opening
    for day in sorted(by_day):
        line = LedgerDay(day, running)
        for m in by_day[day]:
            side = line.received if m.carats_centi > 0 else line.removed
            side[m.type] = side.get(m.type, 0) + abs(m.carats_centi)
        days.append(line)
        running = line.closing
    return Ledger(start, end, opening, opening_usd, received, removed, closing_usd, days)


# --- files of events (`kpcs custody import`) ---------------------------------------------------------
# JSON lines (one event per line, as POST /custody/events takes it) or CSV with the columns below. A parcel made
# earlier in the same file is named "@LINE" (every parcel that line made) or "@LINE.N" (its N-th, from 1).

CSV_COLUMNS = ("type", "occurred_at", "site", "operator", "seller", "buyer", "parcels", "carats", "value_usd",
               "hs_code", "stones", "into", "invoice", "warranty", "reason")
_REF = re.compile(r"^@([0-9]{1,9})(?:\.([0-9]{1,6}))?$")


class LineError(ValidationFailed):
    """A line of a file of events that cannot be read or recorded: nothing of the file is kept."""

    def __init__(self, line: int, message: str, *, code: str = "invalid_line", rule: str | None = None) -> None:
        super().__init__(_("line %(line)s: %(message)s") % {"line": line, "message": message}, code=code, rule=rule,
                         details={"line": line})
        self.line = line


def _csv_event(row: Mapping[str, str], line: int) -> dict[str, Any]:
    def ids(text: str) -> list[Any]:
        return [int(t) if t.isdigit() else t for t in re.split(r"[;\s]+", text.strip()) if t]

    out: dict[str, Any] = {}
    for key in ("type", "occurred_at", "invoice", "warranty", "reason", "hs_code"):
        if row.get(key):
            out[key] = row[key]
    for key in ("site", "operator", "seller", "buyer"):
        if row.get(key):
            if not row[key].strip().isdigit():
                raise LineError(line, _("%(field)s must be an id") % {"field": key})
            out[key] = int(row[key])
    if row.get("parcels"):
        out["parcels"] = ids(row["parcels"])
    if out.get("type") == "production":
        lot: dict[str, Any] = {"carats": row.get("carats") or "", "value_usd": row.get("value_usd") or "",
                               "hs_code": out.pop("hs_code", "")}
        if (row.get("stones") or "").strip():
            if not row["stones"].strip().isdigit():
                raise LineError(line, _("stones must be a whole number from 1"))
            lot["stones"] = int(row["stones"])
        out["produced"] = [lot]
    else:
        if row.get("carats"):
            out["carats"] = row["carats"]
        if row.get("value_usd"):
            out["value_usd"] = row["value_usd"]
    if row.get("into"):
        out["into"] = [{"carats": c} for c in re.split(r"[;\s]+", row["into"].strip()) if c]
    return out


def read_events(data: bytes, filename: str = "") -> list[tuple[int, dict[str, Any]]]:
    """(line number, event) for every event of a file, CSV (by its name or its header) or JSON lines."""
    import csv
    import io
    import json

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LineError(1, _("the file is not UTF-8 text")) from None
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if filename.lower().endswith(".csv") or first.strip().startswith("type,"):
        reader = csv.DictReader(io.StringIO(text))
        unknown = [c for c in reader.fieldnames or [] if c not in CSV_COLUMNS]
        if unknown or "type" not in (reader.fieldnames or []):
            raise LineError(1, _("the CSV header must name columns among %(columns)s (type is required); unknown: "
                                 "%(unknown)s") % {"columns": ", ".join(CSV_COLUMNS),
                                                   "unknown": ", ".join(unknown) or "-"})
        return [(reader.line_num, _csv_event(row, reader.line_num)) for row in reader
                if any((v or "").strip() for v in row.values())]
    out = []
    for n, ln in enumerate(lines, start=1):
        if not ln.strip():
            continue
        try:
            value = json.loads(ln)
        except ValueError as exc:
            raise LineError(n, _("not JSON: %(error)s") % {"error": str(exc)}) from None
        if not isinstance(value, dict):
            raise LineError(n, _("an event is a JSON object"))
        out.append((n, value))
    return out


def resolve_refs(event: dict[str, Any], line: int, made: Mapping[int, list[int]]) -> dict[str, Any]:
    """The event with "@LINE" and "@LINE.N" parcel references replaced by the ids those lines made."""
    parcels = event.get("parcels")
    if not isinstance(parcels, list) or not any(isinstance(p, str) for p in parcels):
        return event
    ids: list[Any] = []
    for p in parcels:
        match = _REF.match(p) if isinstance(p, str) else None
        if match is None:
            ids.append(p)
            continue
        source = int(match.group(1))
        if source not in made:
            raise LineError(line, _("%(ref)s names no earlier line of this file that made parcels") % {"ref": p})
        outs = made[source]
        if match.group(2) is None:
            ids.extend(outs)
        elif 1 <= int(match.group(2)) <= len(outs):
            ids.append(outs[int(match.group(2)) - 1])
        else:
            raise LineError(line, _("line %(source)s made %(count)s parcels, not %(n)s")
                            % {"source": source, "count": len(outs), "n": match.group(2)})
    return {**event, "parcels": ids}


# --- custody control and certificates from custody (CERT-10, EXP-06) ---------------------------------

@dataclass(frozen=True)
class ControlView:
    valid_from: dt.date
    enabled: bool


def control_on(controls: Iterable[ControlView], day: dt.date) -> bool:
    """Whether custody control is on for a participant on `day`: the latest setting from on or before it."""
    latest = None
    for c in controls:
        if c.valid_from <= day and (latest is None or c.valid_from >= latest.valid_from):
            latest = c
    return latest is not None and latest.enabled


@dataclass(frozen=True)
class ExportLine:
    hs_code: str
    carats_centi: int
    usd_cents: int
    parcels: int


def export_lines(parcels: Iterable[tuple[str, int, int]]) -> list[ExportLine]:
    """A certificate's lines from the parcels it covers (hs_code, carats, value): one line per HS code, in code
    order, each counting its parcels (CERT-02 items 11-14)."""
    by_code: dict[str, list[int]] = {}
    for hs, carats, usd in parcels:
        row = by_code.setdefault(hs, [0, 0, 0])
        row[0] += carats
        row[1] += usd
        row[2] += 1
    return [ExportLine(hs, c, u, n) for hs, (c, u, n) in sorted(by_code.items())]


def export_origin(by_country: Mapping[str, int]) -> dict[str, Any]:
    """CERT-10: one country of origin, or "mixed" listing every mining country (the 2024 best practice)."""
    countries = sorted(c for c, carats in by_country.items() if carats > 0)
    if len(countries) == 1:
        return {"kind": "single", "countries": countries}
    return {"kind": "mixed", "countries": countries}
