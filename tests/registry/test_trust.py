"""The trust list and its anchor: what an offline verifier trusts, and what a forger cannot make it trust."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from kpcs import crypto
from kpcs.certificates import rules as cert_rules
from kpcs.certificates import services as certificates
from kpcs.registry import rules
from kpcs.registry.models import ParticipantStatus, TrustListIssue
from tests.conftest import certificate_request

pytestmark = pytest.mark.django_db


def _anchor(api_as: Any) -> str:
    resp = api_as(None).get("/trust-list/anchor")
    assert resp.status_code == 200, resp.content
    doc = resp.json()
    assert set(doc) == {"anchor", "kid", "alg", "jwk"} and set(doc["jwk"]) == {"kty", "crv", "x"}
    assert crypto.jwk_thumbprint(doc["jwk"]) == doc["anchor"] == rules.anchor_of(doc) == rules.anchor_of(doc["jwk"])
    return str(doc["anchor"])


def test_trust_list_is_public_anchored_and_complete(api_as: Any, kp: Any) -> None:
    anchor = _anchor(api_as)
    resp = api_as(None).get("/trust-list")
    assert resp.status_code == 200, resp.content
    document = resp.json()
    listed = rules.check_trust_list(document, anchor)
    body = document["trust_list"]
    assert body["type"] == "kpcs-trust-list" and body["version"] == 2 and listed.sequence == body["sequence"] >= 1
    assert listed.issued_at < listed.next_update and not listed.is_stale(listed.issued_at)
    by_authority = {k["authority"]: k for k in body["keys"]}
    assert {"BW-KPA", "EU-BE-ANTWERP", "ZA-KPA"} <= set(by_authority)
    bw = by_authority["BW-KPA"]
    assert bw["participant"] == "BW" and bw["status"] == "active" and bw["purpose"] == "authority"
    assert bw["last_serial"] is None and bw["jwk"]["kid"] == bw["kid"]
    assert all("d" not in k["jwk"] for k in body["keys"] + body["node_keys"])  # never a private key
    # Every participant with its status history, so offline verification judges standing as the node does.
    assert {p["code"] for p in body["participants"]} >= {"BW", "EU", "CI", "VE", "GB"}
    ci = next(p for p in body["participants"] if p["code"] == "CI")
    assert any(s["status"] == "embargoed" for s in ci["statuses"])
    for code, day in (("CI", dt.date(2010, 6, 1)), ("VE", dt.date(2012, 1, 1)), ("BW", dt.date(2020, 1, 1)),
                      ("XK", dt.date(2020, 1, 1))):
        assert listed.status_on(code, day) == kp.status_on(code, day).status


def test_a_forged_list_with_the_nodes_kid_is_refused(api_as: Any, kp: Any) -> None:
    """The attack of the issue: any key, labelled with the node's kid, signing a list that names the forger's
    authority key. The anchor is the node key's thumbprint, so the label counts for nothing."""
    anchor = _anchor(api_as)
    genuine = api_as(None).get("/trust-list").json()
    forger = crypto.generate_private_key()
    body = copy.deepcopy(genuine["trust_list"])
    node_kid = body["node_keys"][0]["kid"]
    body["node_keys"][0]["jwk"] = {**crypto.public_jwk(forger, node_kid), "alg": "Ed25519", "use": "sig"}
    body["keys"][0]["jwk"] = {**crypto.public_jwk(forger, body["keys"][0]["kid"]), "alg": "Ed25519"}
    forged = {"trust_list": body, "signature": crypto.sign(body, forger, node_kid)}
    with pytest.raises(rules.UntrustedList, match="did not endorse"):
        rules.check_trust_list(forged, anchor)
    # Endorsing itself in the anchor chain does not help either: the endorsement must be signed by the anchor.
    body = copy.deepcopy(body)
    fake_old = crypto.generate_private_key()
    link = rules.endorsement_payload("node#old", crypto.public_jwk(fake_old), node_kid, crypto.public_jwk(forger),
                                     dt.datetime.now(dt.UTC))
    body["anchor_chain"] = [crypto.sign(link, fake_old, "node#old")]
    with pytest.raises(rules.UntrustedList):
        rules.check_trust_list({"trust_list": body, "signature": crypto.sign(body, forger, node_kid)}, anchor)


def test_an_altered_or_unsigned_list_is_refused(api_as: Any, kp: Any) -> None:
    anchor = _anchor(api_as)
    document = api_as(None).get("/trust-list").json()
    altered = copy.deepcopy(document)
    altered["trust_list"]["keys"][0]["last_serial"] = 10**9
    for bad in (altered, {"trust_list": document["trust_list"]}, {"signature": document["signature"]}, [], "x"):
        with pytest.raises(rules.UntrustedList):
            rules.check_trust_list(bad, anchor)
    with pytest.raises(rules.UntrustedList):
        rules.check_trust_list(document, "A" * 43)  # another anchor
    with pytest.raises(rules.UntrustedList, match="older"):
        rules.check_trust_list(document, anchor, min_sequence=document["trust_list"]["sequence"] + 1)


