"""The demo's chain of custody (issue 9 item 8, done when): from `kpcs demo`, the EU re-export traces back to the
mines of both countries with the right carat shares (CERT-10); selling more than a dealer holds is refused with
the figures (INT-09); a second run adds nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from kpcs import clock, demo
from kpcs.audit import services as audit
from kpcs.certificates.models import Certificate
from kpcs.custody import selectors
from kpcs.custody.models import CustodyEvent, Parcel, Site
from kpcs.registry.models import Operator
from tests.conftest import assert_error, path_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(kp: Any) -> str:
    demo._ensure_keys(clock.now())
    demo._ensure_users()
    demo._ensure_operators(demo.DEMO)
    for code in demo.CUSTODY_PARTICIPANTS:
        demo._grant(f"{code.lower()}.custody{demo.DEMO_DOMAIN}", "custody_officer", code)
    number = demo._ensure_custody(clock.now())
    assert number
    return number


def test_the_re_export_traces_back_to_both_countries_mines(chain: str, api_as: Any) -> None:
    cert = Certificate.objects.get(number=chain)
    assert (cert.exporting_participant_id, cert.importing_participant_id, cert.from_custody) == ("EU", "CH", True)
    api = api_as(demo._officer_email("EU"))
    found = api.get(path_of(chain) + "/trace").json()
    origins = [(o["country"], o["site"]["name"], o["carats"]) for o in found["origins"]]
    assert sorted(origins) == [("BW", "Motloutse river", "21.15"), ("BW", "Orapa", "310.50"),
                               ("ZA", "Venetia", "145.80")]
    total = sum(Decimal(o["carats"]) for o in found["origins"])
    assert total == Decimal(found["carats"]) == Decimal(cert.total_carats_centi) / 100
    assert api.get(path_of(chain)).json()["origin_countries"] == ["BW", "ZA"]
    types = [s["type"] for s in found["path"]]
    assert types.count("import") == 2 and types.count("production") == 3 and "merge" in types
    # BW's mixed certificate: mine and alluvial goods, confirmed into the EU importer's stock (IMP-02)
    bw = Certificate.objects.get(exporting_participant_id="BW", from_custody=True)
    assert bw.status == "confirmed"
    assert CustodyEvent.objects.filter(type="import", participant_id="EU").count() == 2
    assert audit.verify_chain()[1] is None


def test_selling_more_than_the_dealer_holds_is_409_with_the_figures(chain: str, api_as: Any) -> None:
    dealer = Operator.objects.get(participant_id="BW", licence="BW-DEA-0001")
    [kept] = Parcel.objects.filter(holder=dealer, status="held")
    exporter = Operator.objects.get(participant_id="BW", licence="BW-EXP-0001")
    before = CustodyEvent.objects.count()
    resp = api_as(f"bw.custody{demo.DEMO_DOMAIN}").post("/custody/events", {
        "type": "transfer", "parcels": [kept.pk], "seller": dealer.pk, "buyer": exporter.pk, "carats": "6.00",
        "invoice": "SDB-2026-0130", "warranty": demo.INVOICE_WARRANTY})
    error = assert_error(resp, 409, "insufficient_stock", "INT-09")
    assert error["details"] == {"parcel": kept.pk, "held": "5.20", "asked": "6.00", "rule": "INT-09"}
    assert CustodyEvent.objects.count() == before and Parcel.objects.get(pk=kept.pk).status == "held"


def test_a_second_run_adds_nothing_and_control_is_off_from_today(chain: str) -> None:
    counts = (Site.objects.count(), CustodyEvent.objects.count(), Certificate.objects.count())
    assert demo._ensure_custody(clock.now()) == chain
    assert (Site.objects.count(), CustodyEvent.objects.count(), Certificate.objects.count()) == counts
    today = clock.today()
    for code in demo.CUSTODY_PARTICIPANTS:
        assert not selectors.custody_required(code, today)
        assert selectors.custody_required(code, today - dt.timedelta(days=5))


def test_the_chain_as_epcis_packs_exports_into_their_certificate(chain: str, kp: Any) -> None:
    """Export and import events map too (an exported parcel is packed into the shipment its certificate covers,
    AggregationEvent; the importer's parcels are received under it), and the document stays valid EPCIS 2.0."""
    from kpcs.custody import epcis
    from tests.custody.test_epcis import assert_valid

    doc = epcis.export_document(kp.SYSTEM)
    assert_valid(doc)
    events = doc["epcisBody"]["eventList"]
    exports = [e for e in events if e["kpcs:eventType"] == "export"]
    imports = [e for e in events if e["kpcs:eventType"] == "import"]
    assert exports and imports and all(e["type"] == "AggregationEvent" for e in exports)
    shipped = {e["parentID"] for e in exports}
    received = {t["bizTransaction"] for e in imports for t in e["bizTransactionList"]}
    assert epcis.certificate_uri(chain) in shipped and received <= shipped  # one URI on both sides of a border
