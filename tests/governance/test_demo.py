"""The demo's year of governance: through the services, and idempotent."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kpcs import clock, demo
from kpcs.governance.models import Decision, Meeting, Position

pytestmark = pytest.mark.django_db


def test_the_demo_holds_a_year_of_governance_once(kp: Any) -> None:
    demo._ensure_users()
    demo._ensure_governance(clock.now())
    demo._ensure_governance(clock.now())  # twice: nothing added twice
    assert Meeting.objects.count() == 1
    assert sorted(Decision.objects.values_list("status", "procedure")) == [
        ("adopted", "plenary"), ("adopted", "plenary"), ("proposed", "written")]
    written = Decision.objects.get(status="proposed")
    assert (written.deadline - clock.today()).days == 14
    assert list(Position.objects.filter(decision=written).values_list("participant_id", "position")) == [
        ("BW", "support")]
    page = Client().get("/governance/decisions").content.decode()
    assert "Final communiqué" in page and "electronic statistics" not in page
