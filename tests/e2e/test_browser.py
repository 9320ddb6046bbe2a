"""The pages as people use them: Debian's headless Chromium against a real `kpcs serve` with the demo data.

Each journey fails when a step breaks; the main pages are checked with axe-core (no serious or critical
violation), weighed (under 500 KB before images) and photographed on a phone and a desktop, in English and
French (artifacts/screenshots/). One node for the module, a SQLite file of its own: run once (slow).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.browser import browser, new_page, page_weight, serious_accessibility_violations, shoot
from tests.e2e.support import Http, Server, certificate_request, kpcs, node_env

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the fixture, imported for this module

DEMO_PASSWORD = "kpcs-demo-password"  # printed by `kpcs demo`; demo nodes only
EXPORTER = "bw.officer@demo.kpcs"


@dataclass
class Site:
    url: str
    env: dict[str, str]
    number: str
    code: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("kpcs-browser")
    env = node_env(root / "data", f"sqlite:///{root / 'kpcs.sqlite3'}")
    kpcs(env, "init", timeout=120, check=True)
    demo = kpcs(env, "demo", timeout=180, check=True)
    assert DEMO_PASSWORD in demo.stdout
    token = kpcs(env, "token", "create", EXPORTER, "--name", "browser-test", check=True).stdout.strip()
    server = Server(env, root / "server.log")
    server.start()
    try:
        status, cert = Http(server.port, token).post("/api/v1/certificates", certificate_request())
        assert status == 201, cert
        yield Site(f"http://127.0.0.1:{server.port}", env, cert["number"], cert["verification_code"])
    finally:
        server.stop()


def sign_in(page: Any, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label(re.compile("E-mail|Adresse électronique")).fill(email)
    page.get_by_label(re.compile("Password|Mot de passe")).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("Sign in|Se connecter")).click()


def test_sign_in_shows_who_and_for_whom_then_sign_out(browser: Any, site: Site) -> None:
    page = new_page(browser, site.url)
    sign_in(page, "bw.officer@demo.kpcs")
    header = page.locator("header.site").inner_text()
    assert "bw.officer@demo.kpcs" in header and "BW" in header
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert "Sign in" in page.locator("header.site").inner_text()


def test_wrong_password_is_refused_without_saying_which_part(browser: Any, site: Site) -> None:
    page = new_page(browser, site.url)
    sign_in(page, "bw.officer@demo.kpcs", "not-the-password")
    assert "/login/" in page.url
    assert page.get_by_role("alert").is_visible()


@pytest.mark.parametrize("language, genuine", [("en", "genuine and usable"), ("fr", "authentique et utilisable")])
def test_the_public_verifies_a_certificate_with_its_code(browser: Any, site: Site, language: str,
                                                         genuine: str) -> None:
    page = new_page(browser, site.url, language=language)
    page.goto("/verify/")
    page.get_by_label(re.compile("Certificate number|Numéro du certificat")).fill(site.number)
    page.get_by_label(re.compile("Verification code|Code de vérification")).fill(site.code.lower())
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^(Verify|Vérifier)$")).click()
    result = page.locator("main").inner_text()
    assert genuine in result and site.number in result
    assert "Hoveniersstraat" not in result and "1875600" not in result  # never commercial details
    wrong = site.code[:-1] + ("0" if site.code[-1] != "0" else "1")
    page.goto(f"/verify/?number={quote(site.number)}&code={wrong}")
    assert page.get_by_role("alert").is_visible() and genuine not in page.locator("main").inner_text()


def test_the_language_switch_changes_every_word_and_stays(browser: Any, site: Site) -> None:
    page = new_page(browser, site.url)
    page.goto("/verify/")
    with page.expect_navigation():
        page.get_by_label("Language").select_option("fr")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Vérifier un certificat du PK" in page.locator("main").inner_text()
    page.goto("/")
    assert "Système de certification du Processus de Kimberley" in page.locator("main").inner_text()


WORDS = {  # what each step must say, in each language
    "en": {"issued": "issued", "genuine": "genuine and usable", "confirmed": "confirmed"},
    "fr": {"issued": "délivré", "genuine": "authentique et utilisable", "confirmed": "confirmé"},
}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_certificate_from_issue_to_confirmed_receipt(browser: Any, site: Site, language: str,
                                                       tmp_path: Path) -> None:
    """Botswana issues through the form and downloads the PDF; the EU reads its QR code at the border, pastes
    what it holds into the look-up and confirms receipt with the figures found."""
    from tests.certificates.test_pdf import qr_of

    said = WORDS[language]
    exporter = new_page(browser, site.url, language=language)
    sign_in(exporter, "bw.officer@demo.kpcs")
    exporter.goto("/certificates/new")
    exporter.locator("[name=importing_participant]").select_option("EU")
    exporter.locator("[name=exporter]").select_option(index=1)
    exporter.locator("[name=importer_name]").fill("Y BV")
    exporter.locator("[name=importer_address]").fill("Hoveniersstraat 22, Antwerp")
    exporter.locator("[name=origin]").fill("BW")
    exporter.locator("[name='lines-0-hs_code']").select_option("7102.31")
    exporter.locator("[name='lines-0-carats']").fill("812.50")
    exporter.locator("[name='lines-0-value_usd']").fill("1218750.00")
    exporter.locator("[name='lines-0-parcels']").fill("2")
    with exporter.expect_navigation():
        exporter.locator("main form button[type=submit]:not([name])").last.click()
    number = exporter.locator("h1").inner_text().split(":")[0].strip()
    assert re.fullmatch(r".*BW \d{7}.*", number), exporter.locator("main").inner_text()
    number = re.search(r"BW \d{7}", number).group(0)  # type: ignore[union-attr]
    assert said["issued"] in exporter.locator("main").inner_text().lower()
    shoot(exporter, f"certificate-{language}-desktop")
    link = exporter.locator("a[href$='.pdf']").first.get_attribute("href")
    response = exporter.request.get(link)  # the person's own session: the PDF opens inline in a browser
    assert response.ok and response.headers["content-type"] == "application/pdf"
    pdf = response.body()
    assert pdf.startswith(b"%PDF")
    qr = qr_of(pdf)
    assert qr.startswith("KP1:")

    importer = new_page(browser, site.url, language=language)
    sign_in(importer, "eu.officer@demo.kpcs")
    importer.goto("/certificates/arrivals")
    importer.locator("textarea[name=presented]").fill(qr)
    with importer.expect_navigation():
        importer.locator("textarea[name=presented]").locator("xpath=ancestor::form").locator("button").click()
    answer = importer.locator("main").inner_text()
    assert number in answer and said["genuine"] in answer, answer
    importer.locator("[name=received_on]").fill(dt.date.today().isoformat())
    importer.locator("form[action$='/confirm'] [name=parcels]").fill("2")
    importer.locator("form[action$='/confirm'] [name=carats]").fill("812.50")
    importer.locator("form[action$='/confirm'] [name=seals_intact][value=yes]").check()
    with importer.expect_navigation():
        importer.locator("form[action$='/confirm'] button[type=submit]").click()
    assert said["confirmed"] in importer.locator("main").inner_text().lower()
    shoot(importer, f"confirmed-{language}-desktop")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_working_group_requests_clarification_on_a_finding(browser: Any, site: Site, language: str) -> None:
    page = new_page(browser, site.url, language=language)
    sign_in(page, "wgs@demo.kpcs")
    page.goto("/findings/?status=open")
    first = page.locator("main table a[href^='/findings/']").first
    with page.expect_navigation():
        first.click()
    questions = page.get_by_label(re.compile("^(Questions)$"))
    questions.fill("Why did exports double?\nWhich new mine produced the difference?")
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("Send the questionnaire|Envoyer le questionnaire")).click()
    text = page.locator("main").inner_text()
    assert "Why did exports double?" in text and "Which new mine produced the difference?" in text
    assert page.locator(".notice.bad, .errorlist").count() == 0, text
    shoot(page, f"finding-{language}-desktop")


def test_the_public_sees_statistics_with_charts_and_a_csv(browser: Any, site: Site) -> None:
    page = new_page(browser, site.url)
    page.goto("/statistics")
    assert page.locator("main svg[role=img]").count() >= 1
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("CSV")).first.click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8")
    assert csv_text.splitlines()[0].count(",") >= 3 and len(csv_text.splitlines()) > 1
    page.goto("/participants")
    assert "BW" in page.locator("main").inner_text()


MAIN_PAGES = [  # (who, path): None is the public
    (None, "/"), (None, "/login/"), (None, "/verify/"), (None, "/statistics"), (None, "/participants"),
    (EXPORTER, "/certificates/new"), (EXPORTER, "/certificates/"), (EXPORTER, "/certificates/{number}"),
    ("eu.officer@demo.kpcs", "/certificates/arrivals"), (EXPORTER, "/operators/"), (EXPORTER, "/statistics/desk"),
    ("wgs@demo.kpcs", "/findings/"), ("wgs@demo.kpcs", "/reviews/"), (None, "/reviews/published"),
    (None, "/governance/decisions"), ("chair@demo.kpcs", "/governance/decisions"),
    ("chair@demo.kpcs", "/governance/decisions/new"), (None, "/participants/CF"),
]


@pytest.mark.parametrize("who, path", MAIN_PAGES)
def test_main_pages_are_accessible_light_and_photographed(browser: Any, site: Site, who: str | None,
                                                          path: str) -> None:
    path = path.replace("{number}", quote(site.number))
    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
    if who in ("chair@demo.kpcs", "wgs@demo.kpcs") and name.startswith(("governance", "reviews")):
        name = f"{name}-{who.split('@')[0]}"  # the same page as the public sees it, with the role's part
    for language in ("en", "fr"):
        for phone in (False, True):
            page = new_page(browser, site.url, phone=phone, language=language)
            if who:
                sign_in(page, who)
            weight = page_weight(page, path)
            assert weight < 500_000, f"{path}: {weight} bytes before images"
            violations = serious_accessibility_violations(page)
            assert violations == [], f"{path} ({language}): {violations}"
            if phone:  # nothing wider than a 375-pixel screen: no sideways scrolling of the page
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
            shot: Path = shoot(page, f"{name}-{language}-{'phone' if phone else 'desktop'}")
            assert shot.stat().st_size > 0
            page.context.close()
