"""The QR code's compact form (`KP1:` + base45(zlib(COSE_Sign1))): no database, keys made in memory.

- it round-trips and verifies exactly as the JWS of the same certificate does, with the same verdict and reasons
  for every trust-list situation (unknown signer, revoked, back-dated past the key's last serial…);
- any changed byte of the COSE structure is refused;
- malformed input of any kind is refused with crypto.BadSignature, never another exception.
"""

from __future__ import annotations

import zlib
from typing import Any

import base45
import cbor2
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kpcs import crypto
from kpcs.certificates import compact, rules
from tests.certificates.test_signing_properties import (
    ATTACKER_KEY,
    BW_KEY,
    BW_KID,
    PAYLOAD,
    TOKEN,
    TRUST,
    ZA_KEY,
    ZA_KID,
    entry,
    payload,
)

QR = compact.encode(PAYLOAD, BW_KEY, BW_KID)
COSE = zlib.decompress(base45.b45decode(QR[len(compact.PREFIX):]))


def verify(text: str, trust: dict[str, dict[str, Any]] = TRUST) -> rules.Verification:
    return rules.verify_signed(text, trust.get)


def pack(cose: bytes) -> str:
    return compact.PREFIX + base45.b45encode(zlib.compress(cose)).decode()


def cose_of(parts: list[Any], tag: int = compact.COSE_SIGN1) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(tag, parts), canonical=True)


def signed_parts(protected: bytes, body: bytes, key: Any = BW_KEY) -> list[Any]:
    return [protected, {}, body, key.sign(compact.sig_structure(protected, body))]


def assert_refused(text: str) -> None:
    with pytest.raises(crypto.BadSignature):
        compact.decode(text)
    result = verify(text)
    assert not result.genuine and result.reasons


# --- the genuine document ------------------------------------------------------------------------

def test_the_compact_form_round_trips_and_verifies_like_the_jws() -> None:
    decoded = compact.decode(QR)
    assert decoded.kid == BW_KID and decoded.payload == PAYLOAD and len(decoded.signature) == 64
    assert QR.startswith("KP1:") and len(QR) < len(TOKEN)
    qr, jws = verify(QR), verify(TOKEN)
    assert qr.genuine and jws.genuine, (qr.reasons, jws.reasons)
    assert qr.form == "qr" and jws.form == "jws"
    assert (qr.payload, qr.kid, qr.signature_valid, qr.key_valid_at_signing) == (
        jws.payload, jws.kid, jws.signature_valid, jws.key_valid_at_signing)
    # What a node compares with the hash it stored at issue: the same canonical JSON the JWS signs.
    assert qr.signed_bytes == jws.signed_bytes == crypto.signed_payload(TOKEN)
    assert qr.signature == b""  # the verification code derives from the JWS signature only


def test_the_text_is_qr_alphanumeric_and_survives_surrounding_whitespace() -> None:
    alphabet = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert set(QR) <= alphabet
    assert verify(f"\n  {QR}\r\n").genuine


def test_the_payload_and_header_are_deterministic_cbor() -> None:
    tag = cbor2.loads(COSE)
    protected, unprotected, body, _ = tag.value
    assert tag.tag == 18 and len(unprotected) == 0
    assert cbor2.loads(protected) == {1: -8, 4: BW_KID.encode()}
    assert body == cbor2.dumps(PAYLOAD, canonical=True)
    assert list(cbor2.loads(body)) == sorted(PAYLOAD, key=lambda k: (len(k.encode()), k.encode()))


# --- the same verdict as the JWS in every situation ----------------------------------------------

