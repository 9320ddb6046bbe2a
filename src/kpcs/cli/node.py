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
    from kpcs.governance import services as governance

    governance.seed_chairs()
    governance.seed_working_groups()
    registry.ensure_node_key()
    from django.conf import settings

    out.print(f"database ready: {settings.DATABASES['default']['NAME']} "
              f"(participants +{created['participants']}, authorities +{created['authorities']})")


HOST = typer.Option("127.0.0.1", envvar="KPCS_HOST", help="address to listen on")
PORT = typer.Option(8000, envvar="KPCS_PORT", help="port")


@commands.command()
def demo(host: str = HOST, port: int = PORT) -> None:
    """Load demo data: officers of several participants, operators, keys and sample certificates.

    Demo accounts get a published password, so the demo refuses a node that holds data of its own. --host and
    --port (or KPCS_HOST, KPCS_PORT) only say where `kpcs serve` will answer, for the addresses it prints."""
    init()
    from kpcs import demo as demo_data

    foreign = demo_data.foreign_data()
    if foreign:
        raise fail(f"this node holds data the demo did not make: {'; '.join(foreign)}. The demo adds accounts "
                   "whose password is published: load it into a node of its own (another KPCS_DATA_DIR and "
                   "database).")
    demo_data.load(out, f"http://{host}:{port}")


@commands.command()
def serve(host: str = HOST, port: int = PORT,
          workers: int = typer.Option(0, help="worker processes (default: cores + 1)"),
          background: bool = typer.Option(True, "--jobs/--no-jobs",
                                          help="also run one `kpcs worker` for background jobs (scans, expiry); "
                                               "it stops with the server")) -> None:
    """Run the web app and API, and one worker for background jobs."""
    setup()
    from django.db import connection

    connection.close()
    # cores + 1 sync workers keep both cores busy while one waits on fsync, within the memory budget (BRIEF §6)
    n = workers or (os.cpu_count() or 1) + 1
    out.print(f"kpcs serving on http://{host}:{port}/  (API docs at http://{host}:{port}/api/v1/docs)")
    sys.stdout.flush()
    args = [sys.executable, "-m", "gunicorn", "kpcs.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", str(n), "--access-logfile", "-", "--log-level", "warning", "--graceful-timeout", "5",
            # URLs up to 8 KB (gunicorn's largest bounded request line, nginx's default); longer ones get 414
            "--limit-request-line", "8190",
            # starts `kpcs worker` beside the server and stops it with the server (on_starting, on_exit)
            "--config", "python:kpcs.gunicorn_conf"]
    os.environ["KPCS_SERVE_WORKER"] = "1" if background else "0"
    os.environ["KPCS_WORKERS"] = str(n)  # each worker allows its share of the rate limits (kpcs.ratelimit)
    os.execv(sys.executable, args)


@commands.command()
def check(deploy: bool = typer.Option(False, help="also the checks for a production deployment (HTTPS, cookies, "
                                                  "HSTS): set KPCS_HTTPS=1 and KPCS_ALLOWED_HOSTS first")) -> None:
    """Django's system checks on this node's configuration; exit 1 if any is reported."""
    setup(require_current_schema=False)
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    try:
        call_command("check", deploy=deploy, fail_level="WARNING")
    except SystemCheckError as exc:
        raise fail(str(exc).strip()) from None

