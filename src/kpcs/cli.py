"""The `kpcs` command: set up, run and operate a node (BRIEF §4)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

app = typer.Typer(help="Kimberley Process Certification Scheme node.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
user_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Authority signing keys.", no_args_is_help=True)
cert_app = typer.Typer(help="Certificates.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
trust_app = typer.Typer(help="The trust list of public keys.", no_args_is_help=True)
stats_app = typer.Typer(help="Statistics: import, export, reporting compliance.", no_args_is_help=True)
generate_app = typer.Typer(help="Synthetic data for tests, demos and benchmarks.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")
app.add_typer(cert_app, name="certificate")
app.add_typer(audit_app, name="audit")
app.add_typer(trust_app, name="trust-list")
app.add_typer(stats_app, name="stats")
app.add_typer(generate_app, name="generate")

# Piped output (a file, a pipe) gets wide lines rather than rich's 80 columns, so tables stay readable.
_width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
out = Console(width=_width)
err = Console(stderr=True, width=_width)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


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


@app.command()
def init() -> None:
    """Create or upgrade the database, load reference data and make the node key."""
    setup(require_current_schema=False)
    from django.core.management import call_command

    from kpcs.registry import services as registry

    call_command("migrate", interactive=False, verbosity=0)
    created = registry.seed_reference_data()
    registry.ensure_node_key()
    from django.conf import settings

    out.print(f"database ready: {settings.DATABASES['default']['NAME']} "
              f"(participants +{created['participants']}, authorities +{created['authorities']})")


@app.command()
def demo() -> None:
    """Load demo data: officers of several participants, operators, keys and sample certificates."""
    init()
    from kpcs import demo as demo_data

    demo_data.load(out)


@app.command()
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


# --- users and tokens ---------------------------------------------------------------------------

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
                   authority)
    scope = f" for {m.participant_id} through {m.authority_id}" if m.participant_id else ""
    out.print(f"{email}: {role}{scope}")


@token_app.command("create")
def token_create(email: str, name: str = typer.Option("", help="a label for the token")) -> None:
    """Create an API token for a user and print it (only the token, once)."""
    setup()
    from kpcs.registry import services as registry

    print(run_domain(registry.create_token, email, name))


# --- keys ---------------------------------------------------------------------------------------

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
    rec = run_domain(registry.create_key, None if node else authority)
    out.print(f"created {rec.kid}")


@keys_app.command("rotate")
def keys_rotate(authority: str = typer.Option(None), node: bool = typer.Option(False)) -> None:
    """Start a new key and retire the current one (certificates it signed stay genuine)."""
    setup()
    from kpcs.registry import services as registry

    if not authority and not node:
        raise fail("name --authority ID, or --node")
    rec = run_domain(registry.rotate_key, None if node else authority)
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
    rec = run_domain(registry.revoke_key, kid, reason, when)
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


# --- certificates -------------------------------------------------------------------------------

def _cli_actor(email: str) -> Any:
    from django.contrib.auth import get_user_model

    from kpcs.registry import services as registry

    user = get_user_model().objects.filter(username=email).first()
    if user is None:
        raise fail(f"no user {email!r}")
    return registry.actor_for_user(user, "cli")


@cert_app.command("issue")
def cert_issue(file: Path = typer.Option(..., "--file", help="JSON request, as for POST /api/v1/certificates"),
               user: str = typer.Option(..., "--user", help="e-mail of the exporting officer acting")) -> None:
    """Issue a certificate from a JSON file on behalf of an exporting officer; prints the certificate."""
    setup()
    from kpcs.certificates import services

    try:
        request = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    if not isinstance(request, dict):
        raise fail(f"{file} must hold a JSON object")
    cert = run_domain(services.issue, _cli_actor(user), request)
    print(json.dumps(services.to_dict(cert), indent=2, default=str))


def _local_actor() -> Any:
    """Whoever runs the CLI on the node itself operates the node: reads across participants, imports
    statistics and manages findings. Officer actions still need --user."""
    import getpass

    from kpcs.registry.services import Actor, Grant

    return Actor(f"cli:{getpass.getuser()}", grants=tuple(Grant(r, None, None)
                                                          for r in ("kp_analyst", "wgs_analyst", "admin")))


@cert_app.command("show")
def cert_show(number: str) -> None:
    """Print a certificate (local node operators read every certificate)."""
    setup()
    from kpcs.certificates import services

    cert = run_domain(services.get, _local_actor(), number)
    print(json.dumps(services.to_dict(cert), indent=2, default=str))


@cert_app.command("verify")
def cert_verify(file: Path, trust_list: Path = typer.Option(..., "--trust-list", help="trust list JSON file"),
                node_kid: str = typer.Option(None, help="pin the node key expected to sign the trust list")) -> None:
    """Verify offline a signed certificate (the JWS string) against a trust list; exit 1 if not genuine."""
    from kpcs import crypto
    from kpcs.certificates import rules
    from kpcs.registry import rules as registry_rules

    try:
        token = file.read_text().strip()
        if token.startswith("{"):
            token = json.loads(token).get("jws", "")
        document = json.loads(trust_list.read_text())
    except (OSError, ValueError, AttributeError) as exc:
        raise fail(f"cannot read input: {exc}", 2) from None
    if not isinstance(token, str) or not isinstance(document, dict):
        raise fail("expected a JWS string (or a JSON object with \"jws\") and a trust-list JSON object", 2)
    try:
        body = registry_rules.check_trust_list(document, node_kid)
    except crypto.BadSignature as exc:
        raise fail(f"trust list rejected: {exc}", 2) from None
    keys = {k["kid"]: k for k in body.get("keys", [])}
    result = rules.verify_signed(token, keys.get)
    p = result.payload
    if result.genuine:
        out.print(f"[green]GENUINE[/green] {p.get('number')} issued {p.get('issued_on')} by "
                  f"{p.get('issuing_authority', {}).get('id')} ({p.get('exporting_participant')} → "
                  f"{p.get('importing_participant')}), expires {p.get('expires_on')}; key {result.kid}",
                  highlight=False)
        if p.get("expires_on") and str(p["expires_on"]) < dt.date.today().isoformat():
            out.print("note: the certificate has passed its expiry date", highlight=False)
        return
    out.print(f"[red]NOT GENUINE[/red] {p.get('number', '')}: " + "; ".join(result.reasons), highlight=False)
    raise typer.Exit(1)


@cert_app.command("expire")
def cert_expire(as_of: str = typer.Option(None, "--as-of", help="date (default today)")) -> None:
    """Mark certificates past their expiry date and never confirmed as expired."""
    setup()
    from kpcs.certificates import services

    day = dt.date.fromisoformat(as_of) if as_of else None
    done = services.expire_due(day)
    out.print(f"{len(done)} certificate(s) expired")


# --- audit --------------------------------------------------------------------------------------

@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; name the first broken entry and exit 1 if any."""
    setup()
    from kpcs.audit import services

    count, broken = services.verify_chain()
    if broken:
        raise fail(f"audit chain broken at entry {broken[0]}: {broken[1]} ({count} entries read)")
    out.print(f"audit chain intact: {count} entries")


