"""The hash-chained audit log: verify it, and take signed checkpoints of it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kpcs.cli.common import fail, out, run_domain, setup

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(checkpoint: Path = typer.Option(None, "--checkpoint", help="a checkpoint written by `kpcs audit "
                                                 "checkpoint`: the log must still extend it")) -> None:
    """Check the hash chain, that it extends the checkpoint, and that replaying it gives the current state of
    certificates, keys, statuses, tokens and users; name each problem and exit 1 if any (2: untrusted
    checkpoint)."""
    setup()
    from kpcs.audit import services
    from kpcs.registry import selectors

    cp = None
    if checkpoint is not None:
        try:
            document = checkpoint.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read the checkpoint {checkpoint}: {exc}", 2) from None
        try:
            cp = services.read_checkpoint(document, selectors.node_key)
        except services.CheckpointRefused as exc:
            raise fail(f"checkpoint refused: {exc}", 2) from None
    result = services.verify(cp)
    if result.broken:
        seq, reason = result.broken
        raise fail(f"audit chain broken at entry {seq}: {reason} ({result.entries} entries read)")
    out.print(f"audit chain intact: {result.entries} entries", highlight=False)
    if result.checkpoint_problem:
        raise fail(f"the log does not extend the checkpoint: {result.checkpoint_problem}")
    if cp is not None:
        out.print(f"extends the checkpoint of {cp.at} ({cp.size} entries, signed by {cp.node_kid})",
                  highlight=False)
    if result.difference_count:
        for line in result.differences:
            out.print(f"  {line}", highlight=False)
        if result.difference_count > len(result.differences):
            out.print(f"  … and {result.difference_count - len(result.differences)} more", highlight=False)
        raise fail(f"the current state differs from the log in {result.difference_count} place(s): "
                   f"{result.differences[0]}")
    out.print(f"current state matches the log: {result.objects} certificates, keys, statuses, tokens and users",
              highlight=False)


@audit_app.command("checkpoint")
def audit_checkpoint(output: Path = typer.Option(None, "--output", help="file to write (default: standard "
                                                 "output)")) -> None:
    """Write a checkpoint of the log signed by the node key (size, head hash, time): keep it off the node, and
    `kpcs audit verify --checkpoint FILE` shows later that no entry up to it was removed or rewritten."""
    setup()
    from kpcs import clock
    from kpcs.audit import services
    from kpcs.registry import services as registry

    def take() -> dict[str, object]:
        kid, key = registry.signing_key(None, clock.now())
        return services.checkpoint(kid, key)

    cp = run_domain(take)
    text = json.dumps(cp, indent=2) + "\n"
    if output is None:
        print(text, end="")
        return
    output.write_text(text, encoding="utf-8")
    out.print(f"checkpoint of {cp['size']} entries (head {cp['head_hash'][:16]}…) signed by {cp['node_kid']}: "
              f"{output}", highlight=False)
