"""Property tests on signed certificates (BRIEF §7, forgery): no database, keys made in memory.

- any single changed byte of the JWS compact string fails verification;
- a payload changed in any field and re-signed under any key but the issuing authority's fails;
- the issuing key counts only inside its validity and before its revocation time;
- RFC 8785 canonical JSON round-trips and does not depend on key order.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kpcs import crypto
from kpcs.certificates import rules

ISSUED_AT = dt.datetime(2026, 11, 29, 10, 30, 15, 123456, tzinfo=dt.UTC)
SINCE = "2025-01-01T00:00:00Z"
BW_KEY = crypto.generate_private_key()
ZA_KEY = crypto.generate_private_key()
ATTACKER_KEY = crypto.generate_private_key()
BW_KID = "BW-KPA#property-test-1"
ZA_KID = "ZA-KPA#property-test-1"


def entry(kid: str, authority: str, participant: str, key: Any, valid_from: str = SINCE,
          valid_until: str | None = None, revoked_at: str | None = None) -> dict[str, Any]:
    """A trust-list entry, as GET /api/v1/trust-list and `kpcs trust-list export` publish it."""
    return {"kid": kid, "authority": authority, "participant": participant,
            "jwk": {**crypto.public_jwk(key, kid), "alg": crypto.ALG, "use": "sig"},
            "valid_from": valid_from, "valid_until": valid_until, "revoked_at": revoked_at}


TRUST = {BW_KID: entry(BW_KID, "BW-KPA", "BW", BW_KEY), ZA_KID: entry(ZA_KID, "ZA-KPA", "ZA", ZA_KEY)}
LINES = [rules.Line("7102.31", Decimal("1250.40"), Decimal("1875600.00"), 3),
         rules.Line("7102.21", Decimal("400.00"), Decimal("12000.00"), 1)]


def payload(number: str = "BW 0000042", lines: list[rules.Line] = LINES, issued_at: dt.datetime = ISSUED_AT,
            origin: dict[str, Any] | None = None) -> dict[str, Any]:
    return rules.build_payload(
        number=number, cert_type="standard", exporting="BW", importing="EU",
        authority={"id": "BW-KPA", "name": "Botswana KP Authority", "participant": "BW"},
        issued_at=issued_at, expires_on=issued_at.date() + dt.timedelta(days=60),
        exporter={"name": "X Ltd", "address": "1 Diamond Street, Gaborone", "licence": "BW-EXP-0001"},
        importer={"name": "Y BV", "address": "Hoveniersstraat 22, Antwerp"},
        origin=origin or {"kind": "single", "countries": ["BW"]}, lines=lines, totals=rules.totals_of(lines))


PAYLOAD = payload()
TOKEN = crypto.sign(PAYLOAD, BW_KEY, BW_KID)


def verify(token: str, trust: dict[str, dict[str, Any]] = TRUST) -> rules.Verification:
    return rules.verify_signed(token, trust.get)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# I-JSON, the domain RFC 8785 accepts: no NaN or infinities, integers (and integral floats) below 2**53.
SAFE = 2**53 - 1
json_scalars = (st.none() | st.booleans() | st.integers(-SAFE, SAFE)
                | st.floats(min_value=-SAFE, max_value=SAFE, allow_nan=False) | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


# --- the genuine document ------------------------------------------------------------------------

def test_the_signed_certificate_verifies_and_carries_its_payload() -> None:
    result = verify(TOKEN)
    assert result.genuine, result.reasons
    assert result.signature_valid and result.key_valid_at_signing and result.kid == BW_KID
    assert result.payload == PAYLOAD


# --- any changed byte ---------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(TOKEN) - 1), byte=st.integers(0, 255))
@example(position=len(TOKEN) - 1, byte=ord("A"))  # the last signature character carries padding bits
@example(position=TOKEN.index("."), byte=ord("A"))  # a separator
@example(position=0, byte=ord(" "))
def test_any_changed_byte_fails_verification(position: int, byte: int) -> None:
    assume(chr(byte) != TOKEN[position])
    forged = TOKEN[:position] + chr(byte) + TOKEN[position + 1:]
    result = verify(forged)
    assert not result.genuine
    assert result.reasons


def test_no_replacement_at_a_segment_boundary_verifies() -> None:
    """Exhaustively where base64url is malleable (the trailing bits of each part) and around the dots."""
    dots = [i for i, c in enumerate(TOKEN) if c == "."]
    positions = {0, 1, len(TOKEN) - 1, len(TOKEN) - 2, len(TOKEN) - 3}
    for d in dots:
        positions |= {d - 2, d - 1, d, d + 1}
    for position in sorted(positions):
        for byte in range(256):
            if chr(byte) == TOKEN[position]:
                continue
            forged = TOKEN[:position] + chr(byte) + TOKEN[position + 1:]
            assert not verify(forged).genuine, (position, chr(byte))


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(1, len(TOKEN) - 1), extra=st.text(min_size=1, max_size=3))
def test_truncated_or_extended_tokens_fail(cut: int, extra: str) -> None:
    assert not verify(TOKEN[:cut]).genuine
    assume(extra.strip())  # surrounding whitespace is ignored when reading a token from a file
    assert not verify(TOKEN + extra).genuine
    assert not verify(extra + TOKEN).genuine


# --- changed and re-signed ----------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(sorted(PAYLOAD)), value=json_values,
       signer=st.sampled_from(["attacker-as-BW", "attacker-own-kid", "ZA-authority"]))
@example(field="totals", value={"carats": "16.40", "value_usd": "1887600.00", "parcels": 4},
         signer="attacker-as-BW")
@example(field="issuing_authority", value={"id": "ZA-KPA"}, signer="ZA-authority")
@example(field="exporting_participant", value="ZA", signer="ZA-authority")
def test_a_changed_payload_resigned_under_another_key_fails(field: str, value: Any, signer: str) -> None:
    assume(value != PAYLOAD[field])
    forged_payload = {**PAYLOAD, field: value}
    key, kid = {"attacker-as-BW": (ATTACKER_KEY, BW_KID), "attacker-own-kid": (ATTACKER_KEY, "BW-KPA#attacker"),
                "ZA-authority": (ZA_KEY, ZA_KID)}[signer]
    forged = crypto.sign(forged_payload, key, kid)
    result = verify(forged)
    assert not result.genuine
    if signer == "attacker-as-BW":
        assert not result.signature_valid


def test_the_same_payload_signed_by_a_key_outside_the_trust_list_fails() -> None:
    for kid in (BW_KID, "BW-KPA#attacker", ""):
        result = verify(crypto.sign(PAYLOAD, ATTACKER_KEY, kid))
        assert not result.genuine and not result.signature_valid


def test_another_algorithm_or_a_non_canonical_payload_is_refused_even_with_a_valid_signature() -> None:
    body = b64(json.dumps(PAYLOAD, indent=1).encode())  # same content, not RFC 8785 bytes
    for header, encoded in (({"alg": "EdDSA", "kid": BW_KID}, b64(crypto.canonical(PAYLOAD))),
                            ({"alg": "none", "kid": BW_KID}, b64(crypto.canonical(PAYLOAD))),
                            ({"alg": crypto.ALG, "kid": BW_KID}, body)):
        signing_input = f"{b64(json.dumps(header).encode())}.{encoded}"
        token = f"{signing_input}.{b64(BW_KEY.sign(signing_input.encode()))}"
        assert not verify(token).genuine, header
    unsigned = f"{b64(json.dumps({'alg': 'none', 'kid': BW_KID}).encode())}.{b64(crypto.canonical(PAYLOAD))}."
    assert not verify(unsigned).genuine


def test_hostile_tokens_are_refused_not_crashed_on() -> None:
    """Content no authority would sign still gets a verdict: absurd nesting, NaN, numbers beyond I-JSON —
    unsigned, or signed by a trusted key of another authority."""
    nested = b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for body in (nested, b'{"x": NaN}', b'{"x": 9007199254740993}', b'{"x": 1e400}'):
        for key, kid in ((ATTACKER_KEY, BW_KID), (ZA_KEY, ZA_KID)):
            signing_input = f"{b64(json.dumps({'alg': crypto.ALG, 'kid': kid}).encode())}.{b64(body)}"
            token = f"{signing_input}.{b64(key.sign(signing_input.encode()))}"
            result = verify(token)
            assert not result.genuine and result.reasons, body[:20]


def test_the_signature_bytes_are_read_strictly_and_alone() -> None:
    """Verification codes are derived from the signature part only, decoded as strictly as verification does."""
    head, body, sig = TOKEN.split(".")
    assert crypto.signature_bytes(TOKEN) == base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    assert crypto.signature_bytes(f"not-json.{body}.{sig}") == crypto.signature_bytes(TOKEN)
    spare_bits = sig[:-1] + "B"  # 64 bytes end on a character whose 4 low bits must be 0: B sets one
    for broken in (f"{head}.{body}", f"{TOKEN}.x", f"{head}.{body}.{sig}=", f"{head}.{body}.{sig[:-1]}*",
                   f"{head}.{body}.{spare_bits}"):
        with pytest.raises(crypto.BadSignature):
            crypto.signature_bytes(broken)


# --- key validity at the signing time ------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(revoked=st.integers(-10**9, 10**9), starts=st.integers(-10**9, 10**9),
       retired=st.one_of(st.none(), st.integers(-10**9, 10**9)))
@example(revoked=0, starts=-1, retired=None)  # revoked exactly at the signing instant: not valid
@example(revoked=1, starts=0, retired=None)  # valid from exactly the signing instant: valid
def test_the_key_counts_only_while_valid_and_before_its_revocation(revoked: int, starts: int,
                                                                   retired: int | None) -> None:
    """Offsets in microseconds from the signing time."""
    def at(offset: int) -> str:
        return rules.iso_z(ISSUED_AT + dt.timedelta(microseconds=offset))

    trust = {BW_KID: entry(BW_KID, "BW-KPA", "BW", BW_KEY, valid_from=at(starts),
                           valid_until=at(retired) if retired is not None else None, revoked_at=at(revoked))}
    result = verify(TOKEN, trust)
    assert result.signature_valid
    assert result.genuine == (starts <= 0 and revoked > 0 and (retired is None or retired > 0))


# --- round trips ---------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_canonical_json_round_trips(value: Any) -> None:
    encoded = crypto.canonical(value)
    decoded = json.loads(encoded)
    assert decoded == value
    assert crypto.canonical(decoded) == encoded


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=10), json_values, max_size=8), seed=st.randoms())
def test_canonical_json_ignores_key_order(data: dict[str, Any], seed: Any) -> None:
    keys = list(data)
    seed.shuffle(keys)
    assert crypto.canonical({k: data[k] for k in keys}) == crypto.canonical(data)


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2)
line_strategy = st.builds(rules.Line, st.sampled_from(rules.HS_IN_SCOPE), amounts, amounts, st.integers(1, 1000))


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(line_strategy, min_size=1, max_size=5), serial=st.integers(1, 9_999_999),
       seconds=st.integers(0, 10 * 365 * 86400), mixed=st.booleans())
def test_any_certificate_signed_by_its_authority_verifies_to_the_same_payload(
        lines: list[rules.Line], serial: int, seconds: int, mixed: bool) -> None:
    issued_at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds, microseconds=seconds % 997)
    origin = {"kind": "mixed", "countries": ["BW", "NA"]} if mixed else None
    document = payload(rules.format_number("BW", serial), lines, issued_at, origin)
    result = verify(crypto.sign(document, BW_KEY, BW_KID))
    assert result.genuine, result.reasons
    assert result.payload == document


def test_our_verifier_agrees_with_joserfc() -> None:
    """The fast path (cryptography directly) accepts exactly what a JOSE library accepts."""
    from joserfc import jws
    from joserfc.errors import JoseError
    from joserfc.jwk import OKPKey

    from kpcs import crypto

    key = crypto.generate_private_key()
    jwk = crypto.public_jwk(key, "K#1")
    token = crypto.sign({"number": "BW 0000001", "carats": "1.00"}, key, "K#1")
    assert jws.deserialize_compact(token, OKPKey.import_key(jwk), algorithms=["Ed25519"]).payload
    assert crypto.verify(token, jwk)["number"] == "BW 0000001"
    for i in range(len(token)):
        for replacement in "A_-.":
            forged = token[:i] + replacement + token[i + 1:]
            if forged == token:
                continue
            try:
                jws.deserialize_compact(forged, OKPKey.import_key(jwk), algorithms=["Ed25519"])
                library_ok = True
            except (JoseError, ValueError):
                library_ok = False
            try:
                crypto.verify(forged, jwk)
                ours_ok = True
            except crypto.BadSignature:
                ours_ok = False
            assert not ours_ok, (i, replacement)
            assert not (ours_ok and not library_ok)
