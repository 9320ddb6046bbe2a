"""Signing keys and the trust list."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer

from kpcs.cli.common import fail, local_actor, out, run_domain, setup

keys_app = typer.Typer(help="Signing keys of authorities and of the node.", no_args_is_help=True)
trust_app = typer.Typer(help="The signed trust list and its anchor.", no_args_is_help=True)


def _key_line(k: dict[str, Any]) -> str:
    return f"{k['kid']}  {k['status']}  from {k['valid_from']}" + (
        f"  until {k['valid_until']}" if k["valid_until"] else "") + (
        f"  revoked {k['revoked_at']}" if k["revoked_at"] else "") + (
        f"  last serial {k['last_serial']}" if k["last_serial"] is not None else "")


@keys_app.command("create")
def keys_create(authority: str = typer.Option(None, help="authority id; omit with --node"),
                node: bool = typer.Option(False, help="the node's own trust-list key")) -> None:
    """Create an Ed25519 signing key (private half stays under KPCS_DATA_DIR, mode 0600)."""
    setup()
    from kpcs.registry import services as registry

    if not authority and not node:
        raise fail("name --authority ID, or --node")
    rec = run_domain(registry.create_key, None if node else authority, actor=local_actor())
    out.print(f"created {rec.kid}")


@keys_app.command("rotate")
def keys_rotate(authority: str = typer.Option(None), node: bool = typer.Option(False)) -> None:
    """Start a new key and retire the current one: what it signed stays genuine up to its last serial, recorded
    now. A new node key is endorsed by the old one, so verifiers anchored on it follow."""
    setup()
    from kpcs.certificates import services as certificates

    if not authority and not node:
        raise fail("name --authority ID, or --node")
    rec = run_domain(certificates.rotate_signing_key, None if node else authority, actor=local_actor())
    out.print(f"rotated: new key {rec.kid}")
    if node:
        from kpcs.registry import services as registry

        out.print(f"new trust anchor {registry.anchor()['anchor']} (endorsed by the previous node key; publish it)",
                  highlight=False)


@keys_app.command("revoke")
def keys_revoke(kid: str, reason: str = typer.Option(..., help="why (compromise, loss, …)"),
                at: str = typer.Option(None, help="ISO time the key stopped being trustworthy (default now)"),
                last_serial: int = typer.Option(None, help="the highest serial it legitimately signed (default: the "
                                                           "highest it signed before --at)")) -> None:
    """Revoke a key: certificates with a higher serial than its last legitimate one are not genuine, whatever
    signing time they claim; those this node holds are marked and leave the statistics."""
    setup()
    from kpcs.certificates import services as certificates

    when = None
    if at:
        try:
            when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise fail(f"--at {at!r} is not an ISO date-time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
    rec = run_domain(certificates.revoke_signing_key, kid, reason, when, actor=local_actor(), last_serial=last_serial)
    bound = f"; certificates up to serial {rec.last_serial} stay genuine" if rec.last_serial is not None else ""
    out.print(f"revoked {rec.kid} from {rec.revoked_at.isoformat()}{bound}", highlight=False)


@keys_app.command("list")
def keys_list(authority: str = typer.Option(None)) -> None:
    """List keys with their status."""
    setup()
    from kpcs.registry import services as registry

    for k in registry.list_keys(authority):
        out.print(_key_line(k), highlight=False)


@trust_app.command("export")
def trust_export(file: Path) -> None:
    """Write the signed trust list (the same document as GET /api/v1/trust-list)."""
    setup()
    from kpcs.registry import services as registry

    doc = run_domain(registry.trust_list)
    file.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    body = doc["trust_list"]
    out.print(f"wrote trust list {body['sequence']} ({len(body['keys'])} keys, {len(body['participants'])} "
              f"participants, next update {body['next_update']}) to {file}", highlight=False)


@trust_app.command("anchor")
def trust_anchor(output: Path = typer.Option(None, help="also write the anchor key as a JWK file "
                                                        "(for --anchor-file)")) -> None:
    """Print the trust anchor: the RFC 7638 thumbprint of the node key that signs the trust list. Publish it
    out of band (a letter, the KP website); verifiers pass it as --anchor."""
    setup()
    from kpcs.registry import services as registry

    doc = run_domain(registry.anchor)
    if output:
        output.write_text(json.dumps(doc["jwk"], indent=2) + "\n")
    print(doc["anchor"])

