"""The printable certificate: GET /certificates/{number}.pdf (CERT-02, CERT-04) and its QR code.

- who may download it: exactly who may read the certificate over the API (session or bearer token);
- what it states: the number, the verification code, every Annex I element it holds, the confirmation part;
- its QR code, read back from the rendered page, verifies offline against the trust list, also through the real
  `kpcs certificate verify` (slow).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pypdf import PdfReader

from kpcs.certificates import pdf, rules, services
from kpcs.certificates.models import Certificate
from tests.conftest import PASSWORD, certificate_request, code_of

pytestmark = pytest.mark.django_db


def pdf_path(number: str) -> str:
    return "/certificates/" + number.replace(" ", "%20") + ".pdf"


def signed_in(email: str) -> Client:
    """Signed in through the sign-in page, as a person is (django-axes wants the request)."""
    client = Client()
    assert client.post("/login/", {"username": email, "password": PASSWORD}).status_code == 302
    return client


def text_of(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).split())


def qr_of(content: bytes) -> str:
    """Render the first page as a scanner would see it and read its QR code."""
    import pypdfium2
    import zxingcpp

    page = pypdfium2.PdfDocument(content)[0]
    image = page.render(scale=300 / 72).to_pil()  # 300 dpi: what a desk scanner or a good phone photo gives
    found = [b for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(found) == 1, found
    return str(found[0].text)


# --- who may download it ---------------------------------------------------------------------------

def test_the_exporting_officer_downloads_it_signed_in(issued: Any) -> None:
    resp = signed_in("bw@test.kpcs").get(pdf_path(issued.number))
    assert resp.status_code == 200, resp.content[:300]
    assert resp["Content-Type"] == "application/pdf"
    assert resp["Content-Disposition"] == 'inline; filename="BW-0000001.pdf"'
    assert "no-store" in resp["Cache-Control"]
    assert resp.content.startswith(b"%PDF")


def test_the_importing_side_and_an_analyst_may_download_it_too(issued: Any, eu_officer: Any,
                                                                make_user: Any) -> None:
    make_user("analyst@test.kpcs", "kp_analyst")
    for email in ("eu@test.kpcs", "analyst@test.kpcs"):
        assert signed_in(email).get(pdf_path(issued.number)).status_code == 200, email


def test_a_bearer_token_downloads_it(issued: Any, token_for: Any) -> None:
    resp = Client().get(pdf_path(issued.number), headers={"Authorization": f"Bearer {token_for('bw@test.kpcs')}"})
    assert resp.status_code == 200 and resp.content.startswith(b"%PDF")


def test_another_participant_gets_404_as_over_the_api(issued: Any, make_user: Any, token_for: Any) -> None:
    make_user("za@test.kpcs", "importing_officer", "ZA")
    assert signed_in("za@test.kpcs").get(pdf_path(issued.number)).status_code == 404
    resp = Client().get(pdf_path(issued.number), headers={"Authorization": f"Bearer {token_for('za@test.kpcs')}"})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    # the same answer as for a number that does not exist: no existence oracle
    assert signed_in("za@test.kpcs").get(pdf_path("BW 0009999")).status_code == 404


def test_a_role_that_reads_no_certificates_gets_403(issued: Any, make_user: Any, token_for: Any) -> None:
    make_user("admin@test.kpcs", "admin")
    assert signed_in("admin@test.kpcs").get(pdf_path(issued.number)).status_code == 403
    resp = Client().get(pdf_path(issued.number), headers={"Authorization": f"Bearer {token_for('admin@test.kpcs')}"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"


def test_signed_out_is_sent_to_sign_in_and_a_wrong_token_is_401(issued: Any) -> None:
    resp = Client().get(pdf_path(issued.number))
    assert resp.status_code == 302 and resp["Location"] == "/login/?next=/certificates/BW%25200000001.pdf"
    for header in ("Bearer not-a-token", "Basic dXNlcjpwYXNz"):
        resp = Client().get(pdf_path(issued.number), headers={"Authorization": header})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated", header


def test_only_get_and_head(issued: Any) -> None:
    client = signed_in("bw@test.kpcs")
    assert client.post(pdf_path(issued.number)).status_code == 405
    assert client.head(pdf_path(issued.number)).status_code == 200


def test_the_number_may_be_written_as_the_file_name(issued: Any) -> None:
    resp = signed_in("bw@test.kpcs").get("/certificates/BW-0000001.pdf")
    assert resp.status_code == 200 and resp["Content-Disposition"] == 'inline; filename="BW-0000001.pdf"'


def test_token_downloads_count_against_the_token_rate(issued: Any, token_for: Any, settings: Any) -> None:
    from kpcs import ratelimit

    settings.KPCS_RATE_TOKEN = 6  # a burst of 5
    ratelimit._limiters.clear()
    headers = {"Authorization": f"Bearer {token_for('bw@test.kpcs')}"}
    statuses = [Client().get(pdf_path(issued.number), headers=headers).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429
    ratelimit._limiters.clear()


# --- what it states ------------------------------------------------------------------------------

def test_it_states_every_annex_i_element_and_the_verification_code(issued: Any, bw_officer: Any) -> None:
    _, content = services.certificate_pdf(bw_officer, issued.number)
    text = text_of(content)
    for expected in (rules.TITLE, "Certificat du Processus de Kimberley", issued.number, code_of(issued),
                     " ".join(rules.STATEMENT.split()), "Botswana",  # the issuing authority's name
                     "BW exporter Ltd", "1 Main Road, BW", "BW-EXP-1", "Y BV", "Hoveniersstraat 22, Antwerp",
                     "Country of origin", "7102.31", "7102.21", "1250.40", "1875600.00", "400.00", "12000.00",
                     "1650.40", "1887600.00", issued.issued_on.isoformat(), issued.expires_on.isoformat(),
                     issued.kid, "Validation by the exporting authority", "Import confirmation", "Date of receipt",
                     "Code de vérification", "ISSUED"):
        assert expected in text, expected
    assert re.search(r"Parcels / Colis.*Shipment total 1650\.40 1887600\.00 4", text), text


def test_a_confirmed_certificate_shows_the_recorded_confirmation(issued: Any, eu_officer: Any,
                                                                 bw_officer: Any) -> None:
    services.confirm(eu_officer, issued.number, {"received_on": issued.issued_on.isoformat(), "parcels": 4,
                                                 "carats": "1650.40", "seals_intact": True})
    text = text_of(services.certificate_pdf(bw_officer, issued.number)[1])
    assert "CONFIRMED" in text and "EU-BE-ANTWERP" in text and "eu@test.kpcs" in text
    assert "4 parcel(s), 1650.40 ct; seals intact" in text


def test_names_outside_latin_1_are_folded_not_crashed_on(bw_officer: Any) -> None:
    cert = services.issue(bw_officer, certificate_request(importer={"name": "Łódź Ślęża 北京 Sàrl",
                                                                    "address": "Rue de l'Hôpital 3, Genève"}))
    text = text_of(services.certificate_pdf(bw_officer, cert.number)[1])
    assert "Lódz Sleza ?? Sàrl" in text and "Rue de l'Hôpital 3, Genève" in text
    assert pdf.latin1("Œuvre – “quoted” ☃") == "OEuvre ? ?quoted? ?"


def test_a_certificate_issued_before_the_qr_form_still_prints(issued: Any, bw_officer: Any) -> None:
    Certificate.objects.filter(pk=issued.pk).update(qr=None)
    text = text_of(services.certificate_pdf(bw_officer, issued.number)[1])
    assert "No QR code" in text and code_of(issued) in text


def test_a_hundred_lines_run_over_pages(bw_officer: Any) -> None:
    line = {"hs_code": "7102.31", "carats": "1.00", "value_usd": "10.00", "parcels": 1}
    cert = services.issue(bw_officer, certificate_request(lines=[line] * 100))
    content = services.certificate_pdf(bw_officer, cert.number)[1]
    assert len(PdfReader(io.BytesIO(content)).pages) >= 3
    assert text_of(content).count("7102.31 1.00 10.00 1") == 100
    assert "Shipment total 100.00 1000.00 100" in text_of(content)


# --- its QR code --------------------------------------------------------------------------------

def test_the_printed_qr_code_reads_back_and_verifies_offline(issued: Any, bw_officer: Any, kp: Any) -> None:
    from kpcs.registry import rules as registry_rules

    scanned = qr_of(services.certificate_pdf(bw_officer, issued.number)[1])
    assert scanned == issued.qr
    listed = registry_rules.check_trust_list(kp.trust_list(), kp.anchor()["anchor"])
    result = rules.verify_signed(scanned, listed.keys.get)
    assert result.genuine and result.form == "qr", result.reasons
    assert result.payload["number"] == issued.number


@pytest.mark.slow
def test_the_printed_qr_code_verifies_through_the_cli(issued: Any, bw_officer: Any, kp: Any,
                                                      tmp_path: Path) -> None:
    """Print, scan, verify offline with `kpcs certificate verify` against the exported trust list and anchor."""
    from tests.e2e.support import kpcs, node_env, words

    scanned = qr_of(services.certificate_pdf(bw_officer, issued.number)[1])
    (tmp_path / "scanned.txt").write_text(scanned + "\n")
    (tmp_path / "trust-list.json").write_text(json.dumps(kp.trust_list()))
    forged = scanned[:-2] + ("00" if scanned[-2:] != "00" else "11")
    (tmp_path / "forged.txt").write_text(forged)
    env = node_env(tmp_path / "data", f"sqlite:///{tmp_path / 'unused.sqlite3'}")  # offline: no node is read
    verify = ("certificate", "verify", "--trust-list", str(tmp_path / "trust-list.json"),
              "--anchor", kp.anchor()["anchor"])
    genuine = kpcs(env, *verify, str(tmp_path / "scanned.txt"))
    assert genuine.returncode == 0, genuine.stdout + genuine.stderr
    out = words(genuine.stdout)
    assert f"GENUINE {issued.number}" in out and "NOT GENUINE" not in out
    assert "verification code as printed on the document" in out
    refused = kpcs(env, *verify, str(tmp_path / "forged.txt"))
    assert refused.returncode == 1 and "NOT GENUINE" in refused.stdout, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
