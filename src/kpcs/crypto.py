"""Signed documents: RFC 8785 canonical JSON inside a JWS compact serialisation, Ed25519 (RFC 9864).

Pure functions: keys come in as objects or JWK dicts; nothing here touches the database or disk.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

ALG = "Ed25519"  # fully specified identifier (RFC 9864); the polymorphic "EdDSA" is deprecated


class BadSignature(Exception):
    """The JWS is malformed or its signature does not verify."""


def canonical(obj: Any) -> bytes:
    return rfc8785.dumps(obj)


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_jwk(private_key: Ed25519PrivateKey, kid: str | None = None) -> dict[str, str]:
    jwk = {k: str(v) for k, v in OKPKey.import_key(private_key.public_key()).as_dict(private=False).items()}
    if kid:
        jwk["kid"] = kid
    return jwk


def thumbprint(private_key: Ed25519PrivateKey) -> str:
    return str(OKPKey.import_key(private_key.public_key()).thumbprint())


def sign(payload: Any, private_key: Ed25519PrivateKey, kid: str) -> str:
    key = OKPKey.import_key(private_key)
    return jws.serialize_compact({"alg": ALG, "kid": kid}, canonical(payload), key, algorithms=[ALG])


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a JWS compact string, before any signature check."""
    try:
        head, body, _sig = token.strip().split(".")
        header = json.loads(_b64decode(head))
        payload = json.loads(_b64decode(body))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise BadSignature(f"not a JWS compact serialisation: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise BadSignature("JWS header and payload must be JSON objects")
    return header, payload


def verify(token: str, jwk: dict[str, Any]) -> dict[str, Any]:
    """Verify the signature with the given public JWK and return the payload.

    Also requires the payload bytes to be canonical, so a re-serialised but equivalent payload is not
    accepted as the signed document.
    """
    header, payload = unverified_parts(token)
    if header.get("alg") != ALG:
        raise BadSignature(f"algorithm {header.get('alg')!r} is not accepted; expected {ALG}")
    try:
        key = OKPKey.import_key({k: jwk[k] for k in ("kty", "crv", "x")})
        obj = jws.deserialize_compact(token.strip(), key, algorithms=[ALG])
    except (JoseError, KeyError, ValueError, TypeError) as exc:
        raise BadSignature(f"signature does not verify: {exc}") from exc
    try:
        canonical_payload = canonical(payload)
    except ValueError as exc:  # NaN, or a number outside the I-JSON range RFC 8785 accepts
        raise BadSignature(f"payload cannot be put in canonical form: {exc}") from exc
    if obj.payload != canonical_payload:
        raise BadSignature("payload is not in canonical form")
    return payload
