"""Governance services: decisions, positions, adoption and its effects, written procedures, admission."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs.errors import Conflict, PermissionDenied, ValidationFailed
from kpcs.governance import services
from kpcs.governance.models import Position

pytestmark = pytest.mark.django_db
D = dt.date
NOW = dt.datetime(2030, 3, 1, 9, tzinfo=dt.UTC)


@pytest.fixture
def people(kp: Any) -> dict[str, Any]:
    services.seed_chairs()
    return {"chair": kp.Actor("chair", grants=(kp.Grant("kp_chair", None, None),)),
            "bw": kp.Actor("bw.delegate", grants=(kp.Grant("delegate", "BW", None),)),
            "za": kp.Actor("za.delegate", grants=(kp.Grant("delegate", "ZA", None),)),
            "wdc": kp.Actor("wdc@observer (session)", grants=(kp.Grant("observer", None, None),))}


def suspension(people: dict[str, Any], **extra: Any) -> Any:
    args = {"type": "suspension", "participant": "NA", "effective_on": D(2030, 4, 1), "text": "Suspend NA",
            "procedure": "plenary", "now": NOW, **extra}
    return services.propose(people["chair"], **args)


def test_consensus_blocked_by_one_objection_then_adopted_when_withdrawn(kp: Any, people: dict[str, Any]) -> None:
    d = suspension(people)
    services.take_position(people["bw"], d.pk, "support", now=NOW)
    services.take_position(people["za"], d.pk, "object", "not yet", now=NOW)
    with pytest.raises(Conflict) as refused:
        services.adopt(people["chair"], d.pk, now=NOW)
    assert refused.value.details == {"objectors": ["ZA"]}
    services.take_position(people["za"], d.pk, "abstain", now=NOW + dt.timedelta(hours=1))
    assert Position.objects.filter(decision=d).count() == 3  # all kept
    services.adopt(people["chair"], d.pk, now=NOW + dt.timedelta(hours=2))
    assert kp.status_on("NA", D(2030, 3, 31)).status == "active"
    assert kp.status_on("NA", D(2030, 4, 1)).status == "suspended"


def test_an_observer_objection_is_a_comment(kp: Any, people: dict[str, Any]) -> None:
    d = suspension(people)
    p = services.take_position(people["wdc"], d.pk, "object", "industry concerns", now=NOW)
    assert (p.position, p.stated, p.observer, p.participant_id) == ("comment", "object", "wdc@observer", None)
    assert services.adopt(people["chair"], d.pk, now=NOW).status == "adopted"


def test_only_the_chair_proposes_and_adopts_and_a_delegate_speaks_for_its_own(kp: Any, people: dict[str, Any]) -> None:
    with pytest.raises(PermissionDenied):
        services.propose(people["bw"], type="notice", participant=None, effective_on=D(2030, 1, 1), text="x",
                         procedure="plenary")
    d = suspension(people)
    with pytest.raises(PermissionDenied):
        services.take_position(people["bw"], d.pk, "object", participant="ZA", now=NOW)
    with pytest.raises(PermissionDenied):
        services.take_position(people["chair"], d.pk, "support", now=NOW)


def test_written_procedure_adopted_after_its_deadline_without_objection(kp: Any, people: dict[str, Any]) -> None:
    quiet = suspension(people, procedure="written", deadline=D(2030, 3, 10))
    objected = suspension(people, procedure="written", deadline=D(2030, 3, 10), participant="ZA")
    services.take_position(people["bw"], objected.pk, "object", now=NOW)
    with pytest.raises(Conflict):
        services.adopt(people["chair"], quiet.pk, now=NOW)
    assert services.close_procedures(D(2030, 3, 10)) == []
    closed = {d.pk: d.status for d in services.close_procedures(D(2030, 3, 11))}
    assert closed == {quiet.pk: "adopted", objected.pk: "rejected"}
    assert kp.status_on("NA", D(2030, 4, 1)).status == "suspended"
    assert kp.status_on("ZA", D(2030, 4, 1)).status == "active"
    with pytest.raises(Conflict):
        services.take_position(people["bw"], quiet.pk, "object", now=NOW + dt.timedelta(days=30))


def test_amendment_needs_90_days_before_the_plenary(kp: Any, people: dict[str, Any]) -> None:
    services.add_meeting(people["chair"], kind="plenary", year=2030, host="ZA", place="Cape Town",
                         starts_on=D(2030, 6, 1), ends_on=D(2030, 6, 4))
    args = {"type": "amendment", "participant": None, "effective_on": D(2030, 6, 4), "text": "Amend section VI",
            "procedure": "plenary"}
    with pytest.raises(ValidationFailed) as late:
        services.propose(people["chair"], **args, now=dt.datetime(2030, 3, 4, tzinfo=dt.UTC))
    assert late.value.rule == "GOV-07"
    assert services.propose(people["chair"], **args, now=dt.datetime(2030, 3, 3, tzinfo=dt.UTC)).meeting is not None


def test_chairs_seeded_and_rotating(people: dict[str, Any]) -> None:
    assert services.chair_on(D(2025, 12, 31)) == ("AE", "TH")
    assert services.chair_on(D(2026, 1, 1)) == ("TH", None)
    assert services.seed_chairs() == 0


def test_admission_from_applicant_to_participant(kp: Any, people: dict[str, Any], make_operator: Any) -> None:
    from kpcs.certificates import services as certificates
    from tests.conftest import certificate_request

    services.apply_to_join(people["chair"], code="SS", name="South Sudan", applied_on=D(2030, 1, 10))
    assert kp.status_on("SS", D(2030, 2, 1)).status == "applicant"
    make_operator("SS", "exporter", "SS-EXP-1", valid_from=D(2030, 1, 1))
    officer = kp.Actor("ss", grants=(kp.Grant("exporting_officer", "SS", "SS-KPA"),))
    kp.create_key("SS-KPA", valid_from=dt.datetime(2030, 1, 1, tzinfo=dt.UTC), actor=kp.SYSTEM)
    with pytest.raises(ValidationFailed) as refused:
        certificates.issue(officer, certificate_request(exporter={"licence": "SS-EXP-1"}, origin="SS"),
                           now=dt.datetime(2030, 2, 1, tzinfo=dt.UTC))
    assert refused.value.rule == "EXP-01"
    with pytest.raises(Conflict):
        services.recommend(people["chair"], "SS", "admit")
    notice = services.circulate(people["chair"], "SS", now=dt.datetime(2030, 2, 1, tzinfo=dt.UTC))
    assert notice.type == "notice" and notice.status == "adopted" and notice.outcome == ""
    admission = services.propose(people["chair"], type="admission", participant="SS", effective_on=D(2030, 6, 1),
                                 text="Admit South Sudan", procedure="plenary", now=NOW)
    with pytest.raises(Conflict):
        services.adopt(people["chair"], admission.pk, now=NOW)  # no recommendation yet
    services.recommend(people["chair"], "SS", "admit", "meets the minimum requirements", on=D(2030, 3, 1))
    services.adopt(people["chair"], admission.pk, now=NOW)
    assert kp.status_on("SS", D(2030, 5, 31)).status == "applicant"
    assert kp.status_on("SS", D(2030, 6, 1)).status == "active"
    assert kp.get_participant("SS").admitted_on == D(2030, 6, 1)
    cert = certificates.issue(officer, certificate_request(exporter={"licence": "SS-EXP-1"}, origin="SS"),
                              now=dt.datetime(2030, 6, 2, tzinfo=dt.UTC))
    assert cert.status == "issued"


def test_history_names_the_decision_behind_each_change(kp: Any, people: dict[str, Any]) -> None:
    d = suspension(people)
    services.adopt(people["chair"], d.pk, now=NOW)
    history = services.participant_history("NA")
    [st] = history["statuses"]
    assert st["status"] == "suspended" and st["decision"]["id"] == d.pk