# --- statistics ---------------------------------------------------------------------------------

def _period_option(value: str | None) -> Any:
    from kpcs.statistics.rules import parse_period

    if not value:
        return None
    try:
        return parse_period(value)
    except ValueError as exc:
        raise fail(str(exc)) from None


@stats_app.command("import")
def stats_import(file: Path) -> None:
    """Import figures in the exchange format, all or nothing; a bad row is named by row and column."""
    setup()
    from rich.progress import BarColumn, Progress, TextColumn

    from kpcs.statistics import services
    from kpcs.statistics.rules import RowError

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    total = max(data.count(b"\n"), 1)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  console=err, transient=True) as bar:
        tasks = {phase: bar.add_task(f"{phase} {file.name}", total=total) for phase in ("checking", "writing")}

        def progress(phase: str, n: int) -> None:
            bar.update(tasks[phase], completed=n)

        try:
            result = run_domain(services.import_csv, data, actor=_local_actor(), filename=file.name,
                                progress=progress)
        except RowError as exc:
            raise fail(f"{file}: {exc}; nothing was imported") from None
    out.print(f"imported {result.rows:,} rows from {file} (batch {result.batch_id}; {result.revised:,} revised "
              f"earlier figures)", highlight=False)


@stats_app.command("export")
def stats_export(period: str = typer.Option(None, help="YYYY, YYYY-H1 or YYYY-Q1…"),
                 participant: str = typer.Option(None, help="participant code"),
                 output: Path = typer.Option(None, help="file to write (default: standard output)")) -> None:
    """Write the node's figures in the exchange format: trade derived from certificates, imported trade where
    no certificates exist, production as submitted or imported."""
    setup()
    from kpcs.statistics import services

    rows = services.export_rows(_period_option(period), participant.upper() if participant else None)
    if output:
        with output.open("w", newline="") as fh:
            n = services.write_csv(rows, fh)
        out.print(f"wrote {n:,} rows to {output}")
    else:
        services.write_csv(rows, sys.stdout)


@stats_app.command("check")
def stats_check(rebuild: bool = typer.Option(False, help="recompute the trade cells from the certificates")) -> None:
    """Check that the trade statistics kept with every certificate change equal the certificates themselves."""
    setup()
    from kpcs.statistics import services

    if rebuild:
        out.print(f"rebuilt {services.rebuild_trade_cells(_local_actor()):,} trade cells")
    differ = services.check_trade_cells()
    if differ:
        raise fail(f"{differ} trade cell(s) differ from the certificates: run `kpcs stats check --rebuild`")
    out.print("trade statistics match the certificates")


