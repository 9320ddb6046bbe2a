"""The `kpcs` command: set up, run and operate a node (BRIEF §4). One module per command group."""

from __future__ import annotations

import os

import typer

from kpcs.cli import audit, certificates, custody, governance, keys, node, people, registry, statistics, worker
from kpcs.cli.common import err

app = typer.Typer(help="Kimberley Process Certification Scheme node.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
node.register(app)
statistics.register(app)
custody.register(app)
worker.register(app)
app.add_typer(people.user_app, name="user")
app.add_typer(people.token_app, name="token")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(keys.trust_app, name="trust-list")
app.add_typer(certificates.cert_app, name="certificate")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(statistics.stats_app, name="stats")
app.add_typer(statistics.generate_app, name="generate")
app.add_typer(governance.governance_app, name="governance")
app.add_typer(registry.participant_app, name="participant")
app.add_typer(custody.custody_app, name="custody")


@app.callback()
def main_options(
    database_url: str = typer.Option(None, "--database-url", envvar="KPCS_DATABASE_URL",
                                     help="sqlite:///path or postgresql://user@host/db"),
    data_dir: str = typer.Option(None, "--data-dir", envvar="KPCS_DATA_DIR", help="keys, secret, default database"),
) -> None:
    if database_url:
        os.environ["KPCS_DATABASE_URL"] = database_url
    if data_dir:
        os.environ["KPCS_DATA_DIR"] = data_dir


def main() -> None:
    from django.db import Error as DatabaseError

    try:
        app(prog_name="kpcs")
    except DatabaseError as exc:  # unreachable server, wrong credentials, a database in use elsewhere…
        err.print(f"[red]database error:[/red] {exc}".rstrip(), highlight=False)
        err.print("check KPCS_DATABASE_URL and that the database is reachable and initialised (`kpcs init`)")
        raise SystemExit(1) from None
