"""The operators' pages: list with filters and paging, registration through the registry's service."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from kpcs.audit.models import AuditEntry
from kpcs.registry.models import Operator
from tests.conftest import client_for

pytestmark = pytest.mark.django_db



@pytest.fixture
def bw(bw_officer: Any) -> Client:
    return client_for("bw@test.kpcs")


def register(**overrides: Any) -> dict[str, Any]:
    return {"participant": "BW", "name": "Gaborone Rough Ltd", "address": "Plot 5, Gaborone", "kind": "exporter",
            "licence": "BW-EXP-0042", "valid_from": "2026-01-01", "valid_until": "", "nationality": "", **overrides}


def test_the_list_shows_each_licence_and_its_validity(bw: Client, make_operator: Any) -> None:
    make_operator("BW", "importer", "BW-IMP-OLD", valid_from=dt.date(2001, 1, 1), valid_until=dt.date(2002, 1, 1))
    make_operator("BW", "dealer", "BW-DEA-NEW", valid_from=dt.date(2999, 1, 1))
    make_operator("ZA", "exporter", "ZA-EXP-1")
    page = bw.get("/operators/").content.decode()
    assert "BW-EXP-1" in page and "BW-IMP-OLD" in page and "BW-DEA-NEW" in page
    assert "ZA-EXP-1" not in page  # another participant's operators
    assert "expired" in page and "not yet valid" in page and "2001-01-01 to 2002-01-01" in page
    only_importers = bw.get("/operators/", {"kind": "importer"}).content.decode()
    assert "BW-IMP-OLD" in only_importers and "BW-EXP-1" not in only_importers
    valid_today = bw.get("/operators/", {"valid_on": dt.date.today().isoformat()}).content.decode()
    assert "BW-EXP-1" in valid_today and "BW-IMP-OLD" not in valid_today and "BW-DEA-NEW" not in valid_today


def test_the_list_pages(bw: Client, make_operator: Any) -> None:
    for i in range(30):
        make_operator("BW", "dealer", f"BW-DEA-{i:03d}")
    first = bw.get("/operators/", {"kind": "dealer"}).content.decode()
    assert "Page 1 of 2" in first and "kind=dealer&amp;page=2" in first
    second = bw.get("/operators/", {"kind": "dealer", "page": 2}).content.decode()
    assert "Page 2 of 2" in second and second.count("BW-DEA-") == 5


def test_register_an_operator(bw: Client) -> None:
    assert bw.get("/operators/new").status_code == 200
    resp = bw.post("/operators/new", register())
    assert resp.status_code == 302 and resp["Location"] == "/operators/?participant=BW"
    op = Operator.objects.get(licence="BW-EXP-0042")
    assert op.name == "Gaborone Rough Ltd"
    entry = AuditEntry.objects.get(action="operator.registered", object_id=str(op.pk))
    assert entry.actor == "bw@test.kpcs (web)"
    assert "Gaborone Rough Ltd registered" in bw.get(resp["Location"]).content.decode()


def test_a_refused_registration_keeps_what_was_typed(bw: Client) -> None:
    resp = bw.post("/operators/new", register(valid_until="2025-01-01", name="Kept Name Ltd"))
    page = resp.content.decode()
    assert resp.status_code == 422 and "valid_until is before valid_from" in page and 'value="Kept Name Ltd"' in page
    duplicate = bw.post("/operators/new", register(licence="BW-EXP-1"))
    assert duplicate.status_code == 409 and "already registered" in duplicate.content.decode()
    missing = bw.post("/operators/new", register(name=""))
    assert missing.status_code == 422
    assert not Operator.objects.filter(licence="BW-EXP-0042").exists()
    other = bw.post("/operators/new", register(participant="ZA"))
    assert other.status_code == 422 and not Operator.objects.filter(participant_id="ZA").exists()


def test_who_may_open_the_pages(make_user: Any) -> None:
    assert Client().get("/operators/").status_code == 302
    make_user("wgs@test.kpcs", "wgs_analyst")
    assert client_for("wgs@test.kpcs").get("/operators/").status_code == 403
    make_user("analyst@test.kpcs", "kp_analyst")
    analyst = client_for("analyst@test.kpcs")
    assert analyst.get("/operators/").status_code == 200
    assert analyst.get("/operators/new").status_code == 403



def test_the_page_in_french(bw: Client) -> None:
    page = bw.get("/operators/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Opérateurs agréés" in page and "Enregistrer un opérateur" in page


def test_the_secretariat_site_keeps_its_french(make_user: Any) -> None:
    make_user("sec@test.kpcs", "admin")
    page = client_for("sec@test.kpcs").get("/admin/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Secrétariat du Processus de Kimberley" in page