LATER = "2026-12-01T00:00:00Z"
EARLIER = "2026-11-01T00:00:00Z"
SITUATIONS: dict[str, tuple[Any, str, dict[str, dict[str, Any]]]] = {
    "genuine": (BW_KEY, BW_KID, TRUST),
    "outside the trust list, under the authority's kid": (ATTACKER_KEY, BW_KID, TRUST),
    "outside the trust list, own kid": (ATTACKER_KEY, "BW-KPA#attacker", TRUST),
    "another authority's key": (ZA_KEY, ZA_KID, TRUST),
    "revoked after signing, serial within the bound": (
        BW_KEY, BW_KID, {BW_KID: {**entry(BW_KID, "BW-KPA", "BW", BW_KEY, revoked_at=LATER), "last_serial": 42}}),
    "back-dated by a revoked key past its last serial": (
        BW_KEY, BW_KID, {BW_KID: {**entry(BW_KID, "BW-KPA", "BW", BW_KEY, revoked_at=LATER), "last_serial": 41}}),
    "retired past its last serial": (
        BW_KEY, BW_KID, {BW_KID: {**entry(BW_KID, "BW-KPA", "BW", BW_KEY, valid_until=LATER), "last_serial": 7}}),
    "revoked before signing": (BW_KEY, BW_KID, {BW_KID: entry(BW_KID, "BW-KPA", "BW", BW_KEY, revoked_at=EARLIER)}),
    "a node key": (BW_KEY, BW_KID, {BW_KID: {**entry(BW_KID, "BW-KPA", "BW", BW_KEY), "authority": None,
                                             "purpose": "node"}}),
    "the key of another participant's authority": (
        BW_KEY, BW_KID, {BW_KID: entry(BW_KID, "BW-KPA", "ZA", BW_KEY)}),
}


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
def test_the_qr_gets_the_same_verdict_and_reasons_as_the_jws(situation: str) -> None:
    key, kid, trust = SITUATIONS[situation]
    jws = verify(crypto.sign(PAYLOAD, key, kid), trust)
    qr = verify(compact.encode(PAYLOAD, key, kid), trust)
    assert (qr.genuine, qr.reasons, qr.kid, qr.signature_valid, qr.key_valid_at_signing) == (
        jws.genuine, jws.reasons, jws.kid, jws.signature_valid, jws.key_valid_at_signing)
    assert qr.genuine == (situation in ("genuine", "revoked after signing, serial within the bound"))
    if situation.startswith("back-dated"):
        assert any("serial 42" in r for r in qr.reasons), qr.reasons


@pytest.mark.parametrize("number", ["ZA 0000042", "BW 42", "BW-0000042", "BW 00000042x"])
def test_a_number_that_is_not_a_serial_of_the_exporter_is_refused_in_both_forms(number: str) -> None:
    doc = payload(number=number)
    assert verify(compact.encode(doc, BW_KEY, BW_KID)).reasons == verify(crypto.sign(doc, BW_KEY, BW_KID)).reasons
    assert not verify(compact.encode(doc, BW_KEY, BW_KID)).genuine


# --- any changed byte ---------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, len(COSE) - 1), byte=st.integers(0, 255))
@example(position=len(COSE) - 1, byte=0)  # the signature's last byte
@example(position=0, byte=0xD1)  # tag 17: COSE_Mac0's neighbour, not COSE_Sign1
def test_any_changed_byte_of_the_cose_structure_is_refused(position: int, byte: int) -> None:
    assume(COSE[position] != byte)
    forged = COSE[:position] + bytes([byte]) + COSE[position + 1:]
    result = verify(pack(forged))
    assert not result.genuine and result.reasons


def test_no_changed_byte_in_the_headers_verifies() -> None:
    """Exhaustively over the envelope's first bytes: the tag, the array, the protected header and its kid."""
    for position in range(40):
        for byte in range(256):
            if byte != COSE[position]:
                forged = COSE[:position] + bytes([byte]) + COSE[position + 1:]
                assert not verify(pack(forged)).genuine, (position, byte)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(len(compact.PREFIX), len(QR) - 1),
       char=st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:a"))
def test_a_changed_character_is_refused_or_spells_the_same_signed_structure(position: int, char: str) -> None:
    """zlib may let a header bit change without changing what it decompresses to: then it is the same document."""
    assume(QR[position] != char)
    forged = QR[:position] + char + QR[position + 1:]
    try:
        decoded = compact.decode(forged)
    except crypto.BadSignature:
        assert not verify(forged).genuine
        return
    assert decoded == compact.decode(QR)


