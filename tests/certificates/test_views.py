"""The certificate pages with a browser's eyes: issue, list, read, cancel, look up, confirm and reject."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kpcs import clock
from kpcs.audit.models import AuditEntry
from kpcs.certificates import services
from kpcs.certificates.models import Certificate
from tests.conftest import certificate_request, client_for, code_of, path_of

pytestmark = pytest.mark.django_db



@pytest.fixture
def bw(bw_officer: Any) -> Client:
    return client_for("bw@test.kpcs")


@pytest.fixture
def eu(eu_officer: Any) -> Client:
    return client_for("eu@test.kpcs")


def issue_form(**overrides: Any) -> dict[str, Any]:
    """What an officer types into /certificates/new: two of the three line rows, the third left empty."""
    data = {
        "exporting_participant": "BW", "importing_participant": "EU", "exporter": "BW-EXP-1",
        "importer_name": "Y BV", "importer_address": "Hoveniersstraat 22, Antwerp", "origin": "BW",
        "origin_countries": "", "type": "standard", "expires_on": "",
        "totals_carats": "", "totals_value_usd": "", "totals_parcels": "",
        "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "3",
        "lines-MAX_NUM_FORMS": "100",
        "lines-0-hs_code": "7102.31", "lines-0-carats": "1250.40", "lines-0-value_usd": "1875600.00",
        "lines-0-parcels": "3",
        "lines-1-hs_code": "7102.21", "lines-1-carats": "400.00", "lines-1-value_usd": "12000.00",
        "lines-1-parcels": "1",
        "lines-2-hs_code": "", "lines-2-carats": "", "lines-2-value_usd": "", "lines-2-parcels": "",
    }
    data.update(overrides)
    return data


# --- issuing -------------------------------------------------------------------------------------

def test_the_issue_form_offers_the_scope(bw: Client, make_operator: Any) -> None:
    make_operator("BW", "exporter", "BW-EXP-OLD", valid_until=dt.date(2001, 1, 1))
    page = bw.get("/certificates/new").content.decode()
    assert page.count('name="lines-') >= 12 and 'value="7102.31"' in page  # 3 rows × 4 fields
    assert 'value="BW-EXP-1"' in page and "BW-EXP-OLD" not in page  # only valid exporter licences
    assert 'value="EU"' in page and '<option value="BW"' not in page


def test_issue_through_the_form(bw: Client) -> None:
    resp = bw.post("/certificates/new", issue_form())
    assert resp.status_code == 302 and resp["Location"] == "/certificates/BW%200000001", resp.content.decode()[:3000]
    cert = Certificate.objects.get()
    assert cert.total_parcels == 4 and cert.lines.count() == 2  # the empty row was ignored
    page = bw.get(resp["Location"]).content.decode()
    assert "BW 0000001 issued and signed" in page and code_of(cert) in page
    assert "Hoveniersstraat 22, Antwerp" in page and "1650.40" in page and "BW-KPA" in page
    assert 'href="/certificates/BW%200000001.pdf"' in page
    assert AuditEntry.objects.get(action="certificate.issued").actor == "bw@test.kpcs (web)"


def test_more_rows_keep_what_was_typed(bw: Client) -> None:
    resp = bw.post("/certificates/new", issue_form(more_lines="1"))
    page = resp.content.decode()
    assert resp.status_code == 200 and 'name="lines-3-hs_code"' in page and 'value="1250.40"' in page
    assert not Certificate.objects.exists()


def test_a_refusal_is_shown_beside_its_field_and_nothing_is_written(bw: Client, kp: Any) -> None:
    entries = AuditEntry.objects.count()
    cases = [
        ({"origin": "XX"}, "CERT-10", 'value="XX"'),
        ({"lines-1-carats": "12.345"}, "CERT-02", 'value="12.345"'),
        ({"totals_carats": "1.00"}, "CERT-02", 'value="1.00"'),
        ({"importing_participant": "CF"} if kp.status_on("CF", clock.today()).status != "active"
         else {"importing_participant": "EU", "exporter": "NOPE"}, None, 'value="Y BV"'),
    ]
    for overrides, rule, kept in cases:
        resp = bw.post("/certificates/new", issue_form(**overrides))
        page = resp.content.decode()
        assert resp.status_code == 422, overrides
        assert "has-error" in page and "nothing was recorded" in page, overrides
        if rule:
            assert f"{rule}: " in page, overrides
        assert kept in page, overrides
    assert not Certificate.objects.exists() and AuditEntry.objects.count() == entries


def test_the_origin_refusal_sits_in_the_origin_field(bw: Client) -> None:
    page = bw.post("/certificates/new", issue_form(origin="XX")).content.decode()
    origin_field = page.split('for="id_origin"')[1].split("</div>")[0]
    assert "CERT-10: origin &#x27;XX&#x27; is not an ISO 3166-1 alpha-2" in origin_field


def test_a_line_refusal_sits_in_its_row(bw: Client) -> None:
    page = bw.post("/certificates/new", issue_form(**{"lines-1-carats": "abc"})).content.decode()
    row = page.split('name="lines-1-carats"')[1].split("</td>")[0]
    assert "CERT-02: lines[1].carats" in row


# --- reading -------------------------------------------------------------------------------------

def test_the_list_filters_and_pages(bw_officer: Any, bw: Client, make_user: Any) -> None:
    make_user("bw@test.kpcs", "exporting_officer", "BW")
    for _ in range(27):
        services.issue(bw_officer, certificate_request())
    services.issue(bw_officer, certificate_request(importing_participant="ZA"))
    page = bw.get("/certificates/").content.decode()
    assert "Page 1 of 2" in page and 'href="/certificates/BW%200000028"' in page
    second = bw.get("/certificates/", {"page": 2}).content.decode()
    assert second.count('href="/certificates/BW%20') == 3
    za = bw.get("/certificates/", {"participant": "za"}).content.decode()
    assert "BW 0000028" in za and "BW 0000027" not in za
    services.cancel(bw_officer, "BW 0000001", {"reason": "postponed"})
    cancelled = bw.get("/certificates/", {"status": "cancelled"}).content.decode()
    assert "BW 0000001" in cancelled and "BW 0000002" not in cancelled
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    assert "No certificate matches" in bw.get("/certificates/", {"issued_from": tomorrow}).content.decode()
    assert "No certificate matches" in bw.get("/certificates/", {"overdue": "on"}).content.decode()


def test_overdue_certificates_are_found(bw_officer: Any, bw: Client) -> None:
    now = clock.now() - dt.timedelta(days=30)
    services.issue(bw_officer, certificate_request(), now=now)
    page = bw.get("/certificates/", {"overdue": "on"}).content.decode()
    assert "BW 0000001" in page and "confirmation overdue" in page


def test_the_list_reads_a_fixed_number_of_queries(bw_officer: Any, bw: Client) -> None:
    services.issue(bw_officer, certificate_request())
    bw.get("/certificates/")  # warm the registry snapshot and the session
    with CaptureQueriesContext(connection) as one:
        bw.get("/certificates/")
    for _ in range(10):
        services.issue(bw_officer, certificate_request())
    with CaptureQueriesContext(connection) as eleven:
        page = bw.get("/certificates/").content.decode()
    assert "BW 0000011" in page
    assert len(eleven) == len(one), [q["sql"] for q in eleven.captured_queries]


def test_the_certificate_page_shows_the_annex_elements_and_history(issued: Any, bw: Client) -> None:
    page = bw.get(path_of(issued.number)).content.decode()
    for text in ("Kimberley Process Certificate", "have been handled in accordance", "BW 0000001", code_of(issued),
                 "BW exporter Ltd", "BW-EXP-1", "Y BV", "7102.31", "1875600.00", "1887600.00", "BW-KPA",
                 issued.expires_on.isoformat(), "issued", "bw@test.kpcs"):
        assert text in page, text
    assert bw.get("/certificates/bw0000001").status_code == 302  # as typed: sent to the canonical address


def test_another_participants_certificate_is_the_same_404(issued: Any, make_user: Any) -> None:
    make_user("za@test.kpcs", "exporting_officer", "ZA")
    za = client_for("za@test.kpcs")
    theirs = za.get(path_of(issued.number))
    unknown = za.get(path_of("ZA 0000999"))
    assert theirs.status_code == unknown.status_code == 404
    assert za.post(path_of(issued.number) + "/cancel", {"reason": "x"}).status_code == 404


def test_who_may_open_the_pages(issued: Any, make_user: Any) -> None:
    anonymous = Client().get(path_of(issued.number))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/?next=/certificates/")
    make_user("wgs@test.kpcs", "wgs_analyst")
    wgs = client_for("wgs@test.kpcs")
    for url in ("/certificates/", "/certificates/new", "/certificates/arrivals", path_of(issued.number)):
        assert wgs.get(url).status_code == 403, url
    make_user("eu-in@test.kpcs", "importing_officer", "EU", "EU-BE-ANTWERP")
    assert client_for("eu-in@test.kpcs").get("/certificates/new").status_code == 403


def test_the_pdf_address_is_not_taken_by_the_certificate_page(issued: Any, bw: Client) -> None:
    from django.urls import Resolver404, resolve

    try:
        match = resolve("/certificates/BW 0000001.pdf")
    except Resolver404:
        return
    assert match.url_name != "certificate_page"


# --- cancelling ----------------------------------------------------------------------------------

def test_cancel_with_a_confirmation_step(issued: Any, bw: Client) -> None:
    page = bw.get(path_of(issued.number)).content.decode()
    assert "/certificates/BW%200000001/cancel" in page
    step = bw.get(path_of(issued.number) + "/cancel")
    assert step.status_code == 200 and "Cancel certificate BW 0000001?" in step.content.decode()
    assert bw.post(path_of(issued.number) + "/cancel", {"reason": " "}).status_code == 422
    done = bw.post(path_of(issued.number) + "/cancel", {"reason": "shipment postponed"})
    assert done.status_code == 302
    page = bw.get(done["Location"]).content.decode()
    assert "BW 0000001 cancelled" in page and "shipment postponed" in page
    assert AuditEntry.objects.get(action="certificate.cancelled").actor == "bw@test.kpcs (web)"
    again = bw.post(path_of(issued.number) + "/cancel", {"reason": "twice"})
    assert again.status_code == 409 and "cannot be cancelled" in again.content.decode()


def test_the_importing_side_may_not_cancel(issued: Any, eu: Client) -> None:
    page = eu.get(path_of(issued.number)).content.decode()
    assert "/cancel" not in page and 'action="/certificates/BW%200000001/confirm"' in page
    assert eu.post(path_of(issued.number) + "/cancel", {"reason": "x"}).status_code == 403


# --- arrivals ------------------------------------------------------------------------------------

def test_look_up_by_number_and_code(issued: Any, eu: Client) -> None:
    page = eu.get("/certificates/arrivals", {"number": "BW0000001", "code": code_of(issued)}).content.decode()
    assert "genuine and usable" in page and 'action="/certificates/BW%200000001/confirm"' in page
    assert "Awaiting confirmation" in page and 'href="/certificates/BW%200000001"' in page
    wrong = eu.get("/certificates/arrivals", {"number": "BW0000001", "code": "AAAAAAAAAA"})
    assert wrong.status_code == 404 and "no certificate has this number" in wrong.content.decode()


def test_look_up_by_the_pasted_signed_document(issued: Any, eu: Client) -> None:
    page = eu.post("/certificates/arrivals", {"presented": issued.jws}).content.decode()
    assert "genuine and usable" in page and "/confirm" in page
    head, body, signature = issued.jws.split(".")
    forged = eu.post("/certificates/arrivals", {"presented": f"{head}.{body}.{signature[:-4]}AAAA"})
    assert "NOT genuine" in forged.content.decode() and "/confirm" not in forged.content.decode()


def test_not_addressed_to_the_viewer(issued: Any, make_user: Any) -> None:
    make_user("za-in@test.kpcs", "importing_officer", "ZA")
    page = client_for("za-in@test.kpcs").post("/certificates/arrivals", {"presented": issued.jws}).content.decode()
    assert "not addressed to your participant" in page and "/confirm" not in page


def test_confirm_receipt_from_the_page(issued: Any, eu: Client) -> None:
    today = clock.today().isoformat()
    refused = eu.post(path_of(issued.number) + "/confirm",
                      {"received_on": today, "parcels": "4", "carats": "1650.40", "seals_intact": "no"})
    assert refused.status_code == 422 and "IMP-05: seals are broken" in refused.content.decode()
    resp = eu.post(path_of(issued.number) + "/confirm",
                   {"received_on": today, "parcels": "4", "carats": "1650.00", "seals_intact": "yes"})
    assert resp.status_code == 302
    page = eu.get(resp["Location"]).content.decode()
    assert "Receipt of BW 0000001 confirmed" in page and "1650.00 carats found" in page
    assert "declared 1650.40, found 1650.00" in page
    assert AuditEntry.objects.get(action="certificate.confirmed").actor == "eu@test.kpcs (web)"
    twice = eu.post(path_of(issued.number) + "/confirm",
                    {"received_on": today, "parcels": "4", "carats": "1650.40", "seals_intact": "yes"})
    assert twice.status_code == 409 and "cannot be confirmed" in twice.content.decode()


def test_reject_from_the_page(issued: Any, eu: Client, bw: Client) -> None:
    refused = eu.post(path_of(issued.number) + "/reject", {"kind": "content_mismatch", "reason": "short"})
    assert refused.status_code == 422 and "IMP-08: a content mismatch needs the figures found" in \
        refused.content.decode()
    resp = eu.post(path_of(issued.number) + "/reject",
                   {"kind": "content_mismatch", "reason": "one parcel missing", "found_parcels": "3"})
    assert resp.status_code == 302
    assert AuditEntry.objects.get(action="certificate.rejected").actor == "eu@test.kpcs (web)"
    page = bw.get(path_of(issued.number)).content.decode()  # the exporting side sees what was found
    assert "one parcel missing" in page and "parcels 3" in page and "rejected" in page


def test_exporting_officers_cannot_confirm(issued: Any, bw: Client) -> None:
    assert bw.post(path_of(issued.number) + "/confirm", {}).status_code == 403
    assert bw.get(path_of(issued.number) + "/confirm").status_code == 405



# --- French --------------------------------------------------------------------------------------

def test_the_pages_in_french(issued: Any, bw: Client, eu: Client) -> None:
    page = bw.get(path_of(issued.number), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Certificat BW 0000001" in page and "Code de vérification" in page and "Historique" in page
    form = bw.get("/certificates/new", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Participant importateur" in form and "Valeur en dollars US" in form
    arrivals = eu.get("/certificates/arrivals", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "En attente de confirmation" in arrivals


def test_the_menu_marks_only_the_page_opened(bw: Client) -> None:
    page = bw.get("/certificates/new").content.decode()
    assert page.count('aria-current="page"') == 1 and 'href="/certificates/new" aria-current="page"' in page
