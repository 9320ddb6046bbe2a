"""Certificate use cases against the database: issue, lifecycle, verification, audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs.audit import services as audit
from kpcs.certificates import services
from kpcs.certificates.models import Certificate
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.conftest import certificate_request, code_of

pytestmark = pytest.mark.django_db


def test_issue_numbers_signs_and_audits(issued: Any, kp: Any) -> None:
    assert issued.number == "BW 0000001" and issued.status == "issued"
    assert issued.total_carats_centi == 165040 and issued.total_parcels == 4
    result = services.verify_token(issued.jws)
    assert result.genuine, result.reasons
    assert result.payload["number"] == issued.number
    assert issued.expires_on == issued.issued_on + dt.timedelta(days=60)
    count, broken = audit.verify_chain()
    assert broken is None and count > 0


def test_serials_are_gap_free_per_participant(bw_officer: Any, make_user: Any, make_operator: Any) -> None:
    numbers = [services.issue(bw_officer, certificate_request()).number for _ in range(3)]
    assert numbers == ["BW 0000001", "BW 0000002", "BW 0000003"]
    make_operator("EU", "exporter", "EU-EXP-1")
    eu = make_user("eu.exp@test.kpcs", "exporting_officer", "EU", "EU-BE-ANTWERP")
    cert = services.issue(eu, certificate_request(importing_participant="BW", exporter={"licence": "EU-EXP-1"}))
    assert cert.number == "EU 00000001"


def test_a_refused_issue_uses_no_number(bw_officer: Any) -> None:
    with pytest.raises(ValidationFailed):
        services.issue(bw_officer, certificate_request(lines=[{"hs_code": "7102.39", "carats": "1",
                                                               "value_usd": "1", "parcels": 1}]))
    assert services.issue(bw_officer, certificate_request()).number == "BW 0000001"


@pytest.mark.parametrize("overrides,rule", [
    ({"importing_participant": "KP"}, "EXP-01"),          # unknown code: a non-participant
    ({"importing_participant": "VE"}, "EXP-01"),          # not self-suspended today, see dated tests below
    ({"origin": "CI"}, "SPEC-01"),
    ({"lines": [{"hs_code": "7102.39", "carats": "1.00", "value_usd": "1.00", "parcels": 1}]}, "DEF-05"),
    ({"lines": [{"hs_code": "7102.31", "carats": "0", "value_usd": "1.00", "parcels": 1}]}, "CERT-02"),
    ({"totals": {"carats": "1.00"}}, "CERT-02"),
    ({"exporter": {"licence": "NOPE"}}, "INT-08"),
    ({"expires_on": "2099-01-01"}, "CERT-09"),
])
def test_issue_is_refused_naming_the_rule(bw_officer: Any, overrides: dict[str, Any], rule: str) -> None:
    when = dt.datetime(2010, 6, 1, tzinfo=dt.UTC) if overrides.get("importing_participant") == "VE" else None
    if overrides.get("origin") == "CI":
        when = dt.datetime(2010, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(ValidationFailed) as exc:
        services.issue(bw_officer, certificate_request(**overrides), now=when)
    assert exc.value.rule == rule
    assert not Certificate.objects.exists()


def test_participant_status_is_judged_on_the_issue_date(bw_officer: Any) -> None:
    """SPEC-07: Venezuela was self-suspended 2008-2016, Côte d'Ivoire embargoed 2005-2014."""
    ve_2010 = dt.datetime(2010, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(ValidationFailed):
        services.issue(bw_officer, certificate_request(importing_participant="VE"), now=ve_2010)
    cert = services.issue(bw_officer, certificate_request(importing_participant="VE"),
                          now=dt.datetime(2017, 1, 1, tzinfo=dt.UTC))
    assert cert.importing_participant_id == "VE"
    assert services.issue(bw_officer, certificate_request(origin="CI"),
                          now=dt.datetime(2015, 1, 1, tzinfo=dt.UTC)).origin_countries == ["CI"]


def test_suspended_participant_may_not_export(make_user: Any, make_operator: Any) -> None:
    make_operator("CF", "exporter", "CF-EXP-1")
    cf = make_user("cf@test.kpcs", "exporting_officer", "CF")
    with pytest.raises(ValidationFailed) as exc:
        services.issue(cf, certificate_request(exporter={"licence": "CF-EXP-1"}, origin="CF"),
                       now=dt.datetime(2014, 1, 1, tzinfo=dt.UTC))
    assert exc.value.code == "participant_not_active"


def test_exporter_must_be_a_valid_licensed_exporter(bw_officer: Any, make_operator: Any) -> None:
    make_operator("BW", "importer", "BW-IMP-1")
    make_operator("BW", "exporter", "BW-OLD", valid_until=dt.date(2001, 1, 1))
    make_operator("ZA", "exporter", "ZA-EXP-1")
    for licence, code in (("BW-IMP-1", "not_an_exporter"), ("BW-OLD", "licence_not_valid"),
                          ("ZA-EXP-1", "unknown_operator")):
        with pytest.raises(ValidationFailed) as exc:
            services.issue(bw_officer, certificate_request(exporter={"licence": licence}))
        assert exc.value.code == code


def test_only_exporting_officers_issue(eu_officer: Any) -> None:
    with pytest.raises(PermissionDenied):
        services.issue(eu_officer, certificate_request())


def test_confirmation_by_importing_participant(issued: Any, eu_officer: Any) -> None:
    today = issued.issued_on.isoformat()
    cert = services.confirm(eu_officer, issued.number,
                            {"received_on": today, "parcels": 4, "carats": "1650.40", "seals_intact": True})
    assert cert.status == "confirmed"
    assert services.to_dict(services.get(eu_officer, cert.number))["confirmation"]["differences"] == {}
    with pytest.raises(Conflict):
        services.confirm(eu_officer, issued.number,
                         {"received_on": today, "parcels": 4, "carats": "1650.40", "seals_intact": True})
    with pytest.raises(Conflict):
        services.reject(eu_officer, issued.number, {"reason": "x", "discrepancy": {"kind": "other"}})


def test_confirmation_keeps_differences(issued: Any, eu_officer: Any) -> None:
    services.confirm(eu_officer, issued.number, {"received_on": issued.issued_on.isoformat(), "parcels": 4,
                                                 "carats": "1600.00", "seals_intact": True})
    data = services.to_dict(services.get(eu_officer, issued.number))
    assert data["confirmation"]["differences"] == {"carats": {"declared": "1650.40", "found": "1600.00"}}


def test_confirmation_refused_with_broken_seals(issued: Any, eu_officer: Any) -> None:
    with pytest.raises(ValidationFailed) as exc:
        services.confirm(eu_officer, issued.number, {"received_on": issued.issued_on.isoformat(), "parcels": 4,
                                                     "carats": "1650.40", "seals_intact": False})
    assert exc.value.rule == "IMP-05"


def test_other_participants_cannot_act_or_read(issued: Any, make_user: Any) -> None:
    za = make_user("za@test.kpcs", "importing_officer", "ZA")
    with pytest.raises(NotFound):
        services.get(za, issued.number)
    with pytest.raises(NotFound):
        services.confirm(za, issued.number, {"received_on": issued.issued_on.isoformat(), "parcels": 4,
                                             "carats": "1650.40", "seals_intact": True})


def test_exporting_side_cannot_confirm_its_own_certificate(issued: Any, make_user: Any) -> None:
    both = make_user("bw@test.kpcs", "importing_officer", "BW")
    with pytest.raises(PermissionDenied):
        services.confirm(both, issued.number, {"received_on": issued.issued_on.isoformat(), "parcels": 4,
                                               "carats": "1650.40", "seals_intact": True})


def test_rejection_records_the_discrepancy(issued: Any, eu_officer: Any) -> None:
    with pytest.raises(ValidationFailed):
        services.reject(eu_officer, issued.number, {"reason": "short", "discrepancy": {"kind": "content_mismatch"}})
    cert = services.reject(eu_officer, issued.number, {
        "reason": "weighed less", "discrepancy": {"kind": "content_mismatch", "found": {"carats": "1600.00"}}})
    assert cert.status == "rejected"
    rej = services.to_dict(services.get(eu_officer, issued.number))["rejection"]
    assert rej["declared"]["carats"] == "1650.40" and rej["found"] == {"carats": "1600.00"}


def test_cancellation_only_by_issuing_participant(issued: Any, bw_officer: Any, eu_officer: Any) -> None:
    with pytest.raises(PermissionDenied):
        services.cancel(eu_officer, issued.number, {"reason": "no"})
    assert services.cancel(bw_officer, issued.number, {"reason": "postponed"}).status == "cancelled"
    with pytest.raises(Conflict):
        services.cancel(bw_officer, issued.number, {"reason": "again"})


def test_expiry_and_overdue(bw_officer: Any, kp: Any) -> None:
    long_ago = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = services.issue(bw_officer, certificate_request(), now=long_ago)
    data = services.to_dict(cert, today=dt.date(2024, 1, 20))
    assert data["status"] == "issued" and data["overdue"]
    assert services.to_dict(cert, today=dt.date(2024, 1, 10))["overdue"] is False
    assert [c.number for c in services.search(bw_officer, overdue=True, today=dt.date(2024, 1, 20))] == [cert.number]
    assert services.to_dict(cert, today=dt.date(2024, 3, 2))["status"] == "expired"
    with pytest.raises(Conflict):  # an expired certificate is not cancelled
        services.cancel(bw_officer, cert.number, {"reason": "late"}, now=dt.datetime(2024, 3, 2, tzinfo=dt.UTC))
    assert services.expire_due(dt.date(2024, 3, 2), actor=kp.SYSTEM) == [cert.number]
    assert Certificate.objects.get(pk=cert.pk).status == "expired"


def test_public_verification_discloses_no_commercial_details(issued: Any) -> None:
    result = services.public_verification(issued.number.replace(" ", ""), code_of(issued))
    assert result["genuine"] and result["usable"]
    text = repr(result)
    for secret in ("Y BV", "1887600", "BW-EXP-1", "Antwerp"):
        assert secret not in text


def _stolen_key_signs(kid: str, payload: dict[str, Any]) -> str:
    from kpcs import crypto
    from kpcs.registry.models import SigningKey
    from kpcs.registry.services import _load_private_key

    return crypto.sign(payload, _load_private_key(SigningKey.objects.get(kid=kid).private_path), kid)


def test_a_stolen_revoked_key_cannot_back_date(bw_officer: Any, kp: Any) -> None:
    """Revocation records the last serial the key signed: a later serial is forged whatever time it claims."""
    before = services.issue(bw_officer, certificate_request())
    kid = before.kid
    revoked = services.revoke_signing_key(kid, "compromised", actor=kp.SYSTEM)
    assert revoked.last_serial == before.serial == 1
    assert services.public_verification(before.number, code_of(before))["genuine"]
    with pytest.raises(Conflict):  # no valid key any more: issuing stops until a new key exists
        services.issue(bw_officer, certificate_request())
    payload = dict(services.verify_token(before.jws).payload)
    after = dict(payload, issued_at="2099-01-01T00:00:00.000000Z")  # signed after the revocation, honestly dated
    result = services.verify_token(_stolen_key_signs(kid, after))
    assert result.signature_valid and not result.genuine and not result.key_valid_at_signing
    # The forger back-dates the next certificate into the key's good days: its serial gives it away.
    backdated = dict(payload, number="BW 0000002")
    result = services.verify_token(_stolen_key_signs(kid, backdated))
    assert result.signature_valid and not result.genuine
    assert any("serial 2" in r for r in result.reasons), result.reasons
    answer = services.verify_presented(_stolen_key_signs(kid, backdated))
    assert not answer["genuine"] and answer["status"] == "unknown"
    # Re-using a legitimate serial with other contents: the key's own bound cannot tell, this node's record can.
    reused = dict(payload, importer={"name": "Front BV", "address": "Elsewhere"})
    answer = services.verify_presented(_stolen_key_signs(kid, reused))
    assert not answer["genuine"] and any("does not match" in r for r in answer["reasons"])


def test_revocation_back_to_a_time_marks_later_certificates_online(bw_officer: Any, eu_officer: Any,
                                                                   kp: Any) -> None:
    """A certificate signed after the time a key was compromised cannot be confirmed, is marked on every read
    and leaves the trade statistics (IMP-08, STAT-01)."""
    from kpcs.statistics import services as statistics

    t0 = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
    good = services.issue(bw_officer, certificate_request(), now=t0)
    suspect = services.issue(bw_officer, certificate_request(), now=t0 + dt.timedelta(days=2))
    confirmed = services.issue(bw_officer, certificate_request(), now=t0 + dt.timedelta(days=3))
    services.confirm(eu_officer, confirmed.number, {"received_on": "2025-03-05", "parcels": 4, "carats": "1650.40",
                                                    "seals_intact": True}, now=t0 + dt.timedelta(days=4))
    during = dt.date(2025, 3, 10)  # as of a day all three could still be used (effective status, CERT-09)
    exported_before = sum(f.certificates or 0 for f in statistics.derived_facts(as_of=during) if f.flow == "export")
    services.revoke_signing_key(good.kid, "key copied from the officer's laptop", t0 + dt.timedelta(days=1),
                                actor=kp.SYSTEM)
    assert statistics.check_trade_cells() == 0  # the kept cells still equal the certificates, minus these two
    assert sum(f.certificates or 0 for f in statistics.derived_facts(as_of=during)
               if f.flow == "export") == exported_before - 2
    assert not any(f.flow == "import" for f in statistics.derived_facts())
    for cert in (suspect, confirmed):
        data = services.to_dict(services.get(bw_officer, cert.number))
        assert data["signer_revoked"] is True
        assert not services.public_verification(cert.number, code_of(cert))["genuine"]
    with pytest.raises(ValidationFailed) as refused:
        services.confirm(eu_officer, suspect.number, {"received_on": "2025-03-05", "parcels": 4,
                                                      "carats": "1650.40", "seals_intact": True},
                         now=t0 + dt.timedelta(days=5))
    assert refused.value.code == "unknown_signer" and refused.value.rule == "IMP-08"
    services.reject(eu_officer, suspect.number, {"reason": "signed with a revoked key",
                                                 "discrepancy": {"kind": "unknown_signer"}},
                    now=t0 + dt.timedelta(days=5))
    assert statistics.check_trade_cells() == 0  # rejecting it does not bring it back
    assert services.to_dict(services.get(bw_officer, good.number))["signer_revoked"] is False
    services.confirm(eu_officer, good.number, {"received_on": "2025-03-05", "parcels": 4, "carats": "1650.40",
                                               "seals_intact": True}, now=t0 + dt.timedelta(days=5))
    checked = audit.verify()  # every mark and the key's bound are in the log: replaying it gives the rows
    assert checked.valid and checked.state_checked, checked.differences


def test_revocation_refuses_a_last_serial_above_what_the_key_signed(bw_officer: Any, kp: Any) -> None:
    cert = services.issue(bw_officer, certificate_request())
    assert services.public_verification(cert.number, code_of(cert))["genuine"]  # remembered until the keys change
    with pytest.raises(ValidationFailed):
        services.revoke_signing_key(cert.kid, "lost", actor=kp.SYSTEM, last_serial=5)
    assert services.revoke_signing_key(cert.kid, "lost", actor=kp.SYSTEM, last_serial=0).last_serial == 0
    assert not services.public_verification(cert.number, code_of(cert))["genuine"]


def test_rotation_keeps_old_certificates_genuine(bw_officer: Any, kp: Any) -> None:
    old = services.issue(bw_officer, certificate_request())
    new_key = services.rotate_signing_key("BW-KPA", actor=kp.SYSTEM)
    new = services.issue(bw_officer, certificate_request())
    assert new.kid == new_key.kid != old.kid
    assert services.public_verification(old.number, code_of(old))["genuine"]
    assert services.public_verification(new.number, code_of(new))["genuine"]
    # A retired key found later signs nothing new: its bound is the serial it last signed.
    backdated = dict(services.verify_token(old.jws).payload, number="BW 0000003")
    assert not services.verify_token(_stolen_key_signs(old.kid, backdated)).genuine
    checked = audit.verify()
    assert checked.valid, checked.differences


# --- the QR code's compact form ---------------------------------------------------------------------

def test_the_qr_form_is_signed_at_issue_by_the_same_key_and_verifies_as_the_jws(issued: Any, bw_officer: Any) -> None:
    from kpcs.certificates import compact

    assert issued.qr and issued.qr.startswith("KP1:")
    decoded = compact.decode(issued.qr)
    assert decoded.kid == issued.kid
    assert decoded.payload == services.verify_token(issued.jws).payload
    jws, qr = services.verify_presented(issued.jws), services.verify_presented(issued.qr)
    assert qr == jws and qr["genuine"] and qr["usable"] and qr["status"] == "issued", qr
    assert services.to_dict(services.get(bw_officer, issued.number))["qr"] == issued.qr


def test_a_certificate_issued_before_the_qr_form_says_qr_null(issued: Any, bw_officer: Any) -> None:
    Certificate.objects.filter(pk=issued.pk).update(qr=None)
    assert services.to_dict(services.get(bw_officer, issued.number))["qr"] is None


def test_a_stolen_revoked_key_cannot_back_date_a_qr_either(bw_officer: Any, kp: Any) -> None:
    """The QR form gets the same verdict and reasons as the JWS: a serial past the key's bound is forged."""
    from kpcs.certificates import compact
    from kpcs.registry.models import SigningKey
    from kpcs.registry.services import _load_private_key

    before = services.issue(bw_officer, certificate_request())
    services.revoke_signing_key(before.kid, "compromised", actor=kp.SYSTEM)
    key = _load_private_key(SigningKey.objects.get(kid=before.kid).private_path)
    backdated = dict(services.verify_token(before.jws).payload, number="BW 0000002")
    jws = services.verify_presented(_stolen_key_signs(before.kid, backdated))
    qr = services.verify_presented(compact.encode(backdated, key, before.kid))
    assert qr == jws and not qr["genuine"] and qr["status"] == "unknown"
    assert any("serial 2" in r for r in qr["reasons"]), qr["reasons"]
    # Re-using the legitimate serial with other contents: this node's record tells, for the QR as for the JWS.
    reused = dict(backdated, number=before.number, importer={"name": "Front BV", "address": "Elsewhere"})
    answer = services.verify_presented(compact.encode(reused, key, before.kid))
    assert not answer["genuine"] and any("does not match" in r for r in answer["reasons"])
