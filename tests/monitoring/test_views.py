"""The findings pages: the list with its filters and pages, a finding with its evidence and history, and the
workflow through the pages (questionnaire, answer, closure; escalation), each step audited with its person."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from kpcs.audit.models import AuditEntry
from kpcs.monitoring import services as monitoring
from kpcs.monitoring.models import Finding
from kpcs.registry.services import Actor, Grant
from kpcs.statistics import services as statistics
from kpcs.web import paging
from tests.conftest import client_for
from tests.monitoring.test_api import AS_OF, HEADER, congo_like

pytestmark = pytest.mark.django_db
WGS = "wgs@test.kpcs"
CG_STATS = "stats@cg.test.kpcs"


def signed_in(make_user: Any, email: str, role: str, participant: str | None = None) -> Client:
    make_user(email, role, participant)
    return client_for(email)


@pytest.fixture
def findings(kp: Any, make_user: Any) -> list[Finding]:
    data = ("\n".join((HEADER, *congo_like())) + "\n").encode()
    statistics.import_csv(data, actor=Actor("node", grants=(Grant("admin", None, None),)), filename="congo.csv")
    wgs = make_user(WGS, "wgs_analyst")
    return monitoring.scan(wgs, as_of=dt.date.fromisoformat(AS_OF))


def test_list_filters_and_pages(findings: list[Finding], make_user: Any, monkeypatch: Any) -> None:
    client = signed_in(make_user, WGS, "wgs_analyst")
    page = client.get("/findings/").content.decode()
    assert "exports-exceed-supply" in page and "volume-spike" in page and "ZA" in page
    only = client.get("/findings/", {"participant": "cg", "severity": "high"}).content.decode()
    assert "exports-exceed-supply" in only and ">ZA<" not in only
    assert "No finding matches" in client.get("/findings/", {"status": "closed"}).content.decode()
    bad = client.get("/findings/", {"period": "2024-Q9"})
    assert bad.status_code == 400 and "is not a period" in bad.content.decode()
    assert client.get("/findings/", {"participant": "QQ"}).status_code == 404
    assert client.get("/findings/", {"rule": "no-such-rule"}).status_code == 400
    monkeypatch.setattr(paging.paginate, "__defaults__", (2,))  # two rows a page
    first = client.get("/findings/", {"participant": ""}).content.decode()
    assert "Page 1 of 2 (4 rows)" in first and 'rel="next"' in first
    second = client.get("/findings/", {"page": "2", "severity": ""}).content.decode()
    assert "Page 2 of 2" in second and 'href="?severity=&amp;page=1"' in second


def test_participant_sees_only_its_own_findings(findings: list[Finding], make_user: Any) -> None:
    client = signed_in(make_user, CG_STATS, "statistics_officer", "CG")
    page = client.get("/findings/").content.decode()
    assert "exports-exceed-supply" in page and ">ZA<" not in page
    za = next(f for f in findings if f.participant == "ZA")
    assert client.get(f"/findings/{za.pk}").status_code == 404


def test_finding_page_shows_evidence_and_history(findings: list[Finding], make_user: Any) -> None:
    client = signed_in(make_user, WGS, "wgs_analyst")
    f = next(x for x in findings if x.rule == "exports-exceed-supply")
    page = client.get(f"/findings/{f.pk}").content.decode()
    assert f.summary in page or f.summary.replace("'", "&#x27;") in page
    assert "Evidence" in page and "found by the analysis" in page and "Request clarification" in page
    assert client.get("/findings/999999").status_code == 404


def test_clarification_answer_and_closure_through_the_pages(findings: list[Finding], make_user: Any) -> None:
    wgs = signed_in(make_user, WGS, "wgs_analyst")
    cg = signed_in(make_user, CG_STATS, "statistics_officer", "CG")
    f = next(x for x in findings if x.rule == "exports-exceed-supply")
    url = f"/findings/{f.pk}"
    assert wgs.post(f"{url}/clarification", {"questions": "  \n "}).status_code == 422
    sent = wgs.post(f"{url}/clarification", {"questions": "Where were they mined?\nSend the stock records."},
                    follow=True)
    assert "The questionnaire was sent" in sent.content.decode()
    assert cg.post(f"{url}/clarification", {"questions": "x"}).status_code == 403  # an officer may not ask
    page = cg.get(url).content.decode()
    assert "Where were they mined?" in page and "Send the answers" in page
    half = cg.post(f"{url}/answer", {"answer_0": "In the north.", "answer_1": ""})
    text = half.content.decode()
    assert half.status_code == 422 and "answer every one of the 2 questions" in text
    assert "Answer this question too" in text
    done = cg.post(f"{url}/answer", {"answer_0": "In the north.", "answer_1": "Attached."}, follow=True)
    assert "Your answers were sent" in done.content.decode()
    assert wgs.post(f"{url}/close", {"close-note": ""}).status_code == 422
    closed = wgs.post(f"{url}/close", {"close-note": "stock carried over, explained"}, follow=True)
    assert "The finding is closed" in closed.content.decode()
    f.refresh_from_db()
    assert f.status == "closed"
    again = wgs.post(f"{url}/escalate", {"escalate-note": "too late"})
    assert again.status_code == 409 and "cannot take the action escalate" in again.content.decode()
    actions = {(e.action, e.actor) for e in AuditEntry.objects.filter(object_id=str(f.pk))}
    assert ("questionnaire.sent", f"{WGS} (web)") in actions
    assert ("questionnaire.answered", f"{CG_STATS} (web)") in actions
    assert ("finding.closed", f"{WGS} (web)") in actions


def test_escalation(findings: list[Finding], make_user: Any) -> None:
    wgs = signed_in(make_user, WGS, "wgs_analyst")
    f = findings[-1]
    resp = wgs.post(f"/findings/{f.pk}/escalate", {"escalate-note": "a pattern across years"}, follow=True)
    assert "escalated to the Working Group on Monitoring" in resp.content.decode()
    assert Finding.objects.get(pk=f.pk).status == "escalated"


def test_roles_without_permission_and_signed_out(findings: list[Finding], make_user: Any) -> None:
    exporter = signed_in(make_user, "bw@test.kpcs", "exporting_officer", "BW")
    assert exporter.get("/findings/").status_code == 403
    assert exporter.post(f"/findings/{findings[0].pk}/close", {"close-note": "x"}).status_code == 403
    resp = Client().get("/findings/")
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")
    assert Client().post(f"/findings/{findings[0].pk}/close", {"close-note": "x"}).status_code == 302


def test_csrf_is_required(findings: list[Finding], make_user: Any) -> None:
    make_user(WGS, "wgs_analyst")
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username=WGS), backend="django.contrib.auth.backends.ModelBackend")
    assert client.post(f"/findings/{findings[0].pk}/close", {"close-note": "x"}).status_code == 403
    assert Finding.objects.get(pk=findings[0].pk).status == "open"


def test_french_findings_page(findings: list[Finding], make_user: Any) -> None:
    client = signed_in(make_user, WGS, "wgs_analyst")
    page = client.get("/findings/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Constats" in page and "Gravité" in page


def test_scans_page_lists_scans_and_starts_one(findings: list[Finding], make_user: Any, monkeypatch: Any) -> None:
    """The scans page (same permission as POST /findings/scan): who asked, when, status, progress, findings with
    a link to them; its form queues a scan as the API does."""
    from kpcs.monitoring.models import Scan

    wgs_actor = make_user(WGS, "wgs_analyst")
    asked = monitoring.start_scan(wgs_actor, participant="CG", as_of=dt.date.fromisoformat(AS_OF))
    done = monitoring.run_scan(asked.pk)
    client = signed_in(make_user, WGS, "wgs_analyst")
    assert 'href="/findings/scans/"' in client.get("/findings/").content.decode()
    page = client.get("/findings/scans/").content.decode()
    assert f"#{done.pk}" in page and WGS in page and "succeeded" in page and "100 %" in page
    assert f'href="/findings/?participant=CG">{done.findings} finding' in page
    assert 'http-equiv="refresh"' not in page  # nothing in progress

    started = client.post("/findings/scans/start", {"participant": "ZA", "period": "2024-H1", "as_of": ""})
    assert started.status_code == 302 and started["Location"] == "/findings/scans/"
    queued = Scan.objects.get(participant="ZA")
    assert (queued.status, queued.period, queued.as_of) == ("queued", "2024-H1", None)
    assert queued.requested_by == f"{WGS} (web)"
    page = client.get("/findings/scans/").content.decode()
    assert f"Scan {queued.pk} is queued" in page and "waiting for the worker" in page
    assert 'http-equiv="refresh"' in page  # the page follows the scan until it ends

    bad = client.post("/findings/scans/start", {"period": "2024-Q9"})
    assert bad.status_code == 422 and "2024-Q9" in bad.content.decode() and Scan.objects.count() == 2
    monkeypatch.setattr(paging.paginate, "__defaults__", (1,))  # one row a page
    assert "Page 1 of 2 (2 rows)" in client.get("/findings/scans/").content.decode()


def test_scans_page_needs_the_right_to_start_scans(findings: list[Finding], make_user: Any) -> None:
    from kpcs.monitoring.models import Scan

    cg = signed_in(make_user, CG_STATS, "statistics_officer", "CG")
    assert cg.get("/findings/scans/").status_code == 403
    assert cg.post("/findings/scans/start", {"participant": "CG"}).status_code == 403
    assert 'href="/findings/scans/"' not in cg.get("/findings/").content.decode()
    assert Client().get("/findings/scans/").status_code == 302  # to the sign-in page
    assert not Scan.objects.exists()


def test_french_scans_page(findings: list[Finding], make_user: Any) -> None:
    wgs_actor = make_user(WGS, "wgs_analyst")
    row = monitoring.start_scan(wgs_actor)
    monitoring.run_scan(row.pk)
    client = signed_in(make_user, WGS, "wgs_analyst")
    page = client.get("/findings/scans/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Lancer une analyse" in page and "terminée" in page and "tous les participants" in page
