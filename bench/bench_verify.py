"""Verify signed certificates in-process, and compare with a raw Ed25519 verify (BRIEF §6).

    .venv/bin/python bench/bench_verify.py [-n 5000] [--no-db]

Rows, all on one core, over the same signed certificate:
  raw           cryptography's Ed25519PublicKey.verify over the same signing input and signature;
  crypto.verify kpcs.crypto.verify (JWS parse, alg check, signature, canonical-payload check);
  verify_signed kpcs.certificates.rules.verify_signed with a trust-list lookup (offline verifier: the
                node's signed trust list, checked once, as a dict by kid);
  with --db (default): on a fresh demo node, services.verify_token (key looked up in the database) and
  services.public_verification with the certificate's code (signature, remembered per process for the same
  document and registry, + status + participants' standing: GET …/verification minus HTTP).
Target: >= 5,000 verifications/s in-process (a raw Ed25519 verify runs at about 9,000/s on one core).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
from collections.abc import Callable
from typing import Any

from common import demo_node, now, one_core, table


def rate(fn: Callable[[], Any], n: int) -> float:
    for _ in range(min(200, n)):  # warm-up
        fn()
    with one_core():
        t0 = now()
        for _ in range(n):
            fn()
        return n / (now() - t0)


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def synthetic() -> tuple[str, dict[str, dict[str, Any]]]:
    """A certificate and a 70-key trust list made in memory (no database)."""
    from decimal import Decimal

    from kpcs import crypto
    from kpcs.certificates import rules

    trust: dict[str, dict[str, Any]] = {}
    signer = None
    for i in range(70):
        key = crypto.generate_private_key()
        kid = f"A{i:02d}-KPA#{crypto.thumbprint(key)[:16]}"
        trust[kid] = {"kid": kid, "authority": "BW-KPA" if i == 0 else f"A{i:02d}-KPA", "participant": "BW",
                      "jwk": {**crypto.public_jwk(key, kid), "alg": crypto.ALG, "use": "sig"},
                      "valid_from": "2025-01-01T00:00:00Z", "valid_until": None, "revoked_at": None}
        signer = signer or (kid, key)
    assert signer
    lines = [rules.Line("7102.31", Decimal("1250.40"), Decimal("1875600.00"), 3),
             rules.Line("7102.21", Decimal("400.00"), Decimal("12000.00"), 1)]
    payload = rules.build_payload(
        number="BW 0000003", cert_type="standard", exporting="BW", importing="EU",
        authority={"id": "BW-KPA", "name": "Department of Mines, Botswana", "participant": "BW"},
        issued_at=dt.datetime.now(dt.UTC), expires_on=dt.date.today() + dt.timedelta(days=60),
        exporter={"name": "Botswana Rough Exports Ltd", "address": "1 Diamond Street", "licence": "BW-EXP-0001"},
        importer={"name": "Y BV", "address": "Hoveniersstraat 22, Antwerp"},
        origin={"kind": "single", "countries": ["BW"]}, lines=lines, totals=rules.totals_of(lines))
    return crypto.sign(payload, signer[1], signer[0]), trust


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="verifications per row")
    parser.add_argument("--no-db", action="store_true", help="skip the rows that need a node and its database")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp data dir")
    args = parser.parse_args()

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from kpcs import crypto
    from kpcs.certificates import rules

    rows: list[tuple[str, str]] = []

    def measure(token: str, trust: dict[str, dict[str, Any]], label: str) -> float:
        head, body, sig = token.split(".")
        kid = crypto.unverified_parts(token)[0]["kid"]
        public = Ed25519PublicKey.from_public_bytes(b64decode(trust[kid]["jwk"]["x"]))
        signing_input, signature = f"{head}.{body}".encode(), b64decode(sig)
        assert rules.verify_signed(token, trust.get).genuine
        raw = rate(lambda: public.verify(signature, signing_input), args.n)
        jose = rate(lambda: crypto.verify(token, trust[kid]["jwk"]), args.n)
        full = rate(lambda: rules.verify_signed(token, trust.get), args.n)
        rows.extend([
            (f"[{label}] raw Ed25519 verify, /s", f"{raw:,.0f}"),
            (f"[{label}] kpcs.crypto.verify, /s", f"{jose:,.0f}"),
            (f"[{label}] rules.verify_signed + trust-list lookup, /s", f"{full:,.0f}"),
            (f"[{label}] ratio verify_signed / raw", f"{full / raw:.3f}"),
            (f"[{label}] target >= 5,000/s", "met" if full >= 5000 else "NOT met"),
        ])
        return raw

    token, trust = synthetic()
    print(f"JWS of {len(token)} characters; trust list of {len(trust)} keys; {args.n} verifications per row",
          flush=True)
    raw = measure(token, trust, "in memory")

    if not args.no_db:
        with demo_node(args.database_url) as (_root, env):
            os.environ.update(env)
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpcs.settings")
            import django

            django.setup()
            from kpcs.certificates import services
            from kpcs.certificates.models import Certificate
            from kpcs.registry import rules as registry_rules
            from kpcs.registry import services as registry

            cert = Certificate.objects.filter(status="issued").order_by("pk").first()
            assert cert is not None
            keys = registry_rules.check_trust_list(registry.trust_list(), registry.anchor()["anchor"]).keys
            measure(cert.jws, keys, "demo node, trust list")
            db_key = rate(lambda: services.verify_token(cert.jws), max(1, args.n // 5))
            code = rules.verification_code(crypto.signature_bytes(cert.jws))
            public = rate(lambda: services.public_verification(cert.number, code), max(1, args.n // 5))
            rows.extend([
                ("[demo node] services.verify_token (key from DB), /s", f"{db_key:,.0f}"),
                ("[demo node] services.public_verification (signature+status), /s", f"{public:,.0f}"),
                ("[demo node] ratio public_verification / raw", f"{public / raw:.3f}"),
            ])
    table(rows, "bench_verify (one core)")


if __name__ == "__main__":
    main()
