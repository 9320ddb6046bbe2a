"""The findings API over HTTP: a scan on a Republic-of-Congo-like case, the list with its filters and pages,
each participant's view, and the follow-up workflow (questionnaire, answer, closure, escalation, 409)."""

from __future__ import annotations

from typing import Any

import pytest

from kpcs.audit.models import AuditEntry
from kpcs.cli import worker
from kpcs.monitoring.models import Finding, FindingEvent, Questionnaire, Scan
from kpcs.registry.services import Actor, Grant
from kpcs.statistics import rules as stats_rules
from kpcs.statistics import services as statistics
from tests.conftest import Api, assert_error

pytestmark = pytest.mark.django_db
HEADER = ",".join(stats_rules.COLUMNS)
AS_OF = "2026-11-29"
WGS = "wgs@test.kpcs"
CG_STATS = "stats@cg.test.kpcs"
QUESTIONS = ["Where were the 4,000,000 ct exported in 2024 mined?", "Send the stock records for 2023 and 2024."]


def congo_like() -> list[str]:
    """CG produces 4,000 ct a year and exports as much, except in 2024: 4,000,000 ct, all to the EU (whose
    imports mirror them); ZA produces 1 Mct a year and its exports rise from 10,000 ct to 60,000 ct in 2025."""
    rows = []
    for y in range(2020, 2026):
        big = "1000000.00" if y == 2024 else "1000.00"
        rows += [f"{y}-H{h},CG,production,,,,2000.00,100000.00," for h in (1, 2)]
        for q in range(1, 5):
            rows.append(f"{y}-Q{q},CG,export,EU,,7102.31,{big},{big},3")
            rows.append(f"{y}-Q{q},EU,import,CG,,7102.31,{big},{big},3")
    for y in range(2021, 2026):
        carats, usd = ("60000.00", "6000000.00") if y == 2025 else ("10000.00", "1000000.00")
        rows.append(f"{y},ZA,production,,,,1000000.00,100000000.00,")
        rows.append(f"{y},ZA,export,,,,{carats},{usd},")
    return rows


# The findings the analysis makes of that case, in the list's order (rule, participant, period, subject).
EXPECTED = [
    ("exports-exceed-supply", "CG", "2024", "", "high"),
    ("volume-spike", "CG", "2024", "export", "high"),
    ("volume-spike", "EU", "2024", "import", "high"),
    ("volume-spike", "ZA", "2025", "export", "low"),
]


def key(item: dict[str, Any]) -> tuple[str, ...]:
    return (item["rule"], item["participant"], item["period"], item["subject"], item["severity"])




@pytest.fixture
def congo(kp: Any) -> None:
    data = ("\n".join((HEADER, *congo_like())) + "\n").encode()
    statistics.import_csv(data, actor=Actor("node", grants=(Grant("admin", None, None),)), filename="congo.csv")


@pytest.fixture
def wgs(make_user: Any, api_as: Any) -> Api:
    make_user(WGS, "wgs_analyst")
    return api_as(WGS)


@pytest.fixture
def cg(make_user: Any, api_as: Any) -> Api:
    """The Republic of the Congo's statistics officer."""
    make_user(CG_STATS, "statistics_officer", "CG")
    return api_as(CG_STATS)


@pytest.fixture
def za(make_user: Any, api_as: Any) -> Api:
    make_user("stats@za.test.kpcs", "statistics_officer", "ZA")
    return api_as("stats@za.test.kpcs")


def run_scan(wgs: Api, body: dict[str, Any]) -> dict[str, Any]:
    """POST /findings/scan (202, queued), the worker's round, then the scan as GET /findings/scans/{id} reports
    it, finished."""
    resp = wgs.post("/findings/scan", body)
    assert resp.status_code == 202, resp.content
    started = resp.json()
    assert started["status"] == "queued" and set(started) == {"id", "status"}
    assert wgs.get(f"/findings/scans/{started['id']}").json()["outcome"] is None  # nothing ran yet
    worker.work(interval=0, once=True, expiry_every=3600)
    done = wgs.get(f"/findings/scans/{started['id']}").json()
    assert (done["status"], done["phase"], done["fraction"]) == ("succeeded", "done", 1.0), done
    return done


def all_findings(wgs: Api, **query: str) -> list[dict[str, Any]]:
    return wgs.get("/findings", limit="500", **query).json()["items"]


@pytest.fixture
def found(congo: None, wgs: Api) -> dict[tuple[str, str], int]:
    """Scan over HTTP; (rule, participant) -> finding id."""
    run_scan(wgs, {"as_of": AS_OF})
    return {(i["rule"], i["participant"]): i["id"] for i in all_findings(wgs)}


# --- the scan ----------------------------------------------------------------------------------------

