"""The QR code's form of a signed certificate: `KP1:` + base45(zlib(COSE_Sign1)) (BRIEF §3).

The same payload the JWS signs, as deterministic CBOR (RFC 8949 §4.2.1) in a COSE_Sign1 (RFC 9052, tag 18) signed
with Ed25519 by the same authority key: the form the EU Digital COVID Certificate proved, which fits a smaller QR
code than the JWS. Pure functions, no database.

Decoding is strict: whatever a scanner reads is hostile until proven otherwise, so anything but the one encoding
this module writes is refused with `crypto.BadSignature`, and nothing else is ever raised.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kpcs.crypto import BadSignature

PREFIX = "KP1:"
COSE_SIGN1 = 18  # CBOR tag (RFC 9052 §4.2)
HEADER_ALG, HEADER_KID = 1, 4  # COSE header labels
EDDSA = -8  # COSE algorithm EdDSA; with an OKP Ed25519 key it is exactly Ed25519
MAX_TEXT = 8_192  # a QR code holds at most 4,296 alphanumeric characters
MAX_COSE = 64 * 1024  # decompressed: far above any certificate (100 lines is about 8 KB), a zlib bomb stops here
MAX_ITEMS = 20_000  # CBOR items walked in one document: shared references cannot make a small input huge
MAX_DEPTH = 16  # a certificate nests 3 deep
MAX_KID = 128  # as SigningKey.kid
SAFE_INT = 2**53 - 1  # I-JSON: what the JWS form (RFC 8785) can carry too
# Inside a tag, cbor2 (6 and later) decodes arrays and maps as immutable tuples and its own frozendict.
_ARRAYS = (list, tuple)
_MAPS = tuple({dict, getattr(cbor2, "frozendict", dict), getattr(cbor2, "FrozenDict", dict)})
_ERRORS = (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, KeyError, IndexError, MemoryError)


class Decoded(NamedTuple):
    """A compact certificate taken apart: what verification needs, before any key is looked up."""

    kid: str
    payload: dict[str, Any]
    signing_input: bytes  # the COSE Sig_structure, exactly what the signature covers
    signature: bytes


def _cbor(value: Any) -> bytes:
    """Core deterministic encoding (RFC 8949 §4.2.1): shortest forms, definite lengths, map keys sorted by their
    encoded bytes (for text keys: shorter first, then bytewise, as cbor2's canonical mode sorts them)."""
    return cbor2.dumps(value, canonical=True)


def protected_header(kid: str) -> bytes:
    return _cbor({HEADER_ALG: EDDSA, HEADER_KID: kid.encode("utf-8")})


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4: what a COSE_Sign1 signature covers (no external data)."""
    return _cbor(["Signature1", protected, b"", payload])


def encode(payload: Mapping[str, Any], private_key: Ed25519PrivateKey, kid: str) -> str:
    """The QR text of a certificate payload, signed by `private_key` (the authority key that signs the JWS)."""
    _check_plain(payload, json_only=True)
    if not kid or len(kid.encode("utf-8")) > MAX_KID:
        raise ValueError("a kid of 1 to 128 bytes is required")
    body = _cbor(dict(payload))
    protected = protected_header(kid)
    signature = private_key.sign(sig_structure(protected, body))
    cose = _cbor(cbor2.CBORTag(COSE_SIGN1, [protected, {}, body, signature]))
    return PREFIX + _b45encode(zlib.compress(cose, 9))


def decode(text: str) -> Decoded:
    """Take a `KP1:` text apart, refusing (BadSignature) anything this module would not have written.

    The signature is not checked here: that needs the trust list (certificates.rules.verify_signed).
    """
    try:
        return _decode(text)
    except BadSignature:
        raise
    except _ERRORS as exc:  # a decoder's own complaint about hostile input: a refusal like any other
        raise BadSignature(f"not a compact certificate: {type(exc).__name__}") from None


def _decode(text: str) -> Decoded:
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise BadSignature(f"not a compact certificate: it does not start with {PREFIX}")
    if len(text) > MAX_TEXT:
        raise BadSignature(f"not a compact certificate: longer than {MAX_TEXT} characters")
    encoded = text[len(PREFIX):]
    try:
        compressed = base45.b45decode(encoded)
    except (ValueError, KeyError, IndexError, TypeError):
        # The library refuses groups above 65535 (or 255 for a final pair) and a dangling character, so each
        # byte string has one spelling (tests hold it to that; re-encoding to check would double the cost).
        raise BadSignature("not a compact certificate: invalid base45") from None
    cose = _inflate(compressed)
    item = cbor2.loads(cose)
    _check_plain(item, json_only=False)
    if not isinstance(item, cbor2.CBORTag) or item.tag != COSE_SIGN1:
        raise BadSignature("not a COSE_Sign1 structure (CBOR tag 18)")
    parts = item.value
    if type(parts) not in _ARRAYS or len(parts) != 4:
        raise BadSignature("a COSE_Sign1 structure has exactly 4 items")
    protected, unprotected, body, signature = parts
    if not isinstance(protected, bytes) or not isinstance(body, bytes) or not isinstance(signature, bytes):
        raise BadSignature("COSE_Sign1 protected header, payload and signature must be byte strings")
    if type(unprotected) not in _MAPS or len(unprotected) != 0:
        raise BadSignature("the unprotected header must be empty: whatever counts is signed")
    if len(signature) != 64:
        raise BadSignature("an Ed25519 signature is 64 bytes")
    if _cbor(item) != cose:
        raise BadSignature("the COSE_Sign1 structure is not in deterministic CBOR, or carries extra bytes")
    header = cbor2.loads(protected)
    _check_plain(header, json_only=False)
    if not isinstance(header, dict) or set(header) != {HEADER_ALG, HEADER_KID}:
        raise BadSignature("the protected header must hold exactly alg (1) and kid (4)")
    if type(header[HEADER_ALG]) is not int or header[HEADER_ALG] != EDDSA:
        raise BadSignature(f"algorithm {header[HEADER_ALG]!r} is not accepted; expected EdDSA (-8) with Ed25519")
    kid_bytes = header[HEADER_KID]
    if not isinstance(kid_bytes, bytes) or not 0 < len(kid_bytes) <= MAX_KID:
        raise BadSignature("the kid must be 1 to 128 bytes")
    kid = kid_bytes.decode("utf-8")  # UnicodeDecodeError is a ValueError: refused
    if _cbor(header) != protected:
        raise BadSignature("the protected header is not in deterministic CBOR")
    payload = cbor2.loads(body)
    _check_plain(payload, json_only=True)
    if not isinstance(payload, dict):
        raise BadSignature("the payload must be a map")
    if _cbor(payload) != body:
        raise BadSignature("the payload is not in deterministic CBOR")
    return Decoded(kid, payload, sig_structure(protected, body), signature)


def _b45encode(data: bytes) -> str:
    encoded = base45.b45encode(data)
    return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)


def _inflate(data: bytes) -> bytes:
    """One complete zlib stream, decompressed to at most MAX_COSE bytes (a zlib bomb stops there)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_COSE + 1)
    except zlib.error:
        raise BadSignature("not a compact certificate: invalid zlib data") from None
    if len(out) > MAX_COSE or inflater.unconsumed_tail:
        raise BadSignature(f"not a compact certificate: decompresses to more than {MAX_COSE} bytes")
    if not inflater.eof or inflater.unused_data:
        raise BadSignature("not a compact certificate: not exactly one complete zlib stream")
    return out