@stats_app.command("compliance")
def stats_compliance(participant: str, as_of: str = typer.Option(None, "--as-of", help="date (default today)")) -> None:
    """Reporting obligations of a participant: due dates and status."""
    setup()
    from rich.table import Table

    from kpcs.registry import services as registry
    from kpcs.statistics import services

    code = participant.upper()
    run_domain(registry.get_participant, code)
    day = _date_option(as_of)
    table = Table("obligation", "period", "due on", "status", "received on")
    for o in services.obligations(code, day):
        table.add_row(o["kind"], o["period"], str(o["due_on"]), o["status"], str(o["received_on"] or ""))
    out.print(table)


def _date_option(value: str | None) -> dt.date:
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{value!r} is not a date YYYY-MM-DD") from None


@app.command()
def analyse(period: str = typer.Option(None, help="YYYY, YYYY-H1 or YYYY-Q1…"),
            participant: str = typer.Option(None, help="participant code"),
            output_format: str = typer.Option("table", "--format", help="table or json"),
            as_of: str = typer.Option(None, "--as-of", help="judge deadlines on this date (default today)"),
            thresholds: Path = typer.Option(None, help="JSON file overriding thresholds"),
            expected: Path = typer.Option(None, help="companion JSON of `kpcs generate statistics`: report how many "
                                                     "planted anomalies were found and the false-alarm rate")) -> None:
    """Run the anomaly analysis, record its findings, and print them."""
    setup()
    from kpcs.monitoring import rules, services

    if output_format not in ("table", "json"):
        raise fail("--format is table or json")
    th = None
    if thresholds:
        try:
            th = rules.Thresholds.from_mapping(json.loads(thresholds.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise fail(f"bad thresholds file {thresholds}: {exc}") from None
    _period_option(period)
    found = run_domain(services.scan, _local_actor(), period=period,
                       participant=participant.upper() if participant else None, as_of=_date_option(as_of),
                       thresholds=th)
    items = [services.to_dict(f) for f in found]
    if output_format == "json":
        print(json.dumps([{k: v for k, v in i.items() if k not in ("first_seen", "last_seen")} for i in items],
                         indent=2, default=str))
    else:
        from rich.table import Table

        table = Table("id", "rule", "participant", "period", "severity", "status", "summary", show_lines=False)
        for i in items:
            table.add_row(str(i["id"]), i["rule"], i["participant"], i["period"], i["severity"], i["status"],
                          i["summary"])
        out.print(table)
        out.print(f"{len(items)} finding(s)")
    if expected:
        _evaluate(items, expected)


def _evaluate(items: list[dict[str, Any]], expected: Path) -> None:
    try:
        doc = json.loads(expected.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {expected}: {exc}") from None
    planted = doc.get("planted", [])
    hit = [p for p in planted if any(i["rule"] == p["rule"] and i["participant"] == p["participant"]
                                     and i["period"] == p["period"] for i in items)]
    clean = set(doc.get("clean_participants", []))
    noisy = {i["participant"] for i in items if i["participant"] in clean}
    out.print(f"planted anomalies found: {len(hit)}/{len(planted)}", highlight=False)
    for p in planted:
        if p not in hit:
            out.print(f"  missed: {p['rule']} {p['participant']} {p['period']} {p.get('detail', '')}",
                      highlight=False)
    if clean:
        out.print(f"false alarms: {len(noisy)}/{len(clean)} clean participants have a finding "
                  f"({len(noisy) / len(clean):.1%}); findings on clean participants: "
                  f"{sum(1 for i in items if i['participant'] in clean)}", highlight=False)


@generate_app.command("statistics")
def generate_statistics(participants: int = typer.Option(40, help="number of participants"),
                        years: int = typer.Option(20, help="number of years, ending with --end-year"),
                        seed: int = typer.Option(1, help="random seed: same seed, same file"),
                        output: Path = typer.Option(..., help="CSV file to write"),
                        end_year: int = typer.Option(2025, help="last year generated"),
                        anomalies: Path = typer.Option(None, help="companion JSON (default: OUTPUT with "
                                                                  ".anomalies.json)")) -> None:
    """Write plausible production and trade in the exchange format, with planted anomalies listed in a
    companion JSON file."""
    from kpcs.statistics import generate

    if participants < 2 or years < 1:
        raise fail("need at least 2 participants and 1 year")
    summary = generate.write(participants, years, seed, output, anomalies, end_year)
    out.print(f"wrote {summary}", highlight=False)


def main() -> None:
    from django.db import Error as DatabaseError

    try:
        app(prog_name="kpcs")
    except DatabaseError as exc:  # unreachable server, wrong credentials, a database in use elsewhere…
        err.print(f"[red]database error:[/red] {exc}".rstrip(), highlight=False)
        err.print("check KPCS_DATABASE_URL and that the database is reachable and initialised (`kpcs init`)")
        raise SystemExit(1) from None
