"""Custody use cases against the database: licences, sites, events, refusals with their rule, the audit log."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from kpcs.audit import services as audit
from kpcs.audit.models import AuditEntry
from kpcs.custody import selectors, services
from kpcs.custody.models import CustodyEvent, Licence, Parcel, ParcelOrigin
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.custody.conftest import DAY, WARRANTY, World, outputs

pytestmark = pytest.mark.django_db


def test_operators_get_their_registry_licence(world: World) -> None:
    lic = Licence.objects.get(operator=world.dealer)
    assert (lic.kind, lic.number, lic.participant_id) == ("dealing", "BW-DEA-1", "BW")
    assert Licence.objects.get(operator=world.mine_op).kind == "mining"
    # derived in the registration's transaction: its operator.registered entry says what the licence says
    registered = json.loads(AuditEntry.objects.get(action="operator.registered",
                                                   object_id=str(world.dealer.pk)).payload)
    assert (registered["licence"], registered["kind"]) == ("BW-DEA-1", "dealer")
    assert not AuditEntry.objects.filter(action="custody.licence_registered", object_id=str(lic.pk)).exists()


def test_a_renewal_is_a_new_licence_and_numbers_are_unique(world: World) -> None:
    renewed = services.register_licence(world.officer, operator=world.dealer.pk, kind="dealing", number="BW-DEA-2",
                                        valid_from=dt.date(2026, 1, 1), area="Gaborone")
    assert Licence.objects.filter(operator=world.dealer).count() == 2 and renewed.area == "Gaborone"
    entry = json.loads(AuditEntry.objects.get(action="custody.licence_registered", object_id=str(renewed.pk)).payload)
    assert entry["number"] == "BW-DEA-2" and "Gaborone" not in json.dumps(entry)
    with pytest.raises(Conflict) as exc:
        services.register_licence(world.officer, operator=world.digger.pk, kind="digging", number="BW-DEA-2",
                                  valid_from=dt.date(2026, 1, 1))
    assert exc.value.code == "duplicate_licence"


def test_officers_register_only_for_their_own_participant(world: World) -> None:
    with pytest.raises(NotFound):
        services.register_licence(world.za_officer, operator=world.dealer.pk, kind="dealing", number="X",
                                  valid_from=dt.date(2026, 1, 1))
    with pytest.raises(NotFound):
        services.register_site(world.za_officer, name="Orapa", kind="industrial_mine", region="Central",
                               holder=world.mine_op.pk)


def test_production_makes_parcels_with_one_origin(world: World) -> None:
    event = world.produce("100.00", "50.25")
    made = outputs(event)
    assert [p.carats_centi for p in made] == [10000, 5025] and {p.holder_id for p in made} == {world.mine_op.pk}
    assert event.operator_licence is not None and event.operator_licence.kind == "mining"
    assert [(o.country, o.site_id, o.carats_centi) for o in ParcelOrigin.objects.filter(parcel=made[1])] == [
        ("BW", world.mine.pk, 5025)]


def test_transfer_moves_the_parcel_to_the_buyer(world: World) -> None:
    [p] = outputs(world.produce("100.00"))
    event = world.transfer([p.pk], world.mine_op, world.dealer, value_usd="250.00")
    [bought] = outputs(event)
    p.refresh_from_db()
    assert p.status == "consumed" and p.consumed_by_id == event.pk
    assert (bought.holder_id, bought.carats_centi, bought.usd_cents) == (world.dealer.pk, 10000, 25000)
    assert event.details == {"invoice": "INV-1", "warranty": WARRANTY}
    assert selectors.origins(bought.pk)[0]["carats"] == "100.00"


def test_split_and_merge_conserve_carats_and_carry_shares(world: World) -> None:
    [a] = outputs(world.produce("10.00"))
    [b] = outputs(world.produce("5.00", site=world.alluvial))
    [a2] = outputs(world.transfer([a.pk], world.mine_op, world.dealer))
    [b2] = outputs(world.transfer([b.pk], world.digger, world.dealer))
    [mixed] = outputs(world.event(type="merge", parcels=[a2.pk, b2.pk]))
    assert mixed.carats_centi == 1500 and mixed.usd_cents == 20000
    pieces = outputs(world.event(type="split", parcels=[mixed.pk], into=[{"carats": "7.00"}, {"carats": "8.00"}]))
    for piece in pieces:
        rows = ParcelOrigin.objects.filter(parcel=piece)
        assert sum(r.carats_centi for r in rows) == piece.carats_centi
    by_site: dict[int | None, int] = {}
    for r in ParcelOrigin.objects.filter(parcel__in=pieces):
        by_site[r.site_id] = by_site.get(r.site_id, 0) + r.carats_centi
    assert by_site == {world.mine.pk: 1000, world.alluvial.pk: 500}
    assert sum(p.usd_cents for p in pieces) == 20000
    assert selectors.origin_by_country(p.pk for p in pieces) == {"BW": 1500}


@pytest.mark.parametrize("licence_until,rule,code", [(None, "INT-08", "unlicensed"),
                                                      (dt.date(2024, 12, 31), "INT-08", "licence_not_valid")])
def test_a_buyer_needs_a_valid_licence(world: World, make_operator: Any, licence_until: Any, rule: str,
                                       code: str) -> None:
    if licence_until is None:  # a courier carries, it does not buy
        buyer = make_operator("BW", "courier", "BW-COU-1")
    else:
        buyer = make_operator("BW", "buyer", "BW-BUY-OLD", valid_from=dt.date(2020, 1, 1), valid_until=licence_until)
    [p] = outputs(world.produce("1.00"))
    with pytest.raises(ValidationFailed) as exc:
        world.transfer([p.pk], world.mine_op, buyer)
    assert (exc.value.rule, exc.value.code) == (rule, code)
    assert Parcel.objects.get(pk=p.pk).status == "held"


def test_production_needs_a_valid_mining_licence(world: World) -> None:
    """INT-06: the mine's holder's licence began in 2020."""
    with pytest.raises(ValidationFailed) as exc:
        world.produce("1.00", when=dt.datetime(2019, 6, 1, tzinfo=dt.UTC))
    assert (exc.value.rule, exc.value.code) == ("INT-06", "licence_not_valid")


def test_a_dealer_may_not_dig(world: World) -> None:
    """INT-07: an alluvial area's production needs a digging or mining licence."""
    site = services.register_site(world.officer, name="Dealer's pit", kind="alluvial_area", region="Central",
                                  holder=world.dealer.pk)
    with pytest.raises(ValidationFailed) as exc:
        world.produce("1.00", site=site)
    assert (exc.value.rule, exc.value.code) == ("INT-07", "unlicensed")


