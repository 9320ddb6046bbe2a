"""People, their roles and their API tokens."""

from __future__ import annotations

import sys

import typer

from kpcs.cli.common import fail, local_actor, out, run_domain, setup

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
    """Create a user (or add a role to an existing one). The password is prompted, or read from stdin."""
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


@token_app.command("create")
def token_create(email: str, name: str = typer.Option("", help="a label for the token")) -> None:
    """Create an API token for a user and print it (only the token, once)."""
    setup()
    from kpcs.registry import services as registry

    print(run_domain(registry.create_token, email, name, actor=local_actor()))

