"""Shared pieces of the `kpcs` command: consoles, errors, Django set-up, the actors the CLI acts as."""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

import typer
from rich.console import Console

# Piped output (a file, a pipe) gets wide lines rather than rich's 80 columns, so tables stay readable.
_width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
out = Console(width=_width)
err = Console(stderr=True, width=_width)

def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)



def setup(require_current_schema: bool = True) -> None:
    """Start Django; every command but `init` refuses a database that is missing or not up to date."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpcs.settings")
    import django

    django.setup()
    if require_current_schema:
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise fail("the database is not initialised or not up to date: run `kpcs init` first")


def run_domain(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a service and turn a refusal into a clear message and exit code 1, never a traceback."""
    from kpcs.errors import DomainError

    try:
        return fn(*args, **kwargs)
    except DomainError as exc:
        raise fail(f"{exc.message}" + (f" [{exc.rule}]" if exc.rule else "")) from None



def cli_actor(email: str) -> Any:
    from django.contrib.auth import get_user_model

    from kpcs.registry import services as registry

    user = get_user_model().objects.filter(username=email).first()
    if user is None:
        raise fail(f"no user {email!r}")
    return registry.actor_for_user(user, "cli")



def local_actor() -> Any:
    """Whoever runs `kpcs` on the node itself operates the node: the system actor, named after the account.
    Officer actions (issuing, confirming) still need --user, so they are attributed to an officer."""
    import getpass

    from kpcs.registry.services import Actor

    return Actor(f"cli:{getpass.getuser()}", system=True)



def period_option(value: str | None) -> Any:
    from kpcs.statistics.rules import parse_period

    if not value:
        return None
    try:
        return parse_period(value)
    except ValueError as exc:
        raise fail(str(exc)) from None



def date_option(value: str | None) -> dt.date:
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{value!r} is not a date YYYY-MM-DD") from None

