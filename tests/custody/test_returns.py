"""Parcels back in stock (issue 9): a certificate from custody that is cancelled, rejected or expires unused returns
its parcels to the exporter, from the certificates' events (issue 10 item 7). The ledger balances, the trace adds
up and goes back through the export to the sites, and the returned parcels can be exported again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils.html import escape

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.audit.models import AuditEntry
from kpcs.certificates import services as certificates
from kpcs.certificates.models import Certificate
from kpcs.custody import epcis, rules, selectors, services
from kpcs.custody.models import CustodyEvent, Parcel, ParcelOrigin
from kpcs.errors import Conflict, ValidationFailed
from kpcs.registry.services import SYSTEM
from kpcs.statistics import services as statistics
from tests.conftest import certificate_request, client_for
from tests.custody.conftest import DAY, World, outputs

FROM = dt.date(2025, 1, 1)
ISSUED = DAY + dt.timedelta(days=1)
LATER = DAY + dt.timedelta(days=2)


@pytest.fixture
def officers(world: World, make_user: Any) -> dict[str, Any]:
    services.set_control(SYSTEM, "BW", FROM, True)
    return {"exp": make_user("export@bw.test", "exporting_officer", "BW"),
            "imp": make_user("imp@eu.test", "importing_officer", "EU", "EU-BE-ANTWERP")}


def stocked(world: World) -> list[int]:
    """Two parcels from the mine and one from the diggers' river, bought by the exporter."""
    mined = [p.pk for p in outputs(world.produce("100.00", "20.50"))]
    dug = [p.pk for p in outputs(world.produce("7.25", site=world.alluvial, value="30.00"))]
    return ([p.pk for p in outputs(world.transfer(mined, world.mine_op, world.exporter))]
            + [p.pk for p in outputs(world.transfer(dug, world.digger, world.exporter))])


def issue(officer: Any, parcels: list[int], now: dt.datetime = ISSUED) -> Certificate:
    return certificates.issue(officer, {"importing_participant": "EU", "exporter": {"licence": "BW-EXP-9"},
                                        "importer": {"name": "EU importer Ltd", "address": "Antwerp"},
                                        "parcels": parcels}, now=now)


def cancel(officers: dict[str, Any], cert: Certificate) -> None:
    certificates.cancel(officers["exp"], cert.number, {"reason": "buyer withdrew"}, now=LATER)


def reject(officers: dict[str, Any], cert: Certificate) -> None:
    certificates.reject(officers["imp"], cert.number, {"reason": "seal", "discrepancy": {"kind": "seals_broken"}},
                        now=LATER)


def expire(officers: dict[str, Any], cert: Certificate) -> None:
    assert certificates.expire_due(cert.expires_on + dt.timedelta(days=1), actor=SYSTEM) == [cert.number]


ENDINGS: dict[str, Callable[[dict[str, Any], Certificate], None]] = {
    "cancelled": cancel, "rejected": reject, "expired": expire}


