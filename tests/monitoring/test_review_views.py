"""Peer-review pages: the Working Group on Monitoring's one page, a review through its whole cycle by forms, the
public's published summaries (never the restricted text), who may open what, and a finding escalated into a
review mission from its page, with links both ways."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kpcs import clock
from kpcs.audit.models import AuditEntry
from kpcs.monitoring import services
from kpcs.monitoring.models import Finding, FindingEvent, Review
from tests.monitoring.test_review_services import PRIVATE, PUBLIC, WGS, days_ago, planned_visit
from tests.monitoring.test_views import signed_in

pytestmark = pytest.mark.django_db
EMAIL = "wgs@review.test.kpcs"


def test_a_review_cycle_through_the_pages(kp: Any, make_user: Any) -> None:
    wgs = signed_in(make_user, EMAIL, "wgs_analyst")
    page = wgs.get("/reviews/").content.decode()
    assert "Working Group on Monitoring" in page and "Open a review" in page and "Annual reports on" in page
    bad = wgs.post("/reviews/new", {"kind": "visit", "participant": "RU", "mandate": "m",
                                    "starts_on": days_ago(5).isoformat(), "ends_on": days_ago(9).isoformat()})
    assert bad.status_code == 422 and "before it starts" in bad.content.decode()
    made = wgs.post("/reviews/new", {"kind": "visit", "participant": "RU", "mandate": "At RU's invitation.",
                                     "starts_on": days_ago(9).isoformat(), "ends_on": days_ago(5).isoformat()})
    assert made.status_code == 302
    r = Review.objects.get()
    url = f"/reviews/{r.pk}"
    assert made["Location"] == url
    assert wgs.post(f"{url}/visit", {}).status_code == 422  # no team leader yet
    assert wgs.post(f"{url}/team", {"name": "A. Leader", "constituency": "government", "participant": "AO",
                                    "is_leader": "on"}).status_code == 302
    assert wgs.post(f"{url}/team", {"name": "CSC", "constituency": "civil_society",
                                    "organisation": "KP Civil Society Coalition"}).status_code == 302
    assert wgs.post(f"{url}/visit", {}).status_code == 302
    assert wgs.post(f"{url}/report", {"text": PRIVATE}).status_code == 302
    assert wgs.post(f"{url}/recommendations", {"text": "Install scales.", "owner": "RU",
                                               "due_on": days_ago(-30).isoformat()}).status_code == 302
    assert wgs.post(f"{url}/publish", {"public_summary": PUBLIC}).status_code == 302
    refused = wgs.post(f"{url}/close", {})
    assert refused.status_code == 409 and "not implemented or closed yet" in refused.content.decode()
    rec = r.recommendations.get()
    done = wgs.post(f"{url}/recommendations/{rec.pk}/follow-up",
                    {f"fu{rec.pk}-note": "Scales installed.", f"fu{rec.pk}-status": "implemented"}, follow=True)
    assert "The follow-up was recorded" in done.content.decode()
    assert wgs.post(f"{url}/recommendations/{rec.pk}/close", {f"rc{rec.pk}-note": "Verified."}).status_code == 302
    closed = wgs.post(f"{url}/close", {}, follow=True).content.decode()
    assert "The review is closed" in closed and "Scales installed." in closed and "A. Leader" in closed
    assert Review.objects.get().status == "closed"
    actors = set(AuditEntry.objects.filter(object_type="review").values_list("actor", flat=True))
    assert actors == {f"{EMAIL} (web)"}


def test_the_working_group_page_shows_overdue_and_due(kp: Any, make_user: Any) -> None:
    r = planned_visit()
    services.record_visit(WGS, r.pk)
    services.submit_report(WGS, r.pk, text=PRIVATE)
    services.add_recommendation(WGS, r.pk, text="Publish production by mine.", owner="RU", due_on=days_ago(1))
    wgs = signed_in(make_user, EMAIL, "wgs_analyst")
    page = wgs.get("/reviews/").content.decode()
    assert "Publish production by mine." in page and "overdue" in page and "report submitted" in page
    assert wgs.get("/reviews/", {"year": "1800"}).status_code == 400
    detail = wgs.get(f"/reviews/{r.pk}").content.decode()
    assert PRIVATE in detail and "Record the follow-up" in detail and "Publish the report" in detail


def test_the_public_page_shows_summaries_only(kp: Any) -> None:
    r = planned_visit()
    services.record_visit(WGS, r.pk)
    services.submit_report(WGS, r.pk, text=PRIVATE)
    assert "No review report is published yet" in Client().get("/reviews/published").content.decode()
    services.publish_report(WGS, r.pk, public_summary=PUBLIC)
    page = Client().get("/reviews/published").content.decode()
    assert "minimum requirements; two recommendations." in page and "border post" not in page
    assert Client().get(f"/reviews/{r.pk}").status_code == 302  # signed out: to the sign-in page


def test_who_may_open_what(kp: Any, make_user: Any) -> None:
    r = planned_visit()
    za = planned_visit(participant="ZA")
    ru = signed_in(make_user, "stats@ru.test.kpcs", "statistics_officer", "RU")
    page = ru.get(f"/reviews/{r.pk}").content.decode()
    assert "A. Leader" in page and "Add a member" not in page
    assert ru.get(f"/reviews/{za.pk}").status_code == 404
    assert ru.post(f"/reviews/{r.pk}/visit", {}).status_code == 403
    exporter = signed_in(make_user, "exp@bw.test.kpcs", "exporting_officer", "BW")
    assert exporter.get("/reviews/").status_code == 403
    admin = signed_in(make_user, "admin@test.kpcs", "admin")
    assert admin.post(f"/reviews/{r.pk}/visit", {}).status_code == 302
    assert 'href="/reviews/"' in admin.get("/").content.decode()


def test_a_finding_escalated_into_a_mission_from_its_page(kp: Any, make_user: Any) -> None:
    now = clock.now()
    f = Finding.objects.create(fingerprint="volume-spike|CG|2025|", rule="volume-spike", participant="CG",
                               period="2025", severity="high", summary="CG exports 30× the median", evidence={},
                               first_seen=now, last_seen=now)
    FindingEvent.objects.create(finding=f, to_status="open", by="test", at=now)
    wgs = signed_in(make_user, EMAIL, "wgs_analyst")
    assert "Open a review mission" not in wgs.get(f"/findings/{f.pk}").content.decode()
    services.escalate(WGS, f.pk, "a pattern across years")
    assert "Open a review mission" in wgs.get(f"/findings/{f.pk}").content.decode()
    body = {"mandate": "Assess CG's exports (MON-11).", "starts_on": days_ago(-30).isoformat(),
            "ends_on": days_ago(-35).isoformat(), "decision_reference": "AD 2026/3"}
    assert wgs.post(f"/findings/{f.pk}/review-mission", {**body, "mandate": ""}).status_code == 422
    resp = wgs.post(f"/findings/{f.pk}/review-mission", body)
    assert resp.status_code == 302
    review = Review.objects.get()
    assert resp["Location"] == f"/reviews/{review.pk}"
    assert f'href="/findings/{f.pk}"' in wgs.get(f"/reviews/{review.pk}").content.decode()
    finding_page = wgs.get(f"/findings/{f.pk}").content.decode()
    assert f'href="/reviews/{review.pk}"' in finding_page and "Open a review mission" not in finding_page


def test_french_review_pages(kp: Any, make_user: Any) -> None:
    wgs = signed_in(make_user, EMAIL, "wgs_analyst")
    page = wgs.get("/reviews/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Groupe de travail sur le suivi" in page and "Rapports annuels" in page
    assert "Rapports d’examen" in Client().get("/reviews/published", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
