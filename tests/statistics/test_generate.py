"""The synthetic statistics generator: reproducible, in the exchange format, and a fair test of the anomaly rules.

No database: the generator is pure Python, and the analysis runs the pure rules of kpcs.monitoring.rules.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections import defaultdict
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from kpcs.monitoring import rules as monitoring
from kpcs.registry import rules as registry_rules
from kpcs.statistics import generate as gen
from kpcs.statistics.rules import COLUMNS, CustomsFact, Row, parse_row

END = 2025


def facts_of(rows: list[Row]) -> list[monitoring.Fact]:
    return [monitoring.Fact(r.period, r.participant, r.flow, r.partner, r.origin, r.hs_code, r.carats, r.usd,
                            r.certificates, source="imported") for r in rows]


@lru_cache(maxsize=8)
def generated(participants: int, years: int, seed: int) -> tuple[list[Row], dict[str, Any]]:
    return gen.generate(participants, years, seed, end_year=END)


@lru_cache(maxsize=8)
def analysed(participants: int, years: int, seed: int) -> list[monitoring.Finding]:
    rows, doc = generated(participants, years, seed)
    facts = facts_of(rows)
    return monitoring.analyse(facts, shipments=monitoring.shipments_from_facts(facts), statuses=gen.status_history(),
                              as_of=dt.date(END + 1, 11, 29), customs=customs_of(doc))


def customs_of(doc: dict[str, Any]) -> list[CustomsFact]:
    return [CustomsFact(r.participant, r.year, r.flow, r.usd, r.iso2, r.hs_code, "customs (generated)")
            for r in gen.customs_rows(doc)]


def test_status_history_is_the_packaged_file() -> None:
    statuses = gen.status_history()
    assert statuses["VE"] == [registry_rules.StatusPeriod("self_suspended", dt.date(2008, 6, 1),
                                                          dt.date(2016, 11, 17), "all trade")]
    assert {"CG", "CI", "VE", "CF", "ZW"} <= set(statuses)


def test_participants_come_from_the_register_then_iso_codes() -> None:
    assert gen.participant_codes(3) == ["AO", "AM", "AU"]
    codes = gen.participant_codes(70)
    assert len(codes) == len(set(codes)) == 70
    assert "EU" in codes and "TW" in codes
    assert all(registry_rules.is_participant_code(c) for c in codes)
    with pytest.raises(ValueError):
        gen.participant_codes(0)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = gen.write(40, 20, 11, tmp_path / "a.csv")
    second = gen.write(40, 20, 11, tmp_path / "b.csv", tmp_path / "b.json")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.anomalies.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert first["rows"] == second["rows"] > 10000
    assert first["participants"] == 40 and first["planted"] >= 7
    assert first["anomalies"] == str(tmp_path / "a.anomalies.json")
    gen.write(40, 20, 12, tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_bytes() != (tmp_path / "a.csv").read_bytes()


def test_the_file_is_in_the_exchange_format(tmp_path: Path) -> None:
    gen.write(40, 20, 3, tmp_path / "stats.csv")
    rows, _ = generated(40, 20, 3)
    reader = csv.reader(io.StringIO((tmp_path / "stats.csv").read_text(encoding="utf-8")))
    assert tuple(next(reader)) == COLUMNS
    parsed = [parse_row(values, n) for n, values in enumerate(reader, start=2)]
    assert parsed == rows
    assert len({r.key() for r in parsed}) == len(parsed), "a key repeated would be refused on import"
    for r in parsed:
        if r.flow == "production":
            assert r.period.kind == "half" and not (r.partner or r.origin or r.hs_code) and r.certificates is None
        else:
            assert r.period.kind == "quarter"
            assert r.carats is not None and r.usd is not None
            if r.carats:
                assert r.partner and r.hs_code and r.certificates is not None and r.certificates >= 1
            else:
                assert r.usd == 0 and r.certificates == 0 and not r.partner
    singles = [r for r in parsed if r.flow == "export" and r.certificates == 1]
    assert len(singles) == 1, "only the planted shipment stands for a single certificate"
    hs: dict[str, int] = defaultdict(int)
    for r in parsed:
        hs[r.hs_code] += r.flow != "production"
    assert hs["7102.31"] > hs["7102.21"] > 0


def test_companion_document(tmp_path: Path) -> None:
    _, doc = generated(40, 20, 3)
    assert doc["seed"] == 3 and doc["years"] == [2006, 2025]
    assert doc["participants"] == gen.participant_codes(40)
    planted_rules = {p["rule"] for p in doc["planted"]}
    assert planted_rules | {n["rule"] for n in doc["not_representable"]} == set(monitoring.RULES)
    assert [n["rule"] for n in doc["not_representable"]] == ["unconfirmed-certificate"]
    for p in doc["planted"]:
        assert p["participant"] in doc["participants"] and p["detail"]
        assert 2006 + 3 <= int(p["period"]) <= 2025, "planted where there are 3 years of history"
        assert p["participant"] not in doc["clean_participants"]
    mirror = next(p for p in doc["planted"] if p["rule"] == "mirror-discrepancy")
    assert mirror["subject"] not in doc["clean_participants"]
    one_each = [p for p in doc["planted"] if p["rule"] != "missing-report"]
    assert len({p["participant"] for p in one_each}) == len(one_each), "distinct participants"
    assert len(doc["clean_participants"]) >= 15


def test_trade_mirrors_and_respects_statuses() -> None:
    rows, doc = generated(40, 20, 3)
    planted = {(p["rule"], p["participant"], p["period"]): p for p in doc["planted"]}
    mirror = next(p for p in doc["planted"] if p["rule"] == "mirror-discrepancy")
    exports: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal)
    imports: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal)
    for r in rows:
        if not r.carats:
            continue  # a quarter without trade is reported as an explicit zero row, partner and all
        if r.flow == "export" and r.partner in doc["participants"]:
            exports[(r.participant, r.partner, r.period.year)] += r.carats
        elif r.flow == "import":
            imports[(r.partner, r.participant, r.period.year)] += r.carats
    assert set(imports) <= set(exports)
    for key, carats in exports.items():
        if key == (mirror["participant"], mirror["subject"], int(mirror["period"])):
            assert imports[key] * 2 == pytest.approx(carats, rel=Decimal("0.03"))
        else:
            assert imports[key] == pytest.approx(carats, rel=Decimal("0.03")), key
    blocked = gen.blocked_quarters(gen.status_history(), range(2006, 2026))
    for r in rows:
        if r.flow == "production" or not r.carats:
            continue
        q = r.period.index
        if any((c, r.period.year, q) in blocked for c in (r.participant, r.partner, r.origin) if c):
            assert ("embargoed-trade", r.participant, str(r.period.year)) in planted, r


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_planted_anomaly_is_found_and_clean_data_is_quiet(seed: int) -> None:
    participants, years = 40, 20
    _, doc = generated(participants, years, seed)
    findings = analysed(participants, years, seed)
    found = {(f.rule, f.participant, f.period) for f in findings}
    missed = [p for p in doc["planted"] if (p["rule"], p["participant"], p["period"]) not in found]
    assert not missed
    clean = doc["clean_participants"]
    noisy = {f.participant for f in findings if f.participant in clean}
    on_clean = [f for f in findings if f.participant in clean]
    rate = len(noisy) / len(clean)
    per_year = len(on_clean) / (len(clean) * years)
    print(f"\n{participants} participants × {years} years, seed {seed}: {len(doc['planted'])} planted, all found; "
          f"false alarms on {len(noisy)}/{len(clean)} clean participants ({rate:.1%}), "
          f"{per_year:.4f} findings per clean participant-year")
    for f in on_clean:
        print("  ", f.rule, f.participant, f.period, f.summary)
    assert rate <= 0.05


def test_planted_anomalies_are_the_only_findings_of_their_rule() -> None:
    """Planted anomalies come one to a participant: no rule fires elsewhere by accident (seed 1)."""
    _, doc = generated(40, 20, 1)
    planted = {(p["rule"], p["participant"], p["period"]) for p in doc["planted"]}
    stray = [f for f in analysed(40, 20, 1) if (f.rule, f.participant, f.period) not in planted]
    assert stray == [], [(f.rule, f.participant, f.period, f.summary) for f in stray]


def test_sixty_participants_twenty_years_in_a_few_seconds() -> None:
    start = time.perf_counter()
    rows, doc = gen.generate(60, 20, 5, end_year=END)
    generated_in = time.perf_counter() - start
    facts = facts_of(rows)
    findings = monitoring.analyse(facts, shipments=monitoring.shipments_from_facts(facts),
                                  statuses=gen.status_history(), as_of=dt.date(END + 1, 11, 29),
                                  customs=customs_of(doc))
    total = time.perf_counter() - start
    print(f"\n60 × 20: {len(rows)} rows generated in {generated_in:.2f}s, analysed in {total - generated_in:.2f}s")
    found = {(f.rule, f.participant, f.period) for f in findings}
    assert all((p["rule"], p["participant"], p["period"]) in found for p in doc["planted"])
    assert total < 10


def test_short_and_odd_ranges() -> None:
    rows, doc = gen.generate(10, 6, 1, end_year=END)  # 2020-2025: no Venezuelan or Ivorian embargo in range
    assert not any(p["rule"] == "embargoed-trade" for p in doc["planted"])
    assert any("embargoed-trade" in n for n in doc["notes"])
    assert {r.period.year for r in rows} == set(range(2020, 2026))
    rows, doc = gen.generate(12, 2, 1, end_year=END)
    assert doc["planted"] == [] and doc["notes"]
    assert doc["clean_participants"] == doc["participants"]
    rows, doc = gen.generate(70, 4, 2, end_year=2012)
    assert {r.participant for r in rows} == set(doc["participants"]) == set(gen.participant_codes(70))
    assert json.loads(json.dumps(doc)) == doc
    for n in (1, 2, 3):
        rows, _ = gen.generate(n, 3, 1)
        assert len({r.key() for r in rows}) == len(rows)