def origin_rows(parcel_ids: list[int]) -> list[tuple[str, int | None, int]]:
    return sorted(ParcelOrigin.objects.filter(parcel_id__in=parcel_ids).values_list("country", "site_id",
                                                                                   "carats_centi"))


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_the_exported_parcels_come_back_to_the_exporter(world: World, officers: dict[str, Any],
                                                        ending: str) -> None:
    parcels = stocked(world)
    cert = issue(officers["exp"], parcels)
    assert not Parcel.objects.filter(holder=world.exporter, status="held").exists()
    ENDINGS[ending](officers, cert)
    assert Certificate.objects.get(pk=cert.pk).status == ending
    back = CustodyEvent.objects.get(type="return")
    export = CustodyEvent.objects.get(type="export")
    assert (back.certificate, back.participant_id, back.operator_id, back.operator_licence_id) == (
        cert.number, "BW", world.exporter.pk, None)
    assert back.details == {"certificate": cert.number, "certificate_status": ending, "export_event": export.pk}
    exported = list(Parcel.objects.filter(pk__in=parcels).order_by("pk"))
    assert all(p.status == "consumed" and p.consumed_by_id == export.pk for p in exported)  # history kept
    made = outputs(back)
    assert [(p.carats_centi, p.usd_cents, p.hs_code, p.stones, p.holder_id, p.status) for p in made] == [
        (p.carats_centi, p.usd_cents, p.hs_code, p.stones, world.exporter.pk, "held") for p in exported]
    assert origin_rows([p.pk for p in made]) == origin_rows(parcels)
    entry = AuditEntry.objects.get(action="custody.return")
    assert entry.object_id == str(back.pk) and entry.participant == "BW"
    assert audit.verify_chain()[1] is None


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_the_ledger_balances_and_the_trace_adds_up_after_a_return(world: World, officers: dict[str, Any],
                                                                  ending: str) -> None:
    parcels = stocked(world)
    cert = issue(officers["exp"], parcels)
    ENDINGS[ending](officers, cert)
    back = CustodyEvent.objects.get(type="return")
    day = back.occurred_at.date()
    book = services.ledger(world.officer, world.exporter.pk, DAY.date(), day)
    assert (book["in"], book["out"]) == ({"return": "127.75", "transfer": "127.75"}, {"export": "127.75"})
    assert (book["opening"], book["closing"], book["stock"], book["balanced"]) == ("0.00", "127.75", "127.75",
                                                                                   True)
    for p in outputs(back):
        trace = services.trace(world.officer, p.pk)
        assert sum(rules.to_centi(o["carats"]) or 0 for o in trace["origins"]) == p.carats_centi
        # back through the export, and as for any event, through all it consumed
        assert [s["type"] for s in trace["path"]] == ["return", "export", "transfer", "transfer", "production",
                                                       "production"]
    site = services.site_trace(world.officer, world.mine.pk)
    assert (site["produced"], site["held"]) == ("120.50", "120.50")  # all of it in the exporter's stock again


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_returned_parcels_can_be_exported_again_and_traced_to_the_sites(world: World, officers: dict[str, Any],
                                                                       ending: str) -> None:
    cert = issue(officers["exp"], stocked(world))
    ENDINGS[ending](officers, cert)
    returned = [p.pk for p in outputs(CustodyEvent.objects.get(type="return"))]
    again = issue(officers["exp"], returned, now=max(LATER, CustodyEvent.objects.get(type="return").occurred_at))
    assert again.from_custody and again.total_carats_centi == cert.total_carats_centi
    assert not Parcel.objects.filter(holder=world.exporter, status="held").exists()
    trace = certificates.trace(officers["exp"], again.number)
    assert sum(rules.to_centi(o["carats"]) or 0 for o in trace["origins"]) == again.total_carats_centi
    assert {(o["country"], o["site"]["name"], o["carats"]) for o in trace["origins"]} == {
        ("BW", "Jwaneng", "120.50"), ("BW", "Lerala river", "7.25")}
    assert [s["type"] for s in trace["path"]] == [
        "export", "return", "export", "transfer", "transfer", "production", "production"]


def test_a_parcel_returns_once_and_the_statistics_follow_the_certificate(world: World,
                                                                         officers: dict[str, Any]) -> None:
    cancelled, rejected = issue(officers["exp"], stocked(world)[:1]), issue(officers["exp"], stocked(world)[:1])
    cancel(officers, cancelled)
    reject(officers, rejected)
    assert services.record_return("again", certificate=cancelled.number, status="cancelled", now=LATER) is None
    assert CustodyEvent.objects.filter(type="return").count() == 2
    exports = {f.period.label: f.carats for f in statistics.derived_facts(as_of=LATER.date())
               if f.flow == "export"}
    # a cancelled certificate is no export; a rejected shipment did leave the country (docs/decisions.md)
    assert list(exports) == ["2025-Q1"] and exports["2025-Q1"] == rejected.total_carats_centi / 100


def test_a_certificate_not_from_custody_returns_nothing(world: World, officers: dict[str, Any]) -> None:
    services.set_control(SYSTEM, "BW", FROM + dt.timedelta(days=1), False)
    cert = certificates.issue(officers["exp"], certificate_request(exporter={"licence": "BW-EXP-9"}), now=ISSUED)
    cancel(officers, cert)
    assert not CustodyEvent.objects.filter(type__in=("export", "return")).exists()


