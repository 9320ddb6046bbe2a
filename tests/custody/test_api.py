"""The custody API: events with Idempotency-Key, parcels, traces that add up, the ledger, refusals as JSON."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from kpcs.custody.models import CustodyEvent, Parcel
from tests.conftest import Api, assert_error
from tests.custody.conftest import DAY, WARRANTY, World

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(world: World, token_for: Any) -> Api:
    return Api(token_for("custody@bw.test"))


def post_event(api: Api, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {api.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.client.post("/api/v1/custody/events", body, content_type="application/json", headers=headers)


def production(world: World, *carats: str, site: Any = None) -> dict[str, Any]:
    return {"type": "production", "site": (site or world.mine).pk, "occurred_at": "2025-03-03T10:00:00Z",
            "produced": [{"carats": c, "value_usd": "1000.00", "hs_code": "7102.31", "stones": 3} for c in carats]}


def transfer(parcels: list[int], seller: Any, buyer: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "transfer", "parcels": parcels, "seller": seller.pk, "buyer": buyer.pk, "invoice": "INV-9",
            "warranty": WARRANTY, "occurred_at": "2025-03-04T10:00:00Z", **extra}


def test_production_then_transfer_over_http(api: Api, world: World) -> None:
    made = post_event(api, production(world, "12.50"))
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["type"] == "production" and body["operator"]["id"] == world.mine_op.pk
    assert body["operator_licence"]["number"] == "BW-MIN-1" and body["site"]["name"] == "Jwaneng"
    [out] = body["outputs"]
    assert (out["carats"], out["value_usd"], out["hs_code"], out["stones"]) == ("12.50", "1000.00", "7102.31", 3)
    sold = post_event(api, transfer([out["id"]], world.mine_op, world.dealer))
    assert sold.status_code == 201, sold.content
    assert sold.json()["counterparty_licence"]["number"] == "BW-DEA-1"
    assert sold.json()["inputs"] == [{"id": out["id"], "carats": "12.50"}]


def test_a_retry_with_the_same_key_applies_once(api: Api, world: World) -> None:
    first = post_event(api, production(world, "1.00"), key="day-42-line-1")
    again = post_event(api, production(world, "1.00"), key="day-42-line-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert CustodyEvent.objects.count() == 1 and Parcel.objects.count() == 1
    reused = post_event(api, production(world, "2.00"), key="day-42-line-1")
    assert_error(reused, 422, "idempotency_key_reused")
    assert Parcel.objects.count() == 1
    assert post_event(api, production(world, "1.00")).status_code == 201  # no key: a new event
    assert Parcel.objects.count() == 2


def test_selling_a_consumed_parcel_is_409_with_the_figures(api: Api, world: World) -> None:
    [out] = post_event(api, production(world, "12.50")).json()["outputs"]
    assert post_event(api, transfer([out["id"]], world.mine_op, world.dealer)).status_code == 201
    again = post_event(api, transfer([out["id"]], world.mine_op, world.exporter))
    error = assert_error(again, 409, "parcel_consumed", "INT-09")
    assert error["details"]["parcel"] == out["id"] and error["details"]["carats"] == "12.50"


@pytest.mark.parametrize("change,status,code,rule", [
    ({"warranty": "no promise"}, 422, "warranty_required", "INT-11"),
    ({"invoice": None}, 422, "invoice_required", "INT-11"),
    ({"hs_code": "7102.39"}, 422, "hs_out_of_scope", "DEF-05"),
    ({"value_usd": "-1"}, 422, "invalid_quantity", "INT-09"),
])
def test_refusals_are_json_with_the_rule(api: Api, world: World, change: dict[str, Any], status: int, code: str,
                                         rule: str) -> None:
    [out] = post_event(api, production(world, "1.00")).json()["outputs"]
    body = {k: v for k, v in {**transfer([out["id"]], world.mine_op, world.dealer), **change}.items() if v is not None}
    assert_error(post_event(api, body), status, code, rule)
    assert Parcel.objects.get(pk=out["id"]).status == "held"


def test_trace_adds_up_through_merge_and_split(api: Api, world: World) -> None:
    [a] = post_event(api, production(world, "10.00")).json()["outputs"]
    [b] = post_event(api, production(world, "5.00", site=world.alluvial)).json()["outputs"]
    [a2] = post_event(api, transfer([a["id"]], world.mine_op, world.dealer)).json()["outputs"]
    [b2] = post_event(api, transfer([b["id"]], world.digger, world.dealer)).json()["outputs"]
    [mixed] = post_event(api, {"type": "merge", "parcels": [a2["id"], b2["id"]],
                               "occurred_at": "2025-03-05T10:00:00Z"}).json()["outputs"]
    pieces = post_event(api, {"type": "split", "parcels": [mixed["id"]], "occurred_at": "2025-03-06T10:00:00Z",
                              "into": [{"carats": "3.33"}, {"carats": "11.67"}]}).json()["outputs"]
    resp = api.get(f"/parcels/{pieces[0]['id']}/trace")
    assert resp.status_code == 200, resp.content
    trace = resp.json()
    assert trace["parcel"]["carats"] == "3.33"
    assert sum(Decimal(o["carats"]) for o in trace["origins"]) == Decimal("3.33")
    assert {o["site"]["name"] for o in trace["origins"]} == {"Jwaneng", "Lerala river"}
    assert [s["type"] for s in trace["path"]] == ["split", "merge", "transfer", "transfer", "production",
                                                  "production"]
    licences = {s["operator_licence"]["number"] for s in trace["path"] if s["operator_licence"]}
    assert {"BW-MIN-1", "BW-DIG-1", "BW-DEA-1"} <= licences
    forward = api.get(f"/custody/sites/{world.mine.pk}/trace").json()
    assert forward["produced"] == forward["held"] == "10.00"
    assert sum(Decimal(p["carats"]) for p in forward["parcels"]) == Decimal("10.00")
    assert forward["holders"][0]["operator"]["id"] == world.dealer.pk
    listed = api.get("/custody/events", parcel=mixed["id"]).json()
    assert [e["type"] for e in listed["items"]] == ["merge", "split"]


def test_ledger_over_http(api: Api, world: World) -> None:
    post_event(api, production(world, "10.00", "2.00"))
    resp = api.get(f"/custody/operators/{world.mine_op.pk}/ledger", **{"from": "2025-03-01", "to": "2025-03-31"})
    assert resp.status_code == 200, resp.content
    book = resp.json()
    assert (book["opening"], book["in"], book["closing"], book["stock"], book["balanced"]) == (
        "0.00", {"production": "12.00"}, "12.00", "12.00", True)
    assert book["from"] == "2025-03-01" and book["days"][0]["in"] == {"production": "12.00"}
    assert_error(api.get(f"/custody/operators/{world.mine_op.pk}/ledger", **{"from": "2025-03-31",
                                                                             "to": "2025-03-01"}), 422)


def test_licences_and_sites_over_http(api: Api, world: World) -> None:
    made = api.post("/custody/licences", {"operator": world.digger.pk, "kind": "digging", "number": "BW-DIG-2",
                                          "area": "Lerala lot 9", "valid_from": "2026-01-01"})
    assert made.status_code == 201, made.content
    assert made.json()["participant"] == "BW"
    assert_error(api.post("/custody/licences", {"operator": world.digger.pk, "kind": "digging",
                                                "number": "BW-DIG-2", "valid_from": "2026-01-01"}), 409,
                 "duplicate_licence")
    listed = api.get("/custody/licences", operator=world.digger.pk).json()
    assert {i["number"] for i in listed["items"]} == {"BW-DIG-1", "BW-DIG-2"}
    site = api.post("/custody/sites", {"name": "Orapa", "kind": "industrial_mine", "region": "Central",
                                       "holder": world.mine_op.pk})
    assert site.status_code == 201, site.content
    assert "Orapa" in {s["name"] for s in api.get("/custody/sites").json()["items"]}


def test_other_participants_records_are_404(world: World, token_for: Any, api: Api) -> None:
    [out] = post_event(api, production(world, "1.00")).json()["outputs"]
    za = Api(token_for("custody@za.test"))
    assert_error(za.get(f"/parcels/{out['id']}"), 404)
    assert_error(za.get(f"/parcels/{out['id']}/trace"), 404)
    assert za.get("/custody/events").json()["count"] == 0
    assert_error(za.get(f"/custody/operators/{world.mine_op.pk}/ledger", **{"from": "2025-01-01",
                                                                            "to": "2025-12-31"}), 404)


def test_an_event_must_not_lie_in_the_future(api: Api, world: World) -> None:
    body = production(world, "1.00")
    body["occurred_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert_error(post_event(api, body), 422, "invalid_date")
    assert DAY < dt.datetime.now(dt.UTC)


def test_refusals_speak_french_when_asked(api: Api, world: World) -> None:
    [out] = post_event(api, production(world, "1.00")).json()["outputs"]
    post_event(api, transfer([out["id"]], world.mine_op, world.dealer))
    resp = api.client.post("/api/v1/custody/events", transfer([out["id"]], world.mine_op, world.exporter),
                           content_type="application/json",
                           headers={"Authorization": f"Bearer {api.token}", "Accept-Language": "fr"})
    error = assert_error(resp, 409, "parcel_consumed", "INT-09")
    assert "n'est plus détenu" in error["message"]


def test_junk_events_never_answer_5xx_nor_write_partly(api: Api, world: World) -> None:
    """Bodies assembled from real ids and junk reach the rules behind the schema: a refusal changes nothing."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    made = post_event(api, production(world, "10.00", "5.00")).json()["outputs"]
    ids = st.sampled_from([made[0]["id"], made[1]["id"], world.mine_op.pk, world.dealer.pk, world.mine.pk, 0, -1,
                           2**63, "1", None, 1.5])
    quantity = st.sampled_from(["1.00", "10.00", "0", "0.00", "15.00", "-1", "1.234", 3, None, "99999999999999"])
    body = st.fixed_dictionaries({"type": st.sampled_from(["production", "transfer", "split", "merge", "loss",
                                                           "seizure", "import", 7])}, optional={
        "site": ids, "seller": ids, "buyer": ids, "operator": ids, "parcels": st.lists(ids, max_size=3),
        "produced": st.lists(st.fixed_dictionaries({"carats": quantity}, optional={
            "value_usd": quantity, "hs_code": st.sampled_from(["7102.31", "7102.39", ""]),
            "stones": st.sampled_from([1, 0, -3, True])}), max_size=2),
        "into": st.lists(st.fixed_dictionaries({"carats": quantity}, optional={"value_usd": quantity}), max_size=3),
        "carats": quantity, "value_usd": quantity, "invoice": st.sampled_from(["I-1", "", " ", None]),
        "warranty": st.sampled_from([WARRANTY, "nothing", ""]), "reason": st.sampled_from(["lost", "", None]),
        "occurred_at": st.sampled_from(["2025-03-05T10:00:00Z", "2025-03-05T10:00:00", "2999-01-01T00:00:00Z",
                                        "1980-01-01T00:00:00Z", "yesterday", None]),
        "hs_code": st.sampled_from(["7102.21", "7102.39"])})

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body)
    def probe(sent: dict[str, Any]) -> None:
        before = (CustodyEvent.objects.count(), Parcel.objects.count(),
                  Parcel.objects.filter(status="held").count())
        resp = post_event(api, sent)
        assert resp.status_code < 500, (sent, resp.content[:300])
        if resp.status_code >= 400:
            assert set(resp.json()) == {"error"}
            assert (CustodyEvent.objects.count(), Parcel.objects.count(),
                    Parcel.objects.filter(status="held").count()) == before, sent

    probe()


def test_parcels_an_operator_holds(api: Api, world: World) -> None:
    made = post_event(api, production(world, "1.00", "2.00")).json()["outputs"]
    post_event(api, transfer([made[0]["id"]], world.mine_op, world.dealer))
    held = api.get("/parcels", holder=world.mine_op.pk, status="held").json()
    assert [p["id"] for p in held["items"]] == [made[1]["id"]] and held["items"][0]["carats"] == "2.00"
    from_mine = api.get("/parcels", site=world.mine.pk).json()
    assert from_mine["count"] == 3  # the two produced and the dealer's
