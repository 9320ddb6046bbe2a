"""The hash-chained audit log."""

from __future__ import annotations

import typer

from kpcs.cli.common import fail, out, setup

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; name the first broken entry and exit 1 if any."""
    setup()
    from kpcs.audit import services

    count, broken = services.verify_chain()
    if broken:
        raise fail(f"audit chain broken at entry {broken[0]}: {broken[1]} ({count} entries read)")
    out.print(f"audit chain intact: {count} entries")