def test_base45_has_one_spelling_per_byte_string() -> None:
    """decode() relies on the library refusing a group above 65535, a final pair above 255 and a lone final
    character, so a changed text is never a second spelling of the same bytes."""
    for text in ("GGW", "::", "0", "ZZZZ", "00GGW"):
        with pytest.raises(ValueError):
            base45.b45decode(text)
    assert base45.b45decode("FGW") == b"\xff\xff" and base45.b45decode("U5") == b"\xff"


# --- malformed input ----------------------------------------------------------------------------

PROTECTED = compact.protected_header(BW_KID)
BODY = cbor2.dumps(PAYLOAD, canonical=True)


def _bomb() -> str:
    return compact.PREFIX + base45.b45encode(zlib.compress(b"\0" * (compact.MAX_COSE + 1), 9)).decode()


def _shared_doubling(levels: int) -> bytes:
    """A few bytes that stand for 2**levels items through CBOR shared references (tags 28 and 29): each level is
    a shared array of the level below and a reference to it. Shared values are numbered outermost first."""
    data = bytes([0xD8, 28, 0x80])  # the innermost, an empty array, numbered `levels`
    for i in range(1, levels + 1):
        data = bytes([0xD8, 28, 0x82]) + data + bytes([0xD8, 29]) + cbor2.dumps(levels - i + 1)
    return data


