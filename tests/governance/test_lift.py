"""Lifting a measure by a later decision (issue 8, item 2; SPEC-01, SPEC-07): Côte d'Ivoire's import ban of 2005
lifted by a decision of 2014, checked at proposal, applied on adoption through an audited registry service, and
seen by verification, the snapshot and the participant's history."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from kpcs.audit.models import AuditEntry
from kpcs.certificates import services as certificates
from kpcs.errors import Conflict, ValidationFailed
from kpcs.governance import rules, services
from kpcs.registry import services as registry
from kpcs.registry.models import Measure, ParticipantStatus
from tests.conftest import assert_error, certificate_request

pytestmark = pytest.mark.django_db
D = dt.date


# --- the rule ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("valid_from", "valid_to", "on", "refusal"), [
    (D(2005, 12, 15), None, D(2014, 4, 29), None),
    (D(2005, 12, 15), D(2020, 1, 1), D(2014, 4, 29), None),  # an end still to come may be brought forward
    (D(2005, 12, 15), None, D(2005, 12, 15), "before_start"),
    (D(2005, 12, 15), None, D(2005, 1, 1), "before_start"),
    (D(2005, 12, 15), D(2014, 4, 29), D(2014, 4, 29), "ended"),
    (D(2005, 12, 15), D(2010, 1, 1), D(2014, 4, 29), "ended"),
])
def test_lift_refusal(valid_from: dt.date, valid_to: dt.date | None, on: dt.date, refusal: str | None) -> None:
    assert rules.lift_refusal(valid_from, valid_to, on) == refusal


# --- through the API ---------------------------------------------------------------------------------------

@pytest.fixture
def chair(kp: Any, make_user: Any, api_as: Any) -> Any:
    make_user("chair@lift.kpcs", "kp_chair")
    return api_as("chair@lift.kpcs")


def decide(chair: Any, body: dict[str, Any]) -> dict[str, Any]:
    made = chair.post("/decisions", {"procedure": "plenary", "text": f"{body['type']} decision", **body})
    assert made.status_code == 201, made.content
    adopted = chair.post(f"/decisions/{made.json()['id']}/adoption", {})
    assert adopted.status_code == 200, adopted.content
    return dict(adopted.json())


def ban(chair: Any) -> tuple[dict[str, Any], Measure]:
    """The UN embargo on Ivorian rough as the KP applied it (SPEC-01), open-ended when decided."""
    d = decide(chair, {"type": "measure", "participant": "CI", "effective_on": "2005-12-15",
                       "text": "Participants accept no rough diamonds from Côte d'Ivoire",
                       "measure": {"kind": "import_ban_by_origin", "scope": "rough diamonds from Côte d'Ivoire"}})
    return d, Measure.objects.get(decision_id=d["id"])


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)


def test_cote_d_ivoire_ban_lifted_in_2014(kp: Any, chair: Any, make_operator: Any, api_as: Any) -> None:
    ParticipantStatus.objects.filter(participant_id="CI").delete()  # replay SPEC-01 as decisions, not the seed
    kp.bump_registry_version()
    make_operator("CI", "exporter", "CI-EXP-1")
    officer = kp.Actor("ci-officer", grants=(kp.Grant("exporting_officer", "CI", "CI-KPA"),))
    held = {year: certificates.issue(officer, certificate_request(
        importing_participant="BW", exporter={"licence": "CI-EXP-1"}, origin="CI"), now=at(D(year, 6, 1)))
        for year in (2010, 2015)}

    def usable(year: int) -> bool:
        cert = held[year]
        answer = certificates.public_verification(cert.number, certificates.rules.verification_code(
            certificates.crypto.signature_bytes(cert.jws)), today=cert.issued_on + dt.timedelta(days=1))
        assert answer["genuine"]
        return bool(answer["usable"])

    imposed, measure = ban(chair)
    assert (usable(2010), usable(2015)) == (False, False)  # open-ended: still in force in 2015
    before = kp.trust_list()["trust_list"]

    lift = decide(chair, {"type": "measure", "participant": "CI", "lift": measure.pk, "effective_on": "2014-04-29",
                          "text": "The import ban on rough diamonds from Côte d'Ivoire is lifted (SC res. 2153)"})
    assert lift["lift"] == measure.pk and lift["measure"] is None
    measure.refresh_from_db()
    assert (measure.valid_from, measure.valid_to) == (D(2005, 12, 15), D(2014, 4, 29))
    assert (usable(2010), usable(2015)) == (False, True)
    # issuing on those days now: refused under the ban (EXP-01, SPEC-01), accepted once it is lifted
    request = certificate_request(importing_participant="BW", exporter={"licence": "CI-EXP-1"}, origin="CI")
    with pytest.raises(ValidationFailed):
        certificates.issue(officer, request, now=at(D(2010, 6, 2)))
    assert certificates.issue(officer, request, now=at(D(2015, 6, 2))).status == "issued"
    snap = registry.snapshot()
    assert [m.kind for m in snap.measures_on("CI", D(2014, 4, 28))] == ["import_ban_by_origin"]
    assert snap.measures_on("CI", D(2014, 4, 29)) == []
    after = kp.trust_list()["trust_list"]  # a new issue: offline verifiers see the end too

    def ci_measures(listed: dict[str, Any]) -> list[Any]:
        return [(m["kind"], m["valid_from"], m["valid_to"]) for p in listed["participants"] if p["code"] == "CI"
                for m in p["measures"]]
    assert ci_measures(before) == [("import_ban_by_origin", "2005-12-15", None)]
    assert ci_measures(after) == [("import_ban_by_origin", "2005-12-15", "2014-04-29")]
    assert after["sequence"] > before["sequence"]

    entry = AuditEntry.objects.get(action="measure.lifted", object_id=str(measure.pk))
    payload = json.loads(entry.payload or "{}")
    assert payload["decision"] == lift["id"] and payload["valid_to_before"] is None
    assert entry.actor.startswith("chair@lift.kpcs")

    history = api_as(None).get("/participants/CI/history").json()
    [shown] = history["measures"]
    assert shown["valid_to"] == "2014-04-29"
    assert shown["decision"]["id"] == imposed["id"] and shown["lifted_by"]["id"] == lift["id"]
    assert shown["lifted_by"]["effective_on"] == "2014-04-29"


def test_an_administrative_decision_lifts_too_and_a_second_lift_is_a_conflict(kp: Any, chair: Any) -> None:
    _, measure = ban(chair)
    first = chair.post("/decisions", {"type": "administrative", "participant": "CI", "lift": measure.pk,
                                      "effective_on": "2014-04-29", "procedure": "plenary", "text": "Lift"}).json()
    second = chair.post("/decisions", {"type": "measure", "participant": "CI", "lift": measure.pk,
                                       "effective_on": "2015-01-01", "procedure": "plenary", "text": "Lift again"})
    assert second.status_code == 201  # proposed while the first is still under consideration
    assert chair.post(f"/decisions/{first['id']}/adoption", {}).status_code == 200
    before = AuditEntry.objects.count()
    assert_error(chair.post(f"/decisions/{second.json()['id']}/adoption", {}), 409, "measure_ended", "SPEC-07")
    assert AuditEntry.objects.count() == before  # nothing written: the decision is still proposed
    assert chair.get(f"/decisions/{second.json()['id']}").json()["status"] == "proposed"
    measure.refresh_from_db()
    assert measure.valid_to == D(2014, 4, 29)
    # proposing to lift an ended measure is refused at once
    assert_error(chair.post("/decisions", {"type": "measure", "participant": "CI", "lift": measure.pk,
                                           "effective_on": "2016-01-01", "procedure": "plenary", "text": "x"}),
                 409, "measure_ended")


def test_a_lift_is_checked_when_proposed(kp: Any, chair: Any) -> None:
    _, measure = ban(chair)
    body = {"type": "measure", "participant": "CI", "lift": measure.pk, "effective_on": "2014-04-29",
            "procedure": "plenary", "text": "Lift"}
    assert_error(chair.post("/decisions", {**body, "lift": 999999}), 422, "unknown_measure")
    assert_error(chair.post("/decisions", {**body, "participant": "GH"}), 422, "unknown_measure")
    assert_error(chair.post("/decisions", {**body, "effective_on": "2005-12-15"}), 422, "invalid_dates", "SPEC-07")
    assert_error(chair.post("/decisions", {**body, "type": "suspension"}), 422, "invalid_lift")
    assert_error(chair.post("/decisions", {**body, "until": "2015-01-01"}), 422, "invalid_dates")
    assert_error(chair.post("/decisions", {**body, "participant": None, "type": "administrative"}), 422,
                 "participant_required")
    assert_error(chair.post("/decisions", {**body, "measure": {"kind": "enhanced_vigilance"}}), 422,
                 "invalid_measure")
    assert_error(chair.post("/decisions", {**body, "lift": 0}), 422)


def test_the_registry_service_checks_and_audits(kp: Any) -> None:
    m = registry.record_measure("GH", "enhanced_vigilance", D(2020, 1, 1), actor=kp.SYSTEM)
    with pytest.raises(ValidationFailed):
        registry.lift_measure(m.pk, D(2020, 1, 1), actor=kp.SYSTEM)
    delegate = kp.Actor("gh.delegate", grants=(kp.Grant("delegate", "GH", None),))
    with pytest.raises(Exception) as refused:
        registry.lift_measure(m.pk, D(2021, 1, 1), decision=1, actor=delegate)
    assert refused.typename == "PermissionDenied"
    registry.lift_measure(m.pk, D(2021, 1, 1), actor=kp.SYSTEM)
    with pytest.raises(Conflict):
        registry.lift_measure(m.pk, D(2022, 1, 1), actor=kp.SYSTEM)
    assert AuditEntry.objects.filter(action="measure.lifted", object_id=str(m.pk)).count() == 1


def test_the_service_refuses_a_lift_on_a_decision_type_that_cannot(kp: Any) -> None:
    chair = kp.Actor("chair", grants=(kp.Grant("kp_chair", None, None),))
    m = registry.record_measure("GH", "enhanced_vigilance", D(2020, 1, 1), actor=kp.SYSTEM)
    with pytest.raises(ValidationFailed) as refused:
        services.propose(chair, type="notice", participant="GH", effective_on=D(2021, 1, 1), text="x",
                         procedure="plenary", lift=m.pk)
    assert refused.value.code == "invalid_lift"


def test_the_participant_page_shows_the_lift(kp: Any, chair: Any) -> None:
    from django.test import Client

    _, measure = ban(chair)
    lift = decide(chair, {"type": "administrative", "participant": "CI", "lift": measure.pk,
                          "effective_on": "2014-04-29", "text": "Lift"})
    page = Client().get("/participants/CI").content.decode()
    assert "lifted from 2014-04-29 by" in page and f"/governance/decisions/{lift['id']}" in page


def test_the_chair_proposes_a_lift_through_the_page(kp: Any, chair: Any, make_user: Any) -> None:
    from kpcs.governance.models import Decision
    from tests.conftest import client_for

    _, measure = ban(chair)
    page = client_for("chair@lift.kpcs")
    form = {"type": "measure", "participant": "CI", "effective_on": "2014-04-29", "text": "Lift the ban",
            "procedure": "plenary"}
    refused = page.post("/governance/decisions/new", {**form, "lift": "999999"})
    assert refused.status_code == 422 and "has-error" in refused.content.decode()
    assert "CI has no measure 999999" in refused.content.decode()
    made = page.post("/governance/decisions/new", {**form, "lift": str(measure.pk)})
    assert made.status_code == 302
    assert Decision.objects.get(status="proposed").lifts == measure.pk
    assert f"measure #{measure.pk}" in client_for("chair@lift.kpcs").get("/participants/CI").content.decode()
