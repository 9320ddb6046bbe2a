"""The statistics pages: public statistics and their CSV, the participants page, the officer's desk (own
participant only), production submissions, the exchange-file upload (all or nothing), French."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kpcs.audit.models import AuditEntry
from kpcs.registry.services import Actor, Grant
from kpcs.statistics import rules
from kpcs.statistics import services as statistics
from kpcs.statistics.models import Batch, Figure
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
NODE = Actor("node", grants=(Grant("admin", None, None),))
HEADER = ",".join(rules.COLUMNS)
ROWS = ["2023,BW,production,,,,20000000.00,3000000000.00,",
        "2024,BW,production,,,,18000000.00,2880000000.00,",
        "2024,BW,export,EU,BW,7102.31,1000000.00,150000000.00,40",
        "2024,BW,export,AE,BW,7102.31,500000.00,100000000.00,10",
        "2024,ZA,production,,,,9000000.00,1000000000.00,"]


def load(*lines: str) -> None:
    statistics.import_csv(("\n".join((HEADER, *lines)) + "\n").encode(), actor=NODE, filename="t.csv")


def signed_in(make_user: Any, email: str, role: str, participant: str | None = None) -> Client:
    make_user(email, role, participant)
    return client_for(email)


@pytest.fixture
def figures(kp: Any) -> None:
    load(*ROWS)


def test_public_statistics_by_participant_and_year(figures: None) -> None:
    client = Client()
    page = client.get("/statistics", {"participant": "BW"}).content.decode()
    assert "Botswana" in page and 'role="img"' in page and "<desc" in page
    assert "18,000,000.00" in page and "160.00" in page  # carats and US$/ct of 2024 production
    assert "1,500,000.00" in page and "166.67" in page  # exports of 2024: 1.5 Mct at US$ 250M
    year = client.get("/statistics", {"year": "2024"}).content.decode()
    assert "ZA" in year and "9,000,000.00" in year and "<svg" in year
    assert "7102.31" not in page and "AE" not in page.split("<main")[1].split("Participant")[0]


def test_public_statistics_csv_has_a_header_and_only_annual_totals(figures: None) -> None:
    resp = Client().get("/statistics.csv", {"participant": "BW"})
    assert resp.status_code == 200 and resp["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8"))))
    assert rows[0][:4] == ["participant", "year", "production_carats", "production_usd"]
    assert rows[1:] == [["BW", "2023", "20000000.00", "3000000000.00", "150.00", "", "", "", "", "", ""],
                        ["BW", "2024", "18000000.00", "2880000000.00", "160.00", "1500000.00", "250000000.00",
                         "166.67", "", "", ""]]
    assert "EU" not in resp.content.decode() and "7102" not in resp.content.decode()  # no partner, no HS code
    same = Client().get("/statistics", {"participant": "BW", "format": "csv"})
    assert same.content == resp.content


def test_bad_filters_are_clear_messages_not_errors(figures: None) -> None:
    client = Client()
    year = client.get("/statistics", {"year": "99999"})
    assert year.status_code == 400 and "99999 is not a year" in year.content.decode()
    unknown = client.get("/statistics", {"participant": "QQ"})
    assert unknown.status_code == 404 and "QQ is not a participant" in unknown.content.decode()
    assert client.get("/statistics.csv", {"participant": "Q1"}).status_code == 400


def test_public_pages_are_rate_limited(figures: None, settings: Any) -> None:
    settings.KPCS_RATE_PUBLIC = 6
    client = Client(REMOTE_ADDR="203.0.113.9")
    codes = [client.get("/participants").status_code for _ in range(8)]
    assert codes[0] == 200 and codes[-1] == 429


def test_participants_page_lists_statuses_and_non_reporting(figures: None) -> None:
    page = Client().get("/participants").content.decode()
    assert "Botswana" in page and 'class="badge ok"' in page and "Participants that have not reported" in page
    assert "Trade (quarterly)" in page  # BW and ZA reported 2024 only: later quarters are missing


def test_desk_shows_own_participant_and_refuses_another(figures: None, make_user: Any) -> None:
    client = signed_in(make_user, "stats@bw.test.kpcs", "statistics_officer", "BW")
    page = client.get("/statistics/desk")
    text = page.content.decode()
    assert page.status_code == 200 and "Statistics of Botswana (BW)" in text
    assert "AE" in text and "166.67" in text and "Reporting obligations" in text and "Submit production" in text
    assert client.get("/statistics/desk", {"participant": "ZA"}).status_code == 403
    assert client.get("/statistics/desk", {"year": "99999"}).status_code == 400
    assert client.get("/statistics/import").status_code == 403


def test_analyst_chooses_a_participant(figures: None, make_user: Any) -> None:
    client = signed_in(make_user, "wgs@test.kpcs", "wgs_analyst")
    assert "Choose a participant" in client.get("/statistics/desk").content.decode()
    page = client.get("/statistics/desk", {"participant": "za"}).content.decode()
    assert "South Africa" in page and "Submit production" not in page
    assert client.get("/statistics/desk", {"participant": "QQ"}).status_code == 404


def test_signed_out_people_are_sent_to_sign_in(kp: Any) -> None:
    resp = Client().get("/statistics/desk")
    assert resp.status_code == 302 and resp["Location"].startswith("/login/?next=/statistics/desk")


def test_production_submission_and_a_refusal_beside_its_field(figures: None, make_user: Any) -> None:
    client = signed_in(make_user, "stats@bw.test.kpcs", "statistics_officer", "BW")
    ok = client.post("/statistics/production", {"participant": "BW", "period": "2025-H1", "carats": "11000000.00",
                                                "usd": "1650000000.00"}, follow=True)
    assert ok.status_code == 200 and "Production for 2025-H1 recorded (revision 1)" in ok.content.decode()
    assert Figure.objects.filter(participant="BW", period="2025-H1", source="submitted").count() == 1
    assert AuditEntry.objects.filter(action="production.submitted", actor__startswith="stats@bw.test.kpcs").exists()
    bad = client.post("/statistics/production", {"participant": "BW", "period": "2025-Q1", "carats": "1.00"})
    text = bad.content.decode()
    assert bad.status_code == 422 and 'class="field has-error"' in text
    field = text.split('for="id_period"')[1].split("</div>")[0]
    assert "production is reported per half-year" in field
    wrong = client.post("/statistics/production", {"participant": "BW", "period": "2025-H2", "carats": "12,5"})
    assert wrong.status_code == 422 and "is not a non-negative decimal" in wrong.content.decode().split(
        'for="id_carats"')[1].split("</div>")[0]
    other = client.post("/statistics/production", {"participant": "ZA", "period": "2025-H1", "carats": "1.00"})
    assert other.status_code == 403


def _upload(client: Client, text: str) -> Any:
    return client.post("/statistics/import", {"file": SimpleUploadedFile("q.csv", text.encode(), "text/csv")},
                       follow=True)


def test_exchange_file_upload_is_all_or_nothing(kp: Any, make_user: Any) -> None:
    client = signed_in(make_user, "wgs@test.kpcs", "wgs_analyst")
    bad = _upload(client, "\n".join((HEADER, ROWS[0], "2024,BW,export,EU,BW,7102.31,12.345,10.00,1")) + "\n")
    text = bad.content.decode()
    assert bad.status_code == 422 and "Nothing was imported" in text
    assert "Row 3, column carats" in text and "12.345" in text
    assert Batch.objects.count() == 0 and Figure.objects.count() == 0
    good = _upload(client, "\n".join((HEADER, *ROWS)) + "\n")
    assert good.status_code == 200 and "5 rows imported from q.csv" in good.content.decode()
    assert Figure.objects.count() == 5
    assert AuditEntry.objects.filter(action="statistics.imported", actor__startswith="wgs@test.kpcs").exists()


def test_french_statistics_pages(figures: None) -> None:
    page = Client().get("/statistics", {"participant": "BW"}, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'lang="fr"' in page and "Exportations" in page and "18\xa0000\xa0000,00" in page
    assert "Participants du Processus de Kimberley" in Client().get(
        "/participants", HTTP_ACCEPT_LANGUAGE="fr").content.decode()


def test_desk_shows_customs_figures_beside_the_kp_values(figures: None, make_user: Any) -> None:
    statistics.import_customs(b"year,reporter,iso2,flow,hs6,usd\n2024,Botswana,BW,export,710231,1000000000\n"
                              b"2024,Botswana,BW,export,710221,500000000\n", actor=NODE, filename="trade.csv")
    client = signed_in(make_user, "stats@bw.test.kpcs", "statistics_officer", "BW")
    text = client.get("/statistics/desk", {"year": "2024"}).content.decode()
    assert "Customs figures (HS 7102)" in text and "1,500,000,000.00" in text and "trade.csv" in text
    assert "Customs figures" not in client.get("/statistics/desk", {"year": "2023"}).content.decode()
    french = client.get("/statistics/desk", {"year": "2024"}, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Données douanières (SH 7102)" in french and "Écart (%)" in french