def test_seller_must_hold_the_parcel(world: World) -> None:
    [p] = outputs(world.produce("3.00"))
    with pytest.raises(Conflict) as exc:
        world.transfer([p.pk], world.dealer, world.exporter)
    assert (exc.value.rule, exc.value.code) == ("INT-09", "not_holder")
    assert exc.value.details["carats"] == "3.00"


def test_a_consumed_parcel_cannot_be_sold_again(world: World) -> None:
    [p] = outputs(world.produce("3.00"))
    world.transfer([p.pk], world.mine_op, world.dealer)
    before = CustodyEvent.objects.count()
    with pytest.raises(Conflict) as exc:
        world.transfer([p.pk], world.mine_op, world.exporter)
    assert (exc.value.rule, exc.value.code) == ("INT-09", "parcel_consumed")
    assert CustodyEvent.objects.count() == before


def test_a_split_must_conserve_carats(world: World) -> None:
    [p] = outputs(world.produce("3.00"))
    with pytest.raises(ValidationFailed) as exc:
        world.event(type="split", parcels=[p.pk], into=[{"carats": "1.00"}, {"carats": "1.99"}])
    assert (exc.value.rule, exc.value.code) == ("INT-09", "carats_not_conserved")
    assert exc.value.details["carats_in"] == "3.00" and exc.value.details["carats_out"] == "2.99"
    assert Parcel.objects.get(pk=p.pk).status == "held"


def test_loss_and_seizure_need_a_reason_and_remove_stock(world: World) -> None:
    [a, b] = outputs(world.produce("3.00", "4.00"))
    with pytest.raises(ValidationFailed) as exc:
        world.event(type="seizure", parcels=[a.pk])
    assert exc.value.code == "reason_required"
    world.event(type="seizure", parcels=[a.pk], reason="unlicensed transport")
    world.event(type="loss", parcels=[b.pk], reason="stolen")
    trace = selectors.site_trace(world.mine)
    assert trace["produced"] == "7.00" and trace["held"] == "0.00"
    assert trace["removed"] == {"loss": "4.00", "seizure": "3.00"}


def test_an_event_before_its_parcel_was_made_is_refused(world: World) -> None:
    [p] = outputs(world.produce("3.00"))
    with pytest.raises(ValidationFailed) as exc:
        world.transfer([p.pk], world.mine_op, world.dealer, when=DAY - dt.timedelta(days=1))
    assert exc.value.code == "before_parcel"


def test_transfers_stay_within_a_participant(world: World) -> None:
    [p] = outputs(world.produce("3.00"))
    with pytest.raises(NotFound):  # another participant's operator is not the BW officer's to name
        world.transfer([p.pk], world.mine_op, world.za_dealer)


