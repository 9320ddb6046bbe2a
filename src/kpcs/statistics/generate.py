"""Synthetic statistics: plausible production and trade in the exchange format, with planted anomalies.

`generate(participants, years, seed)` returns rows of the exchange format and a companion document that
lists the anomalies planted on purpose (one or more of each rule the format can express), the participants
untouched by them, and what the format cannot carry. Pure Python: one `random.Random(seed)`, no database;
the same arguments always give the same rows.

The model, per quarter:
* producers mine a stable volume at a stable price (noise ±15 % in volume, ±10 % in price per year) and
  export most of it to a fixed set of partners, gem (7102.31, rarely 7102.10 unsorted) and industrial
  (7102.21) goods apart;
* trading hubs re-export most of what they imported that quarter (so origins blocked in a quarter never pass
  through), to later hubs and to traders and consumers, naming the origins of their direct suppliers and
  "mixed" (empty origin) for the rest, at the import price ±10 %;
* small traders re-export what they imported to consumers; consumers only import;
* every importer reports what its exporter reported within ±2 %, so mirror statistics agree;
* participants removed, suspended, self-suspended or embargoed at some time (status-history.csv) are kept
  small, and in any quarter touching such a period nobody trades with them, from them or in their goods;
  they still report (zero rows).
Every participant reports trade for every quarter (explicit zero rows when there was none) and every
producer production for every half-year, so clean data raises no missing-report finding.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from kpcs.registry import rules as registry_rules
from kpcs.statistics.rules import (
    COLUMNS,
    CUSTOMS_COLUMNS,
    CustomsRow,
    Period,
    Row,
    parse_customs_row,
    periods_of_year,
)

HS_GEM, HS_INDUSTRIAL, HS_UNSORTED = "7102.31", "7102.21", "7102.10"
# Real producers and trading centres get those roles first, so the data looks familiar.
KNOWN_PRODUCERS = ("RU", "BW", "CA", "CD", "AU", "AO", "ZA", "NA", "ZW", "SL", "LS", "TZ", "GN", "GY", "CF", "CI",
                   "BR", "LR", "GH", "CG", "CM", "VE", "TG")
KNOWN_HUBS = ("EU", "AE", "IN", "IL", "CH", "GB", "US", "SG", "CN", "TH", "LB", "MU", "TR", "AM", "PA", "JP")
# removed, suspended, self_suspended, applicant, embargoed; and before admission, outside the scheme (GOV-05)
BARRED = registry_rules.NO_EXPORT | {"non_participant"}
HISTORY_YEARS = 3  # a planted anomaly sits in a year with at least this many previous years of data
NOT_REPRESENTABLE = [{
    "rule": "unconfirmed-certificate",
    "reason": "the exchange format carries aggregate figures per period, participant, partner, origin and HS "
              "code; it has no certificate numbers, issue dates or import confirmations, so a certificate "
              "left unconfirmed past its deadline (IMP-02) cannot be expressed: the rule reads overdue "
              "certificates from the certificate register, not from statistics files"}]


def _csv(name: str) -> list[dict[str, str]]:
    text = resources.files("kpcs.registry").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def participant_codes(n: int) -> list[str]:
    """The first n participants in file order; beyond them, other ISO 3166-1 alpha-2 codes in code order."""
    codes = [r["code"] for r in _csv("participants.csv")]
    if n > len(codes):
        import pycountry

        known = set(codes)
        codes += sorted(c.alpha_2 for c in pycountry.countries if c.alpha_2 not in known)
    if not 1 <= n <= len(codes):
        raise ValueError(f"participants must be between 1 and {len(codes)}")
    return codes[:n]


def status_history() -> dict[str, list[registry_rules.StatusPeriod]]:
    """The packaged status history (status-history.csv) with each participant's admission (admissions.csv: a
    non-participant before it, GOV-05), as the anomaly rules take it and as a node loaded with the same files
    judges it."""
    recorded: dict[str, list[registry_rules.StatusPeriod]] = defaultdict(list)
    for r in _csv("status-history.csv"):
        recorded[r["participant"]].append(registry_rules.StatusPeriod(
            r["status"], dt.date.fromisoformat(r["from"]), dt.date.fromisoformat(r["to"]) if r["to"] else None,
            r["scope"]))
    admitted = {r["code"]: dt.date.fromisoformat(r["admitted_on"]) if r["admitted_on"] else registry_rules.SCHEME_START
                for r in _csv("admissions.csv")}  # no date known: a founder, as the registry loads it
    out = {code: registry_rules.effective_history(recorded.get(code, []), day) for code, day in admitted.items()}
    out.update({code: periods for code, periods in recorded.items() if code not in admitted})
    return {code: periods for code, periods in out.items() if periods}


def blocked_quarters(statuses: dict[str, list[registry_rules.StatusPeriod]],
                     years: Sequence[int]) -> set[tuple[str, int, int]]:
    """(code, year, quarter) for every quarter touching a day on which the participant could not export."""
    out = set()
    for code, history in statuses.items():
        for year in years:
            for period in periods_of_year(year, "quarter"):
                if any(st.status in BARRED and st.valid_from <= period.end
                       and (st.valid_to is None or st.valid_to > period.start) for st in history):
                    out.add((code, year, period.index))
    return out


# --- the model -----------------------------------------------------------------------------------

@dataclass
class Link:
    target: str
    kind: str  # "share": a weighted part of what is left; "cap": about `weight` carats a year
    weight: float


@dataclass
class Actor:
    code: str
    role: str  # producer | hub | trader | consumer
    small: bool = False  # receives only small fixed amounts (cap links)
    volume: float = 0.0  # producer: carats a year
    price: float = 0.0  # producer: US$/ct
    industrial: float = 0.0  # producer: industrial share of carats
    gem_hs: str = HS_GEM
    shipment: float = 1000.0  # typical carats per certificate
    reexport: tuple[float, float] = (0.86, 0.97)
    links: list[Link] = field(default_factory=list)
    labelled: list[str] = field(default_factory=list)  # hub: origins it names


@dataclass(slots=True)
class Record:
    """One trade slice as both sides report it."""

    year: int
    quarter: int
    exporter: str
    importer: str
    origin: str
    hs: str
    carats: float
    usd: float
    imp_carats: float
    imp_usd: float
    certificates: int
    mirrored: bool = True


# The EU's customs figures come from its member states (their shares of the EU's trade) and include trade between
# them, which the KP's EU figure leaves out: 12 % more here, inside the EU's wider tolerance.
EU_REPORTERS = (("BE", "Belgium", 0.80), ("DE", "Germany", 0.12), ("NL", "Netherlands", 0.08))
EU_INTRA = 1.12
CUSTOMS_FACTOR = 0.4  # the planted customs-mirror-discrepancy: customs give 40 % of the KP figure


def _d(value: float) -> Decimal:
    return Decimal(f"{max(value, 0.0):.2f}")


class _Generator:
    def __init__(self, n: int, years: int, seed: int, end_year: int) -> None:
        if years < 1:
            raise ValueError("years must be at least 1")
        self.rng = random.Random(seed)
        self.seed = seed
        self.codes = participant_codes(n)
        self.years = list(range(end_year - years + 1, end_year + 1))
        self.statuses = status_history()
        self.blocked = blocked_quarters(self.statuses, self.years)
        self.constrained = [c for c in self.codes if any(b[0] == c for b in self.blocked)]
        self.notes: list[str] = []
        self.planted: list[dict[str, Any]] = []
        self.touched: set[str] = set()
        self.stop: dict[str, int] = {}  # missing-report: participant -> last year reported
        self.production_factor: dict[tuple[str, int], tuple[float, float]] = {}  # (carats ×, US$/ct ×)
        self.export_factor: dict[tuple[str, int], float] = {}
        self.margin_factor: dict[tuple[str, int], float] = {}  # a hub's re-export US$/ct ×
        self.records: list[Record] = []
        self.production: dict[tuple[str, int], list[tuple[int, float, float]]] = {}

    # --- set-up --------------------------------------------------------------------------------
    def roles(self) -> None:
        rng, codes = self.rng, self.codes
        n = len(codes)
        n_prod = max(1, round(0.4 * n)) if n > 1 else 1
        n_hub = max(1, round(0.15 * n)) if n >= 3 else 0
        free = [c for c in codes if c not in self.constrained]
        hubs = [c for c in KNOWN_HUBS if c in free][:n_hub]
        rest = [c for c in free if c not in hubs and c not in KNOWN_PRODUCERS and c != "EU"]
        while len(hubs) < n_hub and rest:
            hubs.append(rest.pop(rng.randrange(len(rest))))
        known = [c for c in codes if c in KNOWN_PRODUCERS and c not in hubs]
        producers = known if len(known) <= n_prod else sorted(rng.sample(known, n_prod), key=codes.index)
        others = [c for c in codes if c not in hubs and c not in producers and c != "EU"]
        while len(producers) < n_prod and others:
            producers.append(others.pop(rng.randrange(len(others))))
        consumers = [c for c in codes if c not in hubs and c not in producers]
        free_consumers = [c for c in consumers if c not in self.constrained]
        n_trade = len(free_consumers) // 3 if len(free_consumers) >= 3 else 0
        traders = sorted(rng.sample(free_consumers, n_trade), key=codes.index)
        self.actors: dict[str, Actor] = {}
        for c in codes:
            role = ("producer" if c in producers else "hub" if c in hubs else "trader" if c in traders
                    else "consumer")
            self.actors[c] = Actor(c, role, small=c in self.constrained and role != "producer")
        # Processing order: what a participant re-exports was imported earlier in the same quarter.
        self.order = ([c for c in codes if c in producers] + hubs + [c for c in codes if c in traders]
                      + [c for c in codes if self.actors[c].role == "consumer"])

    def of(self, role: str) -> list[Actor]:
        return [self.actors[c] for c in self.order if self.actors[c].role == role]

    def choose_small(self) -> None:
        """The exports-exceed-supply trader and the participant whose reports stop take small amounts only."""
        rng = self.rng
        traders = [a for a in self.of("trader") if not a.small]
        self.t_actor = rng.choice(traders) if traders and self.eligible else None
        if self.t_actor:
            self.t_actor.small = True
            self.t_actor.reexport = (1.0, 1.0)  # sells all it buys: no stock to explain a surge
        consumers = [a for a in self.of("consumer") if not a.small]
        pure = [a for a in consumers if a is not self.t_actor]
        self.m_actor = rng.choice(pure) if len(pure) >= 2 and self.eligible else None
        if self.m_actor:
            self.m_actor.small = True

    def economy(self) -> None:
        rng = self.rng
        for a in self.of("producer"):
            if a.code in self.constrained:
                a.volume = rng.uniform(6000, 12000)  # a collapse to zero under suspension stays below the floor
            else:
                a.volume = 10 ** min(7.3, max(4.0, rng.gauss(5.3, 0.85)))
            a.price = math.exp(rng.uniform(math.log(20), math.log(600)))
            if a.code in self.constrained:  # a mid-range price: its goods do not drive anyone's average
                a.price = rng.uniform(60, 200)
            a.industrial = 0.0 if rng.random() < 0.65 else rng.uniform(0.05, 0.4)
            a.gem_hs = HS_UNSORTED if rng.random() < 0.06 else HS_GEM
            a.shipment = max(20.0, a.volume / rng.uniform(60, 400))
        hubs, traders = self.of("hub"), self.of("trader")
        sinks = [a for a in self.of("consumer") if not a.small]
        buyers = [a for a in traders + sinks if not a.small]
        for a in self.of("producer"):
            if a.code in self.constrained:
                continue  # linked below, to the biggest hub, where its absence under suspension is not felt
            chosen: list[str] = []
            for _ in range(rng.randint(1, 3)):
                group = hubs if hubs and (rng.random() < 0.75 or not buyers) else buyers
                group = [b for b in group if b.code not in chosen]
                if group:
                    chosen.append(rng.choice(group).code)
            a.links = [Link(c, "share", rng.uniform(0.5, 1.5)) for c in chosen]
        for i, a in enumerate(hubs):
            later = hubs[i + 1:]
            chosen = [rng.choice(later).code] if later and rng.random() < 0.5 else []
            pool = [b.code for b in buyers]
            chosen += rng.sample(pool, min(len(pool), rng.randint(2, 5)))
            a.links = [Link(c, "share", rng.uniform(0.5, 1.5)) for c in chosen]
        for a in traders:
            pool = [b.code for b in sinks]
            a.links = [Link(c, "share", rng.uniform(0.5, 1.5)) for c in rng.sample(pool, min(len(pool),
                                                                                                rng.randint(1, 3)))]
        suppliers = hubs or [a for a in self.of("producer") if a.code not in self.constrained] or self.of("producer")
        supplied = {lk.target for a in self.actors.values() for lk in a.links}
        for b in buyers:
            if b.code not in supplied and suppliers:
                rng.choice(suppliers).links.append(Link(b.code, "share", rng.uniform(0.5, 1.5)))
        # expected yearly outflow, to give small buyers big suppliers and to size certificates
        inflow: dict[str, float] = defaultdict(float)
        outflow: dict[str, float] = {}
        for code in self.order:
            a = self.actors[code]
            outflow[code] = a.volume * 0.9 if a.role == "producer" else inflow[code] * 0.9
            shares = [lk for lk in a.links if lk.kind == "share"]
            total = sum(lk.weight for lk in shares)
            for lk in shares:
                inflow[lk.target] += outflow[code] * lk.weight / total
            if a.role != "producer":
                a.shipment = max(20.0, outflow[code] / rng.uniform(60, 400))
        self.expected = outflow
        big = sorted(suppliers, key=lambda s: -outflow[s.code])[:3]
        for a in self.of("producer"):
            if a.code in self.constrained:
                outlet = big[0] if hubs else max(buyers, key=lambda b: inflow[b.code], default=None)
                a.links = [Link(outlet.code, "share", 1.0)] if outlet is not None and outlet is not a else []
        for b in [a for a in self.actors.values() if a.small]:
            if not big:
                break
            picks = rng.sample(big, min(len(big), 1 if rng.random() < 0.7 else 2))
            yearly = rng.uniform(3000, 7000)
            for s in picks:
                s.links.append(Link(b.code, "cap", yearly / len(picks)))
        for a in self.of("hub"):
            direct = [s for s in self.of("producer") if any(lk.target == a.code for lk in s.links)]
            a.labelled = [s.code for s in sorted(direct, key=lambda s: -s.volume)[:4]]

    # --- planning the anomalies ----------------------------------------------------------------
    def plan(self) -> None:
        """The years with enough history to hold a planted anomaly."""
        first = self.years[0]
        self.eligible = [y for y in self.years if y - first >= HISTORY_YEARS]
        self.used_years: list[int] = []

    def pick_year(self, candidates: Sequence[int]) -> int | None:
        if not candidates:
            return None
        fresh = [y for y in candidates if y not in self.used_years]
        year = self.rng.choice(fresh or list(candidates))
        self.used_years.append(year)
        return year

    def plan_simulation(self) -> None:
        rng = self.rng
        taken = {a.code for a in (self.t_actor, self.m_actor) if a}
        if self.m_actor:
            end = self.years[-1]
            lasts = [y for y in range(max(self.years[0] + HISTORY_YEARS - 1, end - 3), end) if y + 1 in self.eligible]
            if lasts:
                self.stop[self.m_actor.code] = rng.choice(lasts)
            else:
                self.m_actor = None
        producers = [a for a in self.of("producer") if a.code not in self.constrained]
        big = [a for a in producers if a.volume >= 60000] or producers
        self.p3 = rng.choice(big) if big and self.eligible else None
        self.y4 = self.pick_year(self.eligible) if self.p3 else None
        if self.p3 and self.y4:
            taken.add(self.p3.code)
            self.production_factor[(self.p3.code, self.y4)] = (6.0, 1.0)
            self.export_factor[(self.p3.code, self.y4)] = 1.3
        rest = [a for a in producers if a.code not in taken]
        self.p2 = rng.choice(rest) if rest and self.eligible else None
        self.y2 = self.pick_year(self.eligible) if self.p2 else None
        if self.p2 and self.y2:
            taken.add(self.p2.code)
            self.production_factor[(self.p2.code, self.y2)] = (1.0, 1 / 6)
        # re-export-valuation: a hub re-exports the last year's goods at twice what it paid (no draw from the
        # random stream, so the rest of the data stays as it was)
        hubs = [a for a in self.of("hub") if a.code not in taken and a.code not in self.constrained]
        self.h_actor = hubs[0] if hubs and self.years[-1] in self.eligible else None
        if self.h_actor:
            taken.add(self.h_actor.code)
            self.margin_factor[(self.h_actor.code, self.years[-1])] = 2.0
        self.taken = taken

    # --- simulation ----------------------------------------------------------------------------
    def active(self, code: str, year: int, quarter: int) -> bool:
        if (code, year, quarter) in self.blocked:
            return False
        return not (code in self.stop and year > self.stop[code])

    def simulate(self) -> None:
        rng = self.rng
        for year in self.years:
            yearly: dict[str, dict[str, Any]] = {}
            for code in self.order:
                a = self.actors[code]
                y: dict[str, Any] = {}
                if a.role == "producer":
                    volume = a.volume * rng.uniform(0.85, 1.15)
                    price = a.price * rng.uniform(0.9, 1.1)
                    carats_f, usd_f = self.production_factor.get((code, year), (1.0, 1.0))
                    h1 = rng.uniform(0.46, 0.54)
                    produced = volume * carats_f
                    if not (code in self.stop and year > self.stop[code]):
                        self.production[(code, year)] = [(1, produced * h1, produced * h1 * price * usd_f),
                                                         (2, produced * (1 - h1),
                                                          produced * (1 - h1) * price * usd_f)]
                    exports = volume * rng.uniform(0.86, 0.97) * self.export_factor.get((code, year), 1.0)
                    q = [rng.uniform(0.8, 1.2) for _ in range(4)]
                    y["exports"] = [exports * v / sum(q) for v in q]
                    s = a.industrial
                    y["slices"] = [(code, a.gem_hs, 1 - s, price * (1 - 0.3 * s) / (1 - s))]
                    if s:
                        y["slices"].append((code, HS_INDUSTRIAL, s, price * 0.3))
                else:
                    y["reexport"] = rng.uniform(*a.reexport)
                    y["margin"] = rng.uniform(0.95, 1.06) * self.margin_factor.get((code, year), 1.0)
                y["weights"] = [lk.weight * rng.uniform(0.85, 1.15) for lk in a.links]
                yearly[code] = y
            for quarter in range(1, 5):
                self.quarter(year, quarter, yearly)

    def quarter(self, year: int, quarter: int, yearly: dict[str, dict[str, Any]]) -> None:
        rng = self.rng
        inbox: dict[str, list[Record]] = defaultdict(list)
        for code in self.order:
            a, y = self.actors[code], yearly[code]
            if not self.active(code, year, quarter) or not a.links:
                continue
            slices: list[tuple[str, str, float, float]] = []  # origin, hs, carats, usd
            if a.role == "producer":
                amount = y["exports"][quarter - 1]
                slices = [(o, hs, amount * share, amount * share * price) for o, hs, share, price in y["slices"]]
            else:
                grouped: dict[tuple[str, str], list[float]] = {}
                for r in inbox.get(code, ()):
                    label = r.origin if (a.role == "hub" and r.origin in a.labelled) else ""
                    acc = grouped.setdefault((label, r.hs), [0.0, 0.0])
                    acc[0] += r.imp_carats
                    acc[1] += r.imp_usd
                k, m = y["reexport"], y["margin"]
                slices = [(o, hs, c * k, u * k * m) for (o, hs), (c, u) in grouped.items()]
            total = sum(s[2] for s in slices)
            if total <= 0:
                continue
            live = [(lk, w) for lk, w in zip(a.links, y["weights"], strict=True)
                    if self.active(lk.target, year, quarter)]
            caps = [(lk, w * rng.uniform(0.9, 1.1) / 4) for lk, w in live if lk.kind == "cap"]
            cap_total = sum(v for _, v in caps)
            if cap_total > 0.25 * total:
                caps = [(lk, v * 0.25 * total / cap_total) for lk, v in caps]
                cap_total = 0.25 * total
            shares = [(lk, w) for lk, w in live if lk.kind == "share"]
            weight = sum(w for _, w in shares)
            amounts = caps + [(lk, (total - cap_total) * w / weight) for lk, w in shares]
            for lk, amount in amounts:
                for origin, hs, c, u in slices:
                    carats = amount * c / total
                    if carats < 1:
                        continue
                    value = carats * u / c
                    rec = Record(year, quarter, code, lk.target, origin, hs, carats, value,
                                 carats * rng.uniform(0.98, 1.02), value * rng.uniform(0.98, 1.02),
                                 self.certificates(a, carats))
                    self.records.append(rec)
                    inbox[lk.target].append(rec)

    def certificates(self, a: Actor, carats: float) -> int:
        return max(2, min(5000, round(carats / a.shipment)))

    # --- anomalies planted after the simulation ------------------------------------------------
    def plant(self, rule: str, participant: str, year: int, detail: str, subject: str = "",
              counterparties: Sequence[str] = ()) -> None:
        entry: dict[str, Any] = {"rule": rule, "participant": participant, "period": str(year)}
        if subject:
            entry["subject"] = subject
        entry["detail"] = detail
        self.planted.append(entry)
        self.touched.add(participant)
        self.touched.update(c for c in counterparties if c)

    def production_price(self, code: str, year: int) -> float:
        halves = self.production[(code, year)]
        carats = sum(float(_d(c)) for _, c, _ in halves)
        return sum(float(_d(u)) for _, _, u in halves) / carats

    def plant_all(self) -> None:
        end = self.years[-1]
        if not self.eligible:
            self.notes.append(f"only embargoed-trade may be planted: {len(self.years)} year(s) leave no year with "
                              f"the {HISTORY_YEARS} previous years of history the other rules compare against")
        # volume-spike and price-outlier were shaped during the simulation
        if self.p3 and self.y4:
            partners = sorted({r.importer for r in self.records if r.exporter == self.p3.code and r.year == self.y4})
            self.plant("volume-spike", self.p3.code, self.y4,
                       f"{self.p3.code}'s production ×6 in {self.y4} at its usual price; exports only ×1.3",
                       "production", partners)
        if self.p2 and self.y2:
            self.plant("price-outlier", self.p2.code, self.y2,
                       f"{self.p2.code}'s production valued at ⅙ of its usual US$/ct in {self.y2}, volume as usual",
                       "production")
        if self.m_actor:
            code, last = self.m_actor.code, self.stop[self.m_actor.code]
            former = sorted(s.code for s in self.actors.values() if any(lk.target == code for lk in s.links))
            for year in range(last + 1, end + 1):
                self.plant("missing-report", code, year,
                           f"{code} reports nothing after {last}; its partners stopped trading with it", "",
                           former)
        if self.h_actor:
            code = self.h_actor.code
            buyers = sorted({r.importer for r in self.records if r.exporter == code and r.year == end})
            self.plant("re-export-valuation", code, end,
                       f"{code} re-exported in {end} at about twice the US$/ct it paid for its imports (markup "
                       f"≈ +100 %, from ≈ 0 % the year before)", "markup", buyers)
        self.plant_exports_exceed()
        self.plant_certificate()
        self.plant_mirror()
        self.plant_embargo()

    def check_planted(self) -> None:
        for rule in ("exports-exceed-supply", "price-outlier", "certificate-price-outlier", "volume-spike",
                     "mirror-discrepancy", "missing-report", "embargoed-trade", "re-export-valuation",
                     "customs-mirror-discrepancy"):
            if self.eligible and not any(p["rule"] == rule for p in self.planted) \
                    and not any(n.startswith(rule) for n in self.notes):
                self.notes.append(f"{rule}: not planted (no suitable participant)")

    def plant_exports_exceed(self) -> None:
        t = self.t_actor
        if not t:
            return
        candidates = []
        for y in self.eligible:
            bought = sum(r.imp_carats for r in self.records if r.importer == t.code and r.year == y)
            if bought >= 1000 and any(r.exporter == t.code and r.year == y for r in self.records):
                candidates.append(y)
        year = self.pick_year(candidates)
        if year is None:
            self.notes.append(f"exports-exceed-supply: trader {t.code} has too little trade to plant it")
            return
        imports = sum(r.imp_carats for r in self.records if r.importer == t.code and r.year == year)
        sales = [r for r in self.records if r.exporter == t.code and r.year == year]
        factor = 4 * imports / sum(r.carats for r in sales)
        for r in sales:  # the buyers report the same: a genuine surge, not a mirror gap
            r.carats, r.usd, r.imp_carats, r.imp_usd = (r.carats * factor, r.usd * factor, r.imp_carats * factor,
                                                        r.imp_usd * factor)
            r.certificates = self.certificates(t, r.carats)
        self.plant("exports-exceed-supply", t.code, year,
                   f"{t.code} exported about 4× the {imports:,.0f} ct it imported in {year}, with no production "
                   f"and no stock (it re-exports all it buys)", "", sorted({r.importer for r in sales}))

    def plant_certificate(self) -> None:
        """One single-certificate re-export from a hub at a tenth of its origin's production US$/ct."""
        carats = 2500.0
        options = []
        for r in self.records:
            a = self.actors[r.exporter]
            if (a.role == "hub" and r.year in self.eligible and r.hs == HS_GEM and r.origin
                    and r.origin in self.actors and r.origin not in self.taken and r.exporter not in self.taken
                    and r.importer not in self.taken and r.year not in self.used_years
                    and (r.origin, r.year) in self.production and r.carats >= 2 * carats):
                options.append(r)
        if not options:
            options = [r for r in self.records if self.actors[r.exporter].role == "hub" and r.year in self.eligible
                       and r.hs == HS_GEM and r.origin and (r.origin, r.year) in self.production
                       and r.exporter not in self.taken and r.carats >= 2 * carats]
        if not options:
            return
        r = self.rng.choice(options)
        origin = r.origin
        mixed = next((x for x in self.records if (x.year, x.quarter, x.exporter, x.importer, x.origin, x.hs)
                      == (r.year, r.quarter, r.exporter, r.importer, "", r.hs)), None)
        keep = (r.carats - carats) / r.carats
        r.carats, r.usd, r.imp_carats, r.imp_usd = r.carats * keep, r.usd * keep, r.imp_carats * keep, r.imp_usd * keep
        if mixed is not None:  # the rest of that origin's slice joins the hub's mixed goods for that buyer
            mixed.carats += r.carats
            mixed.usd += r.usd
            mixed.imp_carats += r.imp_carats
            mixed.imp_usd += r.imp_usd
            mixed.certificates += r.certificates
            del self.records[next(i for i, x in enumerate(self.records) if x is r)]
        else:
            r.origin = ""
        price = self.production_price(origin, r.year) / 10
        self.records.append(Record(r.year, r.quarter, r.exporter, r.importer, origin, HS_GEM, carats, carats * price,
                                   carats, carats * price, 1))
        self.taken.add(r.exporter)
        self.used_years.append(r.year)
        self.plant("certificate-price-outlier", r.exporter, r.year,
                   f"{r.exporter} re-exported one certificate of {carats:,.0f} ct of {origin} origin to {r.importer} "
                   f"in {r.year}-Q{r.quarter} at US${price:,.2f}/ct, a tenth of {origin}'s production US$/ct",
                   "", [r.importer, origin])

    def plant_mirror(self) -> None:
        """A reports exporting twice what B, a consumer, reports importing from A."""
        flows: dict[tuple[str, str, int], float] = defaultdict(float)
        for r in self.records:
            if self.actors[r.importer].role == "consumer" and not self.actors[r.importer].small:
                flows[(r.exporter, r.importer, r.year)] += r.carats
        options = [k for k, v in flows.items() if v >= 6000 and k[2] in self.eligible and k[0] not in self.taken
                   and k[1] not in self.taken]
        fresh = [k for k in options if k[2] not in self.used_years]
        if not (fresh or options):
            return
        a, b, year = self.rng.choice(sorted(fresh or options))
        self.used_years.append(year)
        for r in self.records:
            if (r.exporter, r.importer, r.year) == (a, b, year):
                r.imp_carats, r.imp_usd = r.imp_carats / 2, r.imp_usd / 2
        self.taken.add(a)
        self.plant("mirror-discrepancy", a, year,
                   f"{a} reports exporting {flows[(a, b, year)]:,.0f} ct to {b} in {year}; {b} reports importing "
                   f"half of that from {a}", b, [b])

    def plant_embargo(self) -> None:
        """Exports to Venezuela while it was self-suspended (2009–2015); else goods of Ivorian origin (2006–2013)."""
        whole = {code: [y for y in self.years if all((code, y, q) in self.blocked for q in range(1, 5))]
                 for code in ("VE", "CI")}
        ve = [y for y in whole["VE"] if 2009 <= y <= 2015]
        if ve:
            exporters = [a for a in self.of("producer") if a.code not in self.constrained and a.code not in self.taken
                         and a.volume >= 20000]
            years = [y for y in ve if y in self.eligible] or ve
            year = self.pick_year(years) if exporters else None
            if year is not None:
                e = self.rng.choice(exporters)
                quarter = self.rng.randint(1, 4)
                sales = [r for r in self.records if r.exporter == e.code and r.year == year]
                carats = max(1000.0, 0.03 * sum(r.carats for r in sales))
                price = self.production_price(e.code, year)
                self.records.append(Record(year, quarter, e.code, "VE", e.code, HS_GEM, carats, carats * price,
                                           carats, carats * price, self.certificates(e, carats), mirrored=False))
                self.taken.add(e.code)
                self.plant("embargoed-trade", e.code, year,
                           f"{e.code} exported {carats:,.0f} ct to VE in {year}-Q{quarter} while Venezuela was "
                           f"self-suspended (VE records no import: it reported no trade)", "VE", ["VE"])
                return
        ci = [y for y in whole["CI"] if 2006 <= y <= 2013]
        if ci:
            ci_years = set([y for y in ci if y in self.eligible] or ci)
            options = [r for r in self.records if r.year in ci_years and r.origin == ""
                       and self.actors[r.exporter].role == "hub" and r.exporter not in self.taken
                       and r.carats >= 2000]
            if options:
                r = self.rng.choice(options)
                carats = min(r.carats / 2, 5000.0)
                keep = (r.carats - carats) / r.carats
                price = r.usd / r.carats
                r.carats, r.usd, r.imp_carats, r.imp_usd = (r.carats * keep, r.usd * keep, r.imp_carats * keep,
                                                            r.imp_usd * keep)
                self.records.append(Record(r.year, r.quarter, r.exporter, r.importer, "CI", r.hs, carats,
                                           carats * price, carats, carats * price, self.certificates(
                                               self.actors[r.exporter], carats)))
                self.taken.add(r.exporter)
                self.used_years.append(r.year)
                self.plant("embargoed-trade", r.exporter, r.year,
                           f"{r.exporter} re-exported {carats:,.0f} ct of Ivorian origin to {r.importer} in "
                           f"{r.year}-Q{r.quarter} while Côte d'Ivoire was under embargo", "CI",
                           [r.importer, "CI"])
                return
        self.notes.append("embargoed-trade: not planted: the years generated cover neither Venezuela's "
                          "self-suspension (2009–2015) nor the embargo on Ivorian diamonds (2006–2013)")

    def customs(self, rows: Sequence[Row]) -> list[list[str]]:
        """Customs HS 7102 values consistent with the KP trade figures (each within -5 %..+8 %; the EU's from
        three member states, with intra-EU trade added), and one planted divergence: a participant's customs
        exports in one year at 40 % of its KP figure (customs-mirror-discrepancy). Drawn after everything else,
        so the KP figures are those of the same seed without customs."""
        totals: dict[tuple[str, int, str, str], Decimal] = defaultdict(Decimal)
        for r in rows:
            if r.flow in ("export", "import") and r.usd:
                totals[(r.participant, r.period.year, r.flow, r.hs_code)] += r.usd
        by_year: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        for (code, year, flow, _hs), value in totals.items():
            if flow == "export":
                by_year[(code, year)] += value
        options = sorted(k for k, v in by_year.items() if k[0] != "EU" and k[1] in self.eligible
                         and v >= Decimal("100000000"))
        fresh = [k for k in options if k[1] not in self.used_years and k[0] not in self.taken]
        planted = self.rng.choice(fresh or options) if options else None
        if planted:
            code, year = planted
            self.plant("customs-mirror-discrepancy", code, year,
                       f"{code}'s customs exports in {year} at {CUSTOMS_FACTOR:.0%} of the US$ {by_year[planted]:,.0f} "
                       f"it reported to the KP", "export")
        else:
            self.notes.append("customs-mirror-discrepancy: not planted (no exports of US$100 million in a year "
                              "with history)")
        out: list[list[str]] = []
        for (code, year, flow, hs), value in sorted(totals.items()):
            factor = self.rng.uniform(0.95, 1.08)
            if (code, year) == planted and flow == "export":
                factor = CUSTOMS_FACTOR
            reporters = [(c, n, share * EU_INTRA) for c, n, share in EU_REPORTERS] if code == "EU" \
                else [(code, code, 1.0)]
            for iso2, name, share in reporters:
                out.append([str(year), name, iso2, flow, hs.replace(".", ""), f"{float(value) * factor * share:.0f}"])
        return out

    # --- output --------------------------------------------------------------------------------
    def rows(self) -> list[Row]:
        rows: list[Row] = []
        participants = set(self.codes)
        for (code, year), halves in self.production.items():
            for half, carats, value in halves:
                rows.append(Row(Period(year, "half", half), code, "production", "", "", "", _d(carats), _d(value),
                                None))
        traded: dict[str, set[tuple[int, int]]] = defaultdict(set)
        exporters: set[str] = set()
        for r in self.records:
            period = Period(r.year, "quarter", r.quarter)
            rows.append(Row(period, r.exporter, "export", r.importer, r.origin, r.hs, _d(r.carats), _d(r.usd),
                            r.certificates))
            traded[r.exporter].add((r.year, r.quarter))
            exporters.add(r.exporter)
            if r.mirrored and r.importer in participants:
                rows.append(Row(period, r.importer, "import", r.exporter, r.origin, r.hs, _d(r.imp_carats),
                                _d(r.imp_usd), r.certificates))
                traded[r.importer].add((r.year, r.quarter))
        zero = Decimal("0.00")
        for code in self.codes:
            for year in self.years:
                if code in self.stop and year > self.stop[code]:
                    continue
                for quarter in range(1, 5):
                    if (year, quarter) not in traded[code]:
                        rows.append(Row(Period(year, "quarter", quarter), code,
                                        "export" if code in exporters else "import", "", "", "", zero, zero, 0))
        order = {c: i for i, c in enumerate(self.codes)}
        rows.sort(key=lambda r: (r.period.year, r.period.kind != "half", r.period.index, order[r.participant],
                                 r.flow, r.partner, r.origin, r.hs_code))
        return rows

    def run(self) -> tuple[list[Row], dict[str, Any]]:
        self.plan()
        self.roles()
        self.choose_small()
        self.economy()
        self.plan_simulation()
        self.simulate()
        self.plant_all()
        rows = self.rows()
        customs = self.customs(rows)
        self.check_planted()
        self.planted.sort(key=lambda p: (p["rule"], p["participant"], p["period"]))
        doc = {
            "seed": self.seed,
            "participants": self.codes,
            "years": [self.years[0], self.years[-1]],
            "roles": {c: self.actors[c].role for c in self.codes},
            "planted": self.planted,
            "not_representable": NOT_REPRESENTABLE,
            "clean_participants": [c for c in self.codes if c not in self.touched],
            "notes": self.notes,
            "customs": customs,  # rows of a customs file (CUSTOMS_COLUMNS): see customs_rows()
        }
        return rows, doc


