"""The registry API over HTTP: participants and their status on a date, authorities, operators, trust list, /me."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs import clock
from kpcs.registry.models import Operator, Participant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Argon2 costs ~0.4 s per user created; these tests are not about passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def bw(api_as: Any, bw_officer: Any) -> Any:
    return api_as("bw@test.kpcs")


@pytest.fixture
def admin(api_as: Any, make_user: Any) -> Any:
    make_user("admin@test.kpcs", "admin")
    return api_as("admin@test.kpcs")


def operator_body(**overrides: Any) -> dict[str, Any]:
    body = {"participant": "BW", "name": "Gaborone Rough Ltd", "address": "Plot 5, Gaborone", "kind": "exporter",
            "licence": "BW-EXP-77", "valid_from": "2020-01-01", "nationality": "BW"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def error_of(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.content
    error = resp.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code:
        assert error["code"] == code, error
    return dict(error)


# --- participants ----------------------------------------------------------------------------------

def test_participants_are_public_and_paginated(api_as: Any, kp: Any) -> None:
    anonymous = api_as(None)
    resp = anonymous.get("/participants")
    assert resp.status_code == 200, resp.content
    page = resp.json()
    total = Participant.objects.count()
    assert page["count"] == total and total > 50
    assert page["limit"] == 100 and page["offset"] == 0 and len(page["items"]) == total
    codes = [p["code"] for p in page["items"]]
    assert codes == sorted(codes) and {"BW", "EU", "ZA", "VE"} <= set(codes)
    bw = next(p for p in page["items"] if p["code"] == "BW")
    assert bw == {"code": "BW", "name": bw["name"], "kind": "state", "status": "active", "status_scope": "",
                  "validity_days": 60, "confirmation_days": 15}
    assert next(p for p in page["items"] if p["code"] == "EU")["kind"] == "regional_organisation"
    part = anonymous.get("/participants", limit=10, offset=10).json()
    assert part["count"] == total and [p["code"] for p in part["items"]] == codes[10:20]


def test_participant_status_on_a_date(api_as: Any, kp: Any) -> None:
    anonymous = api_as(None)

    def status(code: str, on: str | None = None) -> str:
        params = {"on": on} if on else {}
        items = anonymous.get("/participants", limit=500, **params).json()["items"]
        return str(next(p for p in items if p["code"] == code)["status"])

    assert status("VE", "2010-01-01") == "self_suspended"
    assert status("VE", "2008-05-31") == "active"  # the day before it began
    assert status("VE", "2016-11-17") == "active"  # the end date is exclusive
    assert status("VE") == "active"
    assert status("CI", "2010-01-01") == "embargoed"
    assert status("CF", "2014-01-01") == "suspended"
    ve = next(p for p in anonymous.get("/participants", limit=500, on="2010-01-01").json()["items"]
              if p["code"] == "VE")
    assert ve["status_scope"] == "all trade"
    error_of(anonymous.get("/participants", on="yesterday"), 422, "invalid_request")


def test_one_participant_with_history_and_authorities(api_as: Any, kp: Any) -> None:
    anonymous = api_as(None)
    resp = anonymous.get("/participants/ve", on="2010-01-01")
    assert resp.status_code == 200, resp.content
    ve = resp.json()
    assert ve["code"] == "VE" and ve["status"] == "self_suspended"
    assert ve["history"] == [{"status": "self_suspended", "scope": "all trade", "valid_from": "2008-06-01",
                              "valid_to": "2016-11-17"}]
    assert ve["authorities"] == ["VE-KPA"]
    assert anonymous.get("/participants/VE").json()["status"] == "active"
    eu = anonymous.get("/participants/EU").json()
    assert len(eu["authorities"]) == 7 and "EU-BE-ANTWERP" in eu["authorities"]
    error_of(anonymous.get("/participants/XX"), 404, "not_found")


# --- authorities -----------------------------------------------------------------------------------

def test_authorities_are_public_and_the_eu_has_seven(api_as: Any, kp: Any) -> None:
    anonymous = api_as(None)
    eu = anonymous.get("/authorities", participant="EU")
    assert eu.status_code == 200, eu.content
    page = eu.json()
    assert page["count"] == 7 and len(page["items"]) == 7
    ids = {a["id"] for a in page["items"]}
    assert ids == {"EU-BE-ANTWERP", "EU-CZ-PRAGUE", "EU-DE-IDAR-OBERSTEIN", "EU-IE-DUBLIN", "EU-IT-TORINO",
                   "EU-PT-LISBON", "EU-RO-BUCHAREST"}
    antwerp = next(a for a in page["items"] if a["id"] == "EU-BE-ANTWERP")
    assert antwerp["participant"] == "EU" and antwerp["member_state"] == "BE" and antwerp["city"] == "Antwerp"
    assert set(antwerp["roles"]) == {"issue_export", "validate_export", "verify_import", "statistics"}
    assert anonymous.get("/authorities", participant="eu").json()["count"] == 7
    bw = anonymous.get("/authorities", participant="BW").json()
    assert [a["id"] for a in bw["items"]] == ["BW-KPA"]
    everything = anonymous.get("/authorities", limit=500).json()
    assert everything["count"] == Participant.objects.count() - 1 + 7


# --- operators -------------------------------------------------------------------------------------

def test_operators_are_filtered_by_participant_and_kind(bw: Any, make_operator: Any) -> None:
    make_operator("BW", "importer", "BW-IMP-1")
    make_operator("BW", "exporter", "BW-EXP-2")
    make_operator("ZA", "exporter", "ZA-EXP-1")
    resp = bw.get("/operators", participant="BW", kind="exporter")
    assert resp.status_code == 200, resp.content
    page = resp.json()
    assert page["count"] == 2
    assert {o["licence"] for o in page["items"]} == {"BW-EXP-1", "BW-EXP-2"}
    assert all(o["participant"] == "BW" and o["kind"] == "exporter" for o in page["items"])
    first = page["items"][0]
    assert set(first) == {"id", "participant", "name", "address", "kind", "licence", "valid_from", "valid_until",
                          "nationality", "licence_valid_today"}
    assert first["licence_valid_today"] is True
    assert [o["licence"] for o in bw.get("/operators", participant="bw", kind="importer").json()["items"]] == [
        "BW-IMP-1"]
    assert bw.get("/operators").json()["count"] == 3  # only BW's: ZA's exporter is not visible
    assert bw.get("/operators", participant="ZA").json()["count"] == 0
    paged = bw.get("/operators", limit=1, offset=1).json()
    assert paged["count"] == 3 and len(paged["items"]) == 1


def test_operators_valid_on_a_date(bw: Any, make_operator: Any) -> None:
    make_operator("BW", "exporter", "BW-OLD", valid_from=dt.date(2000, 1, 1), valid_until=dt.date(2005, 12, 31))
    licences = {o["licence"]: o for o in bw.get("/operators").json()["items"]}
    assert licences["BW-OLD"]["licence_valid_today"] is False
    assert [o["licence"] for o in bw.get("/operators", valid_on="2010-01-01").json()["items"]] == ["BW-EXP-1"]
    assert {o["licence"] for o in bw.get("/operators", valid_on="2005-12-31").json()["items"]} == {
        "BW-EXP-1", "BW-OLD"}


def test_register_an_operator(bw: Any, kp: Any) -> None:
    resp = bw.post("/operators", operator_body(valid_until="2030-12-31"))
    assert resp.status_code == 201, resp.content
    op = resp.json()
    assert op["participant"] == "BW" and op["licence"] == "BW-EXP-77" and op["kind"] == "exporter"
    assert op["valid_from"] == "2020-01-01" and op["valid_until"] == "2030-12-31"
    assert op["licence_valid_today"] is (clock.today() <= dt.date(2030, 12, 31))
    assert Operator.objects.filter(pk=op["id"], participant_id="BW", licence="BW-EXP-77").exists()
    assert bw.get(f"/operators/{op['id']}").json() == op
    # The participant defaults to the officer's own.
    resp = bw.post("/operators", operator_body(participant=None, licence="BW-IMP-78", kind="importer"))
    assert resp.status_code == 201, resp.content
    assert resp.json()["participant"] == "BW"
    # The new exporter can be named on a certificate at once.
    from tests.conftest import certificate_request

    issued = bw.post("/certificates", certificate_request(exporter={"licence": "BW-EXP-77"}))
    assert issued.status_code == 201, issued.content


def test_duplicate_licence_is_409(bw: Any, api_as: Any, make_user: Any) -> None:
    assert bw.post("/operators", operator_body()).status_code == 201
    error_of(bw.post("/operators", operator_body(name="Someone Else")), 409, "duplicate_licence")
    error_of(bw.post("/operators", operator_body(licence="BW-EXP-1")), 409, "duplicate_licence")
    assert Operator.objects.filter(licence="BW-EXP-77").count() == 1
    # The same licence number in another participant is another licence.
    make_user("za@test.kpcs", "exporting_officer", "ZA")
    assert api_as("za@test.kpcs").post("/operators", operator_body(participant="ZA")).status_code == 201


def test_invalid_operator_is_refused(bw: Any) -> None:
    cases = [
        ("unknown-kind", {"kind": "smuggler"}, 422),
        ("blank-name", {"name": "  "}, 422),
        ("blank-licence", {"licence": ""}, 422),
        ("ends-before-it-starts", {"valid_from": "2020-01-01", "valid_until": "2019-01-01"}, 422),
        ("not-a-date", {"valid_from": "01/01/2020"}, 422),
        ("no-kind", {"kind": None}, 422),
        ("unknown-participant", {"participant": "XX"}, 403),
    ]
    failures = []
    for case_id, overrides, status in cases:
        resp = bw.post("/operators", operator_body(**overrides))
        if resp.status_code != status or "error" not in resp.json():
            failures.append(f"{case_id}: {resp.status_code} {resp.content!r}")
    assert not failures, failures
    assert not Operator.objects.filter(licence="BW-EXP-77").exists()


def test_admin_reads_across_participants_but_registers_no_operator(admin: Any, make_operator: Any) -> None:
    """Reading every participant's registry does not make the secretariat a licensing authority (INT-08)."""
    make_operator("ZA", "exporter", "ZA-EXP-1")
    assert admin.get("/operators", participant="ZA").json()["count"] == 1
    for participant in ("ZA", "BW", "XX"):
        error_of(admin.post("/operators", operator_body(participant=participant)), 403, "forbidden")
    error_of(admin.post("/operators", operator_body(participant=None)), 422, "participant_required")
    assert not Operator.objects.filter(licence="BW-EXP-77").exists()


