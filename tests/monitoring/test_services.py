"""The analysis on the database: findings kept by fingerprint, the follow-up workflow, certificate rules."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from kpcs.audit.models import AuditEntry
from kpcs.certificates import services as certificates
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.monitoring import services
from kpcs.monitoring.models import Finding, FindingEvent
from kpcs.registry.services import SYSTEM, Actor, Grant
from kpcs.statistics import rules as stats_rules
from kpcs.statistics import services as statistics
from tests.conftest import certificate_request

pytestmark = pytest.mark.django_db
WGS = Actor("wgs@test", grants=(Grant("wgs_analyst", None, None),))
HEADER = ",".join(stats_rules.COLUMNS)
AS_OF = dt.date(2026, 11, 29)


def load(*lines: str) -> None:
    statistics.import_csv(("\n".join((HEADER, *lines)) + "\n").encode(), actor=Actor(
        "node", grants=(Grant("admin", None, None),)), filename="t.csv")


def congo() -> list[str]:
    rows = []
    for y in range(2020, 2026):
        big = "1000000.00" if y == 2024 else "1000.00"
        for h in (1, 2):
            rows.append(f"{y}-H{h},CG,production,,,,2000.00,100000.00,")
        for q in range(1, 5):
            rows.append(f"{y}-Q{q},CG,export,EU,,7102.31,{big},{big},3")
            rows.append(f"{y}-Q{q},EU,import,CG,,7102.31,{big},{big},3")
    return rows


def test_scan_records_findings_once_and_updates_them(kp: Any) -> None:
    load(*congo())
    first = services.scan(WGS, as_of=AS_OF)
    # the export jump is also a volume spike, on both sides of the trade
    assert sorted((f.rule, f.participant, f.period) for f in first) == [
        ("exports-exceed-supply", "CG", "2024"), ("volume-spike", "CG", "2024"), ("volume-spike", "EU", "2024")]
    again = services.scan(WGS, as_of=AS_OF)
    assert sorted(f.pk for f in again) == sorted(f.pk for f in first)
    assert Finding.objects.count() == 3 and FindingEvent.objects.count() == 3
    assert [f.rule for f in services.scan(WGS, as_of=AS_OF, participant="EU")] == ["volume-spike"]
    assert len(services.scan(WGS, as_of=AS_OF, period="2024-Q2")) == 3
    assert services.scan(WGS, as_of=AS_OF, period="2023") == []


def test_findings_are_written_in_short_transactions(kp: Any, monkeypatch: Any) -> None:
    """MON-09: a chunk of findings per transaction, each with its audit entry; the progress reports each chunk."""
    load(*congo())
    monkeypatch.setattr(services, "WRITE_CHUNK", 2)
    seen: list[tuple[str, float]] = []
    found = services.scan(WGS, as_of=AS_OF, progress=lambda phase, fraction: seen.append((phase, fraction)))
    assert len(found) == 3 and Finding.objects.count() == 3
    assert AuditEntry.objects.filter(action="finding.found").count() == 3
    assert [x for x in seen if x[0] == "writing"] == [("writing", 0.9), ("writing", 0.9 + 0.1 * 2 / 3),
                                                      ("writing", 1.0)]
    assert seen[-1] == ("done", 1.0)


def test_finding_workflow_with_questionnaire(kp: Any, make_user: Any) -> None:
    load(*congo())
    [finding] = [f for f in services.scan(WGS, as_of=AS_OF) if f.rule == "exports-exceed-supply"]
    cg = make_user("stats@cg.test", "statistics_officer", "CG")
    za = make_user("stats@za.test", "statistics_officer", "ZA")
    with pytest.raises(NotFound):
        services.get(za, finding.pk)  # another participant's finding is invisible
    with pytest.raises(PermissionDenied):
        services.request_clarification(cg, finding.pk, ["Why?"])
    with pytest.raises(ValidationFailed):
        services.request_clarification(WGS, finding.pk, [" "])
    services.request_clarification(WGS, finding.pk, ["Where were these diamonds mined?", "Show stock records."])
    with pytest.raises(ValidationFailed):
        services.answer(cg, finding.pk, ["Alluvial production"])  # every question must be answered
    services.answer(cg, finding.pk, ["Artisanal production not yet recorded", "Attached"])
    with pytest.raises(Conflict):
        services.answer(cg, finding.pk, ["again", "again"])
    row = services.escalate(WGS, finding.pk, "answers do not explain 4 Mct")
    assert row.status == "escalated"
    with pytest.raises(Conflict):
        services.close(WGS, finding.pk, "too late")
    detail = services.to_dict(services.get(cg, finding.pk), events=True)
    assert [e["to"] for e in detail["events"]] == ["open", "clarification_requested", "answered", "escalated"]
    assert detail["questionnaire"]["answers"][1] == "Attached"
    # re-running the analysis keeps the workflow status
    services.scan(WGS, as_of=AS_OF)
    assert Finding.objects.get(pk=finding.pk).status == "escalated"


def unconfirmed(as_of: dt.date) -> list[tuple[str, str]]:
    return [(f.participant, f.subject) for f in services.scan(WGS, as_of=as_of) if f.rule == "unconfirmed-certificate"]


def test_unconfirmed_certificate_from_the_certificate_store(bw_officer: Any) -> None:
    """IMP-02: overdue once 15 days have passed unconfirmed; CERT-09: no longer awaited once expired unused, from
    the day after its expiry date, whether or not the expiry job has written the status yet."""
    cert = certificates.issue(bw_officer, certificate_request(), now=dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    assert cert.expires_on == dt.date(2026, 10, 31) and cert.status == "issued"
    assert unconfirmed(dt.date(2026, 9, 10)) == []  # not overdue yet
    assert unconfirmed(dt.date(2026, 10, 1)) == [("EU", cert.number)]
    assert unconfirmed(dt.date(2026, 10, 31)) == [("EU", cert.number)]  # the last day it can be used
    assert unconfirmed(dt.date(2026, 11, 1)) == []  # effective status: expired, still `issued` in the table
    certificates.expire_due(dt.date(2026, 11, 1), actor=SYSTEM)
    assert unconfirmed(dt.date(2026, 11, 1)) == []
    assert unconfirmed(dt.date(2026, 10, 1)) == [("EU", cert.number)]  # judged as of a day it was awaited


def test_certificate_priced_far_below_its_origin(bw_officer: Any) -> None:
    load(*[f"{y}-H{h},BW,production,,,,10000000.00,10000000000.00," for y in (2024, 2025) for h in (1, 2)])
    cheap = certificate_request(lines=[{"hs_code": "7102.31", "carats": "5000.00", "value_usd": "50000.00",
                                        "parcels": 2}])
    cert = certificates.issue(bw_officer, cheap, now=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    certificates.issue(bw_officer, certificate_request(), now=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    found = [f for f in services.scan(WGS, as_of=dt.date(2025, 6, 10)) if f.rule == "certificate-price-outlier"]
    assert [(f.participant, f.subject) for f in found] == [("BW", cert.number)]
    assert "US$10.00/ct" in found[0].summary and "US$1,000.00/ct" in found[0].summary


def test_the_scan_finds_what_the_rules_find_on_trade_by_origin(kp: Any) -> None:
    """The scan reads trade summed over origins except where a barred participant is involved (its reading is
    lighter); the rules' findings are those on trade kept by origin, embargoed-trade's evidence included."""
    from kpcs.monitoring import rules
    from kpcs.registry import services as registry

    for year in range(2009, 2016):
        for q in range(1, 5):
            quarter = f"{year}-Q{q}"
            for partner, origin, carats in (("BE", "BW", 900), ("BE", "CI", 40), ("CI", "ZA", 300),
                                            ("IN", "BW", 100 if year != 2013 else 30_000), ("BE", "ZA", 200)):
                statistics.record_trade(flow="export", quarter=quarter, participant="AE", partner=partner,
                                        origin=origin, lines=[(1, "7102.31", carats * 100, carats * 15_000)], sign=1)
    load(*[f"{y}-H{h},AE,production,,,,10.00,1000.00," for y in range(2009, 2016) for h in (1, 2)])
    statuses = registry.snapshot().statuses
    by_origin = statistics.effective_facts(by_hs=False, as_of=AS_OF)
    summed = statistics.effective_facts(by_hs=False, as_of=AS_OF, origins_within=rules.barred_spans(statuses))
    assert len(summed) < len(by_origin)
    expected = [f.as_dict() for f in rules.analyse(by_origin, statuses=statuses, as_of=AS_OF)]
    found = [f.as_dict() for f in services.analyse(as_of=AS_OF)]
    assert found == expected
    assert {f["rule"] for f in found} >= {"embargoed-trade", "volume-spike"}


def test_a_rescan_moves_last_seen_and_revises_only_what_changed(kp: Any, monkeypatch: Any) -> None:
    """Unchanged findings: only `last_seen` moves (no audit entry); a finding whose evidence changed is revised
    and audited; the findings are compared outside any transaction, written in chunks with a pause between."""
    load(*congo())
    first = {f.pk: f.last_seen for f in services.scan(WGS, as_of=AS_OF)}
    monkeypatch.setattr(services, "WRITE_CHUNK", 1)
    pauses: list[float] = []
    monkeypatch.setattr(services.time, "sleep", pauses.append)
    again = services.scan(WGS, as_of=AS_OF)
    assert sorted(f.pk for f in again) == sorted(first) and pauses == []  # nothing written but last_seen
    assert all(Finding.objects.get(pk=pk).last_seen > seen for pk, seen in first.items())
    assert not AuditEntry.objects.filter(action="finding.revised").exists()

    spike = Finding.objects.get(rule="volume-spike", participant="EU")
    Finding.objects.filter(pk=spike.pk).update(evidence={"stale": True})
    other = Finding.objects.exclude(pk=spike.pk).first()
    assert other is not None
    Finding.objects.filter(pk=other.pk).update(summary="an older wording")
    services.scan(WGS, as_of=AS_OF)
    revised = sorted(int(e.object_id) for e in AuditEntry.objects.filter(action="finding.revised"))
    assert revised == sorted([spike.pk, other.pk]) and Finding.objects.get(pk=spike.pk).evidence != {"stale": True}
    assert pauses and set(pauses) == {services.WRITE_PAUSE}  # a pause between two chunks written


def test_new_findings_are_written_in_bulk_each_with_its_event_and_audit_entry(kp: Any,
                                                                              monkeypatch: Any) -> None:
    """MON-09: a chunk's new findings are created in bulk (one INSERT of findings, one of events, one append to the
    log), each keeping its own `open` event and its `finding.found` entry naming its id, with the record hash of
    what it says as stored; the log written that way verifies; a chunk mixing a revised and new ones too."""
    from kpcs.audit import services as audit

    load(*congo())
    appended: list[int] = []
    record_many = audit.record_many
    monkeypatch.setattr(audit, "record_many", lambda entries: appended.append(len(entries)) or record_many(entries))
    found = services.scan(WGS, as_of=AS_OF)
    assert appended == [3] and len(found) == 3  # one chunk: one append of its three entries
    entries = {int(e.object_id): e for e in AuditEntry.objects.filter(action="finding.found")}
    assert sorted(entries) == sorted(f.pk for f in found)
    for row in Finding.objects.all():
        payload = json.loads(entries[row.pk].payload)
        assert payload == {"rule": row.rule, "period": row.period, "subject": row.subject,
                           "severity": row.severity, "status": "open",
                           "record_hash": services._finding_hash(row)}  # of the row read back
        assert entries[row.pk].participant == row.participant
        assert [(e.from_status, e.to_status) for e in row.events.all()] == [("", "open")]
    assert audit.verify().valid

    # one finding gone and another's evidence changed: the next scan revises one and creates one, in one chunk
    gone = Finding.objects.get(rule="exports-exceed-supply")
    FindingEvent.objects.filter(finding=gone).delete()
    gone.delete()
    spike = Finding.objects.get(rule="volume-spike", participant="EU")
    Finding.objects.filter(pk=spike.pk).update(evidence={"stale": True})
    services.scan(WGS, as_of=AS_OF)
    assert appended == [3, 1]
    assert AuditEntry.objects.filter(action="finding.revised", object_id=str(spike.pk)).count() == 1
    again = Finding.objects.get(rule="exports-exceed-supply")
    assert AuditEntry.objects.filter(action="finding.found", object_id=str(again.pk)).count() == 1
    assert audit.verify_chain()[1] is None


@pytest.mark.parametrize("every", [0.0, 3600.0])
def test_the_writing_phase_writes_the_scans_progress_at_most_every_progress_every(kp: Any, monkeypatch: Any,
                                                                                  every: float) -> None:
    """Each progress write is a commit taking the write lock: in the writing phase (a report per chunk) the scan's
    record follows at most every PROGRESS_EVERY seconds; the progress callback still hears every chunk."""
    from kpcs.monitoring.models import Scan

    load(*congo())
    monkeypatch.setattr(services, "WRITE_CHUNK", 1)
    monkeypatch.setattr(services, "PROGRESS_EVERY", every)
    row = services.start_scan(WGS, as_of=AS_OF)
    heard: list[tuple[str, float, float]] = []  # (phase, fraction reported, fraction on the record then)
    services.run_scan(row.pk, progress=lambda phase, fraction: heard.append(
        (phase, fraction, Scan.objects.get(pk=row.pk).fraction)))
    writing = [(round(f, 3), kept) for phase, f, kept in heard if phase == "writing"]
    assert [f for f, _kept in writing] == [0.9, 0.933, 0.967, 1.0]
    if every == 0:
        assert [kept for _f, kept in writing] == [0.9, 0.933, 0.967, 1.0]
    else:  # only the phase's first report reaches the record; the end of the scan writes 1.0
        assert [kept for _f, kept in writing] == [0.9, 0.9, 0.9, 0.9]
    assert Scan.objects.get(pk=row.pk).fraction == 1.0
