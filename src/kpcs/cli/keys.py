"""Signing keys and the trust list."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer

from kpcs.cli.common import fail, local_actor, out, run_domain, setup

keys_app = typer.Typer(help="Authority signing keys.", no_args_is_help=True)
trust_app = typer.Typer(help="The trust list of public keys.", no_args_is_help=True)


def _key_line(k: dict[str, Any]) -> str:
    return f"{k['kid']}  {k['status']}  from {k['valid_from']}" + (
        f"  until {k['valid_until']}" if k["valid_until"] else "") + (
        f"  revoked {k['revoked_at']}" if k["revoked_at"] else "")


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
    """Start a new key and retire the current one (certificates it signed stay genuine)."""
    setup()
    from kpcs.registry import services as registry

    if not authority and not node:
        raise fail("name --authority ID, or --node")
    rec = run_domain(registry.rotate_key, None if node else authority, actor=local_actor())
    out.print(f"rotated: new key {rec.kid}")


@keys_app.command("revoke")
def keys_revoke(kid: str, reason: str = typer.Option(..., help="why (compromise, loss, …)"),
                at: str = typer.Option(None, help="ISO time the key stopped being trustworthy (default now)")) -> None:
    """Revoke a key from a time: signatures made after it fail verification."""
    setup()
    from kpcs.registry import services as registry

    when = None
    if at:
        try:
            when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise fail(f"--at {at!r} is not an ISO date-time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
    rec = run_domain(registry.revoke_key, kid, reason, when, actor=local_actor())
    out.print(f"revoked {rec.kid} from {rec.revoked_at.isoformat()}")


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
    out.print(f"wrote {len(doc['trust_list']['keys'])} keys to {file}")

