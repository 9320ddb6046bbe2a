"""Participant status as a service (issue 8, item 1): admissions, record_status, the seed's corrections."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs import crypto
from kpcs.audit.models import AuditEntry
from kpcs.errors import PermissionDenied
from kpcs.registry import rules
from kpcs.registry.models import ParticipantStatus

pytestmark = pytest.mark.django_db
D = dt.date


def test_admission_dates_make_a_non_participant_before_them(kp: Any) -> None:
    assert kp.status_on("GB", D(2020, 12, 31)).status == "non_participant"
    assert kp.status_on("GB", D(2021, 1, 1)).status == "active"
    assert kp.status_on("UZ", D(2024, 11, 14)).status == "non_participant"
    assert kp.status_on("BW", D(2003, 1, 1)).status == "active"
    bd = kp.get_participant("BD")
    assert (bd.admitted_on, bd.admission_precision) == (D(2003, 1, 1), "unknown")


def test_record_status_closes_the_period_it_overlaps_and_audits_both(kp: Any) -> None:
    kp.record_status("ZA", "suspended", "all trade", D(2030, 1, 1), actor=kp.SYSTEM)
    new = kp.record_status("ZA", "active", "", D(2030, 6, 1), actor=kp.SYSTEM)
    old = ParticipantStatus.objects.get(participant_id="ZA", status="suspended")
    assert old.valid_to == D(2030, 6, 1) and old.closed_by == new
    assert kp.status_on("ZA", D(2030, 3, 1)).status == "suspended"
    assert kp.status_on("ZA", D(2030, 6, 1)).status == "active"
    actions = list(AuditEntry.objects.filter(object_type="participant_status", object_id__in=[str(old.pk)])
                   .values_list("action", flat=True))
    assert actions == ["participant_status.created", "participant_status.closed"]


def test_only_the_node_operator_records_a_status_without_a_decision(kp: Any) -> None:
    chair = kp.Actor("chair", grants=(kp.Grant("kp_chair", None, None),))
    with pytest.raises(PermissionDenied):
        kp.record_status("ZA", "suspended", "", D(2030, 1, 1), actor=chair)
    kp.record_status("ZA", "suspended", "", D(2030, 1, 1), actor=chair, decision=1)


def test_the_seed_corrects_a_changed_date_and_keeps_the_old_period(kp: Any, monkeypatch: Any) -> None:
    assert kp.seed_reference_data()["statuses"] == 0  # nothing changed: nothing recorded
    real = kp._csv

    def corrected(name: str) -> list[dict[str, str]]:
        rows = real(name)
        for r in rows:
            if name == "status-history.csv" and r["participant"] == "CG":
                r["to"] = "2007-11-09"
        return rows

    monkeypatch.setattr(kp, "_csv", corrected)
    assert kp.seed_reference_data()["statuses"] == 1
    rows = ParticipantStatus.objects.filter(participant_id="CG").order_by("pk")
    assert [(r.valid_from, r.valid_to) for r in rows] == [(D(2004, 7, 9), D(2004, 7, 9)),
                                                          (D(2004, 7, 9), D(2007, 11, 9))]
    assert kp.status_on("CG", D(2007, 11, 8)).status == "removed"
    assert kp.seed_reference_data()["statuses"] == 0


def test_a_decision_that_closed_a_seeded_period_is_not_undone_by_the_seed(kp: Any) -> None:
    kp.record_status("CF", "active", "", D(2020, 1, 1), actor=kp.SYSTEM, decision=7)
    assert kp.seed_reference_data()["statuses"] == 0
    assert kp.status_on("CF", D(2021, 1, 1)).status == "active"


def test_measures_judge_standing_and_travel_in_the_trust_list(kp: Any) -> None:
    kp.record_measure("ZA", "import_ban_by_origin", D(2031, 1, 1), D(2032, 1, 1), actor=kp.SYSTEM)
    kp.record_measure("NA", "compliant_zones_only", D(2031, 1, 1), zones=[
        {"name": "Sperrgebiet", "valid_from": "2031-02-01", "valid_to": None}], actor=kp.SYSTEM)
    assert kp.status_on("ZA", D(2031, 5, 1)).status == "embargoed"
    assert kp.status_on("ZA", D(2032, 1, 1)).status == "active"
    assert kp.status_on("NA", D(2031, 5, 1)).status == "restricted"
    document = kp.trust_list()
    listed = rules.check_trust_list(document, kp.anchor()["anchor"])
    assert listed.status_on("ZA", D(2031, 5, 1)) == "embargoed"
    assert listed.status_on("GB", D(2020, 1, 1)) == "non_participant"
    [zones] = listed.measures_on("NA", D(2031, 5, 1))
    assert zones.zones_on(D(2031, 5, 1)) == ["Sperrgebiet"] and zones.zones_on(D(2031, 1, 15)) == []
    # a list without the new keys (as issued before governance) still reads
    body = {k: v for k, v in document["trust_list"].items()}
    body["participants"] = [{k: v for k, v in p.items() if k not in ("measures", "admitted_on")}
                            for p in body["participants"]]
    kid, key = kp.signing_key(None, kp.clock.now())
    old = {"trust_list": body, "signature": crypto.sign(body, key, kid)}
    assert rules.check_trust_list(old, kp.anchor()["anchor"]).measures["NA"] == []


def test_plan_status_change_is_pure() -> None:
    old = rules.StatusPeriod("removed", D(2004, 7, 9), None)
    assert rules.plan_status_change([(1, old)], rules.StatusPeriod("active", D(2007, 11, 8), None)) == [
        (1, D(2007, 11, 8))]
    assert rules.plan_status_change([(1, old)], rules.StatusPeriod("removed", D(2004, 7, 9), None)) == [
        (1, D(2004, 7, 9))]
    assert rules.plan_status_change([(1, rules.StatusPeriod("x", D(2001, 1, 1), D(2002, 1, 1)))],
                                    rules.StatusPeriod("active", D(2003, 1, 1), None)) == []