def test_scan_finds_what_quotes_the_figures(congo: None, wgs: Api) -> None:
    done = run_scan(wgs, {"as_of": AS_OF})
    assert done["outcome"] == {"findings": 4, "created": 4, "revised": 0} and done["error"] is None
    assert done["requested_by"].startswith(WGS) and done["as_of"] == AS_OF
    found = all_findings(wgs)
    assert sorted(key(i) for i in found) == EXPECTED
    items = {(i["rule"], i["participant"]): i for i in found}
    supply = items[("exports-exceed-supply", "CG")]
    assert supply["summary"] == ("CG exported 4,000,000.00 ct in 2024 but produced 4,000.00 ct and imported "
                                 "0.00 ct (estimated stock carried 0.00 ct): exports are 1000.0× what was available.")
    assert supply["evidence"]["exports"]["carats"] == "4000000.00"
    assert supply["evidence"]["production"]["carats"] == "4000.00"
    assert any("congo.csv" in source for source in supply["evidence"]["exports"]["from"])
    assert supply["status"] == "open"
    spike = items[("volume-spike", "ZA")]
    assert "60,000.00 ct" in spike["summary"] and "10,000.00 ct" in spike["summary"]
    assert spike["evidence"]["current"] == "60000.00" and spike["evidence"]["previous"] == ["10000.00"] * 3
    # Scanning again updates the findings rather than duplicating them.
    assert run_scan(wgs, {"as_of": AS_OF})["outcome"] == {"findings": 4, "created": 0, "revised": 0}
    assert sorted(i["id"] for i in all_findings(wgs)) == sorted(i["id"] for i in found)
    assert Finding.objects.count() == 4 and FindingEvent.objects.count() == 4
    assert AuditEntry.objects.filter(action="monitoring.scanned").count() == 2
    assert AuditEntry.objects.filter(action="monitoring.scan_started").count() == 2
    assert AuditEntry.objects.filter(action="monitoring.scan_finished").count() == 2
    # in scope: one participant, one period
    only_za = run_scan(wgs, {"as_of": AS_OF, "participant": "za"})
    assert only_za["participant"] == "ZA" and only_za["outcome"]["findings"] == 1
    assert run_scan(wgs, {"as_of": AS_OF, "period": "2024-Q3"})["outcome"]["findings"] == 3
    assert run_scan(wgs, {"as_of": AS_OF, "period": "2023"})["outcome"] == {"findings": 0, "created": 0,
                                                                            "revised": 0}


def test_scan_refusals(congo: None, wgs: Api, cg: Api, api_as: Any) -> None:
    assert_error(wgs.post("/findings/scan", {"period": "2024-Q5"}), 422, "invalid_period")
    assert_error(wgs.post("/findings/scan", {"as_of": "29/11/2026"}), 422, "invalid_request")
    error = assert_error(cg.post("/findings/scan", {}), 403, "forbidden")
    assert error["details"] == {"action": "finding.manage"}
    assert_error(api_as(None).post("/findings/scan", {}), 401, "unauthenticated")
    assert not Finding.objects.exists() and not Scan.objects.exists()
    assert_error(wgs.get("/findings/scans/999999"), 404, "not_found")
    started = wgs.post("/findings/scan", {}).json()
    assert_error(cg.get(f"/findings/scans/{started['id']}"), 403, "forbidden")


# --- the list ----------------------------------------------------------------------------------------

def test_list_filters(wgs: Api, found: dict[tuple[str, str], int]) -> None:
    everything = wgs.get("/findings").json()
    assert (everything["count"], everything["limit"], everything["offset"]) == (4, 100, 0)
    assert [key(i) for i in everything["items"]] == EXPECTED
    cases: list[tuple[dict[str, str], list[int]]] = [
        ({"rule": "volume-spike"}, [1, 2, 3]),
        ({"rule": "price-outlier"}, []),
        ({"participant": "cg"}, [0, 1]),
        ({"participant": "ZA"}, [3]),
        ({"period": "2024"}, [0, 1, 2]),
        ({"period": "2025"}, [3]),
        ({"period": "2023"}, []),
        ({"severity": "high"}, [0, 1, 2]),
        ({"severity": "low"}, [3]),
        ({"status": "open"}, [0, 1, 2, 3]),
        ({"status": "closed"}, []),
        ({"rule": "volume-spike", "severity": "high", "participant": "EU"}, [2]),
    ]
    wrong = []
    for params, indexes in cases:
        page = wgs.get("/findings", **params).json()
        got = [key(i) for i in page["items"]]
        if got != [EXPECTED[n] for n in indexes] or page["count"] != len(indexes):
            wrong.append(f"{params}: {got}")
    assert not wrong, "\n".join(wrong)
    wgs.post(f"/findings/{found[('volume-spike', 'ZA')]}/escalation", {"note": "tenfold in a year"})
    assert [key(i) for i in wgs.get("/findings", status="escalated").json()["items"]] == [EXPECTED[3]]
    assert wgs.get("/findings", status="open").json()["count"] == 3
    for params in ({"status": "pending"}, {"severity": "critical"}, {"limit": "many"}):
        assert_error(wgs.get("/findings", **params), 422, "invalid_request")


