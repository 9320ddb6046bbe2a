"""Working groups and committees (issue 8, item 2): seeded by the migration, members from participants and
observers with their dates, listed publicly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs.audit.models import AuditEntry
from kpcs.errors import NotFound, PermissionDenied, ValidationFailed
from kpcs.governance import admission, rules
from kpcs.governance.models import WorkingGroupMember
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db
D = dt.date


def test_the_five_groups_are_seeded_and_list_their_members(kp: Any, api_as: Any, make_user: Any) -> None:
    from kpcs.governance import services

    services.seed_working_groups()  # seeded by migration 0002; a transactional test elsewhere may have flushed it
    public = api_as(None)
    listed = public.get("/working-groups").json()
    assert [(g["code"], g["members"]) for g in listed["items"]] == sorted((c, []) for c, _ in rules.WORKING_GROUPS)
    chair = make_user("chair@wg.kpcs", "kp_chair")
    admission.add_member(chair, "monitoring", participant="za", valid_from=D(2020, 1, 1))
    admission.add_member(chair, "monitoring", observer="World Diamond Council", valid_from=D(2020, 1, 1),
                         valid_to=D(2024, 1, 1))
    groups = {g["code"]: g for g in public.get("/working-groups").json()["items"]}
    assert groups["monitoring"]["name"] == "Working Group on Monitoring"
    assert [{k: v for k, v in m.items() if k != "id"} for m in groups["monitoring"]["members"]] == [
        {"participant": "ZA", "observer": None, "constituency": "government", "role": "member",
         "from": "2020-01-01", "to": None},
        {"participant": None, "observer": "World Diamond Council", "constituency": "industry", "role": "member",
         "from": "2020-01-01", "to": "2024-01-01"}]
    on = {g["code"]: g for g in public.get("/working-groups", on="2025-01-01").json()["items"]}
    assert [m["participant"] for m in on["monitoring"]["members"]] == ["ZA"]


def test_only_the_chair_adds_members_and_they_are_checked(kp: Any, make_user: Any) -> None:
    chair = make_user("chair@wg.kpcs", "kp_chair")
    with pytest.raises(PermissionDenied):
        admission.add_member(make_user("bw.del@wg.kpcs", "delegate", "BW"), "statistics", participant="BW",
                             valid_from=D(2020, 1, 1))
    with pytest.raises(ValidationFailed):
        admission.add_member(chair, "statistics", valid_from=D(2020, 1, 1))
    with pytest.raises(ValidationFailed):
        admission.add_member(chair, "statistics", participant="BW", valid_from=D(2020, 1, 1),
                             valid_to=D(2020, 1, 1))
    with pytest.raises(NotFound):
        admission.add_member(chair, "nonesuch", participant="BW", valid_from=D(2020, 1, 1))
    with pytest.raises(NotFound):
        admission.add_member(chair, "statistics", observer="Nobody", valid_from=D(2020, 1, 1))
    with pytest.raises(ValidationFailed):
        admission.add_member(chair, "statistics", participant="BW", role="secretary", valid_from=D(2020, 1, 1))


@pytest.mark.parametrize(("periods", "start", "end", "overlaps"), [
    ([], D(2020, 1, 1), None, False),
    ([(D(2020, 1, 1), None)], D(2030, 1, 1), None, True),
    ([(D(2020, 1, 1), D(2021, 1, 1))], D(2021, 1, 1), None, False),  # the end is exclusive
    ([(D(2020, 1, 1), D(2021, 1, 1))], D(2019, 1, 1), D(2020, 1, 1), False),
    ([(D(2020, 1, 1), D(2021, 1, 1))], D(2019, 1, 1), D(2020, 1, 2), True),
    ([(D(2020, 1, 1), D(2021, 1, 1))], D(2019, 1, 1), None, True),
])
def test_membership_overlaps(periods: list[tuple[dt.date, dt.date | None]], start: dt.date, end: dt.date | None,
                             overlaps: bool) -> None:
    assert rules.membership_overlaps(periods, start, end) is overlaps


def test_member_roles_are_the_model_choices() -> None:
    field = WorkingGroupMember._meta.get_field("role")
    assert tuple(c for c, _ in field.choices) == rules.MEMBER_ROLES  # type: ignore[union-attr]


def test_the_chair_adds_and_ends_members_over_the_api(kp: Any, make_user: Any, api_as: Any) -> None:
    from kpcs.governance import services

    services.seed_working_groups()
    make_user("chair@wg.kpcs", "kp_chair")
    make_user("bw.del@wg.kpcs", "delegate", "BW")
    chair, delegate, public = api_as("chair@wg.kpcs"), api_as("bw.del@wg.kpcs"), api_as(None)
    body = {"participant": "za", "role": "chair", "from": "2026-01-01"}
    assert_error(delegate.post("/working-groups/statistics/members", body), 403)
    assert_error(public.post("/working-groups/statistics/members", body), 401)
    made = chair.post("/working-groups/statistics/members", body)
    assert made.status_code == 201, made.content
    za = made.json()
    assert (za["participant"], za["role"], za["from"], za["to"]) == ("ZA", "chair", "2026-01-01", None)
    assert_error(chair.post("/working-groups/statistics/members", {**body, "from": "2027-01-01"}), 409,
                 "already_member")
    wdc = chair.post("/working-groups/statistics/members", {"observer": "World Diamond Council",
                                                            "from": "2026-01-01", "until": "2028-01-01"}).json()
    assert (wdc["constituency"], wdc["role"], wdc["to"]) == ("industry", "member", "2028-01-01")
    assert_error(chair.post("/working-groups/nonesuch/members", body), 404)
    assert_error(chair.post("/working-groups/statistics/members", {"from": "2026-01-01"}), 422, "invalid_member")

    end = f"/working-groups/statistics/members/{za['id']}/end"
    assert_error(delegate.post(end, {"on": "2027-01-01"}), 403)
    assert_error(chair.post(end, {"on": "2026-01-01"}), 422, "invalid_dates")
    ended = chair.post(end, {"on": "2027-01-01"})
    assert ended.status_code == 200, ended.content
    assert ended.json()["to"] == "2027-01-01"
    assert_error(chair.post(end, {"on": "2027-06-01"}), 409, "membership_ended")
    assert_error(chair.post("/working-groups/monitoring/members/{}/end".format(za["id"]), {"on": "2027-01-01"}),
                 404)
    # kept, not deleted; a day's members leave it out once ended
    assert WorkingGroupMember.objects.filter(pk=za["id"]).exists()
    on = {g["code"]: g for g in public.get("/working-groups", on="2027-06-01").json()["items"]}
    assert [m["observer"] for m in on["statistics"]["members"]] == ["World Diamond Council"]
    # ZA may sit again after its membership ended
    assert chair.post("/working-groups/statistics/members", {**body, "from": "2028-01-01"}).status_code == 201
    actions = list(AuditEntry.objects.filter(object_type="working_group").values_list("action", flat=True))
    assert actions.count("working_group.member_added") == 3 and actions.count("working_group.member_ended") == 1
    assert AuditEntry.objects.get(action="working_group.member_ended").actor.startswith("chair@wg.kpcs")


def test_the_cli_lists_adds_and_ends_members(kp: Any) -> None:
    from typer.testing import CliRunner

    from kpcs.cli import app as cli
    from kpcs.governance import services

    services.seed_working_groups()
    runner = CliRunner()
    added = runner.invoke(cli, ["governance", "working-groups", "add-member", "monitoring", "--participant", "ZA",
                                "--role", "chair", "--from", "2020-01-01"])
    assert added.exit_code == 0, added.output
    member = WorkingGroupMember.objects.get(group_id="monitoring")
    listed = runner.invoke(cli, ["governance", "working-groups", "list"])
    assert listed.exit_code == 0 and "ZA  government  chair  2020-01-01 – open" in listed.output
    ended = runner.invoke(cli, ["governance", "working-groups", "end-member", "monitoring", str(member.pk),
                                "--on", "2021-01-01"])
    assert ended.exit_code == 0, ended.output
    again = runner.invoke(cli, ["governance", "working-groups", "end-member", "monitoring", str(member.pk),
                                "--on", "2022-01-01"])
    assert again.exit_code == 1 and "already ended" in again.output
    assert AuditEntry.objects.filter(action="working_group.member_ended").get().actor == kp.SYSTEM.label


def test_every_group_has_a_translatable_label() -> None:
    from kpcs.governance.forms import GROUP_LABELS

    assert {code: str(label) for code, label in GROUP_LABELS.items()} == dict(rules.WORKING_GROUPS)
