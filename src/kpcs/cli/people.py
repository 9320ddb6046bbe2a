"""People, their roles and their API tokens."""

from __future__ import annotations

import datetime as dt
import sys

import typer

from kpcs.cli.common import err, fail, local_actor, out, run_domain, setup

user_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


def _read_password(email: str) -> str:
    if sys.stdin.isatty():
        pw = typer.prompt(f"password for {email}", hide_input=True, confirmation_prompt=True)
    else:
        pw = sys.stdin.readline().rstrip("\n")
    return str(pw)


@user_app.command("create")
def user_create(email: str, role: str = typer.Option(..., help="exporting_officer, importing_officer, "
                                                            "statistics_officer, kp_analyst or admin"),
                participant: str = typer.Option(None, help="participant code, for officers"),
                authority: str = typer.Option(None, help="authority id (default: the participant's first "
                                                         "authority that holds the role)")) -> None:
    """Create a user (or add a role to an existing one). A new user's password is prompted, or read from stdin;
    an existing user's password is never changed here (`kpcs user reset-password`)."""
    setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from kpcs.registry import services as registry
    from kpcs.registry.rules import ROLES

    if role not in ROLES:
        raise fail(f"role must be one of {', '.join(ROLES)}")
    exists = get_user_model().objects.filter(username=email).exists()
    password = None if exists else _read_password(email)
    if password is not None:
        try:
            validate_password(password)
        except ValidationError as exc:
            raise fail("; ".join(exc.messages)) from None
    m = run_domain(registry.create_user, email, password, role, participant.upper() if participant else None,
                   authority, actor=local_actor())
    scope = f" for {m.participant_id} through {m.authority_id}" if m.participant_id else ""
    out.print(f"{email}: {role}{scope}")


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


@user_app.command("deactivate")
def user_deactivate(email: str, reason: str = typer.Option("", help="why, for the audit log")) -> None:
    """Switch an account off: sign-in refused, every session ended, every API token revoked."""
    setup()
    from kpcs.registry import services as registry

    done = run_domain(registry.deactivate_user, email, reason=reason, actor=local_actor())
    out.print(f"{email} deactivated: {done['sessions']} session(s) ended, {done['tokens']} token(s) revoked")


@user_app.command("reactivate")
def user_reactivate(email: str, reason: str = typer.Option("", help="why, for the audit log")) -> None:
    """Let a deactivated person sign in again. Their old tokens stay revoked."""
    setup()
    from kpcs.registry import services as registry

    run_domain(registry.reactivate_user, email, reason=reason, actor=local_actor())
    out.print(f"{email} reactivated; earlier API tokens stay revoked (make new ones with `kpcs token create`)")


@user_app.command("reset-password")
def user_reset_password(email: str, base_url: str = typer.Option(
        "http://127.0.0.1:8000", envvar="KPCS_BASE_URL", help="where people reach this node")) -> None:
    """Print a one-time link with which the person sets their own password (give it to them only)."""
    setup()
    from django.conf import settings

    from kpcs.registry import services as registry

    link = run_domain(registry.password_reset_link, email, base_url=base_url, actor=local_actor())
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    err.print(f"one-time link for {email}, valid {hours} h; whoever opens it sets the password:", highlight=False)
    print(link)


@token_app.command("create")
def token_create(email: str, name: str = typer.Option("", help="a label for the token"),
                 days: int = typer.Option(None, help="days until it expires (default 90, at most 365)")) -> None:
    """Create an API token for a user and print it (only the token, once)."""
    setup()
    from kpcs.registry import rules
    from kpcs.registry import services as registry

    print(run_domain(registry.create_token, email, name, days=rules.TOKEN_DEFAULT_DAYS if days is None else days,
                     actor=local_actor()))


@token_app.command("list")
def token_list(email: str) -> None:
    """A person's tokens: prefix, name, created, last used, expiry and status (never the token itself)."""
    setup()
    from rich.table import Table

    from kpcs import clock
    from kpcs.registry import rules
    from kpcs.registry import services as registry

    tokens = run_domain(registry.list_tokens, email, actor=local_actor())
    if not tokens:
        out.print(f"{email} has no API tokens")
        return
    now = clock.now()
    table = Table("prefix", "name", "created", "last used", "expires", "status", box=None, pad_edge=False)
    for t in tokens:
        status = rules.token_status(t.expires_at, t.revoked_at, now)
        if t.revoked_at is not None:
            status += f" {_when(t.revoked_at)}"
        table.add_row(t.prefix, t.name or "-", _when(t.created_at), _when(t.last_used_at), _when(t.expires_at),
                      status)
    out.print(table)


@token_app.command("revoke")
def token_revoke(prefix: str = typer.Argument(..., help="the token's prefix as `kpcs token list` shows it"),
                 reason: str = typer.Option("", help="why, for the audit log")) -> None:
    """Revoke a token: every call with it gets 401 from now on."""
    setup()
    from kpcs.registry import services as registry

    t = run_domain(registry.revoke_token, prefix, reason=reason, actor=local_actor())
    out.print(f"revoked token {t.prefix} ({t.name or 'no name'}) of {t.user.get_username()}")
