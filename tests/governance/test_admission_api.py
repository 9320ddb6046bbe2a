"""Admission over the API (GOV-05): application, circulation within one month, the committee's recommendation,
the admission decision; an applicant cannot trade (EXP-01); the CLI lists the applications with their stage."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from typer.testing import CliRunner

from kpcs import clock
from tests.conftest import assert_error, certificate_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def callers(make_user: Any, api_as: Any, bw_officer: Any) -> dict[str, Any]:
    make_user("chair@adm.kpcs", "kp_chair")
    make_user("bw.del@adm.kpcs", "delegate", "BW")
    make_user("wdc@adm.kpcs", "observer")
    return {"chair": api_as("chair@adm.kpcs"), "delegate": api_as("bw.del@adm.kpcs"),
            "observer": api_as("wdc@adm.kpcs"), "bw": api_as("bw@test.kpcs"), "public": api_as(None)}


def test_from_applicant_to_participant(kp: Any, callers: dict[str, Any], make_user: Any, make_operator: Any,
                                       api_as: Any) -> None:
    chair, today = callers["chair"], clock.today()
    made = chair.post("/applications", {"code": "ss", "name": "South Sudan", "applied_on": today.isoformat()})
    assert made.status_code == 201, made.content
    app = made.json()
    assert (app["code"], app["stage"], app["circulation"], app["recommendation"]) == ("SS", "received", None, None)
    assert app["circulation_due"] > today.isoformat()
    assert callers["public"].get("/participants/SS").json()["status"] == "applicant"
    assert_error(chair.post("/applications", {"code": "SS", "name": "Again", "applied_on": today.isoformat()}),
                 409, "already_registered")

    # an applicant cannot trade: issuing from it or to it is refused (EXP-01)
    make_operator("SS", "exporter", "SS-EXP-1")
    kp.create_key("SS-KPA", valid_from=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), actor=kp.SYSTEM)
    make_user("ss@adm.kpcs", "exporting_officer", "SS", "SS-KPA")
    ss = api_as("ss@adm.kpcs")
    assert_error(ss.post("/certificates", certificate_request(exporter={"licence": "SS-EXP-1"}, origin="SS")),
                 422, rule="EXP-01")
    assert_error(callers["bw"].post("/certificates", certificate_request(importing_participant="SS")),
                 422, rule="EXP-01")

    # the committee recommends only once the application has been circulated
    assert_error(chair.post(f"/applications/{app['id']}/recommendation", {"recommend": True}), 409,
                 "invalid_transition")
    circulated = chair.post(f"/applications/{app['id']}/circulation", {})
    assert circulated.status_code == 200, circulated.content
    assert circulated.json()["stage"] == "circulated"
    assert circulated.json()["circulation"]["late"] is False
    notice = circulated.json()["circulation"]["decision"]
    assert callers["public"].get(f"/decisions/{notice}").json()["type"] == "notice"  # adopted: public
    assert_error(chair.post(f"/applications/{app['id']}/circulation", {}), 409, "invalid_transition")

    recommended = chair.post(f"/applications/{app['id']}/recommendation",
                             {"recommend": True, "text": "meets the minimum requirements"})
    assert recommended.status_code == 200, recommended.content
    assert (recommended.json()["stage"], recommended.json()["recommendation"]) == ("recommended", "admit")
    assert recommended.json()["recommendation_text"] == "meets the minimum requirements"

    effective = today + dt.timedelta(days=1)
    decision = chair.post("/decisions", {"type": "admission", "participant": "SS", "procedure": "plenary",
                                         "effective_on": effective.isoformat(), "text": "Admit South Sudan"}).json()
    listed = chair.get("/applications").json()
    assert [(i["code"], i["stage"]) for i in listed["items"]] == [("SS", "admission_proposed")]
    assert chair.post(f"/decisions/{decision['id']}/adoption", {}).status_code == 200
    [shown] = callers["observer"].get("/applications", stage="admitted").json()["items"]
    assert shown["admission"] == {"decision": decision["id"], "status": "adopted",
                                  "effective_on": effective.isoformat()}
    assert shown["admitted_on"] == effective.isoformat()
    assert callers["delegate"].get("/applications", stage="received").json()["count"] == 0
    assert callers["public"].get("/participants/SS", on=today.isoformat()).json()["status"] == "applicant"
    assert callers["public"].get("/participants/SS", on=effective.isoformat()).json()["status"] == "active"

    from kpcs.cli import app as cli

    result = CliRunner().invoke(cli, ["governance", "applications", "list"])
    assert result.exit_code == 0, result.output
    assert "SS" in result.output and "admitted" in result.output and "recommendation: admit" in result.output
    assert "1 application(s)" in result.output


def test_a_late_circulation_is_refused_naming_the_rule(callers: dict[str, Any]) -> None:
    applied = clock.today() - dt.timedelta(days=40)
    app = callers["chair"].post("/applications", {"code": "SO", "name": "Somalia",
                                                  "applied_on": applied.isoformat()}).json()
    error = assert_error(callers["chair"].post(f"/applications/{app['id']}/circulation", {}), 422,
                         "circulation_late", "GOV-05")
    assert "one month" in error["message"] and applied.isoformat() in error["message"]
    assert callers["chair"].get("/applications").json()["items"][0]["stage"] == "received"


def test_a_recommendation_not_to_admit_blocks_the_admission(callers: dict[str, Any]) -> None:
    chair = callers["chair"]
    app = chair.post("/applications", {"code": "ER", "name": "Eritrea",
                                       "applied_on": clock.today().isoformat()}).json()
    chair.post(f"/applications/{app['id']}/circulation", {})
    assert chair.post(f"/applications/{app['id']}/recommendation",
                      {"recommend": False, "text": "no legislation yet"}).json()["recommendation"] == "reject"
    d = chair.post("/decisions", {"type": "admission", "participant": "ER", "procedure": "plenary",
                                  "effective_on": clock.today().isoformat(), "text": "Admit Eritrea"}).json()
    assert_error(chair.post(f"/decisions/{d['id']}/adoption", {}), 409, "recommendation_required", "GOV-05")


def test_who_may_handle_applications(callers: dict[str, Any]) -> None:
    body = {"code": "DJ", "name": "Djibouti", "applied_on": clock.today().isoformat()}
    for who in ("delegate", "observer", "bw"):
        assert_error(callers[who].post("/applications", body), 403, "forbidden")
    assert_error(callers["public"].post("/applications", body), 401)
    assert_error(callers["bw"].get("/applications"), 403, "forbidden")
    assert_error(callers["chair"].post("/applications/999/circulation", {}), 404, "not_found")
    assert_error(callers["chair"].post("/applications", {**body, "code": "ZZ"}), 422, "invalid_code")
