"""Certificates: issue, show, verify offline, expire."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from kpcs import crypto
from kpcs.cli.common import cli_actor, err, fail, local_actor, out, run_domain, setup

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


def _read_anchor(anchor: str | None, anchor_file: Path | None) -> str:
    from kpcs.registry import rules as registry_rules

    if anchor and anchor_file:
        raise fail("give --anchor or --anchor-file, not both", 2)
    if anchor:
        return anchor.strip()
    if anchor_file is None:
        raise fail("a trust list is only as good as its anchor: give --anchor THUMBPRINT (published by the node, "
                   "`kpcs trust-list anchor`) or --anchor-file JWK.json", 2)
    try:
        return registry_rules.anchor_of(json.loads(anchor_file.read_text()))
    except (OSError, ValueError, registry_rules.UntrustedList) as exc:
        raise fail(f"cannot read the anchor from {anchor_file}: {exc}", 2) from None


@cert_app.command("verify")
def cert_verify(file: Path,
                trust_list: Path = typer.Option(..., "--trust-list", help="trust list JSON file"),
                anchor: str = typer.Option(None, help="RFC 7638 thumbprint of the node key the list must be "
                                                      "signed by (or endorsed by, after a rotation)"),
                anchor_file: Path = typer.Option(None, help="a JWK file holding the anchor key"),
                strict: bool = typer.Option(False, help="refuse (exit 2) a trust list past its next update"),
                min_sequence: int = typer.Option(None, help="refuse a trust list older than this issue")) -> None:
    """Verify offline a signed certificate (the JWS, the QR code's KP1: text, or a JSON object holding "jws")
    against an anchored trust list: exit 0 genuine and issued in good standing, 1 not, 2 when the input or the
    trust list is refused."""
    from django.conf import settings

    if not settings.configured:  # offline: no node settings; the rules' words in English, untranslated
        settings.configure(USE_I18N=False)
    from kpcs.certificates import rules
    from kpcs.registry import rules as registry_rules

    now = dt.datetime.now(dt.UTC)  # offline: no node, no Django clock
    thumb = _read_anchor(anchor, anchor_file)
    try:
        token = file.read_text().strip()
        if token.startswith("{"):
            token = json.loads(token).get("jws", "")
        document = json.loads(trust_list.read_text())
    except (OSError, ValueError, AttributeError) as exc:
        raise fail(f"cannot read input: {exc}", 2) from None
    if not isinstance(token, str) or not token:
        raise fail("expected a JWS string, a KP1: text from a QR code (or a JSON object with \"jws\")", 2)
    try:
        listed = registry_rules.check_trust_list(document, thumb, min_sequence=min_sequence)
    except registry_rules.UntrustedList as exc:
        raise fail(f"trust list refused: {exc}", 2) from None
    out.print(f"trust list {listed.sequence}, issued {listed.issued_at.isoformat()}, signed by {listed.signer_kid}"
              + ("" if listed.signer_thumbprint == thumb else " (endorsed by the anchor)"), highlight=False)
    if listed.is_stale(now):
        message = (f"the trust list passed its next update ({listed.next_update.isoformat()}): revocations since "
                   "then are not in it; fetch a fresh one")
        if strict:
            raise fail(message, 2)
        err.print(f"[yellow]warning:[/yellow] {message}", highlight=False)
    result = rules.verify_signed(token, listed.keys.get)
    p = result.payload
    if not result.genuine:
        out.print(f"[red]NOT GENUINE[/red] {p.get('number', '')}: " + "; ".join(result.reasons), highlight=False)
        raise typer.Exit(1)
    authority = p.get("issuing_authority")
    authority = authority if isinstance(authority, dict) else {}
    # The code derives from the JWS signature; the QR form carries another signature, so its code is the printed one.
    code = (rules.verification_code(crypto.signature_bytes(token)) if result.form == "jws"
            else "as printed on the document beside the number")
    out.print(f"[green]GENUINE[/green] {p.get('number')} issued {p.get('issued_on')} by {authority.get('id')} "
              f"({p.get('exporting_participant')} → {p.get('importing_participant')}), expires {p.get('expires_on')}; "
              f"key {result.kid}; verification code {code}", highlight=False)
    # the measures in force on the issue date for the exporting participant and the origin, as the online answer
    # lists them (compliant zones are enforced when custody lands), and enhanced vigilance on the exporter
    measures, vigilance = rules.measures_at_issue(p, listed.measures_on)
    if measures:
        out.print(f"measures in force on {p.get('issued_on')} (the issue date):", highlight=False)
        for m in measures:
            out.print(f"  {rules.measure_line(m)}", highlight=False)
    if vigilance:
        out.print(f"[yellow]ENHANCED VIGILANCE[/yellow]: shipments from {p.get('exporting_participant')} are under "
                  "enhanced vigilance on the issue date; check this one closely", highlight=False)
    standing = rules.standing_at_issue(p, listed.status_on)
    if standing:
        out.print("[red]NOT ACCEPTABLE[/red]: " + "; ".join(standing), highlight=False)
        raise typer.Exit(1)
    if p.get("expires_on") and str(p["expires_on"]) < now.date().isoformat():
        out.print("note: the certificate has passed its expiry date", highlight=False)


@cert_app.command("expire")
def cert_expire(as_of: str = typer.Option(None, "--as-of", help="date (default today)")) -> None:
    """Mark certificates past their expiry date and never confirmed as expired."""
    setup()
    from kpcs.certificates import services

    day = dt.date.fromisoformat(as_of) if as_of else None
    done = services.expire_due(day, actor=local_actor())
    out.print(f"{len(done)} certificate(s) expired")