def test_other_participants_parcels_are_not_found(world: World) -> None:
    [p] = outputs(world.produce("3.00"))
    with pytest.raises(NotFound):
        services.get_parcel(world.za_officer, p.pk)
    with pytest.raises(NotFound):
        services.record_event(world.za_officer, {"type": "loss", "parcels": [p.pk], "reason": "x"})


def test_readers_may_not_record(world: World, make_user: Any) -> None:
    exporter = make_user("exp@bw.test", "exporting_officer", "BW")
    [p] = outputs(world.produce("3.00"))
    assert services.get_parcel(exporter, p.pk).pk == p.pk
    with pytest.raises(PermissionDenied):
        services.record_event(exporter, {"type": "loss", "parcels": [p.pk], "reason": "x"})


def test_idempotency_key_applies_once(world: World) -> None:
    req = {"type": "production", "site": world.mine.pk, "occurred_at": DAY.isoformat(),
           "produced": [{"carats": "1.00", "value_usd": "1.00", "hs_code": "7102.31"}]}
    first = services.record_event(world.officer, req, idempotency_key="k-1")
    again = services.record_event(world.officer, dict(req), idempotency_key="k-1")
    assert not first.replayed and again.replayed and again.event.pk == first.event.pk
    assert Parcel.objects.count() == 1
    with pytest.raises(ValidationFailed) as exc:
        services.record_event(world.officer, {**req, "site": world.alluvial.pk}, idempotency_key="k-1")
    assert exc.value.code == "idempotency_key_reused"
    other = services.record_event(world.za_officer if False else world.officer, req, idempotency_key="k-2")
    assert other.event.pk != first.event.pk


def test_events_are_audited_without_figures(world: World) -> None:
    [p] = outputs(world.produce("123.45", value="98765.43"))
    world.transfer([p.pk], world.mine_op, world.dealer)
    entries = AuditEntry.objects.filter(object_type="custody_event").order_by("seq")
    assert [e.action for e in entries] == ["custody.production", "custody.transfer"]
    text = " ".join(e.payload for e in entries)
    assert "123.45" not in text and "12345" not in text and "98765" not in text and "INV-1" not in text
    transfer = json.loads(entries[1].payload)
    event = CustodyEvent.objects.get(pk=int(entries[1].object_id))
    from kpcs.audit.rules import record_hash
    assert transfer["record_hash"] == record_hash(selectors.event_record(event))
    verification = audit.verify()
    assert verification.valid and verification.state_checked, verification.differences


def test_ledger_balances(world: World) -> None:
    [a, b] = outputs(world.produce("10.00", "5.00"))
    later = DAY + dt.timedelta(days=2)
    [a2] = outputs(world.transfer([a.pk], world.mine_op, world.dealer, when=later))
    world.event(type="split", parcels=[a2.pk], into=[{"carats": "4.00"}, {"carats": "6.00"}],
                occurred_at=later.isoformat())
    book = services.ledger(world.officer, world.mine_op.pk, DAY.date(), later.date())
    assert (book["opening"], book["total_in"], book["total_out"], book["closing"]) == ("0.00", "15.00", "10.00",
                                                                                      "5.00")
    assert book["balanced"] and book["stock"] == "5.00" and len(book["days"]) == 2
    dealer = services.ledger(world.officer, world.dealer.pk, later.date(), later.date())
    assert dealer["in"] == {"split": "10.00", "transfer": "10.00"} and dealer["out"] == {"split": "10.00"}
    assert dealer["closing"] == dealer["stock"] == "10.00"
    after = services.ledger(world.officer, world.mine_op.pk, later.date() + dt.timedelta(days=1),
                            later.date() + dt.timedelta(days=9))
    assert after["opening"] == after["closing"] == "5.00" and after["days"] == []


def test_a_part_of_a_parcel_is_split_off_and_sold(world: World) -> None:
    [p] = outputs(world.produce("10.00", value="1000.00"))
    event = world.transfer([p.pk], world.mine_op, world.dealer, carats="2.50")
    [bought] = outputs(event)
    assert (bought.holder_id, bought.carats_centi, bought.usd_cents) == (world.dealer.pk, 250, 25000)
    split = CustodyEvent.objects.get(type="split")
    rest = Parcel.objects.get(created_by=split, status="held")
    assert (rest.holder_id, rest.carats_centi, rest.usd_cents) == (world.mine_op.pk, 750, 75000)
    assert selectors.trace(bought)["path"][1]["type"] == "split"


