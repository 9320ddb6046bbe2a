"""An adopted administrative decision may change a participant's policy from its effective date (CERT-09,
IMP-02, GOV-03); the participant's history lists each policy with the decision behind it."""

from __future__ import annotations

from typing import Any

import pytest

from kpcs.registry.models import ParticipantPolicy
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def callers(make_user: Any, api_as: Any) -> dict[str, Any]:
    make_user("chair@test.kpcs", "kp_chair")
    make_user("za.del@test.kpcs", "delegate", "ZA")
    return {"chair": api_as("chair@test.kpcs"), "za.del": api_as("za.del@test.kpcs"), "public": api_as(None)}


def propose(chair: Any, **fields: Any) -> Any:
    return chair.post("/decisions", {"type": "administrative", "participant": "NA", "effective_on": "2030-07-01",
                                     "text": "Namibia shortens certificate validity", "procedure": "plenary",
                                     **fields})


def test_an_adopted_administrative_decision_records_the_policy_from_its_date(callers: dict[str, Any]) -> None:
    made = propose(callers["chair"], policy={"validity_days": 30})
    assert made.status_code == 201, made.content
    d = made.json()
    assert d["policy"] == {"validity_days": 30}
    assert not ParticipantPolicy.objects.filter(participant_id="NA").exists()  # proposed: nothing yet
    assert callers["chair"].post(f"/decisions/{d['id']}/adoption", {}).status_code == 200
    before = callers["public"].get("/participants/NA", on="2030-06-30").json()
    after = callers["public"].get("/participants/NA", on="2030-07-01").json()
    assert (before["validity_days"], after["validity_days"]) == (60, 30)
    assert after["confirmation_days"] == 15  # carried
    history = callers["public"].get("/participants/NA/history").json()
    assert [(p["valid_from"], p["validity_days"], p["confirmation_days"], p["decision"]["id"])
            for p in history["policies"]] == [("2030-07-01", 30, 15, d["id"])]


def test_a_blocked_decision_changes_no_policy(callers: dict[str, Any]) -> None:
    d = propose(callers["chair"], policy={"confirmation_days": 10}).json()
    callers["za.del"].post(f"/decisions/{d['id']}/positions", {"position": "object", "comment": ""})
    assert_error(callers["chair"].post(f"/decisions/{d['id']}/adoption", {}), 409, "invalid_transition")
    assert callers["public"].get("/participants/NA", on="2031-01-01").json()["confirmation_days"] == 15


def test_only_an_administrative_decision_with_sane_days_carries_a_policy(callers: dict[str, Any]) -> None:
    assert_error(propose(callers["chair"], type="suspension", policy={"validity_days": 30}), 422, "invalid_policy")
    assert_error(propose(callers["chair"], policy={}), 422, "invalid_policy")
    assert propose(callers["chair"], policy={"validity_days": 400}).status_code == 422
    assert_error(propose(callers["chair"], participant=None, policy={"validity_days": 30}), 422,
                 "participant_required")


def test_the_pages_propose_a_policy_change_and_show_it_on_the_participant(make_user: Any) -> None:
    from django.test import Client

    from kpcs.governance import services
    from kpcs.governance.models import Decision
    from tests.conftest import client_for

    chair_actor = make_user("chair@pages.kpcs", "kp_chair")
    chair = client_for("chair@pages.kpcs")
    base = {"type": "administrative", "participant": "NA", "effective_on": "2030-07-01", "text": "Shorter validity",
            "procedure": "plenary"}
    refused = chair.post("/governance/decisions/new", {**base, "policy_validity_days": "400"})
    assert refused.status_code == 422 and "CERT-09" in refused.content.decode() and not Decision.objects.exists()
    made = chair.post("/governance/decisions/new", {**base, "policy_validity_days": "30"})
    assert made.status_code == 302, made.content.decode()
    d = Decision.objects.get()
    assert d.policy == {"validity_days": 30}
    services.adopt(chair_actor, d.pk)
    assert "certificates valid up to 30 days" in Client().get(f"/governance/decisions/{d.pk}").content.decode()
    page = Client().get("/participants/NA").content.decode()
    assert "Policies" in page and "2030-07-01" in page and f'href="/governance/decisions/{d.pk}"' in page
