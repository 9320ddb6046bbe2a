"""The governance API: the stable interface for decisions, the public list, a participant's history."""

from __future__ import annotations

import typing
from typing import Any

import pytest

import kpcs.api  # noqa: F401  (the API first: it imports every router)
from kpcs.governance import api, rules
from kpcs.registry import rules as registry_rules

pytestmark = pytest.mark.django_db


def test_declared_sets_are_the_rules() -> None:
    assert typing.get_args(api.DecisionType) == rules.DECISION_TYPES
    assert typing.get_args(api.Procedure) == rules.PROCEDURES
    assert typing.get_args(api.DecisionStatus) == rules.DECISION_STATUSES
    assert typing.get_args(api.PositionKind) == rules.POSITIONS
    assert typing.get_args(api.MeasureKind) == registry_rules.MEASURE_KINDS


@pytest.fixture
def callers(make_user: Any, api_as: Any) -> dict[str, Any]:
    make_user("chair@test.kpcs", "kp_chair")
    make_user("bw.del@test.kpcs", "delegate", "BW")
    make_user("za.del@test.kpcs", "delegate", "ZA")
    make_user("wdc@test.kpcs", "observer")
    return {name: api_as(f"{name}@test.kpcs") for name in ("chair", "bw.del", "za.del", "wdc")} | {
        "public": api_as(None)}


def test_propose_object_adopt(callers: dict[str, Any]) -> None:
    made = callers["chair"].post("/decisions", {"type": "suspension", "participant": "na", "effective_on": "2030-04-01",
                                                "text": "Suspend NA", "procedure": "plenary", "deadline": None})
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["status"] == "proposed" and body["participant"] == "NA"
    d = body["id"]
    assert callers["public"].get(f"/decisions/{d}").status_code == 404  # not adopted: not public
    assert callers["wdc"].post(f"/decisions/{d}/positions", {"position": "object", "comment": "no"}).json()[
        "position"] == "comment"
    assert callers["za.del"].post(f"/decisions/{d}/positions", {"position": "object", "comment": ""}).status_code == 201
    refused = callers["chair"].post(f"/decisions/{d}/adoption", {})
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["objectors"] == ["ZA"]
    assert "ZA" in refused.json()["error"]["message"]
    callers["za.del"].post(f"/decisions/{d}/positions", {"position": "support", "comment": "after talks"})
    adopted = callers["chair"].post(f"/decisions/{d}/adoption", {})
    assert adopted.status_code == 200 and adopted.json()["status"] == "adopted"
    listed = callers["public"].get("/decisions").json()
    assert [i["id"] for i in listed["items"]] == [d]
    on = callers["public"].get("/participants/NA", on="2030-04-01").json()
    assert on["status"] == "suspended"
    history = callers["public"].get("/participants/NA/history").json()
    assert history["statuses"][-1]["decision"]["id"] == d


def test_proposed_decisions_are_listed_for_decision_readers_only(callers: dict[str, Any]) -> None:
    callers["chair"].post("/decisions", {"type": "notice", "effective_on": "2030-01-01", "text": "A notice",
                                         "procedure": "written", "deadline": "2099-01-01"})
    assert callers["public"].get("/decisions").json()["count"] == 0
    assert callers["bw.del"].get("/decisions").json()["count"] == 1
    assert callers["wdc"].get("/decisions", status="proposed").json()["count"] == 1


def test_a_measure_decision_shows_on_the_participant(callers: dict[str, Any]) -> None:
    d = callers["chair"].post("/decisions", {
        "type": "measure", "participant": "CF", "effective_on": "2030-07-17", "text": "Compliant zones only",
        "procedure": "plenary", "measure": {"kind": "compliant_zones_only", "scope": "exports",
                                            "zones": [{"name": "Berberati", "valid_from": "2030-08-01"}]}}).json()
    assert callers["chair"].post(f"/decisions/{d['id']}/adoption", {}).status_code == 200
    shown = callers["public"].get("/participants/CF", on="2030-09-01").json()
    assert shown["status"] == "restricted"
    assert shown["measures"][0]["kind"] == "compliant_zones_only"
    assert shown["measures"][0]["zones_in_force"] == ["Berberati"]


def test_chairs_and_meetings(callers: dict[str, Any]) -> None:
    from kpcs.governance import services

    services.seed_chairs()
    got = callers["public"].get("/chairs", on="2026-01-01").json()
    assert (got["chair"], got["vice_chair"]) == ("TH", None)
    assert callers["public"].get("/meetings").json()["count"] == 0
