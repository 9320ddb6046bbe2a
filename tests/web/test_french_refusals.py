"""Refusals in the reader's language: services and rules speak French under a French request, the rule id and the
code stay as they are, and the API answers in English unless the client asks otherwise (Accept-Language)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation

from kpcs.certificates import services
from kpcs.errors import Conflict, ValidationFailed
from kpcs.monitoring import services as monitoring
from tests.conftest import certificate_request, code_of
from tests.monitoring.test_services import AS_OF, WGS, congo, load

pytestmark = pytest.mark.django_db


def test_a_suspended_exporter_is_refused_in_french(make_user: Any, make_operator: Any) -> None:
    make_operator("CF", "exporter", "CF-EXP-1")
    cf = make_user("cf@test.kpcs", "exporting_officer", "CF")
    with translation.override("fr"), pytest.raises(ValidationFailed) as exc:
        services.issue(cf, certificate_request(exporter={"licence": "CF-EXP-1"}, origin="CF"),
                       now=dt.datetime(2014, 1, 1, tzinfo=dt.UTC))
    assert exc.value.message == "CF ne peut pas exporter le 2014-01-01 : statut suspendu (EXP-01, SPEC-07)"
    assert (exc.value.rule, exc.value.code) == ("EXP-01", "participant_not_active")


def test_a_non_participant_partner_is_refused_in_french(bw_officer: Any) -> None:
    with translation.override("fr"), pytest.raises(ValidationFailed) as exc:
        services.issue(bw_officer, certificate_request(importing_participant="KP"))
    assert exc.value.message == ("'KP' n'est pas un participant : aucun commerce avec les non-participants "
                                 "(EXP-01)")
    assert (exc.value.rule, exc.value.code) == ("EXP-01", "non_participant")


def test_totals_that_do_not_add_up_are_refused_in_french(bw_officer: Any) -> None:
    with translation.override("fr"), pytest.raises(ValidationFailed) as exc:
        services.issue(bw_officer, certificate_request(totals={"carats": "1.00"}))
    assert exc.value.message == "les totaux déclarés ne correspondent pas à la somme des lignes (CERT-02)"
    assert (exc.value.rule, exc.value.code) == ("CERT-02", "totals_mismatch")
    with pytest.raises(ValidationFailed) as english:  # outside the override: English, as before
        services.issue(bw_officer, certificate_request(totals={"carats": "1.00"}))
    assert english.value.message == "declared totals do not add up to the sum of the lines (CERT-02)"


def test_confirming_twice_is_a_conflict_in_french(issued: Any, eu_officer: Any) -> None:
    body = {"received_on": issued.issued_on.isoformat(), "parcels": 4, "carats": "1650.40", "seals_intact": True}
    services.confirm(eu_officer, issued.number, body)
    with translation.override("fr"), pytest.raises(Conflict) as exc:
        services.confirm(eu_officer, issued.number, body)
    assert exc.value.message == "un certificat confirmé ne peut pas être confirmé"
    assert exc.value.code == "invalid_transition"


def test_an_answer_missing_a_question_is_refused_in_french(kp: Any, make_user: Any) -> None:
    load(*congo())
    [finding] = [f for f in monitoring.scan(WGS, as_of=AS_OF) if f.rule == "exports-exceed-supply"]
    cg = make_user("stats@cg.test", "statistics_officer", "CG")
    monitoring.request_clarification(WGS, finding.pk, ["Where were these diamonds mined?", "Show stock records."])
    with translation.override("fr"), pytest.raises(ValidationFailed) as exc:
        monitoring.answer(cg, finding.pk, ["Alluvial production"])
    assert exc.value.message == "répondez à chacune des 2 questions (STAT-09)"
    assert (exc.value.rule, exc.value.code) == ("STAT-09", "incomplete_answers")


def test_verification_reasons_follow_the_language(issued: Any) -> None:
    """The reasons public verification gives are in the reader's language, one request after another."""
    issued.status = "cancelled"
    issued.save(update_fields=["status"])
    with translation.override("fr"):
        french = services.public_verification(issued.number, code_of(issued))
    english = services.public_verification(issued.number, code_of(issued))
    assert french["reasons"] == ["le certificat est annulé"] and english["reasons"] == ["the certificate is cancelled"]


# --- through the web and the API ---------------------------------------------------------------------------

def test_the_issue_form_shows_a_french_refusal_beside_its_field(bw_officer: Any) -> None:
    from tests.certificates.test_views import issue_form

    client = Client()
    client.force_login(get_user_model().objects.get(username="bw@test.kpcs"),
                       backend="django.contrib.auth.backends.ModelBackend")
    resp = client.post("/certificates/new", issue_form(totals_carats="1.00"), HTTP_ACCEPT_LANGUAGE="fr")
    assert resp.status_code == 422
    page = resp.content.decode()
    field = page.split('name="totals_carats"')[0].rsplit('class="field', 1)[1] + \
        page.split('name="totals_carats"')[1].split("</div>")[0]
    assert "CERT-02: les totaux déclarés ne correspondent pas à la somme des lignes (CERT-02)" in field
    assert "declared totals" not in page


def test_the_api_answers_in_english_unless_asked_for_french(api_as: Any, bw_officer: Any) -> None:
    bw = api_as("bw@test.kpcs")
    english = bw.post("/certificates", certificate_request(totals={"carats": "1.00"}))
    assert english.status_code == 422 and english["Content-Language"] == "en"
    assert english.json()["error"]["message"] == "declared totals do not add up to the sum of the lines (CERT-02)"
    french = bw.client.post("/api/v1/certificates", certificate_request(totals={"carats": "1.00"}),
                            content_type="application/json",
                            headers={**bw._headers(), "Accept-Language": "fr"})
    assert french.status_code == 422
    assert french.json()["error"]["message"] == ("les totaux déclarés ne correspondent pas à la somme des lignes "
                                                 "(CERT-02)")
    assert french.json()["error"]["code"] == english.json()["error"]["code"] == "totals_mismatch"
    assert french.json()["error"]["details"]["rule"] == "CERT-02"
