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
from urllib.parse import quote, urlsplit

import pytest

from tests.e2e.browser import PHONE, browser, new_page, page_weight, serious_accessibility_violations, shoot
from tests.e2e.support import Http, Server, certificate_request, kpcs, node_env

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the fixture, imported for this module

DEMO_PASSWORD = "kpcs-demo-password"  # printed by `kpcs demo`; demo nodes only
EXPORTER = "bw.officer@demo.kpcs"
CHAIR = "chair@demo.kpcs"
CUSTODY = "bw.custody@demo.kpcs"  # the demo's custody officer of Botswana


@dataclass
class Site:
    url: str
    env: dict[str, str]
    number: str
    code: str
    review: int = 0  # the demo's review visit (RU), as the Chair reads it
    decision: int = 0  # an adopted decision of the demo (public)
    proposal: int = 0  # the demo's written procedure in progress (for delegates and observers)
    application: int = 0  # the demo's application awaiting the committee (South Sudan)
    parcel: int = 0  # a parcel the BW custody officer produced and sold (the demo has no custody data)
    custody_operator: int = 0  # its buyer


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
        chair = Http(server.port, kpcs(env, "token", "create", CHAIR, "--name", "browser-test",
                                       check=True).stdout.strip())
        status, reviews = chair.get("/api/v1/reviews")
        assert status == 200 and reviews["items"], reviews
        status, adopted = chair.get("/api/v1/decisions?status=adopted")
        assert status == 200 and adopted["items"], adopted
        status, proposed = chair.get("/api/v1/decisions?status=proposed")
        assert status == 200 and proposed["items"], proposed
        status, applications = chair.get("/api/v1/applications")
        assert status == 200 and applications["items"], applications
        parcel, buyer = custody_data(env, server.port)
        yield Site(f"http://127.0.0.1:{server.port}", env, cert["number"], cert["verification_code"],
                   reviews["items"][0]["id"], adopted["items"][0]["id"], proposed["items"][0]["id"],
                   applications["items"][0]["id"], parcel, buyer)
    finally:
        server.stop()


def custody_data(env: dict[str, str], port: int) -> tuple[int, int]:
    """As the demo's custody officer of Botswana: a mine held under a mining licence, a production and a sale of
    part of it to the exporter, through the API: (the exporter's parcel, the exporter)."""
    api = Http(port, kpcs(env, "token", "create", CUSTODY, "--name", "browser-test", check=True).stdout.strip())
    status, found = api.get("/api/v1/operators?participant=BW")
    assert status == 200, found
    ops = {op["licence"]: op["id"] for op in found["items"]}
    miner, exporter = ops["BW-IMP-0001"], ops["BW-EXP-0001"]
    status, body = api.post("/api/v1/custody/licences", {"operator": miner, "kind": "mining", "number": "BW-ML-1",
                                                         "valid_from": "2020-01-01"})
    assert status == 201, body
    status, mine = api.post("/api/v1/custody/sites", {"name": "Jwaneng", "kind": "industrial_mine",
                                                      "region": "Southern", "holder": miner})
    assert status == 201, mine
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(microsecond=0).isoformat()
    status, made = api.post("/api/v1/custody/events", {
        "type": "production", "site": mine["id"], "occurred_at": day,
        "produced": [{"carats": "120.50", "value_usd": "15000.00", "hs_code": "7102.31", "stones": 40}]})
    assert status == 201, made
    status, sold = api.post("/api/v1/custody/events", {
        "type": "transfer", "parcels": [made["outputs"][0]["id"]], "seller": miner, "buyer": exporter,
        "carats": "80.25", "invoice": "INV-2026-0042",
        "warranty": "The seller hereby guarantees that these diamonds are conflict free."})
    assert status == 201, sold
    return sold["outputs"][0]["id"], exporter


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


GOVERNANCE_WORDS = {  # what the decision pages say at each step, in each language
    "en": {"recorded": "Your position was recorded", "no_consensus": "no consensus",
           "adopted": "The decision is adopted"},
    "fr": {"recorded": "Votre position a été enregistrée", "no_consensus": "pas de consensus",
           "adopted": "La décision est adoptée"},
}


