"""Working groups and committees (issue 8, item 2): seeded by the migration, members from participants and
observers with their dates, listed publicly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs.errors import NotFound, PermissionDenied, ValidationFailed
from kpcs.governance import admission, rules

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
    assert groups["monitoring"]["members"] == [
        {"participant": "ZA", "observer": None, "constituency": "government", "from": "2020-01-01", "to": None},
        {"participant": None, "observer": "World Diamond Council", "constituency": "industry",
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
