"""The pages people open: the front door, public verification, sign-in."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD, code_of

pytestmark = pytest.mark.django_db


def test_home_links_to_verification_and_the_api(kp: Any) -> None:
    page = Client().get("/").content.decode()
    assert 'href="/verify/"' in page and 'href="/api/v1/docs"' in page


def test_public_verification_page(issued: Any, eu_officer: Any) -> None:
    client = Client()
    page = client.get("/verify/", {"number": issued.number.replace(" ", ""), "code": code_of(issued)}).content.decode()
    assert "genuine and usable" in page and issued.number in page
    assert "Y BV" not in page and "1887600" not in page  # no commercial details
    for asked in ({"number": "BW 9999999", "code": code_of(issued)}, {"number": issued.number, "code": "AAAAAAAAAA"}):
        answer = client.get("/verify/", asked).content.decode()
        assert "no certificate has this number and verification code" in answer and "usable" not in answer
    assert "code is required" in client.get("/verify/", {"number": issued.number}).content.decode()


def test_sign_in_and_out(make_user: Any) -> None:
    make_user("person@test.kpcs", "kp_analyst")
    client = Client()
    assert client.get("/login/").status_code == 200
    wrong = client.post("/login/", {"username": "person@test.kpcs", "password": "not-the-password"})
    assert wrong.status_code == 200 and "did not match" in wrong.content.decode()
    ok = client.post("/login/", {"username": "person@test.kpcs", "password": PASSWORD})
    assert ok.status_code == 302
    assert "person@test.kpcs" in client.get("/").content.decode()


def test_unknown_pages_are_404_pages_and_unknown_api_routes_json(kp: Any) -> None:
    client = Client()
    assert client.get("/no/such/page/").status_code == 404
    resp = client.get("/api/v1/no/such/route")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_api_docs_use_no_cdn(kp: Any) -> None:
    page = Client().get("/api/v1/docs").content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn." not in page and "https://" not in page.split("</head>")[0]


def test_public_verification_of_presented_qr_content(issued: Any, eu_officer: Any) -> None:
    """What a scanner reads from the document (here the JWS) is verified on the same page, status only if genuine."""
    client = Client()
    page = client.get("/verify/", {"qr": issued.jws})
    assert page.status_code == 200 and "genuine and usable" in page.content.decode()
    head, body, signature = issued.jws.split(".")
    forged = client.get("/verify/", {"qr": f"{head}.{body}.{signature[::-1]}"})
    text = forged.content.decode()
    assert "NOT genuine" in text and "Y BV" not in text
    junk = client.get("/verify/", {"qr": "not a certificate"})
    assert junk.status_code in (200, 400, 422) and "Traceback" not in junk.content.decode()
    assert client.get("/verify/", {"qr": "x" * 100_001}).status_code == 422