def test_list_pages(wgs: Api, found: dict[tuple[str, str], int]) -> None:
    pages = [wgs.get("/findings", limit=3, offset=offset).json() for offset in (0, 3, 6)]
    assert [(p["count"], p["limit"], p["offset"], len(p["items"])) for p in pages] == [
        (4, 3, 0, 3), (4, 3, 3, 1), (4, 3, 6, 0)]
    assert [key(i) for p in pages for i in p["items"]] == EXPECTED
    # limits outside 1..500 and offsets outside 0..10^9 are refused, not clamped
    for params in ({"limit": 0}, {"limit": 1000}, {"offset": -5}, {"offset": 2**63}):
        assert_error(wgs.get("/findings", **params), 422, "invalid_request")


def test_a_statistics_officer_sees_only_its_participants_findings(cg: Api, za: Api,
                                                                  found: dict[tuple[str, str], int]) -> None:
    mine = cg.get("/findings").json()
    assert mine["count"] == 2 and {i["participant"] for i in mine["items"]} == {"CG"}
    assert cg.get("/findings", participant="EU").json()["count"] == 0
    assert [key(i) for i in za.get("/findings").json()["items"]] == [EXPECTED[3]]
    detail = cg.get(f"/findings/{found[('exports-exceed-supply', 'CG')]}")
    assert detail.status_code == 200, detail.content
    # another participant's finding answers exactly as one that does not exist
    pk = found[("exports-exceed-supply", "CG")]
    hidden = assert_error(za.get(f"/findings/{pk}"), 404, "not_found")
    unknown = assert_error(za.get("/findings/999999"), 404, "not_found")
    assert hidden | {"message": hidden["message"].replace(f"finding {pk} ", "finding N ")} == \
        unknown | {"message": unknown["message"].replace("finding 999999 ", "finding N ")}


# --- the workflow --------------------------------------------------------------------------------------

def test_questionnaire_answer_and_closure(wgs: Api, cg: Api, za: Api, found: dict[tuple[str, str], int]) -> None:
    url = f"/findings/{found[('exports-exceed-supply', 'CG')]}"
    detail = cg.get(url).json()
    assert (detail["status"], detail["questionnaire"]) == ("open", None)
    assert [(e["from"], e["to"]) for e in detail["events"]] == [("", "open")]
    # a questionnaire needs a question; the participant cannot send one
    assert_error(wgs.post(url + "/clarification-request", {"questions": [" "]}), 422, "no_questions", "STAT-09")
    assert_error(cg.post(url + "/clarification-request", {"questions": QUESTIONS}), 403, "forbidden")
    # no questionnaire yet: nothing to answer
    assert_error(cg.post(url + "/answer", {"answers": ["x", "y"]}), 409, "invalid_transition")

    resp = wgs.post(url + "/clarification-request", {"questions": QUESTIONS, "due_on": "2026-12-31"})
    assert resp.status_code == 200, resp.content
    asked = resp.json()
    assert asked["status"] == "clarification_requested"
    assert asked["questionnaire"]["questions"] == QUESTIONS
    assert (asked["questionnaire"]["due_on"], asked["questionnaire"]["answers"]) == ("2026-12-31", None)
    assert_error(wgs.post(url + "/clarification-request", {"questions": QUESTIONS}), 409, "invalid_transition")

    # only the finding's participant answers, and it answers every question
    assert_error(za.post(url + "/answer", {"answers": ["a", "b"]}), 404, "not_found")
    assert_error(wgs.post(url + "/answer", {"answers": ["a", "b"]}), 403, "forbidden")
    assert_error(cg.post(url + "/answer", {"answers": ["Alluvial production not yet recorded"]}), 422,
                 "incomplete_answers", "STAT-09")
    assert_error(cg.post(url + "/answer", {"answers": ["Alluvial production", " "]}), 422, "incomplete_answers")
    answers = ["Artisanal production not yet recorded in 2024", "Attached: stock register 2023-2024"]
    resp = cg.post(url + "/answer", {"answers": answers})
    assert resp.status_code == 200, resp.content
    answered = resp.json()
    assert answered["status"] == "answered"
    assert answered["questionnaire"]["answers"] == answers
    assert answered["questionnaire"]["answered_by"].startswith(CG_STATS)
    assert answered["questionnaire"]["answered_at"] is not None
    assert_error(cg.post(url + "/answer", {"answers": answers}), 409, "invalid_transition")

    assert_error(wgs.post(url + "/closure", {"note": "  "}), 422, "note_required")
    assert_error(cg.post(url + "/closure", {"note": "we explained it"}), 403, "forbidden")
    resp = wgs.post(url + "/closure", {"note": "artisanal production explains the exports"})
    assert resp.status_code == 200, resp.content
    closed = resp.json()
    assert closed["status"] == "closed"
    assert [(e["from"], e["to"]) for e in closed["events"]] == [
        ("", "open"), ("open", "clarification_requested"), ("clarification_requested", "answered"),
        ("answered", "closed")]
    assert closed["events"][-1]["note"] == "artisanal production explains the exports"
    assert closed["events"][-1]["by"].startswith(WGS) and closed["events"][2]["by"].startswith(CG_STATS)
    # the participant reads the outcome
    assert cg.get(url).json() == closed
    # a closed finding is final
    for action, body in (("closure", {"note": "again"}), ("escalation", {"note": "too late"}),
                         ("clarification-request", {"questions": QUESTIONS})):
        error = assert_error(wgs.post(f"{url}/{action}", body), 409, "invalid_transition")
        assert error["details"]["status"] == "closed", error
    assert [e.to_status for e in FindingEvent.objects.filter(finding_id=found[("exports-exceed-supply", "CG")])] == [
        "open", "clarification_requested", "answered", "closed"]
    assert AuditEntry.objects.filter(action__in=("finding.clarification_requested", "finding.answered",
                                                 "finding.closed")).count() == 3
    # re-running the analysis keeps the workflow status
    run_scan(wgs, {"as_of": AS_OF})
    assert cg.get(url).json()["status"] == "closed"