def take_position(page: Any, decision: str, position: str, comment: str) -> None:
    page.goto(decision)
    page.locator(f"form[action$='/position'] [name=position][value={position}]").check()
    page.locator("form[action$='/position'] [name=comment]").fill(comment)
    with page.expect_navigation():
        page.locator("form[action$='/position'] button[type=submit]").click()


def adopt(page: Any, decision: str) -> str:
    page.goto(decision)
    with page.expect_navigation():
        page.locator("form[action$='/adoption'] button[type=submit]").click()
    return str(page.locator("main").inner_text())


@pytest.mark.parametrize("language", ["en", "fr"])
def test_consensus_blocked_by_a_delegate_then_adopted(browser: Any, site: Site, language: str) -> None:
    """GOV-03 on the pages: the Chair proposes at a Plenary, South Africa's delegate objects, the Chair's adoption
    is refused naming South Africa, the delegate changes to support, the Chair adopts, the public reads it."""
    said = GOVERNANCE_WORDS[language]
    text = f"Browser journey ({language}): the Plenary approves the secretariat's work plan for next year."
    chair = new_page(browser, site.url, language=language)
    sign_in(chair, CHAIR)
    chair.goto("/governance/decisions/new")
    form = chair.locator("main form[action$='/governance/decisions/new']")
    form.locator("[name=type]").select_option("administrative")
    form.locator("[name=effective_on]").fill((dt.date.today() + dt.timedelta(days=30)).isoformat())
    form.locator("[name=text]").fill(text)
    form.locator("[name=procedure]").select_option("plenary")
    with chair.expect_navigation():
        form.locator("button[type=submit]").click()
    assert re.search(r"/governance/decisions/\d+$", chair.url), chair.locator("main").inner_text()
    decision = urlsplit(chair.url).path

    delegate = new_page(browser, site.url, language=language)
    sign_in(delegate, "za.delegate@demo.kpcs")
    take_position(delegate, decision, "object", "South Africa asks for the budget lines first.")
    assert said["recorded"] in delegate.locator("main").inner_text()
    shoot(delegate, f"decision-objection-{language}-desktop")

    refused = adopt(chair, decision)
    alert = chair.get_by_role("alert").inner_text()
    assert said["no_consensus"] in alert and "ZA" in alert, refused
    assert said["adopted"] not in refused
    shoot(chair, f"decision-refused-{language}-desktop")

    take_position(delegate, decision, "support", "Budget lines received: South Africa supports.")
    done = adopt(chair, decision)
    assert said["adopted"] in done and chair.locator(".notice.bad").count() == 0, done
    shoot(chair, f"decision-adopted-{language}-desktop")

    public = new_page(browser, site.url, language=language)
    public.goto("/governance/decisions")
    assert text in public.locator("main").inner_text()
    public.goto(decision)
    assert "South Africa asks for the budget lines first." in public.locator("main").inner_text()


REVIEW_WORDS = {
    "en": {"recorded": "Your comment was recorded", "closed": "comments on it are closed"},
    "fr": {"recorded": "Votre commentaire est enregistré", "closed": "les commentaires sont clos"},
}


