"""Custody pages: the desk, the registers and event forms with refusals beside their fields (rule ids, figures,
values kept), stock and ledger, a parcel's trace, the events list; 403 for a role without custody, 404 for another
participant's records, French."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kpcs.custody import services
from kpcs.custody.models import CustodyEvent, Licence, Parcel, Site
from tests.conftest import client_for
from tests.custody.conftest import DAY, WARRANTY, World, outputs

pytestmark = pytest.mark.django_db

BW = "custody@bw.test"
ZA = "custody@za.test"


def transfer_form(world: World, parcels: str, **extra: Any) -> dict[str, Any]:
    return {"seller": world.mine_op.pk, "buyer": world.dealer.pk, "parcels": parcels, "invoice": "INV-7",
            "warranty": WARRANTY, "occurred_at": "2025-03-04T09:00", **extra}


def test_the_desk_shows_the_participants_sites_licences_stock_and_events(world: World) -> None:
    world.produce("12.50", "3.00")
    page = client_for(BW).get("/custody/").content.decode()
    assert "Jwaneng" in page and "Lerala river" in page and "BW-DIG-1" in page
    assert "15.50" in page  # the miner's stock: 12.50 + 3.00
    assert "production" in page and 'href="/custody/production/new"' in page
    assert "ZA-DEA-1" not in page and "ZA dealer Ltd" not in page


def test_pages_need_a_custody_role_and_a_sign_in(world: World, make_user: Any) -> None:
    make_user("exp@bw.test", "exporting_officer", "BW")
    assert Client().get("/custody/").status_code == 302
    reader = client_for("exp@bw.test")
    assert reader.get("/custody/").status_code == 200  # exporting officers read their participant's custody
    assert reader.get("/custody/production/new").status_code == 403
    assert reader.get("/custody/sites/new").status_code == 403
    make_user("del@bw.test", "delegate", "BW")
    assert client_for("del@bw.test").get("/custody/events").status_code == 403


def test_another_participants_parcel_and_operator_are_404(world: World) -> None:
    [parcel] = outputs(world.produce("5.00"))
    za = client_for(ZA)
    assert za.get(f"/custody/parcels/{parcel.pk}").status_code == 404
    assert za.get(f"/custody/operators/{world.mine_op.pk}").status_code == 404
    assert za.get("/custody/parcels/999999").status_code == 404
    assert client_for(BW).get(f"/custody/parcels/{parcel.pk}").status_code == 200
    assert "Jwaneng" not in za.get("/custody/events").content.decode()


def test_registering_a_site_and_a_licence(world: World) -> None:
    client = client_for(BW)
    assert client.get("/custody/sites/new").status_code == 200
    r = client.post("/custody/sites/new", {"name": "Orapa", "kind": "industrial_mine", "region": "Central",
                                           "holder": world.mine_op.pk})
    assert r.status_code == 302 and Site.objects.filter(name="Orapa", participant_id="BW").exists()
    again = client.post("/custody/sites/new", {"name": "Orapa", "kind": "industrial_mine", "region": "North",
                                               "holder": world.mine_op.pk})
    assert again.status_code == 409
    page = again.content.decode()
    assert "already registered" in page and 'value="North"' in page  # the refusal beside the name, values kept
    r = client.post("/custody/licences/new", {"operator": world.dealer.pk, "kind": "dealing", "number": "BW-D-77",
                                              "valid_from": "2025-01-01", "valid_until": "2024-01-01"})
    assert r.status_code == 422 and "valid_until is before valid_from" in r.content.decode()
    assert 'value="BW-D-77"' in r.content.decode()
    r = client.post("/custody/licences/new", {"operator": world.dealer.pk, "kind": "dealing", "number": "BW-D-77",
                                              "valid_from": "2025-01-01"})
    assert r.status_code == 302 and Licence.objects.filter(number="BW-D-77").exists()


def test_another_participants_operator_is_no_choice(world: World) -> None:
    r = client_for(BW).post("/custody/sites/new", {"name": "X", "kind": "alluvial_area", "region": "R",
                                                   "holder": world.za_dealer.pk})
    assert r.status_code == 422 and not Site.objects.filter(name="X").exists()
    assert f'value="{world.za_dealer.pk}"' not in client_for(BW).get("/custody/sites/new").content.decode()


def test_recording_production_goes_to_the_new_parcel(world: World) -> None:
    client = client_for(BW)
    r = client.post("/custody/production/new", {"site": world.mine.pk, "occurred_at": "2025-03-03T10:00",
                                                "carats": "42.10", "value_usd": "9000.00", "hs_code": "7102.31",
                                                "stones": "12"})
    assert r.status_code == 302
    parcel = Parcel.objects.get(carats_centi=4210)
    assert r["Location"] == f"/custody/parcels/{parcel.pk}" and parcel.stones == 12


def test_production_by_an_unlicensed_holder_is_refused_beside_the_site(world: World, make_operator: Any) -> None:
    dealer_site = services.register_site(world.officer, name="Dealer's pit", kind="industrial_mine",
                                         region="North", holder=world.dealer.pk)
    r = client_for(BW).post("/custody/production/new", {"site": dealer_site.pk, "carats": "1.00",
                                                         "value_usd": "10.00", "hs_code": "7102.31"})
    page = r.content.decode()
    assert r.status_code == 422 and "INT-06" in page and 'value="1.00"' in page
    assert not CustodyEvent.objects.filter(site=dealer_site).exists()


def test_a_transfer_of_more_than_held_shows_the_figures_beside_the_carats(world: World) -> None:
    [parcel] = outputs(world.produce("10.00"))
    r = client_for(BW).post("/custody/transfers/new", transfer_form(world, str(parcel.pk), carats="12.00"))
    page = r.content.decode()
    assert r.status_code == 409 and "INT-09" in page and "10.00" in page and "12.00" in page
    field = page[page.index('for="id_carats"'):page.index('for="id_value_usd"')]
    assert "holds 10.00 ct; 12.00 ct cannot be sold" in field and 'value="12.00"' in field
    assert Parcel.objects.get(pk=parcel.pk).status == "held"


def test_a_transfer_without_the_warranty_is_refused_beside_it(world: World) -> None:
    [parcel] = outputs(world.produce("10.00"))
    r = client_for(BW).post("/custody/transfers/new",
                            transfer_form(world, str(parcel.pk), warranty="We promise nothing."))
    page = r.content.decode()
    assert r.status_code == 422 and "INT-11" in page and "We promise nothing." in page


def test_a_transfer_to_an_unlicensed_buyer_is_refused_beside_the_buyer(world: World) -> None:
    [parcel] = outputs(world.produce("10.00"))
    r = client_for(BW).post("/custody/transfers/new",
                            transfer_form(world, str(parcel.pk), buyer=world.digger.pk))
    page = r.content.decode()
    assert r.status_code == 422 and "INT-08" in page
    buyer_field = page[page.index('id="id_buyer"'):page.index('id="id_parcels"')]
    assert "INT-08" in buyer_field


def test_a_partial_transfer_and_the_trace_of_the_buyers_parcel(world: World) -> None:
    [parcel] = outputs(world.produce("10.00", when=DAY))
    client = client_for(BW)
    r = client.post("/custody/transfers/new", transfer_form(world, str(parcel.pk), carats="4.00"))
    assert r.status_code == 302
    bought = Parcel.objects.get(holder=world.dealer)
    assert bought.carats_centi == 400 and r["Location"] == f"/custody/parcels/{bought.pk}"
    page = client.get(r["Location"]).content.decode()
    assert "Jwaneng" in page and "BW dealer Ltd" in page and "INV-7" in page and "BW-MIN-1" in page
    trail = page[page.index('class="trace"'):]
    assert trail.index("production") < trail.index("split") < trail.index("INV-7")  # oldest first, to the parcel
    assert "100.0" in page  # one origin: all of the carats
    source = client.get(f"/custody/parcels/{parcel.pk}").content.decode()
    piece = Parcel.objects.get(consumed_by=bought.created_by)  # split off the source, then sold
    # onward from the source parcel: the split that consumed it and made the piece sold
    assert "consumed" in source and f'href="/custody/parcels/{piece.pk}"' in source


def test_the_transfer_form_is_prefilled_from_a_parcel(world: World) -> None:
    [parcel] = outputs(world.produce("10.00"))
    page = client_for(BW).get(f"/custody/transfers/new?parcels={parcel.pk}&seller={world.mine_op.pk}")
    assert f'value="{parcel.pk}"' in page.content.decode()


def test_stock_and_ledger_of_an_operator(world: World) -> None:
    [a, b] = outputs(world.produce("10.00", "2.50"))
    world.transfer([a.pk], world.mine_op, world.dealer)
    client = client_for(BW)
    page = client.get(f"/custody/operators/{world.mine_op.pk}", {"start": "2025-03-01", "end": "2025-03-31"})
    text = page.content.decode()
    assert page.status_code == 200 and f"#{b.pk}" in text and f"#{a.pk}" not in text.split("Stock ledger")[0]
    assert "12.50" in text and "10.00" in text and "2.50" in text and "balanced" in text
    bad = client.get(f"/custody/operators/{world.mine_op.pk}", {"start": "2025-03-31", "end": "2025-03-01"})
    assert bad.status_code == 400 and "must not be before" in bad.content.decode()


def test_the_events_list_filters_and_pages(world: World) -> None:
    for _ in range(3):
        world.produce("1.00")
    world.produce("2.00", site=world.alluvial)
    client = client_for(BW)
    everything = client.get("/custody/events").content.decode()
    assert everything.count("<tr>") == 5  # header + 4 events
    by_site = client.get("/custody/events", {"site": world.alluvial.pk}).content.decode()
    assert by_site.count("<tr>") == 2 and "Lerala river" in by_site
    [parcel] = outputs(CustodyEvent.objects.get(site=world.alluvial))
    assert client.get("/custody/events", {"parcel": parcel.pk}).content.decode().count("<tr>") == 2
    assert client.get("/custody/events", {"parcel": "x"}).status_code == 400
    assert client.get("/custody/events", {"page": "99"}).status_code == 200


def test_pages_in_french(world: World) -> None:
    [parcel] = outputs(world.produce("10.00"))
    client = client_for(BW)
    desk = client.get("/custody/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'lang="fr"' in desk and "Bureau de la traçabilité" in desk
    page = client.get(f"/custody/parcels/{parcel.pk}", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Origine" in page and "Parcours" in page
    r = client.post("/custody/transfers/new", transfer_form(world, str(parcel.pk), carats="12.00"),
                    HTTP_ACCEPT_LANGUAGE="fr")
    assert "INT-09" in r.content.decode() and "Enregistrer un transfert" in r.content.decode()


def test_the_menu_and_the_buttons_follow_the_role(world: World, make_user: Any) -> None:
    desk = client_for(BW).get("/custody/").content.decode()
    assert 'href="/custody/"' in desk and 'href="/custody/events"' in desk
    make_user("exp2@bw.test", "exporting_officer", "BW")
    reader = client_for("exp2@bw.test").get("/custody/").content.decode()
    assert "Jwaneng" in reader and 'href="/custody/transfers/new"' not in reader
    make_user("del2@bw.test", "delegate", "BW")
    assert 'href="/custody/"' not in client_for("del2@bw.test").get("/").content.decode()


def test_a_parcel_of_another_participant_is_refused_beside_the_parcels(world: World) -> None:
    za_site = services.register_site(world.za_officer, name="Venetia", kind="industrial_mine", region="Limpopo",
                                     holder=world.za_dealer.pk)
    services.register_licence(world.za_officer, operator=world.za_dealer.pk, kind="mining", number="ZA-ML-1",
                              valid_from=DAY.date())
    [za_parcel] = outputs(services.record_event(world.za_officer, {
        "type": "production", "site": za_site.pk, "occurred_at": DAY.isoformat(),
        "produced": [{"carats": "7.00", "value_usd": "70.00", "hs_code": "7102.31"}]}).event)
    [parcel] = outputs(world.produce("10.00"))
    r = client_for(BW).post("/custody/transfers/new", transfer_form(world, f"{parcel.pk}, {za_parcel.pk}"))
    page = r.content.decode()
    assert r.status_code == 422 and f"parcel {za_parcel.pk} not found" in page  # the same as a missing one
    field = page[page.index('id="id_parcels"'):page.index('id="id_carats"')]
    assert f"{za_parcel.pk} not found" in field and Parcel.objects.get(pk=parcel.pk).status == "held"


def test_the_trace_goes_onward_from_a_sold_parcel(world: World) -> None:
    [parcel] = outputs(world.produce("10.00"))
    sale = world.transfer([parcel.pk], world.mine_op, world.dealer)
    page = client_for(BW).get(f"/custody/parcels/{parcel.pk}").content.decode()
    onward = page[page.index('class="onward"'):]
    assert f"event {sale.pk}" in onward and "INV-1" in onward and "BW dealer Ltd" in onward


def test_the_transfer_form_lists_the_sellers_parcels(world: World) -> None:
    [a, b] = outputs(world.produce("10.00", "2.50"))
    world.transfer([a.pk], world.mine_op, world.dealer)
    page = client_for(BW).get(f"/custody/transfers/new?seller={world.mine_op.pk}").content.decode()
    held = page[page.index("Parcels held by BW miner Ltd"):]
    assert f"#{b.pk}" in held and f"#{a.pk}<" not in held and "2.50" in held
    other = client_for(BW).get(f"/custody/transfers/new?seller={world.za_dealer.pk}").content.decode()
    assert "Parcels held by" not in other  # not an operator of the officer's participant


# --- split, merge, loss, seizure -----------------------------------------------------------------------------

def test_recording_a_split_goes_to_its_last_piece_with_the_values_divided(world: World) -> None:
    [parcel] = outputs(world.produce("10.00", value="100.00"))
    client = client_for(BW)
    form = client.get(f"/custody/splits/new?parcels={parcel.pk}").content.decode()
    assert f'value="{parcel.pk}"' in form and "Carats of each piece" in form
    r = client.post("/custody/splits/new", {"parcels": str(parcel.pk), "pieces": "2.50, 7.50",
                                            "occurred_at": "2025-03-03T11:00"})
    assert r.status_code == 302
    pieces = list(Parcel.objects.filter(created_by__type="split").order_by("pk"))
    assert [(p.carats_centi, p.usd_cents) for p in pieces] == [(250, 2500), (750, 7500)]
    assert r["Location"] == f"/custody/parcels/{pieces[-1].pk}"
    assert Parcel.objects.get(pk=parcel.pk).status == "consumed"


def test_a_split_that_loses_carats_is_refused_beside_the_pieces(world: World) -> None:
    [parcel] = outputs(world.produce("10.00", value="100.00"))
    client = client_for(BW)
    r = client.post("/custody/splits/new", {"parcels": str(parcel.pk), "pieces": "2.50 7.00"})
    page = r.content.decode()
    assert r.status_code == 422 and "INT-09" in page
    field = page[page.index('for="id_pieces"'):page.index('for="id_values"')]
    assert "10.00 ct in, 9.50 ct out" in field and 'value="2.50 7.00"' in field
    r = client.post("/custody/splits/new", {"parcels": str(parcel.pk), "pieces": "2.50 7.50",
                                            "values": "30.00 60.00"})
    page = r.content.decode()
    field = page[page.index('for="id_values"'):page.index('for="id_occurred_at"')]
    assert r.status_code == 422 and "US$ 90.00" in field and "US$ 100.00" in field
    r = client.post("/custody/splits/new", {"parcels": str(parcel.pk), "pieces": "2.50 7.50", "values": "30.00"})
    assert r.status_code == 422 and "one value for each piece (2)" in r.content.decode()
    assert Parcel.objects.get(pk=parcel.pk).status == "held" and not CustodyEvent.objects.filter(type="split")


def test_recording_a_merge_and_its_refusals(world: World) -> None:
    [a, b] = outputs(world.produce("10.00", "5.00"))
    [c] = outputs(world.produce("1.00", site=world.alluvial))
    client = client_for(BW)
    r = client.post("/custody/merges/new", {"parcels": f"{a.pk}, {c.pk}"})
    page = r.content.decode()
    assert r.status_code == 409 and "INT-09" in page and "must have one holder" in page
    assert page.index('for="id_parcels"') < page.index("must have one holder") < page.index('for="id_hs_code"')
    r = client.post("/custody/merges/new", {"parcels": f"{a.pk} {b.pk}", "hs_code": "7102.10"})
    assert r.status_code == 302
    merged = Parcel.objects.get(created_by__type="merge")
    assert (merged.carats_centi, merged.hs_code) == (1500, "7102.10")
    assert r["Location"] == f"/custody/parcels/{merged.pk}"


def test_recording_a_loss_and_a_seizure(world: World) -> None:
    [a, b] = outputs(world.produce("10.00", "5.00"))
    client = client_for(BW)
    r = client.post("/custody/losses/new", {"parcels": str(a.pk), "reason": ""})
    assert r.status_code == 422 and 'for="id_reason"' in r.content.decode()
    r = client.post("/custody/losses/new", {"parcels": str(a.pk), "reason": "Washed away in the flood",
                                            "occurred_at": "2025-03-03T12:00"})
    assert r.status_code == 302 and r["Location"] == "/custody/events"
    lost = CustodyEvent.objects.get(type="loss")
    assert lost.details == {"reason": "Washed away in the flood"} and Parcel.objects.get(pk=a.pk).consumed_by == lost
    r = client.post("/custody/seizures/new", {"parcels": str(a.pk), "reason": "Police"})
    page = r.content.decode()
    assert r.status_code == 409 and "INT-09" in page and f"consumed by event {lost.pk}" in page
    field = page[page.index('for="id_parcels"'):page.index('for="id_reason"')]
    assert "no longer held" in field
    r = client.post("/custody/seizures/new", {"parcels": str(b.pk), "reason": "Order 12 of the court of Gaborone",
                                              "occurred_at": "2025-03-03T13:00"})
    assert r.status_code == 302 and CustodyEvent.objects.get(type="seizure").details["reason"].startswith("Order 12")
    book = services.ledger(world.officer, world.mine_op.pk, DAY.date(), DAY.date())
    assert book["out"] == {"loss": "10.00", "seizure": "5.00"} and book["balanced"]


def test_the_new_event_pages_are_linked_need_the_recording_role_and_speak_french(world: World,
                                                                                 make_user: Any) -> None:
    [parcel] = outputs(world.produce("10.00"))
    client = client_for(BW)
    desk = client.get("/custody/").content.decode()
    for path in ("/custody/splits/new", "/custody/merges/new", "/custody/losses/new", "/custody/seizures/new"):
        assert f'href="{path}"' in desk
        assert client.get(path).status_code == 200
    page = client.get(f"/custody/parcels/{parcel.pk}").content.decode()
    assert f'href="/custody/splits/new?parcels={parcel.pk}"' in page
    assert f'href="/custody/seizures/new?parcels={parcel.pk}"' in page
    make_user("exp3@bw.test", "exporting_officer", "BW")
    reader = client_for("exp3@bw.test")
    assert reader.get("/custody/splits/new").status_code == 403
    assert reader.post("/custody/losses/new", {"parcels": str(parcel.pk), "reason": "x"}).status_code == 403
    assert Parcel.objects.get(pk=parcel.pk).status == "held"
    fr = client.get("/custody/splits/new", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Enregistrer une division" in fr and "Carats de chaque partie" in fr
    r = client.post("/custody/seizures/new", {"parcels": str(parcel.pk), "reason": ""}, HTTP_ACCEPT_LANGUAGE="fr")
    assert "Enregistrer une saisie" in r.content.decode()