def test_escalation(wgs: Api, cg: Api, found: dict[tuple[str, str], int]) -> None:
    url = f"/findings/{found[('volume-spike', 'CG')]}"
    assert wgs.post(url + "/clarification-request", {"questions": QUESTIONS[:1]}).status_code == 200
    # a questionnaire left unanswered may be escalated to the Working Group on Monitoring (MON-08)
    assert_error(wgs.post(url + "/escalation", {"note": ""}), 422, "note_required")
    resp = wgs.post(url + "/escalation", {"note": "no answer; exports do not match production"})
    assert resp.status_code == 200, resp.content
    escalated = resp.json()
    assert escalated["status"] == "escalated"
    assert [e["to"] for e in escalated["events"]] == ["open", "clarification_requested", "escalated"]
    assert escalated["questionnaire"]["answers"] is None
    error = assert_error(cg.post(url + "/answer", {"answers": ["late answer"]}), 409, "invalid_transition")
    assert "questionnaire" in error["message"]
    error = assert_error(wgs.post(url + "/escalation", {"note": "again"}), 409, "invalid_transition")
    assert error["details"] == {"status": "escalated", "action": "escalate"}
    # an open finding may be escalated at once
    other = wgs.post(f"/findings/{found[('volume-spike', 'EU')]}/escalation", {"note": "mirror of CG"})
    assert other.status_code == 200 and other.json()["status"] == "escalated"
    assert Questionnaire.objects.count() == 1


def test_error_bodies(wgs: Api, cg: Api, api_as: Any, found: dict[tuple[str, str], int]) -> None:
    url = f"/findings/{found[('exports-exceed-supply', 'CG')]}"
    anonymous = api_as(None)
    assert_error(anonymous.get("/findings"), 401, "unauthenticated")
    assert_error(anonymous.get(url), 401, "unauthenticated")
    assert_error(anonymous.post(url + "/closure", {"note": "x"}), 401, "unauthenticated")
    error = assert_error(cg.post(url + "/escalation", {"note": "x"}), 403, "forbidden")
    assert error["details"] == {"action": "finding.manage"}
    assert_error(wgs.get("/findings/999999"), 404, "not_found")
    assert_error(wgs.post("/findings/999999/closure", {"note": "x"}), 404, "not_found")
    assert_error(wgs.get("/findings/not-a-number"), 422, "invalid_request")
    error = assert_error(wgs.post(url + "/clarification-request", {"due_on": "2026-12-31"}), 422, "invalid_request")
    assert error["message"].startswith("questions"), error
    assert isinstance(error["details"], list) and error["details"][0]["loc"][-1] == "questions"
    assert_error(wgs.post(url + "/answer", {"answers": "not a list"}), 422, "invalid_request")
    for raw in ("{oops", "[]", '{"note": 5}'):
        resp = wgs.client.post(f"/api/v1{url}/closure", raw, content_type="application/json",
                               headers={"Authorization": f"Bearer {wgs.token}"})
        assert 400 <= resp.status_code < 500, resp.content
        assert_error(resp, resp.status_code)
    assert Finding.objects.get(pk=found[("exports-exceed-supply", "CG")]).status == "open"