def generate(participants: int, years: int, seed: int, end_year: int = 2025) -> tuple[list[Row], dict[str, Any]]:
    """Rows of the exchange format for `participants` participants over the `years` years up to `end_year`,
    and the companion document listing the planted anomalies."""
    return _Generator(participants, years, seed, end_year).run()


def customs_rows(doc: dict[str, Any]) -> list[CustomsRow]:
    """The generated customs figures (doc["customs"]) as the customs import takes them."""
    return [row for i, values in enumerate(doc["customs"], start=2)
            if (row := parse_customs_row(values, i)) is not None]


def write(participants: int, years: int, seed: int, output: Path, anomalies: Path | None = None,
          end_year: int = 2025) -> dict[str, Any]:
    """Write the CSV (header first) and the companion JSON (default: OUTPUT with suffix .anomalies.json)."""
    output = Path(output)
    anomalies = Path(anomalies) if anomalies else output.with_suffix(".anomalies.json")
    rows, doc = generate(participants, years, seed, end_year)
    with output.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(r.as_csv() for r in rows)
    customs = output.with_suffix(".customs.csv")  # for `kpcs stats import-customs`
    with customs.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CUSTOMS_COLUMNS)
        writer.writerows(doc.pop("customs"))
    anomalies.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"rows": len(rows), "participants": len(doc["participants"]), "years": doc["years"],
            "planted": len(doc["planted"]), "output": str(output), "anomalies": str(anomalies),
            "customs": str(customs)}
