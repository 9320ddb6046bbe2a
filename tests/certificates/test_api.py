"""The certificate API end to end over HTTP: issue, refusals naming the rule, lifecycle, verification, lists."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from kpcs import clock, crypto
from kpcs.certificates import services
from kpcs.certificates.models import Certificate
from kpcs.registry.models import ParticipantStatus
from tests.conftest import assert_error, certificate_request, code_of, path_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Argon2 costs ~0.4 s per user created; these tests are not about passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


CONFIRM = {"parcels": 4, "carats": "1650.40", "seals_intact": True}
REJECT = {"reason": "seals cut on arrival", "discrepancy": {"kind": "seals_broken"}}
CANCEL = {"reason": "shipment withdrawn by the exporter"}
CERTIFICATE_KEYS = {
    "number", "type", "status", "exporting_participant", "importing_participant", "issuing_authority", "issued_on",
    "issued_at", "expires_on", "exporter", "importer", "origin", "origin_countries", "lines", "totals",
    "awaiting_confirmation", "overdue", "confirmation_due_on", "kid", "jws", "confirmation", "rejection",
    "cancellation",
}


@pytest.fixture
def bw(api_as: Any, bw_officer: Any) -> Any:
    return api_as("bw@test.kpcs")


@pytest.fixture
def eu(api_as: Any, eu_officer: Any) -> Any:
    return api_as("eu@test.kpcs")


def confirmation(**overrides: Any) -> dict[str, Any]:
    return {"received_on": clock.today().isoformat(), **CONFIRM, **overrides}




def each(cases: Any, check: Any) -> None:
    """Run check(*case) for every case and report every failing one, not only the first."""
    failures = []
    for case_id, *args in cases:
        try:
            check(*args)
        except AssertionError as exc:
            failures.append(f"[{case_id}] {exc}".splitlines()[0])
    assert not failures, f"{len(failures)} case(s) failed:\n" + "\n".join(failures)


# --- issuing -------------------------------------------------------------------------------------

def test_issue_answers_201_with_the_signed_certificate(bw: Any, kp: Any) -> None:
    resp = bw.post("/certificates", certificate_request())
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert CERTIFICATE_KEYS <= set(body)
    today = clock.today()
    assert body["number"] == "BW 0000001"
    assert body["status"] == "issued" and body["type"] == "standard"
    assert body["exporting_participant"] == "BW" and body["importing_participant"] == "EU"
    assert body["issuing_authority"] == "BW-KPA"
    assert body["issued_on"] == today.isoformat()
    assert body["expires_on"] == (today + dt.timedelta(days=60)).isoformat()
    assert body["confirmation_due_on"] == (today + dt.timedelta(days=15)).isoformat()
    assert body["exporter"] == {"name": "BW exporter Ltd", "address": "1 Main Road, BW", "licence": "BW-EXP-1"}
    assert body["importer"] == {"name": "Y BV", "address": "Hoveniersstraat 22, Antwerp"}
    assert body["origin"] == "BW" and body["origin_countries"] == ["BW"]
    # Quantities travel as decimal strings with two places, never as floats.
    assert body["lines"] == [
        {"hs_code": "7102.31", "carats": "1250.40", "value_usd": "1875600.00", "parcels": 3},
        {"hs_code": "7102.21", "carats": "400.00", "value_usd": "12000.00", "parcels": 1},
    ]
    assert body["totals"] == {"carats": "1650.40", "value_usd": "1887600.00", "parcels": 4}
    assert body["awaiting_confirmation"] is True and body["overdue"] is False
    assert body["confirmation"] is None and body["rejection"] is None and body["cancellation"] is None
    # The JWS is genuine against this node's trust list and carries the same certificate.
    assert body["kid"].startswith("BW-KPA#")
    result = services.verify_token(body["jws"])
    assert result.genuine, result.reasons
    header, payload = crypto.unverified_parts(body["jws"])
    assert header["kid"] == body["kid"]
    assert payload["number"] == "BW 0000001"
    assert payload["totals"] == body["totals"] and payload["lines"] == body["lines"]
    # What was answered is what a later read returns.
    again = bw.get(path_of(body["number"]))
    assert again.status_code == 200 and again.json() == body


def test_issue_accepts_declared_totals_that_add_up_and_8_digit_hs_codes(bw: Any) -> None:
    req = certificate_request(
        lines=[{"hs_code": "7102 31 00", "carats": "10.5", "value_usd": "100", "parcels": 1}],
        totals={"carats": "10.50", "value_usd": "100.00", "parcels": 1})
    resp = bw.post("/certificates", req)
    assert resp.status_code == 201, resp.content
    assert resp.json()["lines"] == [{"hs_code": "7102.31", "carats": "10.50", "value_usd": "100.00", "parcels": 1}]


def _line(**overrides: Any) -> list[dict[str, Any]]:
    return [{"hs_code": "7102.31", "carats": "12.50", "value_usd": "100.00", "parcels": 1, **overrides}]


REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("non-participant-KP", {"importing_participant": "KP"}, "non_participant", "EXP-01"),
    ("unknown-code", {"importing_participant": "ZZ"}, "non_participant", "EXP-01"),
    ("same-participant", {"importing_participant": "BW"}, "same_participant", "DEF-06"),
    ("hs-polished", {"lines": _line(hs_code="7102.39")}, "hs_out_of_scope", "DEF-05"),
    ("hs-other-stone", {"lines": _line(hs_code="7103.10")}, "hs_out_of_scope", "DEF-05"),
    ("zero-carats", {"lines": _line(carats="0")}, "invalid_quantity", "CERT-02"),
    ("zero-value", {"lines": _line(value_usd="0.00")}, "invalid_quantity", "CERT-02"),
    ("negative-carats", {"lines": _line(carats="-5.00")}, "invalid_quantity", "CERT-02"),
    ("three-places", {"lines": _line(carats="1.234")}, "invalid_quantity", "CERT-02"),
    ("comma", {"lines": _line(carats="12,50")}, "invalid_quantity", "CERT-02"),
    ("exponent", {"lines": _line(value_usd="1e3")}, "invalid_quantity", "CERT-02"),
    ("not-a-number", {"lines": _line(value_usd="abc")}, "invalid_quantity", "CERT-02"),
    ("zero-parcels", {"lines": _line(parcels=0)}, "invalid_quantity", "CERT-02"),
    ("no-lines", {"lines": []}, "no_lines", "CERT-02"),
    ("totals-carats", {"totals": {"carats": "1.00"}}, "totals_mismatch", "CERT-02"),
    ("totals-parcels", {"totals": {"parcels": 5}}, "totals_mismatch", "CERT-02"),
    ("importer-without-name", {"importer": {"name": " ", "address": "Antwerp"}}, "invalid_importer", "CERT-02"),
    ("origin-not-a-country", {"origin": "XX"}, "invalid_origin", "CERT-10"),
    ("mixed-origin-bad-code", {"origin": "mixed", "origin_countries": ["QQ"]}, "invalid_origin", "CERT-10"),
    ("unknown-licence", {"exporter": {"licence": "NOPE"}}, "unknown_operator", "INT-08"),
    ("empty-licence", {"exporter": {"licence": ""}}, "invalid_exporter", "INT-08"),
    ("importer-licence", {"exporter": {"licence": "BW-IMP-1"}}, "not_an_exporter", "INT-08"),
    ("expired-licence", {"exporter": {"licence": "BW-OLD"}}, "licence_not_valid", "INT-08"),
    ("other-participant", {"exporter": {"licence": "ZA-EXP-1"}}, "unknown_operator", "INT-08"),
    ("expiry-too-late", {"expires_on": "2099-01-01"}, "invalid_expiry", "CERT-09"),
]


def test_issue_refusal_is_422_naming_the_rule(bw: Any, make_operator: Any) -> None:
    make_operator("BW", "importer", "BW-IMP-1")
    make_operator("BW", "exporter", "BW-OLD", valid_until=dt.date(2001, 1, 1))
    make_operator("ZA", "exporter", "ZA-EXP-1")

    def check(overrides: dict[str, Any], code: str, rule: str) -> None:
        assert_error(bw.post("/certificates", certificate_request(**overrides)), 422, code, rule)
        assert not Certificate.objects.exists()

    each(REFUSALS, check)
    # A refused request uses no number.
    assert bw.post("/certificates", certificate_request()).json()["number"] == "BW 0000001"


def test_totals_mismatch_names_each_wrong_figure(bw: Any) -> None:
    resp = bw.post("/certificates", certificate_request(totals={"carats": "1650.00", "value_usd": "1887600.00",
                                                                "parcels": 3}))
    details = assert_error(resp, 422, "totals_mismatch", "CERT-02")["details"]
    assert details["carats"] == {"declared": "1650.00", "sum_of_lines": "1650.40"}
    assert details["parcels"] == {"declared": 3, "sum_of_lines": 4}
    assert "value_usd" not in details


@pytest.fixture
def zw_embargoed_today(kp: Any) -> None:
    """An embargo on Zimbabwe that began yesterday and a suspension of Namibia, so the API sees them today."""
    since = clock.today() - dt.timedelta(days=1)
    ParticipantStatus.objects.create(participant_id="ZW", status="embargoed", scope="test", valid_from=since)
    ParticipantStatus.objects.create(participant_id="NA", status="suspended", scope="test", valid_from=since)


def test_origin_under_embargo_today_is_refused(bw: Any, zw_embargoed_today: None) -> None:
    resp = bw.post("/certificates", certificate_request(origin="ZW"))
    error = assert_error(resp, 422, "origin_embargoed", "SPEC-01")
    assert error["details"]["origins"] == {"ZW": "embargoed"}
    resp = bw.post("/certificates", certificate_request(origin="mixed", origin_countries=["BW", "ZW"]))
    assert_error(resp, 422, "origin_embargoed", "SPEC-01")
    # An embargo blocks exports from and diamonds mined in ZW, not imports into it.
    assert bw.post("/certificates", certificate_request(importing_participant="ZW")).status_code == 201


def test_importer_suspended_today_is_refused(bw: Any, zw_embargoed_today: None) -> None:
    error = assert_error(bw.post("/certificates", certificate_request(importing_participant="NA")), 422,
                         "participant_not_active", "EXP-01")
    assert error["details"]["participant"] == "NA" and error["details"]["status"] == "suspended"


def test_status_is_judged_on_the_issue_date(bw_officer: Any) -> None:
    """Dated cases at service level: Côte d'Ivoire's embargo (SPEC-01) and Venezuela's self-suspension (EXP-01)."""
    from kpcs.errors import ValidationFailed

    in_2010 = dt.datetime(2010, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(ValidationFailed) as exc:
        services.issue(bw_officer, certificate_request(origin="CI"), now=in_2010)
    assert exc.value.as_dict()["error"]["details"]["rule"] == "SPEC-01"
    with pytest.raises(ValidationFailed) as exc:
        services.issue(bw_officer, certificate_request(importing_participant="VE"), now=in_2010)
    assert exc.value.as_dict()["error"]["details"]["rule"] == "EXP-01"
    assert services.issue(bw_officer, certificate_request(origin="CI", importing_participant="VE"),
                          now=dt.datetime(2017, 1, 1, tzinfo=dt.UTC)).number == "BW 0000001"


def test_quantities_sent_as_json_numbers_are_refused(bw: Any) -> None:
    def check(line: dict[str, Any]) -> None:
        error = assert_error(bw.post("/certificates", certificate_request(lines=_line(**line))), 422,
                             "invalid_request")
        assert any(d["loc"][-1] in line for d in error["details"]), error
        assert not Certificate.objects.exists()

    each([("carats-float", {"carats": 12.5}), ("carats-int", {"carats": 12}), ("value-float", {"value_usd": 100.0}),
          ("value-int", {"value_usd": 100})], check)


def test_totals_sent_as_json_numbers_are_refused(bw: Any) -> None:
    assert_error(bw.post("/certificates", certificate_request(totals={"carats": 1650.4})), 422, "invalid_request")
    assert not Certificate.objects.exists()


def test_only_exporting_officers_issue(eu: Any) -> None:
    assert_error(eu.post("/certificates", certificate_request()), 403, "forbidden")
    assert not Certificate.objects.exists()


# --- malformed requests and authentication ------------------------------------------------------

MALFORMED = [
    ("broken-json", "{not json"),
    ("truncated", '{"importing_participant": "EU",'),
    ("empty", ""),
    ("array", "[1, 2]"),
    ("string", '"a string"'),
    ("null", "null"),
    ("wrong-types", '{"lines": "many"}'),
    ("line-missing-fields", json.dumps(certificate_request(lines=[{"hs_code": "7102.31"}]))),
    ("exporter-not-object", json.dumps(certificate_request(exporter="BW-EXP-1"))),
    ("not-utf8", "\xff\xfe garbage"),
]


def test_malformed_body_is_a_json_4xx_not_a_500(bw: Any) -> None:
    def check(raw: str) -> None:
        resp = bw.client.post("/api/v1/certificates", raw.encode("latin-1"), content_type="application/json",
                              headers=bw._headers())
        assert 400 <= resp.status_code < 500, resp.content
        assert_error(resp, resp.status_code)
        assert not Certificate.objects.exists()

    each(MALFORMED, check)


def test_malformed_body_on_a_lifecycle_route_is_a_json_4xx(eu: Any, issued: Any) -> None:
    for raw in ("{oops", "[]", '{"parcels": "four"}'):
        resp = eu.client.post(f"/api/v1{path_of(issued.number)}/confirmation", raw,
                              content_type="application/json", headers=eu._headers())
        assert 400 <= resp.status_code < 500, resp.content
        assert_error(resp, resp.status_code)
    assert Certificate.objects.get().status == "issued"


def test_without_a_valid_token_the_answer_is_401(api_as: Any, issued: Any) -> None:
    paths = [("get", "/certificates"), ("post", "/certificates"), ("get", "/certificates/BW%200000001"),
             ("post", "/certificates/BW%200000001/confirmation"), ("post", "/certificates/BW%200000001/rejection"),
             ("post", "/certificates/BW%200000001/cancellation")]

    def check(method: str, path: str, token: str | None) -> None:
        client = api_as(None)
        client.token = token
        resp = client.get(path) if method == "get" else client.post(path, {"reason": "x"})
        assert_error(resp, 401, "unauthenticated")
        assert Certificate.objects.get().status == "issued"

    each([(f"{m} {p} token={t}", m, p, t) for m, p in paths for t in (None, "kpcs_not-a-real-token")], check)


def test_a_revoked_token_is_refused(api_as: Any, bw_officer: Any) -> None:
    from kpcs.registry.models import ApiToken

    client = api_as("bw@test.kpcs")
    assert client.get("/certificates").status_code == 200
    ApiToken.objects.update(revoked_at=clock.now())
    assert_error(client.get("/certificates"), 401, "unauthenticated")


# --- lifecycle -------------------------------------------------------------------------------------

def test_confirmation_then_409_on_repeat(eu: Any, bw: Any, issued: Any) -> None:
    path = path_of(issued.number) + "/confirmation"
    resp = eu.post(path, confirmation())
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "confirmed" and body["awaiting_confirmation"] is False
    c = body["confirmation"]
    assert c["received_on"] == clock.today().isoformat() and c["parcels"] == 4 and c["carats"] == "1650.40"
    assert c["seals_intact"] is True and c["differences"] == {} and c["authority"] == "EU-BE-ANTWERP"
    assert c["confirmed_by"].startswith("eu@test.kpcs")
    error = assert_error(eu.post(path, confirmation()), 409, "invalid_transition")
    assert error["details"] == {"status": "confirmed", "action": "confirm"}
    # Terminal means terminal, whichever transition is tried next.
    assert_error(eu.post(path_of(issued.number) + "/rejection", REJECT), 409, "invalid_transition")
    assert_error(bw.post(path_of(issued.number) + "/cancellation", CANCEL), 409, "invalid_transition")
    assert bw.get(path_of(issued.number)).json()["status"] == "confirmed"


def test_confirmation_keeps_the_differences_found(eu: Any, issued: Any) -> None:
    resp = eu.post(path_of(issued.number) + "/confirmation", confirmation(parcels=3, carats="1600.00"))
    assert resp.status_code == 200, resp.content
    assert resp.json()["confirmation"]["differences"] == {
        "parcels": {"declared": 4, "found": 3}, "carats": {"declared": "1650.40", "found": "1600.00"}}


def test_confirmation_with_broken_seals_is_refused(eu: Any, issued: Any) -> None:
    assert_error(eu.post(path_of(issued.number) + "/confirmation", confirmation(seals_intact=False)), 422,
                 "seals_broken", "IMP-05")
    assert Certificate.objects.get().status == "issued"


def test_confirmation_figures_must_be_decimal_strings(eu: Any, issued: Any) -> None:
    assert_error(eu.post(path_of(issued.number) + "/confirmation", confirmation(carats=1650.4)), 422,
                 "invalid_request")
    assert Certificate.objects.get().status == "issued"


def test_rejection_then_409_on_repeat(eu: Any, bw: Any, issued: Any) -> None:
    path = path_of(issued.number) + "/rejection"
    mismatch = {"reason": "weighed less", "discrepancy": {"kind": "content_mismatch",
                                                          "found": {"carats": "1600.00"}}}
    resp = eu.post(path, mismatch)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "rejected" and body["confirmation"] is None
    r = body["rejection"]
    assert r["kind"] == "content_mismatch" and r["reason"] == "weighed less"
    assert r["found"] == {"carats": "1600.00"}
    assert r["declared"] == {"carats": "1650.40", "value_usd": "1887600.00", "parcels": 4}
    assert r["authority"] == "EU-BE-ANTWERP"
    assert_error(eu.post(path, REJECT), 409, "invalid_transition")
    assert_error(eu.post(path_of(issued.number) + "/confirmation", confirmation()), 409, "invalid_transition")
    assert bw.get(path_of(issued.number)).json()["status"] == "rejected"


def test_rejection_needs_a_known_discrepancy_kind(eu: Any, issued: Any) -> None:
    resp = eu.post(path_of(issued.number) + "/rejection", {"reason": "x", "discrepancy": {"kind": "bored"}})
    assert_error(resp, 422, "invalid_request")
    resp = eu.post(path_of(issued.number) + "/rejection",
                   {"reason": "x", "discrepancy": {"kind": "content_mismatch"}})
    assert_error(resp, 422, "invalid_discrepancy", "IMP-08")
    assert Certificate.objects.get().status == "issued"


def test_cancellation_then_409_on_repeat(bw: Any, eu: Any, issued: Any) -> None:
    path = path_of(issued.number) + "/cancellation"
    resp = bw.post(path, CANCEL)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "cancelled"
    assert body["cancellation"]["reason"] == CANCEL["reason"]
    assert body["cancellation"]["cancelled_by"].startswith("bw@test.kpcs")
    assert_error(bw.post(path, CANCEL), 409, "invalid_transition")
    assert_error(eu.post(path_of(issued.number) + "/confirmation", confirmation()), 409, "invalid_transition")


def test_cancellation_needs_a_reason(bw: Any, issued: Any) -> None:
    assert_error(bw.post(path_of(issued.number) + "/cancellation", {"reason": "  "}), 422, "reason_required")
    assert Certificate.objects.get().status == "issued"


def test_number_may_be_written_without_the_space(bw: Any, eu: Any, api_as: Any, issued: Any) -> None:
    anonymous = api_as(None)

    def check(written: str) -> None:
        resp = bw.get(f"/certificates/{written}")
        assert resp.status_code == 200, resp.content
        assert resp.json()["number"] == "BW 0000001"
        resp = anonymous.get(f"/certificates/{written}/verification", code=code_of(issued).lower())
        assert resp.status_code == 200 and resp.json()["number"] == "BW 0000001", resp.content

    each([(w, w) for w in ("BW0000001", "bw0000001", "BW-0000001", "BW%200000001", "BW%2B0000001", "BW1")], check)
    resp = eu.post("/certificates/BW0000001/confirmation", confirmation())
    assert resp.status_code == 200, resp.content
    assert resp.json()["number"] == "BW 0000001" and resp.json()["status"] == "confirmed"
    assert_error(eu.post("/certificates/bw-0000001/confirmation", confirmation()), 409, "invalid_transition")


def test_unknown_number_is_404(bw: Any, api_as: Any, issued: Any) -> None:
    anonymous = api_as(None)

    def check(path: str) -> None:
        assert_error(bw.get(path), 404, "not_found")
        assert_error(anonymous.get(path + "/verification", code=code_of(issued)), 404, "verification_failed")

    each([(w, "/certificates/" + w.replace(" ", "%20"))
          for w in ("BW 0000002", "XX0000001", "ZA0000001", "not-a-number", "BW00000011")], check)


# --- public verification --------------------------------------------------------------------------

def test_public_verification_discloses_no_commercial_details(api_as: Any, bw: Any, issued: Any) -> None:
    resp = api_as(None).get(path_of(issued.number) + "/verification", code=code_of(issued))
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["number"] == "BW 0000001"
    assert body["genuine"] is True and body["usable"] is True and body["status"] == "issued"
    assert body["signature_valid"] is True and body["key_valid_at_signing"] is True
    assert body["reasons"] == []
    assert body["exporting_participant"] == {"code": "BW", "status": "active"}
    assert body["importing_participant"] == {"code": "EU", "status": "active"}
    assert set(body) == {"number", "genuine", "usable", "status", "signature_valid", "kid", "key_valid_at_signing",
                         "issuing_authority", "exporting_participant", "importing_participant", "issued_on",
                         "expires_on", "reasons", "measures", "vigilance"}
    assert body["measures"] == [] and body["vigilance"] is False
    from kpcs.certificates.api import VerificationOut

    # written directly, as documented
    assert VerificationOut.model_validate(body).model_dump(mode="json", by_alias=True) == body
    text = resp.content.decode()
    for secret in ("Y BV", "Hoveniersstraat", "BW exporter Ltd", "BW-EXP-1", "1887600", "1650.40", "jws", "eyJ"):
        assert secret not in text


def test_public_verification_says_a_cancelled_certificate_is_not_usable(api_as: Any, bw: Any,
                                                                       issued: Any) -> None:
    assert bw.post(path_of(issued.number) + "/cancellation", CANCEL).status_code == 200
    body = api_as(None).get(path_of(issued.number) + "/verification", code=code_of(issued)).json()
    assert body["genuine"] is True and body["usable"] is False and body["status"] == "cancelled"
    assert any("cancelled" in r for r in body["reasons"])


def test_public_verification_detects_a_tampered_certificate(api_as: Any, issued: Any) -> None:
    before = api_as(None).get(path_of(issued.number) + "/verification", code=code_of(issued)).json()
    assert before["genuine"] is True  # remembered by this process: the tampering below must still be seen
    header, _, signature = issued.jws.split(".")
    forged = crypto.unverified_parts(issued.jws)[1]
    forged["totals"]["carats"] = "1.00"
    body = base64.urlsafe_b64encode(crypto.canonical(forged)).rstrip(b"=").decode()
    Certificate.objects.filter(pk=issued.pk).update(jws=f"{header}.{body}.{signature}")
    result = api_as(None).get(path_of(issued.number) + "/verification", code=code_of(issued)).json()
    assert result["genuine"] is False and result["usable"] is False and result["signature_valid"] is False
    assert result["reasons"]


def test_public_verification_without_the_code_says_nothing(api_as: Any, bw_officer: Any, issued: Any) -> None:
    """INT-15: numbers run in sequence; without the printed code nobody can walk them to read the trade."""
    services.cancel(bw_officer, issued.number, {"reason": "postponed"})
    anonymous = api_as(None)
    answers = {}
    for number in (issued.number, "BW 0000002", "ZA 0000001", "XX 0000009"):  # exists, next, other, nonsense
        missing = anonymous.get(path_of(number) + "/verification")
        assert_error(missing, 422, "verification_code_required")
        wrong = anonymous.get(path_of(number) + "/verification", code="AAAAA-AAAAA")
        assert_error(wrong, 404, "verification_failed")
        answers[number] = (missing.content, wrong.content)
        for resp in (missing, wrong):
            text = resp.content.decode()
            for secret in ("EU", "cancelled", "issued", "BW-KPA", issued.issued_on.isoformat(), "BW exporter"):
                assert secret not in text, (number, secret, text)
    assert len(set(answers.values())) == 1  # an existing number is answered exactly like a missing one
    assert_error(anonymous.get(path_of(issued.number) + "/verification", code="not a code"), 422,
                 "invalid_verification_code")
    ok = anonymous.get(path_of(issued.number) + "/verification", code=code_of(issued).replace("-", " ").lower())
    assert ok.status_code == 200 and ok.json()["status"] == "cancelled"


def test_the_code_is_printed_with_the_certificate_and_has_50_bits(bw: Any, issued: Any) -> None:
    body = bw.get(path_of(issued.number)).json()
    assert body["verification_code"] == code_of(issued)
    assert len(body["verification_code"].replace("-", "")) * 5 >= 40


def test_a_presented_signed_certificate_is_verified_and_a_forgery_learns_nothing(api_as: Any,
                                                                                issued: Any) -> None:
    anonymous = api_as(None)
    resp = anonymous.post("/verification", {"jws": issued.jws})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["genuine"] and body["usable"] and body["status"] == "issued" and body["number"] == issued.number
    header, payload, signature = issued.jws.split(".")
    forged = crypto.unverified_parts(issued.jws)[1]
    forged["importer"]["name"] = "Someone Else BV"
    token = f"{header}.{base64.urlsafe_b64encode(crypto.canonical(forged)).rstrip(b'=').decode()}.{signature}"
    body = anonymous.post("/verification", {"jws": token}).json()
    assert body["genuine"] is False and body["status"] == "unknown" and not body["usable"]
    body = anonymous.post("/verification", {"jws": "not.a.jws"}).json()
    assert body["genuine"] is False and body["status"] == "unknown"


# --- lists -----------------------------------------------------------------------------------------

def test_list_paginates(bw: Any, bw_officer: Any) -> None:
    numbers = [services.issue(bw_officer, certificate_request()).number for _ in range(5)]
    first = bw.get("/certificates", limit=2)
    assert first.status_code == 200, first.content
    page = first.json()
    assert set(page) == {"count", "limit", "offset", "items"}
    assert (page["count"], page["limit"], page["offset"]) == (5, 2, 0)
    # Newest first.
    assert [c["number"] for c in page["items"]] == ["BW 0000005", "BW 0000004"]
    assert CERTIFICATE_KEYS <= set(page["items"][0])
    last = bw.get("/certificates", limit=2, offset=4).json()
    assert (last["count"], last["offset"]) == (5, 4)
    assert [c["number"] for c in last["items"]] == ["BW 0000001"]
    seen = [c["number"] for off in (0, 2, 4) for c in bw.get("/certificates", limit=2, offset=off).json()["items"]]
    assert sorted(seen) == sorted(numbers)
    assert bw.get("/certificates", limit=2, offset=10).json()["items"] == []
    # Out of range is refused, never clamped: limit 1..500, offset 0..10^9 (declared in the OpenAPI document).
    for params in ({"limit": 501}, {"limit": 0}, {"offset": -3}, {"offset": 10**9 + 1}, {"offset": 2**63},
                   {"limit": "many"}):
        assert_error(bw.get("/certificates", **params), 422, "invalid_request")
    assert bw.get("/certificates", limit=500, offset=10**9).json()["items"] == []


def test_list_filters_overdue_and_status(bw: Any, eu: Any, bw_officer: Any, eu_officer: Any) -> None:
    now = clock.now()
    late = services.issue(bw_officer, certificate_request(), now=now - dt.timedelta(days=20))
    on_time = services.issue(bw_officer, certificate_request(), now=now - dt.timedelta(days=3))
    confirmed_late = services.issue(bw_officer, certificate_request(), now=now - dt.timedelta(days=20))
    services.confirm(eu_officer, confirmed_late.number, confirmation())

    def numbers(client: Any, **params: Any) -> list[str]:
        resp = client.get("/certificates", **params)
        assert resp.status_code == 200, resp.content
        assert resp.json()["count"] == len(resp.json()["items"])
        return sorted(c["number"] for c in resp.json()["items"])

    assert numbers(bw, overdue="true") == [late.number]
    assert numbers(eu, overdue="true") == [late.number]  # the importing side chases it too
    assert numbers(bw, overdue="false") == sorted([on_time.number, confirmed_late.number])
    assert bw.get("/certificates", overdue="true").json()["items"][0]["overdue"] is True
    assert numbers(bw, status="confirmed") == [confirmed_late.number]
    assert numbers(bw, status="awaiting_confirmation") == sorted([late.number, on_time.number])
    assert numbers(bw, status="awaiting_confirmation", overdue="true") == [late.number]
    assert numbers(eu, side="import", participant="EU") == sorted([late.number, on_time.number,
                                                                   confirmed_late.number])
    assert numbers(eu, side="export", participant="EU") == []
    assert_error(bw.get("/certificates", status="lost"), 422, "invalid_request")


def test_list_shows_only_the_callers_participants(api_as: Any, make_user: Any, issued: Any) -> None:
    make_user("za@test.kpcs", "importing_officer", "ZA")
    za = api_as("za@test.kpcs")
    page = za.get("/certificates").json()
    assert page["count"] == 0 and page["items"] == []
    assert za.get("/certificates", participant="BW").json()["count"] == 0
    assert_error(za.get(path_of(issued.number)), 404, "not_found")


def test_the_certificate_carries_its_qr_form_and_verification_takes_it(api_as: Any, issued: Any) -> None:
    body = api_as("bw@test.kpcs").get(path_of(issued.number)).json()
    assert body["qr"] == issued.qr and body["qr"].startswith("KP1:")
    resp = api_as(None).post("/verification", {"jws": body["qr"]})
    assert resp.status_code == 200 and resp.json()["genuine"] and resp.json()["number"] == issued.number
    forged = body["qr"][:-3] + ("000" if body["qr"][-3:] != "000" else "111")
    answer = api_as(None).post("/verification", {"jws": forged}).json()
    assert not answer["genuine"] and answer["reasons"]
