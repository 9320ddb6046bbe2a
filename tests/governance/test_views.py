"""Governance pages: the public list, positions and adoption through the pages, proposing with refusals beside
their fields, a participant's history, French."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from kpcs import clock
from kpcs.audit.models import AuditEntry
from kpcs.governance import services
from kpcs.governance.models import Decision, Position
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    services.seed_chairs()
    return {"chair": make_user("chair@gov.kpcs", "kp_chair"), "bw": make_user("bw.del@gov.kpcs", "delegate", "BW"),
            "za": make_user("za.del@gov.kpcs", "delegate", "ZA"), "wdc": make_user("wdc@gov.kpcs", "observer")}


def proposal(people: dict[str, Any], **extra: Any) -> Decision:
    args: dict[str, Any] = {"type": "suspension", "participant": "NA", "effective_on": clock.today() + dt.timedelta(
        days=30), "text": "Temporary suspension of Namibia", "procedure": "plenary", **extra}
    return services.propose(people["chair"], **args)


def test_the_public_list_shows_adopted_decisions_only(people: dict[str, Any]) -> None:
    adopted = proposal(people, text="Adopted notice of the Plenary", type="notice", participant=None)
    services.adopt(people["chair"], adopted.pk)
    proposal(people, text="Still under consideration")
    page = Client().get("/governance/decisions").content.decode()
    assert "Adopted notice of the Plenary" in page and "Still under consideration" not in page
    assert "Under consideration" not in page
    reader = client_for("bw.del@gov.kpcs").get("/governance/decisions").content.decode()
    assert "Still under consideration" in reader and "Under consideration" in reader
    filtered = Client().get("/governance/decisions", {"type": "suspension"}).content.decode()
    assert "Adopted notice of the Plenary" not in filtered
    assert Client().get("/governance/decisions", {"year": "abc"}).status_code == 400


def test_a_proposed_decision_is_the_same_404_as_an_unknown_one_for_the_public(people: dict[str, Any]) -> None:
    d = proposal(people)
    assert Client().get(f"/governance/decisions/{d.pk}").status_code == 404
    assert Client().get("/governance/decisions/999999").status_code == 404
    assert client_for("wdc@gov.kpcs").get(f"/governance/decisions/{d.pk}").status_code == 200
    services.adopt(people["chair"], d.pk)
    assert "Temporary suspension of Namibia" in Client().get(f"/governance/decisions/{d.pk}").content.decode()


def test_a_delegate_takes_a_position_through_the_page(people: dict[str, Any]) -> None:
    d = proposal(people)
    client = client_for("bw.del@gov.kpcs")
    form = client.get(f"/governance/decisions/{d.pk}").content.decode()
    assert "Take a position" in form and "csrfmiddlewaretoken" in form and "Adopt the decision" not in form
    done = client.post(f"/governance/decisions/{d.pk}/position", {"position": "support", "comment": "agreed"},
                       follow=True)
    assert done.status_code == 200 and "Your position was recorded." in done.content.decode()
    p = Position.objects.get(decision=d)
    assert (p.participant_id, p.position, p.comment) == ("BW", "support", "agreed")
    entry = AuditEntry.objects.filter(action="decision.position_taken", object_id=str(d.pk)).get()
    assert entry.actor.startswith("bw.del@gov.kpcs")
    # a later position supersedes the first; both are shown
    client.post(f"/governance/decisions/{d.pk}/position", {"position": "abstain"})
    page = client.get(f"/governance/decisions/{d.pk}").content.decode()
    assert "superseded" in page and "abstention" in page
    # the public may not take positions; an empty form is refused beside its field
    assert Client().post(f"/governance/decisions/{d.pk}/position", {"position": "object"}).status_code == 302
    assert client.post(f"/governance/decisions/{d.pk}/position", {"position": "veto"}).status_code == 422


def test_an_observer_objection_does_not_block_and_the_chair_adopts_through_the_page(people: dict[str, Any]) -> None:
    d = proposal(people)
    observer = client_for("wdc@gov.kpcs")
    assert "recorded as a comment" in observer.get(f"/governance/decisions/{d.pk}").content.decode()
    done = observer.post(f"/governance/decisions/{d.pk}/position", {"position": "object", "comment": "concerns"},
                         follow=True)
    assert "Your objection was recorded as a comment" in done.content.decode()
    assert Position.objects.get(decision=d).position == "comment"
    chair = client_for("chair@gov.kpcs")
    assert chair.post(f"/governance/decisions/{d.pk}/adoption").status_code == 302
    d.refresh_from_db()
    assert d.status == "adopted"


def test_the_chair_is_refused_adoption_with_the_objectors_named(people: dict[str, Any]) -> None:
    d = proposal(people)
    client_for("za.del@gov.kpcs").post(f"/governance/decisions/{d.pk}/position", {"position": "object"})
    client_for("bw.del@gov.kpcs").post(f"/governance/decisions/{d.pk}/position", {"position": "support"})
    refused = client_for("chair@gov.kpcs").post(f"/governance/decisions/{d.pk}/adoption")
    assert refused.status_code == 409
    page = refused.content.decode()
    assert "no consensus: ZA object(s)" in page and "Participants objecting:" in page and "South Africa" in page
    d.refresh_from_db()
    assert d.status == "proposed"
    # a delegate may not adopt
    assert client_for("bw.del@gov.kpcs").post(f"/governance/decisions/{d.pk}/adoption").status_code == 403


def test_proposing_through_the_page_and_the_90_day_rule_beside_its_field(people: dict[str, Any]) -> None:
    chair = client_for("chair@gov.kpcs")
    assert chair.get("/governance/decisions/new").status_code == 200
    assert client_for("bw.del@gov.kpcs").get("/governance/decisions/new").status_code == 403
    today = clock.today()
    plenary = services.add_meeting(people["chair"], kind="plenary", year=today.year + 1, host="BW",
                                   place="Gaborone", starts_on=today + dt.timedelta(days=60),
                                   ends_on=today + dt.timedelta(days=63))
    refused = chair.post("/governance/decisions/new", {
        "type": "amendment", "effective_on": (today + dt.timedelta(days=70)).isoformat(),
        "text": "Amend section IV", "procedure": "plenary", "meeting": str(plenary.pk)})
    assert refused.status_code == 422
    page = refused.content.decode()
    assert "at least 90 days before the Plenary" in page and "GOV-07" in page and "has-error" in page
    assert not Decision.objects.exists()
    written = chair.post("/governance/decisions/new", {
        "type": "suspension", "participant": "NA", "effective_on": today.isoformat(), "text": "Suspend NA",
        "procedure": "written"})
    assert written.status_code == 422 and "a written procedure has a deadline" in written.content.decode()
    made = chair.post("/governance/decisions/new", {
        "type": "suspension", "participant": "NA", "effective_on": today.isoformat(), "text": "Suspend NA",
        "procedure": "written", "deadline": (today + dt.timedelta(days=14)).isoformat()})
    d = Decision.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/governance/decisions/{d.pk}"
    assert (d.status, d.procedure, d.proposed_by) == ("proposed", "written", "chair@gov.kpcs (web)")


def test_the_participant_page_shows_its_status_and_history_with_decisions(people: dict[str, Any]) -> None:
    d = proposal(people, participant="CF", effective_on=dt.date(2013, 5, 23), text="Suspension of the CAR")
    services.adopt(people["chair"], d.pk)
    page = Client().get("/participants/CF").content.decode()
    assert "Central African Republic" in page and "Status history" in page
    assert f'href="/governance/decisions/{d.pk}"' in page and "Suspension of the CAR" in page
    assert "2013-05-23" in page
    assert Client().get("/participants/QQ").status_code == 404
    listing = Client().get("/participants").content.decode()
    assert 'href="/participants/CF"' in listing


def test_the_pages_speak_french(people: dict[str, Any]) -> None:
    d = proposal(people)
    french = client_for("wdc@gov.kpcs").get(f"/governance/decisions/{d.pk}", HTTP_ACCEPT_LANGUAGE="fr")
    page = french.content.decode()
    assert "Prendre position" in page and "observateur" in page and "Take a position" not in page
    public = Client().get("/governance/decisions", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Décisions adoptées" in public
    refused = client_for("chair@gov.kpcs").post("/governance/decisions/new", {
        "type": "suspension", "participant": "NA", "effective_on": clock.today().isoformat(), "text": "x",
        "procedure": "written"}, HTTP_ACCEPT_LANGUAGE="fr")
    assert "une procédure écrite a un délai" in refused.content.decode()
    assert "Présidence" in Client().get("/governance/chairs", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