def submit(page: Any, action: str) -> None:
    """Send the form of the review page whose action ends with `action`, as it is filled in."""
    with page.expect_navigation():
        page.locator(f"main form[action$='{action}'] button[type=submit]").click()
    assert page.locator(".notice.bad, .errorlist").count() == 0, page.locator("main").inner_text()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_chair_runs_a_review_and_the_delegate_comments_on_the_report(browser: Any, site: Site,
                                                                        language: str) -> None:
    """MON-03/MON-04 on the pages: the Chair opens a review visit to Botswana, appoints its leader, records the
    visit and submits the report; Botswana's delegate comments on it; the Chair publishes its summary, after which
    comments are closed; the public reads the summary only."""
    said = REVIEW_WORDS[language]
    today = dt.date.today()
    summary = f"Browser journey ({language}): Botswana meets the minimum requirements."
    restricted = f"Full report ({language}): the stock records of one exporter were a month behind."
    comment = f"Comment ({language}): the exporter's stock records are up to date since last week."
    chair = new_page(browser, site.url, language=language)
    sign_in(chair, CHAIR)
    chair.goto("/reviews/")
    form = chair.locator("main form[action$='/reviews/new']")
    form.locator("[name=kind]").select_option("visit")
    form.locator("[name=participant]").select_option("BW")
    form.locator("[name=mandate]").fill("Review visit at Botswana's invitation.")
    form.locator("[name=starts_on]").fill((today - dt.timedelta(days=12)).isoformat())
    form.locator("[name=ends_on]").fill((today - dt.timedelta(days=8)).isoformat())
    submit(chair, "/reviews/new")
    assert re.search(r"/reviews/\d+$", chair.url), chair.locator("main").inner_text()
    review = urlsplit(chair.url).path
    team = chair.locator("main form[action$='/team']")
    team.locator("[name=name]").fill("A. Leader")
    team.locator("[name=constituency]").select_option("government")
    team.locator("[name=participant]").select_option("AO")
    team.locator("[name=is_leader]").check()
    submit(chair, "/team")
    submit(chair, "/visit")
    chair.locator("main form[action$='/report'] [name=text]").fill(restricted)
    submit(chair, "/report")

    delegate = new_page(browser, site.url, language=language)
    sign_in(delegate, "bw.delegate@demo.kpcs")
    delegate.goto(review)
    assert restricted in delegate.locator("main").inner_text()  # the report reaches the participant (MON-04)
    delegate.locator("main form[action$='/comments'] [name=text]").fill(comment)
    submit(delegate, "/comments")
    assert said["recorded"] in delegate.locator("main").inner_text()
    assert serious_accessibility_violations(delegate) == []
    shoot(delegate, f"review-comment-{language}-desktop")

    chair.goto(review)
    assert comment in chair.locator("main").inner_text()
    chair.locator("main form[action$='/publish'] [name=public_summary]").fill(summary)
    submit(chair, "/publish")
    delegate.goto(review)
    assert said["closed"] in delegate.locator("main").inner_text()
    assert delegate.locator("main form[action$='/comments']").count() == 0

    public = new_page(browser, site.url, language=language)
    public.goto("/reviews/published")
    shown = public.locator("main").inner_text()
    assert summary in shown and restricted not in shown and comment not in shown
    shoot(public, f"review-published-{language}-desktop")


@pytest.mark.parametrize("language, added", [("en", "The member was added."), ("fr", "Le membre a été ajouté.")])
def test_the_chair_adds_a_working_group_member(browser: Any, site: Site, language: str, added: str) -> None:
    """GOV-02 on the pages: the Chair puts a participant on a working group; the public sees it among the members."""
    code = {"en": "NA", "fr": "MU"}[language]  # each run its own participant: the group refuses one twice
    chair = new_page(browser, site.url, language=language)
    sign_in(chair, CHAIR)
    chair.goto("/governance/working-groups/monitoring")
    form = chair.locator("main form[action$='/members']")
    form.locator("[name=participant]").select_option(code)
    form.locator("[name=role]").select_option("member")
    with chair.expect_navigation():
        form.locator("button[type=submit]").click()
    text = chair.locator("main").inner_text()
    assert added in text and chair.locator(".notice.bad, .errorlist").count() == 0, text
    public = new_page(browser, site.url, language=language)
    public.goto("/governance/working-groups/monitoring")
    assert public.locator(f"main a[href='/participants/{code}']").count() == 1


@pytest.mark.parametrize("language", ["en", "fr"])
def test_on_a_phone_the_menu_is_one_line_that_opens_without_javascript(browser: Any, site: Site,
                                                                       language: str) -> None:
    """The header menu (twelve entries for an officer) stays one "Menu" line on a phone, opens with a tap, with no
    script, and leads to its pages; on a desktop every entry shows at once."""
    phone = new_page(browser, site.url, phone=True, language=language, javascript=False)
    sign_in(phone, EXPORTER)
    phone.goto("/governance/working-groups")
    entries = phone.locator("nav.main .menu-items a")
    assert entries.count() >= 10 and not entries.first.is_visible()
    summary = phone.locator("nav.main summary")
    assert summary.is_visible() and summary.bounding_box()["height"] < 48  # type: ignore[index]
    summary.click()
    assert entries.first.is_visible()
    shoot(phone, f"menu-open-{language}-phone")
    with phone.expect_navigation():
        phone.locator("nav.main a[href='/governance/meetings']").click()
    assert phone.url.endswith("/governance/meetings")
    desktop = new_page(browser, site.url, language=language)
    sign_in(desktop, EXPORTER)
    assert desktop.locator("nav.main .menu-items a").last.is_visible()
    assert not desktop.locator("nav.main summary").is_visible()


