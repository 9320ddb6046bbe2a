"""Peer review over the API: a review cycle from mandate to a closed review, the public's published summaries
(never the restricted text), declared input limits, and a finding escalated into a review mission."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs import clock
from kpcs.monitoring import services
from kpcs.monitoring.models import Finding, FindingEvent
from tests.conftest import assert_error
from tests.monitoring.test_review_services import PRIVATE, PUBLIC, WGS, days_ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def wgs(api_as: Any, make_user: Any) -> Any:
    make_user("wgs@review.kpcs", "wgs_analyst")
    return api_as("wgs@review.kpcs")


def test_a_review_cycle_over_the_api(wgs: Any, api_as: Any, make_user: Any) -> None:
    created = wgs.post("/reviews", {"kind": "visit", "participant": "ru", "mandate": "Review at RU's invitation.",
                                    "starts_on": days_ago(30).isoformat(), "ends_on": days_ago(26).isoformat()})
    assert created.status_code == 201, created.content
    r = created.json()
    assert (r["status"], r["participant"], r["report_due_on"]) == ("planned", "RU",
                                                                  (days_ago(26) + dt.timedelta(21)).isoformat())
    url = f"/reviews/{r['id']}"
    assert_error(wgs.post(f"{url}/visit", {}), 422, "team_incomplete", "MON-03")
    team = wgs.post(f"{url}/team", {"name": "A. Leader", "constituency": "government", "participant": "AO",
                                    "is_leader": True})
    assert team.status_code == 201 and team.json()["team"][0]["is_leader"] is True
    assert wgs.post(f"{url}/team", {"name": "WDC expert", "constituency": "industry",
                                    "organisation": "World Diamond Council"}).status_code == 201
    assert_error(wgs.post(f"{url}/team", {"name": "Second", "constituency": "government", "participant": "ZA",
                                          "is_leader": True}), 409, "leader_exists")
    assert wgs.post(f"{url}/visit", {}).json()["status"] == "visited"
    assert wgs.post(f"{url}/report", {"text": PRIVATE}).json()["status"] == "report_submitted"
    rec = wgs.post(f"{url}/recommendations", {"text": "Install scales.", "owner": "RU",
                                              "due_on": days_ago(-60).isoformat()})
    assert rec.status_code == 201 and rec.json()["status"] == "open"
    rid = rec.json()["id"]
    published = wgs.post(f"{url}/publication", {"public_summary": PUBLIC})
    assert published.json()["status"] == "report_published"
    error = assert_error(wgs.post(f"{url}/closure", {}), 409, "recommendations_open")
    assert error["details"] == {"recommendations": [rid]}
    step = wgs.post(f"{url}/recommendations/{rid}/follow-up", {"note": "Scales installed.", "status": "implemented"})
    assert step.status_code == 200 and step.json()["follow_ups"][0]["to_status"] == "implemented"
    assert wgs.post(f"{url}/recommendations/{rid}/closure", {"note": "Verified on site."}).json()["status"] == "closed"
    done = wgs.post(f"{url}/closure", {})
    assert done.status_code == 200 and done.json()["status"] == "closed"
    assert wgs.get("/reviews", participant="RU", status="closed").json()["count"] == 1
    assert wgs.get(url).json()["report_text"] == PRIVATE


def test_the_public_sees_only_summaries_of_published_reports(wgs: Any, api_as: Any, kp: Any) -> None:
    from tests.monitoring.test_review_services import planned_visit

    r = planned_visit()
    services.record_visit(WGS, r.pk)
    services.submit_report(WGS, r.pk, text=PRIVATE)
    anonymous = api_as(None)
    assert anonymous.get("/reviews/published").json()["count"] == 0
    services.publish_report(WGS, r.pk, public_summary=PUBLIC)
    resp = anonymous.get("/reviews/published")
    assert resp.status_code == 200
    [item] = resp.json()["items"]
    assert item["public_summary"] == PUBLIC and item["participant"] == "RU"
    assert PRIVATE not in resp.content.decode() and "mandate" not in item
    assert_error(anonymous.get(f"/reviews/{r.pk}"), 401)


def test_declared_limits(wgs: Any, kp: Any) -> None:
    good = {"kind": "mission", "participant": "CG", "mandate": "m", "starts_on": "2026-01-05",
            "ends_on": "2026-01-09"}
    assert_error(wgs.post("/reviews", {**good, "mandate": "  "}), 422, "mandate_required")
    assert_error(wgs.post("/reviews", {**good, "kind": "inspection"}), 422, "invalid_request")
    assert_error(wgs.post("/reviews", {**good, "starts_on": "1989-12-31"}), 422, "invalid_request")
    assert_error(wgs.post("/reviews", {**good, "ends_on": "2026-01-01"}), 422, "invalid_dates")
    assert_error(wgs.post("/reviews", {**good, "participant": "QQ"}), 404)
    assert_error(wgs.post("/reviews", {**good, "decision_reference": "D" * 201}), 422, "invalid_request")
    assert_error(wgs.get("/reviews", limit=501), 422, "invalid_request")
    assert_error(wgs.get("/reviews", status="archived"), 422, "invalid_request")
    assert_error(wgs.get("/reviews/999999"), 404, "not_found")


def test_a_finding_escalated_into_a_review_mission_over_the_api(wgs: Any, kp: Any) -> None:
    now = clock.now()
    f = Finding.objects.create(fingerprint="volume-spike|CG|2025|", rule="volume-spike", participant="CG",
                               period="2025", severity="high", summary="CG exports 30× the median", evidence={},
                               first_seen=now, last_seen=now)
    FindingEvent.objects.create(finding=f, to_status="open", by="test", at=now)
    body = {"mandate": "Assess CG's exports (MON-11).", "starts_on": days_ago(-30).isoformat(),
            "ends_on": days_ago(-35).isoformat(), "decision_reference": "AD 2026/3"}
    assert_error(wgs.post(f"/findings/{f.pk}/review-mission", body), 409, "not_escalated")
    assert wgs.post(f"/findings/{f.pk}/escalation", {"note": "a pattern"}).status_code == 200
    resp = wgs.post(f"/findings/{f.pk}/review-mission", body)
    assert resp.status_code == 201, resp.content
    review = resp.json()
    assert (review["kind"], review["participant"], review["findings"]) == ("mission", "CG", [f.pk])
    assert wgs.get(f"/findings/{f.pk}").json()["review"] == review["id"]