def test_selling_more_than_the_parcel_holds_is_refused_with_the_figures(world: World) -> None:
    [p] = outputs(world.produce("10.00"))
    with pytest.raises(Conflict) as exc:
        world.transfer([p.pk], world.mine_op, world.dealer, carats="10.01")
    assert (exc.value.code, exc.value.rule) == ("insufficient_stock", "INT-09")
    assert exc.value.details == {"parcel": p.pk, "held": "10.00", "asked": "10.01"}
    assert CustodyEvent.objects.count() == 1 and Parcel.objects.get(pk=p.pk).status == "held"


def test_a_refused_partial_transfer_leaves_no_split(world: World, make_operator: Any) -> None:
    courier = make_operator("BW", "courier", "BW-COU-9")
    [p] = outputs(world.produce("10.00"))
    with pytest.raises(ValidationFailed):
        world.transfer([p.pk], world.mine_op, courier, carats="1.00")
    assert not CustodyEvent.objects.filter(type="split").exists()
    assert Parcel.objects.get(pk=p.pk).status == "held"


def test_origin_clearance_follows_compliant_zones(kp: Any, make_user: Any, make_operator: Any) -> None:
    """SPEC-03: under a compliant-zones measure only the declared zones' production may leave."""
    kp.record_measure("CF", "compliant_zones_only", dt.date(2015, 7, 17), dt.date(2024, 11, 15),
                      zones=[{"name": "Berberati", "valid_from": "2016-03-01", "valid_to": None}],
                      actor=kp.SYSTEM)
    officer = make_user("custody@cf.test", "custody_officer", "CF")
    digger = make_operator("CF", "digger", "CF-DIG-1", valid_from=dt.date(2015, 1, 1))
    parcels = []
    for region in ("Berberati", "Bria"):
        site = services.register_site(officer, name=f"{region} river", kind="alluvial_area", region=region,
                                      holder=digger.pk)
        event = services.record_event(officer, {
            "type": "production", "site": site.pk, "occurred_at": "2020-05-01T10:00:00Z",
            "produced": [{"carats": "2.00", "value_usd": "300.00", "hs_code": "7102.31"}]}).event
        parcels.append(event.outputs.get())
    [mixed] = outputs(services.record_event(officer, {"type": "merge", "parcels": [p.pk for p in parcels],
                                                      "occurred_at": "2020-05-02T10:00:00Z"}).event)
    cleared = {o["region"]: o["cleared"] for o in services.origin_clearance(mixed, dt.date(2020, 6, 1))}
    assert cleared == {"Berberati": True, "Bria": False}
    assert all(o["cleared"] for o in services.origin_clearance(mixed, dt.date(2025, 1, 1)))  # reinstated


def test_a_deep_trace_takes_a_few_queries(world: World, django_assert_max_num_queries: Any) -> None:
    """The path comes from one recursive query: depth does not multiply queries (BRIEF §6, depth 20)."""
    [p] = outputs(world.produce("40.00"))
    holder = world.mine_op
    for n in range(20):
        buyer = world.exporter if holder == world.dealer else world.dealer
        [p] = outputs(world.transfer([p.pk], holder, buyer, when=DAY + dt.timedelta(hours=n + 1)))
        holder = buyer
    with django_assert_max_num_queries(6):
        found = selectors.trace(Parcel.objects.select_related("holder").get(pk=p.pk))
    assert len(found["path"]) == 21 and found["path"][-1]["type"] == "production"
    assert [o["carats"] for o in found["origins"]] == ["40.00"]


def test_production_outside_the_licensed_area_is_refused(world: World) -> None:
    """INT-06..08: the holder's licence must authorise the site's area; a licence without an area (migrated from
    the registry) is not restricted."""
    world.produce("1.00", site=world.alluvial)  # BW-DIG-1 has no area
    Licence.objects.filter(operator=world.digger).update(valid_until=dt.date(2024, 12, 31))
    services.register_licence(world.officer, operator=world.digger.pk, kind="digging", number="BW-DIG-2",
                              valid_from=dt.date(2025, 1, 1), area="Shashe river, lots 1-4; Northern")
    with pytest.raises(ValidationFailed) as exc:
        world.produce("2.00", site=world.alluvial)
    assert (exc.value.code, exc.value.rule) == ("outside_licensed_area", "INT-07")
    assert "Lerala river" in exc.value.message and "Central" in exc.value.message
    assert "BW-DIG-2: Shashe river, lots 1-4; Northern" in exc.value.message
    assert CustodyEvent.objects.filter(type="production").count() == 1
    services.register_licence(world.officer, operator=world.digger.pk, kind="digging", number="BW-DIG-3",
                              valid_from=dt.date(2025, 1, 1), area="Lerala river, lot 7")
    event = world.produce("2.00", site=world.alluvial)
    assert event.operator_licence.number == "BW-DIG-3"