MAIN_PAGES = [  # (who, path): None is the public
    (None, "/"), (None, "/login/"), (None, "/verify/"), (None, "/statistics"), (None, "/participants"),
    (EXPORTER, "/certificates/new"), (EXPORTER, "/certificates/"), (EXPORTER, "/certificates/{number}"),
    ("eu.officer@demo.kpcs", "/certificates/arrivals"), (EXPORTER, "/operators/"), (EXPORTER, "/statistics/desk"),
    ("wgs@demo.kpcs", "/findings/"), ("wgs@demo.kpcs", "/findings/scans/"), ("wgs@demo.kpcs", "/reviews/"),
    (None, "/reviews/published"),
    (None, "/governance/decisions"), ("chair@demo.kpcs", "/governance/decisions"),
    ("chair@demo.kpcs", "/governance/decisions/new"), (None, "/participants/CF"),
    ("chair@demo.kpcs", "/reviews/{review}"), ("bw.delegate@demo.kpcs", "/reviews/"),
    (None, "/governance/decisions/{decision}"), ("bw.delegate@demo.kpcs", "/governance/decisions/{proposal}"),
    (None, "/governance/working-groups"), (CHAIR, "/governance/working-groups/statistics"),
    (CHAIR, "/governance/applications"), (CHAIR, "/governance/applications/{application}"),
    (None, "/governance/meetings"), (None, "/participants/AE"),
    (CUSTODY, "/custody/"), (CUSTODY, "/custody/transfers/new"), (CUSTODY, "/custody/events"),
    (CUSTODY, "/custody/parcels/{parcel}"), (CUSTODY, "/custody/operators/{custody_operator}"),
    (CUSTODY, "/custody/splits/new?parcels={parcel}"), (CUSTODY, "/custody/seizures/new"),
]


@pytest.fixture(scope="module")
def sessions(browser: Any, site: Site) -> dict[str, dict[str, Any]]:
    """Each person's signed-in session, made once: the sweep below looks at pages, the sign-in has its own tests."""
    made: dict[str, dict[str, Any]] = {}
    for who in {who for who, _ in MAIN_PAGES if who}:
        page = new_page(browser, site.url)
        sign_in(page, who)
        made[who] = page.context.storage_state()
        page.context.close()
    return made


@pytest.mark.parametrize("who, path", MAIN_PAGES)
def test_main_pages_are_accessible_light_and_photographed(browser: Any, site: Site, sessions: dict[str, Any],
                                                          who: str | None, path: str) -> None:
    path = path.replace("{number}", quote(site.number))
    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"  # {review}: "review", whatever its id
    path = path.replace("{review}", str(site.review)).replace("{decision}", str(site.decision))
    path = path.replace("{proposal}", str(site.proposal)).replace("{application}", str(site.application))
    path = path.replace("{parcel}", str(site.parcel)).replace("{custody_operator}", str(site.custody_operator))
    if who and name.startswith(("governance", "reviews")):
        name = f"{name}-{re.sub(r'[^a-z0-9]+', '-', who.split('@')[0])}"  # the page with the role's part
    for language in ("en", "fr"):
        page = new_page(browser, site.url, language=language, storage_state=sessions[who] if who else None)
        weight = page_weight(page, path)
        assert weight < 500_000, f"{path}: {weight} bytes before images"
        if who:
            assert page.locator("header.site").inner_text().count(who) == 1, f"{path}: not signed in as {who}"
        for phone in (False, True):
            if phone:  # the same page on a 375-pixel screen: nothing wider, no sideways scrolling of the page
                page.set_viewport_size(PHONE)
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
                sideways = page.evaluate("""[...document.querySelectorAll('.card')]
                    .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.scrollWidth - c.clientWidth)""")
                assert sideways == [], f"{path}: a card scrolls sideways on the phone by {sideways} px"
            if phone == (language == "fr"):  # axe on each layout and in each language once: English on a desktop,
                violations = serious_accessibility_violations(page)  # French on a phone
                assert violations == [], f"{path} ({language}, {'phone' if phone else 'desktop'}): {violations}"
            shot: Path = shoot(page, f"{name}-{language}-{'phone' if phone else 'desktop'}")
            assert shot.stat().st_size > 0
        page.context.close()
