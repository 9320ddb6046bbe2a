"""Signed documents: RFC 8785 canonical JSON inside a JWS compact serialisation, Ed25519 (RFC 9864).

Pure functions: keys come in as objects or JWK dicts; nothing here touches the database or disk.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc.jwk import OKPKey

ALG = "Ed25519"  # fully specified identifier (RFC 9864); the polymorphic "EdDSA" is deprecated


class BadSignature(Exception):
    """The JWS is malformed or its signature does not verify."""


def canonical(obj: Any) -> bytes:
    return rfc8785.dumps(obj)


def canonical_plain(obj: Any) -> bytes:
    """canonical() of a value made of JSON objects, arrays, text, integers within I-JSON, booleans and null (no
    floats): the C JSON encoder gives the RFC 8785 bytes whenever its output is ASCII (ASCII keys sort the same
    by code point and by UTF-16 unit; escapes agree), at a fifth of the cost; anything else asks rfc8785."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode() if text.isascii() else canonical(obj)


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_jwk(private_key: Ed25519PrivateKey, kid: str | None = None) -> dict[str, str]:
    jwk = {k: str(v) for k, v in OKPKey.import_key(private_key.public_key()).as_dict(private=False).items()}
    if kid:
        jwk["kid"] = kid
    return jwk


def thumbprint(private_key: Ed25519PrivateKey) -> str:
    return str(OKPKey.import_key(private_key.public_key()).thumbprint())


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of a public Ed25519 JWK: base64url SHA-256 of its required members, sorted, no spaces.

    This is what a trust anchor is published as; anything else in the JWK (kid, alg, use) does not count.
    """
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise BadSignature("the key is not an Ed25519 public key")
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":"), sort_keys=True)
    return _b64encode(hashlib.sha256(members.encode("ascii")).digest())


def sign(payload: Any, private_key: Ed25519PrivateKey, kid: str) -> str:
    return sign_bytes(canonical(payload), private_key, kid)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_bytes(payload: bytes, private_key: Ed25519PrivateKey, kid: str) -> str:
    """JWS compact serialisation of already-canonical payload bytes (tests cross-check it with joserfc)."""
    header = _b64encode(json.dumps({"alg": ALG, "kid": kid}, separators=(",", ":")).encode())
    signing_input = f"{header}.{_b64encode(payload)}"
    return f"{signing_input}.{_b64encode(private_key.sign(signing_input.encode('ascii')))}"


def _b64decode(part: str) -> bytes:
    """Strict base64url: only the alphabet, and only the one encoding of the bytes (no spare bits set)."""
    try:
        raw = base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64url: {exc}") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != part:
        raise ValueError("non-canonical base64url")
    return raw


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a JWS compact string, before any signature check."""
    header, payload, _ = _split(token)
    return header, payload


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], tuple[bytes, bytes, bytes]]:
    try:
        head, body, sig = token.strip().split(".")
        body_bytes = _b64decode(body)
        header = json.loads(_b64decode(head))
        payload = json.loads(body_bytes)
        signature = _b64decode(sig)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise BadSignature(f"not a JWS compact serialisation: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise BadSignature("JWS header and payload must be JSON objects")
    return header, payload, (f"{head}.{body}".encode("ascii"), body_bytes, signature)


def signature_bytes(token: str) -> bytes:
    """The raw Ed25519 signature of a JWS compact string (for a certificate: what its verification code is
    derived from). Only the third part is decoded: public verification reads it on every request."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise BadSignature("not a JWS compact serialisation: it has not three parts")
    try:
        return _b64decode(parts[2])
    except ValueError as exc:
        raise BadSignature(f"not a JWS compact serialisation: {exc}") from exc


def signed_payload(token: str) -> bytes:
    """The payload bytes exactly as signed (for a certificate: its canonical JSON)."""
    return _split(token)[2][1]


@lru_cache(maxsize=4096)
def _public_key(x: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_b64decode(x))


def _is_canonical(body: bytes, payload: dict[str, Any]) -> bool:
    """RFC 8785 form of the payload. The C JSON encoder gives the same bytes for payloads of strings,
    integers and plain keys (all ours), so try it first and ask the full implementation only otherwise."""
    if json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == body:
        return True
    try:
        return canonical(payload) == body
    except ValueError:  # NaN, or a number outside the I-JSON range RFC 8785 accepts
        return False


@dataclass(frozen=True)
class Parsed:
    """A JWS compact string taken apart once: what every check needs, without parsing it again."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    body: bytes  # the payload bytes exactly as signed
    signature: bytes


def parse(token: str) -> Parsed:
    header, payload, (signing_input, body, signature) = _split(token)
    return Parsed(header, payload, signing_input, body, signature)


def verify(token: str | Parsed, jwk: dict[str, Any]) -> dict[str, Any]:
    """Verify the JWS signature with the given public JWK and return the payload.

    Checked directly with `cryptography` (a cached public key, one parse of the token): the same check a JOSE
    library makes (tests cross-check it with joserfc), at close to the speed of a raw Ed25519 verify. The
    payload must also be in canonical form, so a re-serialised but equivalent payload is not the signed
    document.
    """
    parsed = token if isinstance(token, Parsed) else parse(token)
    header, payload, signing_input, body, signature = (parsed.header, parsed.payload, parsed.signing_input,
                                                       parsed.body, parsed.signature)
    if header.get("alg") != ALG:
        raise BadSignature(f"algorithm {header.get('alg')!r} is not accepted; expected {ALG}")
    verify_bytes(signing_input, signature, jwk)
    if not _is_canonical(body, payload):
        raise BadSignature("payload is not in canonical form")
    return payload


def verify_bytes(signing_input: bytes, signature: bytes, jwk: dict[str, Any]) -> None:
    """A raw Ed25519 check of `signature` over `signing_input` with a public JWK: what the JWS and the QR's
    COSE_Sign1 forms share (each builds its own signing input)."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise BadSignature("the key is not an Ed25519 public key")
    try:
        _public_key(jwk["x"]).verify(signature, signing_input)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("signature does not verify") from exc
