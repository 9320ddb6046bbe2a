"""Statistics: import, export, compliance, the anomaly analysis and generated data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from kpcs.cli.common import date_option, err, fail, local_actor, out, period_option, run_domain, setup

stats_app = typer.Typer(help="Statistics: import, export, reporting compliance.", no_args_is_help=True)
generate_app = typer.Typer(help="Synthetic data for tests, demos and benchmarks.", no_args_is_help=True)
commands = typer.Typer()  # top-level commands, added to the main app by register()


def register(app: typer.Typer) -> None:
    app.registered_commands.extend(commands.registered_commands)


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
            result = run_domain(services.import_csv, data, actor=local_actor(), filename=file.name,
                                progress=progress)
        except RowError as exc:
            raise fail(f"{file}: {exc}; nothing was imported") from None
    out.print(f"imported {result.rows:,} rows from {file} (batch {result.batch_id}; {result.revised:,} revised "
              f"earlier figures)", highlight=False)


@stats_app.command("import-customs")
def stats_import_customs(file: Path = typer.Argument(None, help="customs CSV (year,reporter,iso2,flow,hs6,usd); "
                                                             "default: the HS 7102 file shipped with the node"),
                         ) -> None:
    """Import customs HS 7102 trade values for the customs cross-check, all or nothing; a bad row is named by row
    and column. The same file again changes nothing; a changed value is a new revision."""
    setup()
    from importlib import resources

    from rich.progress import BarColumn, Progress, TextColumn

    from kpcs.statistics import services
    from kpcs.statistics.rules import RowError

    if file is None:
        reference = resources.files("kpcs.statistics").joinpath("data", "hs7102-trade.csv")
        data, name, shown = reference.read_bytes(), "hs7102-trade.csv (ITC Trade Map, shipped)", "hs7102-trade.csv"
    else:
        try:
            data, name, shown = file.read_bytes(), file.name, str(file)
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc}") from None
    total = max(data.count(b"\n"), 1)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  console=err, transient=True) as bar:
        tasks = {phase: bar.add_task(f"{phase} {name}", total=total) for phase in ("checking", "writing")}

        def progress(phase: str, n: int) -> None:
            bar.update(tasks[phase], completed=n)

        try:
            result = run_domain(services.import_customs, data, actor=local_actor(), filename=name,
                                progress=progress)
        except RowError as exc:
            raise fail(f"{shown}: {exc}; nothing was imported") from None
    batch = f"batch {result.batch_id}" if result.batch_id else "nothing changed: no batch"
    out.print(f"customs figures from {shown}: {result.rows:,} rows ({batch}; {result.new:,} new, {result.revised:,} "
              f"revised, {result.unchanged:,} unchanged; {result.skipped:,} skipped: worked diamonds or no "
              f"reporting country)", highlight=False)


@stats_app.command("export")
def stats_export(period: str = typer.Option(None, help="YYYY, YYYY-H1 or YYYY-Q1…"),
                 participant: str = typer.Option(None, help="participant code"),
                 output: Path = typer.Option(None, help="file to write (default: standard output)")) -> None:
    """Write the node's figures in the exchange format: trade derived from certificates, imported trade where
    no certificates exist, production as submitted or imported."""
    setup()
    from kpcs.statistics import services

    rows = services.export_rows(period_option(period), participant.upper() if participant else None)
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
        out.print(f"rebuilt {services.rebuild_trade_cells(local_actor()):,} trade cells")
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
    day = date_option(as_of)
    table = Table("obligation", "period", "due on", "status", "received on")
    for o in services.obligations(code, day):
        table.add_row(o["kind"], o["period"], str(o["due_on"]), o["status"], str(o["received_on"] or ""))
    out.print(table)


@commands.command()
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
    period_option(period)
    found = run_domain(services.scan, local_actor(), period=period,
                       participant=participant.upper() if participant else None, as_of=date_option(as_of),
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