MALFORMED: dict[str, str] = {
    "empty": "",
    "prefix only": "KP1:",
    "another prefix": "HC1:" + QR[4:],
    "lower-case prefix": "kp1:" + QR[4:],
    "lower-case base45": QR[:4] + QR[4:].lower(),
    "dangling base45 character": QR + "0",
    "not zlib": compact.PREFIX + base45.b45encode(COSE).decode(),
    "truncated zlib": compact.PREFIX + base45.b45encode(zlib.compress(COSE)[:-3]).decode(),
    "bytes after the zlib stream": compact.PREFIX + base45.b45encode(zlib.compress(COSE) + b"x").decode(),
    "zlib bomb": _bomb(),
    "too long": compact.PREFIX + "0" * compact.MAX_TEXT,
    "not CBOR": pack(b"\xff\xff"),
    "bytes after the CBOR item": pack(COSE + b"\x00"),
    "tag 17 (COSE_Mac0)": pack(cose_of(signed_parts(PROTECTED, BODY), tag=17)),
    "untagged": pack(cbor2.dumps(signed_parts(PROTECTED, BODY), canonical=True)),
    "five items": pack(cose_of([*signed_parts(PROTECTED, BODY), b""])),
    "three items": pack(cose_of(signed_parts(PROTECTED, BODY)[:3])),
    "algorithm ES256 (-7)": pack(cose_of(signed_parts(cbor2.dumps({1: -7, 4: BW_KID.encode()}, canonical=True),
                                                       BODY))),
    "algorithm as text": pack(cose_of(signed_parts(cbor2.dumps({1: "EdDSA", 4: BW_KID.encode()}, canonical=True),
                                                    BODY))),
    "kid as text": pack(cose_of(signed_parts(cbor2.dumps({1: -8, 4: BW_KID}, canonical=True), BODY))),
    "no kid": pack(cose_of(signed_parts(cbor2.dumps({1: -8}, canonical=True), BODY))),
    "an extra header": pack(cose_of(signed_parts(cbor2.dumps({1: -8, 4: b"k", 3: 0}, canonical=True), BODY))),
    "unprotected kid": pack(cose_of([PROTECTED, {4: b"x"}, BODY, signed_parts(PROTECTED, BODY)[3]])),
    "short signature": pack(cose_of([PROTECTED, {}, BODY, b"\0" * 63])),
    "payload as a map, not a byte string": pack(cose_of([PROTECTED, {}, PAYLOAD, b"\0" * 64])),
    "payload not deterministic (indefinite map)": pack(cose_of(signed_parts(PROTECTED, b"\xbf" + b"".join(
        cbor2.dumps(k) + cbor2.dumps(v, canonical=True) for k, v in PAYLOAD.items()) + b"\xff"))),
    "payload keys unsorted": pack(cose_of(signed_parts(PROTECTED, cbor2.dumps(dict(reversed(PAYLOAD.items())))))),
    "payload with a float": pack(cose_of(signed_parts(PROTECTED, cbor2.dumps({**PAYLOAD, "kpcs": 1.5},
                                                                              canonical=True)))),
    "payload with a bignum": pack(cose_of(signed_parts(PROTECTED, cbor2.dumps({**PAYLOAD, "kpcs": 2**64},
                                                                               canonical=True)))),
    "payload with a date tag": pack(cose_of(signed_parts(PROTECTED, cbor2.dumps(
        {**PAYLOAD, "issued_on": cbor2.CBORTag(1, 0)}, canonical=True)))),
    "payload with bytes": pack(cose_of(signed_parts(PROTECTED, cbor2.dumps({**PAYLOAD, "number": b"BW"},
                                                                            canonical=True)))),
    "payload an array": pack(cose_of(signed_parts(PROTECTED, cbor2.dumps([1, 2], canonical=True)))),
    "payload exponential through shared references": pack(cose_of(signed_parts(
        PROTECTED, b"\xa1\x61x" + _shared_doubling(40)))),
    "payload cyclic through shared references": pack(cose_of(signed_parts(
        PROTECTED, b"\xa1\x61x" + bytes([0xD8, 28, 0x81, 0xD8, 29, 0x00])))),
    "payload deeply nested": pack(cose_of(signed_parts(PROTECTED, b"\xa1\x61x" + b"\x81" * 5000 + b"\x00"))),
    "payload invalid UTF-8": pack(cose_of(signed_parts(PROTECTED, b"\xa1\x61x\x62\xff\xfe"))),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_refused_with_a_reason(case: str) -> None:
    assert_refused(MALFORMED[case])


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300) | st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=300))
def test_any_text_after_the_prefix_is_refused_not_crashed_on(text: str) -> None:
    assert_refused(compact.PREFIX + text)


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | st.binary(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4) | st.integers(), inner,
                                                                  max_size=4), max_leaves=15)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300) | cbor_values.map(lambda v: cbor2.dumps(v))
       | st.tuples(cbor_values, cbor_values, cbor_values, cbor_values).map(lambda p: cose_of(list(p)))
       | cbor_values.map(lambda v: cose_of(signed_parts(PROTECTED, cbor2.dumps(v, canonical=True)))))
def test_any_compressed_structure_is_refused_not_crashed_on(data: bytes) -> None:
    """Whatever zlib hands on — random bytes, CBOR of any shape, COSE_Sign1 around any payload — is refused,
    or, for a genuinely signed plain payload, read; never another exception."""
    try:
        decoded = compact.decode(pack(data))
    except crypto.BadSignature:
        return
    assert isinstance(decoded.payload, dict)
    assert not verify(pack(data)).genuine  # it is no certificate, even when the signature holds


def test_the_verdict_never_raises_on_hostile_text() -> None:
    for text in (QR[:-1], QR[:5], QR.replace("KP1:", "KP1:KP1:"), QR + QR, "KP1:" + "\u00e9" * 10, "KP1:\x00"):
        result = verify(text)
        assert not result.genuine and result.reasons


plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-compact.SAFE_INT, compact.SAFE_INT) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=15)


@settings(max_examples=300, deadline=None)
@given(value=plain_json)
@example(value={"\U0001f600": 1, "\uffff": 2, "a\u0001\u007f\u2028": "\b\f\n\r\t\"\\/"})
def test_the_fast_canonical_form_equals_rfc_8785(value: Any) -> None:
    """The QR form's payload is compared with the stored hash through crypto.canonical_plain."""
    assert crypto.canonical_plain(value) == crypto.canonical(value)