def test_operator_of_another_participant_is_invisible_and_not_creatable(bw: Any, make_operator: Any,
                                                                        api_as: Any, make_user: Any) -> None:
    za_op = make_operator("ZA", "exporter", "ZA-EXP-1")
    error_of(bw.get(f"/operators/{za_op.pk}"), 404, "not_found")
    error_of(bw.get("/operators/999999"), 404, "not_found")  # same answer as a missing one
    error_of(bw.post("/operators", operator_body(participant="ZA")), 403, "forbidden")
    assert not Operator.objects.filter(participant_id="ZA", licence="BW-EXP-77").exists()
    # ZA's own officer sees it; a statistics officer of BW may read BW's operators but not register any.
    make_user("za@test.kpcs", "importing_officer", "ZA")
    assert api_as("za@test.kpcs").get(f"/operators/{za_op.pk}").json()["licence"] == "ZA-EXP-1"
    make_user("stats@test.kpcs", "statistics_officer", "BW")
    stats = api_as("stats@test.kpcs")
    assert stats.get("/operators").json()["count"] == 1
    error_of(stats.post("/operators", operator_body()), 403, "forbidden")


def test_operators_need_a_token(api_as: Any, make_operator: Any) -> None:
    op = make_operator("BW", "exporter", "BW-EXP-1")
    anonymous = api_as(None)
    error_of(anonymous.get("/operators"), 401, "unauthenticated")
    error_of(anonymous.get(f"/operators/{op.pk}"), 401, "unauthenticated")
    error_of(anonymous.post("/operators", operator_body()), 401, "unauthenticated")
    assert Operator.objects.count() == 1