def test_sequence_grows_only_when_the_list_changes_or_ages(kp: Any) -> None:
    t0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    first = kp.trust_list(t0)["trust_list"]
    assert kp.trust_list(t0 + dt.timedelta(hours=1))["trust_list"] == first  # nothing changed: the same issue
    ParticipantStatus.objects.create(participant_id="BW", status="suspended", valid_from=dt.date(2031, 1, 1),
                                     cause="test")
    second = kp.trust_list(t0 + dt.timedelta(hours=2))["trust_list"]
    assert second["sequence"] == first["sequence"] + 1
    half_life = kp.trust_list_validity() / 2
    third = kp.trust_list(t0 + dt.timedelta(hours=2) + half_life)["trust_list"]
    assert third["sequence"] == second["sequence"] + 1  # refreshed before its next_update
    assert TrustListIssue.objects.count() == 3
    listed = rules.check_trust_list(kp.trust_list(t0 + dt.timedelta(hours=2) + half_life),
                                    kp.anchor()["anchor"])
    assert listed.is_stale(listed.next_update) and listed.status_on("BW", dt.date(2031, 6, 1)) == "suspended"


def test_after_a_node_key_rotation_the_old_anchor_follows_the_endorsement(kp: Any) -> None:
    old_anchor = kp.anchor()["anchor"]
    certificates.rotate_signing_key(None, actor=kp.SYSTEM)
    new_anchor = kp.anchor()["anchor"]
    assert new_anchor != old_anchor
    document = kp.trust_list()
    listed = rules.check_trust_list(document, old_anchor)
    assert listed.signer_thumbprint == new_anchor
    assert rules.check_trust_list(document, new_anchor).sequence == listed.sequence
    certificates.rotate_signing_key(None, actor=kp.SYSTEM)  # two rotations: two links
    assert rules.check_trust_list(kp.trust_list(), old_anchor).signer_thumbprint == kp.anchor()["anchor"]
    # A broken link breaks the chain for the old anchor, not for the current one.
    document = kp.trust_list()
    tampered = copy.deepcopy(document)
    tampered["trust_list"]["anchor_chain"] = []
    with pytest.raises(rules.UntrustedList):
        rules.check_trust_list(tampered, old_anchor)


def test_a_node_key_revoked_for_compromise_endorses_nothing(kp: Any) -> None:
    old = kp.anchor()
    certificates.revoke_signing_key(old["kid"], "stolen", actor=kp.SYSTEM)
    kp.ensure_node_key()
    with pytest.raises(rules.UntrustedList):  # the old anchor must not lead to the new key
        rules.check_trust_list(kp.trust_list(), old["anchor"])
    rules.check_trust_list(kp.trust_list(), kp.anchor()["anchor"])


def test_a_certificate_verifies_offline_and_its_standing_is_judged_on_its_issue_date(kp: Any, bw_officer: Any,
                                                                                    api_as: Any) -> None:
    issued = certificates.issue(bw_officer, certificate_request(), now=dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
    listed = rules.check_trust_list(api_as(None).get("/trust-list").json(), _anchor(api_as))
    result = cert_rules.verify_signed(issued.jws, listed.keys.get)
    assert result.genuine, result.reasons
    assert cert_rules.standing_at_issue(result.payload, listed.status_on) == []
    # A suspension later recorded as effective before the issue date: offline and online both say so.
    ParticipantStatus.objects.create(participant_id="EU", status="suspended", valid_from=dt.date(2025, 1, 1),
                                     valid_to=dt.date(2025, 3, 1), cause="test")
    listed = rules.check_trust_list(api_as(None).get("/trust-list").json(), _anchor(api_as))
    offline = cert_rules.standing_at_issue(result.payload, listed.status_on)
    assert offline and "EXP-01" in offline[0]
    from tests.conftest import code_of

    online = certificates.public_verification(issued.number, code_of(issued), today=dt.date(2025, 2, 2))
    assert not online["usable"] and any("EXP-01" in r for r in online["reasons"])


def _mutations() -> Any:
    from hypothesis import strategies as st

    junk = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.lists(st.integers(), max_size=2) \
        | st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)
    return st.lists(st.tuples(st.sampled_from(["signature", "trust_list", "keys", "node_keys", "participants",
                                               "anchor_chain", "sequence", "issued_at", "next_update", "jwk"]),
                              junk), min_size=1, max_size=3)


def test_any_damage_to_a_list_is_refused_as_untrusted_never_a_crash(kp: Any) -> None:
    """What `kpcs certificate verify` catches is UntrustedList: anything else would be a traceback."""
    from hypothesis import HealthCheck, given, settings

    document = kp.trust_list()
    anchor = kp.anchor()["anchor"]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_mutations())
    def damaged(changes: list[tuple[str, Any]]) -> None:
        doc = copy.deepcopy(document)
        for where, value in changes:
            if where == "signature":
                doc["signature"] = value
            elif where == "trust_list":
                doc["trust_list"] = value if not isinstance(doc.get("trust_list"), dict) else doc["trust_list"]
            elif isinstance(doc.get("trust_list"), dict):
                body = doc["trust_list"]
                if where == "jwk" and isinstance(body.get("node_keys"), list) and body["node_keys"]:
                    if isinstance(body["node_keys"][0], dict):
                        body["node_keys"][0]["jwk"] = value
                else:
                    body[where] = value
        try:
            rules.check_trust_list(doc, anchor)
        except rules.UntrustedList:
            pass

    damaged()


def test_a_node_key_never_signs_a_certificate(kp: Any, bw_officer: Any) -> None:
    issued = certificates.issue(bw_officer, certificate_request())
    payload = dict(certificates.verify_token(issued.jws).payload, issuing_authority={})
    node_kid = kp.anchor()["kid"]
    from kpcs.registry.models import SigningKey
    from kpcs.registry.services import _load_private_key

    forged = crypto.sign(payload, _load_private_key(SigningKey.objects.get(kid=node_kid).private_path), node_kid)
    result = certificates.verify_token(forged)
    assert not result.genuine and any("not an authority's key" in r for r in result.reasons)
