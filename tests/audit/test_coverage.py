"""Every change of state has its own entry, in the transaction of the change (the gaps an attacker found)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from kpcs.audit import rules
from kpcs.audit import services as audit
from kpcs.audit.models import AuditEntry
from kpcs.monitoring import services as monitoring
from kpcs.monitoring.models import Finding
from kpcs.registry.services import Actor, Grant
from kpcs.statistics import rules as stats_rules
from kpcs.statistics import services as statistics
from kpcs.statistics.models import Figure

pytestmark = pytest.mark.django_db
NODE = Actor("node", grants=(Grant("admin", None, None),))
WGS = Actor("wgs@test", grants=(Grant("wgs_analyst", None, None),))
HEADER = ",".join(stats_rules.COLUMNS)


def entries(action: str, **filters: Any) -> list[dict[str, Any]]:
    return [json.loads(p) for p in AuditEntry.objects.filter(action=action, **filters).order_by("seq")
            .values_list("payload", flat=True)]


def load(*lines: str, name: str = "t.csv") -> statistics.ImportResult:
    return statistics.import_csv(("\n".join((HEADER, *lines)) + "\n").encode(), actor=NODE, filename=name)


def history(spike: str) -> list[str]:
    rows = []
    for y in range(2020, 2026):
        big = spike if y == 2024 else "1000.00"
        rows += [f"{y}-H{h},CG,production,,,,2000.00,100000.00," for h in (1, 2)]
        rows += [f"{y}-Q{q},CG,export,EU,,7102.31,{big},{big},3" for q in range(1, 5)]
    return rows


def test_a_rescan_that_changes_a_finding_records_it(kp: Any) -> None:
    load(*history("1000000.00"))
    found = monitoring.scan(WGS)
    assert len(entries("finding.found")) == len(found) > 0
    monitoring.scan(WGS)  # nothing new said: only the scan itself
    assert entries("finding.revised") == [] and len(entries("monitoring.scanned")) == 2
    supply = Finding.objects.get(rule="exports-exceed-supply")
    before = entries("finding.found", object_id=str(supply.pk))[0]["record_hash"]
    load(*history("2000000.00"), name="revised.csv")  # the figures behind the finding are revised
    monitoring.scan(WGS)
    supply.refresh_from_db()
    [revised] = entries("finding.revised", object_id=str(supply.pk))
    assert revised["record_hash"]["from"] == before != revised["record_hash"]["to"]
    assert revised["record_hash"]["to"] == rules.record_hash(
        {"severity": supply.severity, "summary": supply.summary, "evidence": supply.evidence})
    text = " ".join(AuditEntry.objects.filter(object_type="finding").values_list("payload", flat=True))
    assert "2,000,000" not in text and "2000000" not in text  # what the statistics say stays out of the log


def test_the_questionnaire_and_its_answers_are_recorded(kp: Any, make_user: Any) -> None:
    load(*history("1000000.00"))
    finding = Finding.objects.filter(pk__in=[f.pk for f in monitoring.scan(WGS)], rule="exports-exceed-supply").get()
    cg = make_user("stats@cg.test", "statistics_officer", "CG")
    monitoring.request_clarification(WGS, finding.pk, ["Where were these diamonds mined?"])
    monitoring.answer(cg, finding.pk, ["In the Likouala region"])
    sent, answered = entries("questionnaire.sent")[0], entries("questionnaire.answered")[0]
    assert sent["questions"] == 1 and answered["answers"] == 1 and sent["record_hash"] != answered["record_hash"]
    assert "Likouala" not in " ".join(AuditEntry.objects.values_list("payload", flat=True))


def test_an_import_names_what_it_revises(kp: Any) -> None:
    first = load("2024-H1,BW,production,,,,1000.00,5000.00,", "2024-H2,BW,production,,,,1100.00,5500.00,")
    second = load("2024-H1,BW,production,,,,1200.00,6000.00,")
    [a, b] = entries("statistics.imported")
    assert (a["revised"], b["revised"]) == (0, 1) and b["sha256"] == second.sha256 == b["rows_sha256"]
    assert first.batch_id != second.batch_id
    assert Figure.objects.filter(batch_id=first.batch_id, is_current=False).count() == 1


def test_a_production_submission_records_its_split(make_user: Any) -> None:
    officer = make_user("stats@bw.test", "statistics_officer", "BW")
    fig = statistics.submit_production(officer, participant="BW", period="2024-H1", carats="1000.00",
                                       usd="5000.00", industrial_carats="600.00", artisanal_carats="400.00")
    [imported] = entries("statistics.imported")
    [submitted] = entries("production.submitted", object_id=str(fig.pk))
    assert imported["rows_sha256"] and imported["sha256"] == ""
    assert submitted["record_hash"] == rules.record_hash({
        "carats_centi": 100000, "usd_cents": 500000, "industrial_carats_centi": 60000,
        "artisanal_carats_centi": 40000})
    last = AuditEntry.objects.order_by("-seq").first()
    assert last is not None and last.action == "production.submitted"  # the split is not written after it


def test_an_annual_report_resubmitted_keeps_before_and_after(make_user: Any) -> None:
    import datetime as dt

    from kpcs.registry.services import Actor

    node = Actor("node operator", system=True)  # historical records: the only actor that gives receipt dates
    statistics.record_annual_report(node, "BW", 2024, dt.date(2025, 3, 1), "first")
    statistics.record_annual_report(node, "BW", 2024, dt.date(2025, 3, 20), "corrected")
    first, second = entries("annual_report.recorded", object_id="BW 2024")
    assert first["before"] is None
    assert second["before"] == first["after"] == {"revision": 1, "received_on": "2025-03-01",
                                                  "recorded_by": node.label, "note": "first"}
    assert second["after"]["received_on"] == "2025-03-20" and second["after"]["note"] == "corrected"
    assert second["after"]["revision"] == 2


def test_a_password_reset_is_recorded_without_the_password(kp: Any, make_user: Any) -> None:
    make_user("alice@test.kpcs", "kp_analyst")
    User = get_user_model()
    alice = User.objects.get(username="alice@test.kpcs")
    old = alice.password
    link = kp.password_reset_link("alice@test.kpcs", base_url="https://node.example", actor=kp.SYSTEM)
    token = link.rstrip("/").rsplit("/", 1)[-1]
    kp.reset_password(alice.pk, token, "another-long-password")
    assert User.objects.get(username="alice@test.kpcs").password != old
    [changed] = entries("user.password_changed", object_id="alice@test.kpcs")
    assert changed["state"] == {"is_active": True, "is_staff": False, "is_superuser": False,
                                "roles": ["kp_analyst//"]}
    text = json.dumps(entries("user.password_reset_requested", object_id="alice@test.kpcs") + [changed])
    for secret in ("another-long-password", token, old):
        assert secret not in text
    assert audit.verify().valid


def test_reference_data_records_each_status_it_creates(kp: Any) -> None:
    from kpcs.registry.models import ParticipantStatus

    created = entries("participant_status.created")
    assert len(created) == ParticipantStatus.objects.count() > 0
    [seeded] = entries("registry.seeded")
    assert "BW" in seeded["created"]["participants"] and "BW-KPA" in seeded["created"]["authorities"]