def _check_plain(value: Any, *, json_only: bool) -> None:
    """Only the types a certificate is made of, nested at most MAX_DEPTH deep, MAX_ITEMS items in all.

    json_only: what JSON carries (maps with text keys, arrays, text, integers within I-JSON, booleans, null):
    the payload must read the same as the JWS's. Otherwise byte strings, integer map keys and CBOR tags too (the
    COSE envelope). Walked without recursion, and before anything re-encodes the value: a shared reference
    (CBOR tag 28/29) may make a few bytes stand for a huge or cyclic structure.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_ITEMS or depth > MAX_DEPTH:
            raise BadSignature("not a compact certificate: too large or too deeply nested")
        if item is None or isinstance(item, (bool, str)):
            continue
        if type(item) is int:
            if json_only and abs(item) > SAFE_INT:
                raise BadSignature("the payload holds an integer beyond the I-JSON range")
            continue
        if type(item) is list or (not json_only and type(item) is tuple):
            stack.extend((x, depth + 1) for x in item)
        elif type(item) is dict or (not json_only and type(item) in _MAPS):
            for key, x in item.items():
                if not (type(key) is str or (not json_only and type(key) is int)):
                    raise BadSignature("map keys must be text (or, in COSE headers, integers)")
                stack.append((x, depth + 1))
        elif not json_only and type(item) is bytes:
            continue
        elif not json_only and type(item) is cbor2.CBORTag and depth == 0:
            stack.append((item.value, depth + 1))
        else:
            raise BadSignature(f"not a compact certificate: {type(item).__name__} has no place in it")