def test_a_failed_return_leaves_the_certificate_as_it_was(world: World, officers: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cert = issue(officers["exp"], stocked(world))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ValidationFailed("no return today", code="refused")

    monkeypatch.setattr(services, "record_return", refuse)
    with pytest.raises(ValidationFailed):
        cancel(officers, cert)
    assert Certificate.objects.get(pk=cert.pk).status == "issued"
    assert not AuditEntry.objects.filter(action="certificate.cancelled").exists()


def test_a_return_is_an_epcis_object_event_under_the_certificate(world: World, officers: dict[str, Any]) -> None:
    from tests.custody.test_epcis import assert_valid

    cert = issue(officers["exp"], stocked(world))
    cancel(officers, cert)
    doc = epcis.export_document(SYSTEM)
    assert_valid(doc)
    [back] = [e for e in doc["epcisBody"]["eventList"] if e["kpcs:eventType"] == "return"]
    assert (back["type"], back["action"], back["bizStep"], back["disposition"]) == (
        "ObjectEvent", "ADD", "unpacking", "returned")
    assert back["kpcs:certificateStatus"] == "cancelled"
    assert {t["bizTransaction"] for t in back["bizTransactionList"]} == {epcis.certificate_uri(cert.number)}
    returned = outputs(CustodyEvent.objects.get(type="return"))
    assert [q["epcClass"] for q in back["quantityList"]] == [epcis.parcel_uri("BW", p.pk) for p in returned]


def test_the_parcel_page_says_why_the_parcels_came_back(world: World, officers: dict[str, Any]) -> None:
    cert = issue(officers["exp"], stocked(world))
    reject(officers, cert)
    [first, *_] = outputs(CustodyEvent.objects.get(type="return"))
    page = client_for("custody@bw.test").get(f"/custody/parcels/{first.pk}").content.decode()
    assert f"Under certificate {cert.number}: the importing authority rejected the shipment" in page
    french = client_for("custody@bw.test").get(f"/custody/parcels/{first.pk}", headers={"Accept-Language": "fr"})
    assert escape("l'autorité d'importation a refusé l'envoi") in french.content.decode()
    assert selectors.trace(first)["path"][0]["type"] == "return"


@pytest.mark.django_db(transaction=True)
def test_confirmation_rejection_and_cancellation_racing_move_the_goods_once(world: World, make_user: Any,
                                                                            make_operator: Any) -> None:
    """Whichever wins, the goods move once: into the importer's stock, or back to the exporter's (INT-09)."""
    from tests.certificates.test_concurrency import race

    services.set_control(SYSTEM, "BW", FROM, True)
    services.set_control(SYSTEM, "EU", FROM, True)
    importer = make_operator("EU", "importer", "EU-IMP-1")  # "EU importer Ltd", as the certificate names it
    officers = {"exp": make_user("export@bw.test", "exporting_officer", "BW"),
                "imp": make_user("imp@eu.test", "importing_officer", "EU", "EU-BE-ANTWERP")}
    cert = issue(officers["exp"], stocked(world), now=clock.now())  # today: none of them refused as late
    number = cert.number
    actions: list[Callable[[], Any]] = [
        lambda: certificates.confirm(officers["imp"], number, {"parcels": 3, "carats": "127.75",
                                                               "seals_intact": True}),
        lambda: certificates.reject(officers["imp"], number, {"reason": "seal",
                                                              "discrepancy": {"kind": "seals_broken"}}),
        lambda: certificates.cancel(officers["exp"], number, {"reason": "withdrawn"})]
    results = race(9, lambda i: actions[i % 3]().status)
    wins = [r for kind, r in results if kind == "ok"]
    assert len(wins) == 1, results
    assert all(isinstance(r, Conflict) and r.code == "invalid_transition" for kind, r in results if kind == "error")
    moved = sorted(CustodyEvent.objects.filter(certificate=number).exclude(type="export").values_list(
        "type", flat=True))
    assert moved == (["import"] if wins == ["confirmed"] else ["return"])
    holder = importer.pk if wins == ["confirmed"] else world.exporter.pk
    assert sum(Parcel.objects.filter(holder_id=holder, status="held").values_list("carats_centi", flat=True)) == 12775
    assert audit.verify_chain()[1] is None


def test_the_scheduled_expiry_job_returns_the_parcels(world: World, officers: dict[str, Any]) -> None:
    """CERT-09's hourly job (`kpcs worker`) publishes the expiry like any other path: the parcels come back."""
    from kpcs.certificates import tasks

    cert = issue(officers["exp"], stocked(world))
    assert tasks.expire_due.call() == 1
    back = CustodyEvent.objects.get(type="return", certificate=cert.number)
    assert back.actor == tasks.WORKER.label and back.details["certificate_status"] == "expired"
    assert sum(p.carats_centi for p in outputs(back)) == cert.total_carats_centi
    assert [f for f in statistics.derived_facts(effective=False) if f.flow == "export"] == []


def test_the_return_over_http_in_the_ledger_and_the_parcels_trace(world: World, officers: dict[str, Any],
                                                                   api_as: Any) -> None:
    cert = issue(officers["exp"], stocked(world))
    cancel(officers, cert)
    api = api_as("custody@bw.test")
    book = api.get(f"/custody/operators/{world.exporter.pk}/ledger", **{"from": "2025-03-01", "to": "2025-03-31"})
    assert book.status_code == 200, book.content
    assert (book.json()["in"], book.json()["out"], book.json()["balanced"]) == (
        {"return": "127.75", "transfer": "127.75"}, {"export": "127.75"}, True)
    [first, *_] = outputs(CustodyEvent.objects.get(type="return"))
    trace = api.get(f"/parcels/{first.pk}/trace").json()
    assert [s["type"] for s in trace["path"]][:2] == ["return", "export"]
    assert trace["path"][0]["details"]["certificate_status"] == "cancelled"
    assert sum(rules.to_centi(o["carats"]) or 0 for o in trace["origins"]) == first.carats_centi
