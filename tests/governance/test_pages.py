"""Governance pages of issue 8: working groups (public list, the Chair's forms to add and end members), applications
to participate (list, steps, the Chair's circulation and recommendation), meetings by year; refusals and French."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from kpcs import clock
from kpcs.audit.models import AuditEntry
from kpcs.governance import admission, services
from kpcs.governance.models import Application, WorkingGroupMember
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    services.seed_chairs()
    services.seed_working_groups()
    return {"chair": make_user("chair@pages.kpcs", "kp_chair"),
            "bw": make_user("bw.del@pages.kpcs", "delegate", "BW"),
            "wdc": make_user("wdc@pages.kpcs", "observer"),
            "exp": make_user("bw.exp@pages.kpcs", "exporting_officer", "BW")}


# --- working groups ----------------------------------------------------------------------------------------

def test_the_public_list_shows_todays_members_with_their_constituency(people: dict[str, Any]) -> None:
    today = clock.today()
    admission.add_member(people["chair"], "monitoring", participant="ZA", role="chair",
                         valid_from=today - dt.timedelta(days=10))
    admission.add_member(people["chair"], "monitoring", observer="World Diamond Council",
                         valid_from=today - dt.timedelta(days=10))
    admission.add_member(people["chair"], "monitoring", participant="NA", valid_from=D(2010, 1, 1),
                         valid_to=D(2012, 1, 1))
    page = Client().get("/governance/working-groups").content.decode()
    assert "Working Group on Monitoring" in page and "Committee on Participation and Chairmanship" in page
    assert "World Diamond Council" in page and "industry" in page and "government" in page
    assert ">ZA · " in page and "chair" in page
    assert ">NA · " not in page  # ended in 2012: not a member today
    group = Client().get("/governance/working-groups/monitoring").content.decode()
    assert "Former members" in group and "NA · " in group and "2012-01-01" in group
    assert "Add a member" not in group and "End the membership" not in group  # the public reads only
    assert Client().get("/governance/working-groups/nonesuch").status_code == 404


def test_the_chair_adds_and_ends_a_member_through_the_pages(people: dict[str, Any]) -> None:
    chair = client_for("chair@pages.kpcs")
    form = chair.get("/governance/working-groups/statistics").content.decode()
    assert "Add a member" in form and "csrfmiddlewaretoken" in form
    done = chair.post("/governance/working-groups/statistics/members",
                      {"participant": "BW", "role": "vice_chair", "valid_from": "2026-01-01"}, follow=True)
    assert done.status_code == 200 and "The member was added." in done.content.decode()
    member = WorkingGroupMember.objects.get(group_id="statistics", participant_id="BW")
    assert (member.role, member.valid_from, member.valid_to) == ("vice_chair", D(2026, 1, 1), None)
    # the same participant over the same days: refused beside the field, nothing written
    again = chair.post("/governance/working-groups/statistics/members",
                       {"participant": "BW", "role": "member", "valid_from": "2027-01-01"})
    assert again.status_code == 409 and "already a member" in again.content.decode()
    both = chair.post("/governance/working-groups/statistics/members",
                      {"participant": "ZA", "observer": "World Diamond Council", "valid_from": "2026-01-01"})
    assert both.status_code == 422 and "a participant or an observer organisation" in both.content.decode()
    assert WorkingGroupMember.objects.filter(group_id="statistics").count() == 1

    end = f"/governance/working-groups/statistics/members/{member.pk}/end"
    refused = chair.post(end, {"on": "2025-01-01"})
    assert refused.status_code == 422 and "membership ends after it begins" in refused.content.decode()
    ended = chair.post(end, {"on": "2026-06-01"}, follow=True)
    assert "The membership was ended." in ended.content.decode()
    member.refresh_from_db()
    assert member.valid_to == D(2026, 6, 1)
    assert chair.post(end, {"on": "2026-07-01"}).status_code == 409
    assert chair.post("/governance/working-groups/statistics/members/999999/end", {"on": "2026-07-01"}
                      ).status_code == 404
    entries = AuditEntry.objects.filter(object_type="working_group", object_id="statistics")
    assert sorted(entries.values_list("action", flat=True)) == ["working_group.member_added",
                                                                "working_group.member_ended"]


def test_only_the_chair_manages_members(people: dict[str, Any]) -> None:
    body = {"participant": "BW", "role": "member", "valid_from": "2026-01-01"}
    delegate = client_for("bw.del@pages.kpcs")
    assert delegate.post("/governance/working-groups/statistics/members", body).status_code == 403
    anonymous = Client().post("/governance/working-groups/statistics/members", body)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    assert not WorkingGroupMember.objects.exists()
    m = admission.add_member(people["chair"], "statistics", participant="BW", valid_from=D(2026, 1, 1))
    assert delegate.post(f"/governance/working-groups/statistics/members/{m.pk}/end",
                         {"on": "2026-06-01"}).status_code == 403
    m.refresh_from_db()
    assert m.valid_to is None
    assert client_for("chair@pages.kpcs").post("/governance/working-groups/nonesuch/members", body
                                               ).status_code == 404


# --- applications ------------------------------------------------------------------------------------------

def apply(people: dict[str, Any], code: str = "SS", applied_on: dt.date | None = None) -> Application:
    return admission.submit(people["chair"], code=code, name="South Sudan", applied_on=applied_on or clock.today())


def test_the_applications_list_is_for_decision_readers(people: dict[str, Any]) -> None:
    a = apply(people)
    for email in ("chair@pages.kpcs", "bw.del@pages.kpcs", "wdc@pages.kpcs"):
        page = client_for(email).get("/governance/applications")
        assert page.status_code == 200 and "South Sudan" in page.content.decode(), email
        assert f"/governance/applications/{a.pk}" in page.content.decode()
    assert client_for("bw.exp@pages.kpcs").get("/governance/applications").status_code == 403
    assert Client().get("/governance/applications").status_code == 302
    assert client_for("bw.exp@pages.kpcs").get(f"/governance/applications/{a.pk}").status_code == 403
    assert client_for("wdc@pages.kpcs").get("/governance/applications/999999").status_code == 404


def test_the_chair_circulates_and_records_the_recommendation(people: dict[str, Any]) -> None:
    a = apply(people)
    chair, delegate = client_for("chair@pages.kpcs"), client_for("bw.del@pages.kpcs")
    seen = delegate.get(f"/governance/applications/{a.pk}").content.decode()
    assert "to do" in seen and "Circulate to all participants" not in seen  # the steps, no actions
    assert delegate.post(f"/governance/applications/{a.pk}/circulation").status_code == 403
    page = chair.get(f"/governance/applications/{a.pk}").content.decode()
    assert "Circulate to all participants" in page and "Record the recommendation" not in page
    done = chair.post(f"/governance/applications/{a.pk}/circulation", follow=True).content.decode()
    assert "The application was circulated to all participants." in done and "Record the recommendation" in done
    a.refresh_from_db()
    assert a.circulated_id is not None
    again = chair.post(f"/governance/applications/{a.pk}/circulation")
    assert again.status_code == 409
    assert chair.post(f"/governance/applications/{a.pk}/recommendation", {"recommend": "maybe"}).status_code == 422
    recorded = chair.post(f"/governance/applications/{a.pk}/recommendation",
                          {"recommend": "yes", "text": "meets the minimum requirements"}, follow=True).content.decode()
    assert "The committee&#x27;s recommendation was recorded." in recorded and "meets the minimum" in recorded
    a.refresh_from_db()
    assert a.recommendation == "admit"
    assert AuditEntry.objects.filter(action="application.recommended", object_id="SS").get().actor.startswith(
        "chair@pages.kpcs")


def test_a_late_circulation_is_refused_naming_the_rule(people: dict[str, Any]) -> None:
    a = apply(people, "SO", clock.today() - dt.timedelta(days=70))
    chair = client_for("chair@pages.kpcs")
    assert "circulation is refused (GOV-05)" in chair.get(f"/governance/applications/{a.pk}").content.decode()
    refused = chair.post(f"/governance/applications/{a.pk}/circulation")
    assert refused.status_code == 422 and "GOV-05" in refused.content.decode()
    a.refresh_from_db()
    assert a.circulated_id is None


# --- meetings and French -----------------------------------------------------------------------------------

def test_meetings_by_year_with_the_chairs(people: dict[str, Any]) -> None:
    services.add_meeting(people["chair"], kind="plenary", year=2024, host="AE", place="Dubai",
                         starts_on=D(2024, 11, 19), ends_on=D(2024, 11, 22))
    page = Client().get("/governance/meetings").content.decode()
    assert "Dubai" in page and "2024-11-19" in page and "Plenary" in page
    chair, _vice = services.chairs()[2024]
    assert f"{chair} · " in page


def test_the_pages_in_french(people: dict[str, Any]) -> None:
    a = apply(people)
    admission.add_member(people["chair"], "monitoring", observer="World Diamond Council", valid_from=D(2020, 1, 1))
    groups = Client().get("/governance/working-groups", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'lang="fr"' in groups and "Groupes de travail et comités" in groups and "industrie" in groups
    assert "Groupe de travail sur le suivi" in groups and "Working Group on Monitoring" not in groups
    page = client_for("chair@pages.kpcs").get(f"/governance/applications/{a.pk}",
                                              HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Diffuser à tous les participants" in page and "à faire" in page and "reçue" in page
    assert "Réunions" in Client().get("/governance/meetings", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
