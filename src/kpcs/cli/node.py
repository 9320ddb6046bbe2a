"""Set up and run a node: init, demo, serve."""

from __future__ import annotations

import os
import sys

import typer

from kpcs.cli.common import fail, local_actor, out, setup

commands = typer.Typer()  # top-level commands, added to the main app by register()


def register(app: typer.Typer) -> None:
    app.registered_commands.extend(commands.registered_commands)


@commands.command()
def init() -> None:
    """Create or upgrade the database, load reference data and make the node key."""
    setup(require_current_schema=False)
    from django.core.management import call_command

    from kpcs.audit import services as audit
    from kpcs.registry import services as registry

    call_command("migrate", interactive=False, verbosity=0)
    if audit.ensure_baseline(local_actor().label):  # a log begun before entries kept their payloads
        out.print("audit log: recorded the baseline the state replay starts from")
    created = registry.seed_reference_data()
    registry.ensure_node_key()
    from django.conf import settings

    out.print(f"database ready: {settings.DATABASES['default']['NAME']} "
              f"(participants +{created['participants']}, authorities +{created['authorities']})")


@commands.command()
def demo() -> None:
    """Load demo data: officers of several participants, operators, keys and sample certificates.

    Demo accounts get a published password, so the demo refuses a node that has accounts of its own."""
    init()
    from kpcs import demo as demo_data

    foreign = demo_data.foreign_accounts()
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise fail(f"this node has accounts the demo did not make ({shown}): the demo would add accounts whose "
                   "password is published. Load it into a node of its own (another KPCS_DATA_DIR and database).")
    demo_data.load(out)


@commands.command()
def serve(host: str = typer.Option("127.0.0.1", help="address to listen on"),
          port: int = typer.Option(8000, help="port"),
          workers: int = typer.Option(0, help="worker processes (default: cores + 1)")) -> None:
    """Run the web app and API."""
    setup()
    from django.db import connection

    connection.close()
    # cores + 1 sync workers keep both cores busy while one waits on fsync, within the memory budget (BRIEF §6)
    n = workers or (os.cpu_count() or 1) + 1
    out.print(f"kpcs serving on http://{host}:{port}/  (API docs at http://{host}:{port}/api/v1/docs)")
    sys.stdout.flush()
    args = [sys.executable, "-m", "gunicorn", "kpcs.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", str(n), "--access-logfile", "-", "--log-level", "warning", "--graceful-timeout", "5"]
    os.execv(sys.executable, args)