# --- /me -------------------------------------------------------------------------------------------

def test_me_names_the_caller_and_its_grants(api_as: Any, make_user: Any) -> None:
    make_user("eu@test.kpcs", "importing_officer", "EU", "EU-BE-ANTWERP")
    make_user("eu@test.kpcs", "statistics_officer", "EU", "EU-BE-ANTWERP")
    resp = api_as("eu@test.kpcs").get("/me")
    assert resp.status_code == 200, resp.content
    me = resp.json()
    assert me["actor"].startswith("eu@test.kpcs")
    assert sorted(me["grants"], key=lambda g: g["role"]) == [
        {"role": "importing_officer", "participant": "EU", "authority": "EU-BE-ANTWERP"},
        {"role": "statistics_officer", "participant": "EU", "authority": "EU-BE-ANTWERP"},
    ]
    make_user("analyst@test.kpcs", "kp_analyst")
    assert api_as("analyst@test.kpcs").get("/me").json()["grants"] == [
        {"role": "kp_analyst", "participant": None, "authority": None}]
    error_of(api_as(None).get("/me"), 401, "unauthenticated")


def test_observers_are_public(kp: object) -> None:
    from django.test import Client

    res = Client().get("/api/v1/observers")
    assert res.status_code == 200
    assert {"name": "World Diamond Council", "constituency": "industry"} in res.json()
