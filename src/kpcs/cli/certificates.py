"""Certificates: issue, show, verify offline, expire."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from kpcs.cli.common import cli_actor, fail, local_actor, out, run_domain, setup

cert_app = typer.Typer(help="Certificates.", no_args_is_help=True)


@cert_app.command("issue")
def cert_issue(file: Path = typer.Option(..., "--file", help="JSON request, as for POST /api/v1/certificates"),
               user: str = typer.Option(..., "--user", help="e-mail of the exporting officer acting")) -> None:
    """Issue a certificate from a JSON file on behalf of an exporting officer; prints the certificate."""
    setup()
    from kpcs.certificates import services

    try:
        request = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    if not isinstance(request, dict):
        raise fail(f"{file} must hold a JSON object")
    cert = run_domain(services.issue, cli_actor(user), request)
    print(json.dumps(services.to_dict(cert), indent=2, default=str))


@cert_app.command("show")
def cert_show(number: str) -> None:
    """Print a certificate (local node operators read every certificate)."""
    setup()
    from kpcs.certificates import services

    cert = run_domain(services.get, local_actor(), number)
    print(json.dumps(services.to_dict(cert), indent=2, default=str))


@cert_app.command("verify")
def cert_verify(file: Path, trust_list: Path = typer.Option(..., "--trust-list", help="trust list JSON file"),
                node_kid: str = typer.Option(None, help="pin the node key expected to sign the trust list")) -> None:
    """Verify offline a signed certificate (the JWS string) against a trust list; exit 1 if not genuine."""
    from kpcs import crypto
    from kpcs.certificates import rules
    from kpcs.registry import rules as registry_rules

    try:
        token = file.read_text().strip()
        if token.startswith("{"):
            token = json.loads(token).get("jws", "")
        document = json.loads(trust_list.read_text())
    except (OSError, ValueError, AttributeError) as exc:
        raise fail(f"cannot read input: {exc}", 2) from None
    if not isinstance(token, str) or not isinstance(document, dict):
        raise fail("expected a JWS string (or a JSON object with \"jws\") and a trust-list JSON object", 2)
    try:
        body = registry_rules.check_trust_list(document, node_kid)
    except crypto.BadSignature as exc:
        raise fail(f"trust list rejected: {exc}", 2) from None
    keys = {k["kid"]: k for k in body.get("keys", [])}
    result = rules.verify_signed(token, keys.get)
    p = result.payload
    if result.genuine:
        out.print(f"[green]GENUINE[/green] {p.get('number')} issued {p.get('issued_on')} by "
                  f"{p.get('issuing_authority', {}).get('id')} ({p.get('exporting_participant')} → "
                  f"{p.get('importing_participant')}), expires {p.get('expires_on')}; key {result.kid}",
                  highlight=False)
        if p.get("expires_on") and str(p["expires_on"]) < dt.date.today().isoformat():
            out.print("note: the certificate has passed its expiry date", highlight=False)
        return
    out.print(f"[red]NOT GENUINE[/red] {p.get('number', '')}: " + "; ".join(result.reasons), highlight=False)
    raise typer.Exit(1)


@cert_app.command("expire")
def cert_expire(as_of: str = typer.Option(None, "--as-of", help="date (default today)")) -> None:
    """Mark certificates past their expiry date and never confirmed as expired."""
    setup()
    from kpcs.certificates import services

    day = dt.date.fromisoformat(as_of) if as_of else None
    done = services.expire_due(day, actor=local_actor())
    out.print(f"{len(done)} certificate(s) expired")

