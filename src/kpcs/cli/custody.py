"""Custody: load a file of custody events, trace a parcel back to its sites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from kpcs.cli.common import cli_actor, err, fail, local_actor, out, run_domain, setup

custody_app = typer.Typer(help="Custody from mine to export: events, traces.", no_args_is_help=True)
commands = typer.Typer()  # top-level commands, added to the main app by register()


def register(app: typer.Typer) -> None:
    app.registered_commands.extend(commands.registered_commands)


@custody_app.command("import")
def custody_import(file: Path,
                   user: str = typer.Option(None, "--user", help="e-mail of the custody officer recording them "
                                                                 "(default: the node operator)"),
                   one_by_one: bool = typer.Option(False, "--one-by-one",
                                                   help="record each event as the API does, with its own audit "
                                                        "entry (slow: a few hundred events a second)")) -> None:
    """Record a file of custody events (JSON lines, or CSV), all or nothing: a bad line is named and nothing is
    kept. Parcels made earlier in the file are named "@LINE" or "@LINE.N". The file is checked whole, then
    written at once with one audit entry for it (its SHA-256 and counts)."""
    setup()
    import hashlib

    from rich.progress import BarColumn, Progress, TextColumn

    from kpcs.custody import bulk, rules, services

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    actor = cli_actor(user) if user else local_actor()
    try:
        events = rules.read_events(data, file.name)
    except rules.LineError as exc:
        raise fail(f"{file}: {exc.message}; nothing was imported") from None
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  console=err, transient=True) as bar:
        task = bar.add_task(f"{'recording' if one_by_one else 'checking'} {file.name}", total=len(events))
        try:
            if one_by_one:
                count = len(run_domain(services.import_events, actor, events,
                                       progress=lambda n: bar.update(task, completed=n)))
            else:
                count = run_domain(bulk.import_events, actor, events, sha256=hashlib.sha256(data).hexdigest(),
                                   filename=file.name, progress=lambda n: bar.update(task, completed=n)).events
        except typer.Exit:
            err.print("nothing was imported")
            raise
    out.print(f"recorded {count:,} custody events from {file}", highlight=False)


def _day(value: str | None, option: str) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} is a day, e.g. 2026-01-31") from None


@custody_app.command("epcis-export")
def epcis_export(operator: int = typer.Option(None, "--operator", help="only this operator's events"),
                 start: str = typer.Option(None, "--from", help="first day (UTC), e.g. 2026-01-01"),
                 end: str = typer.Option(None, "--to", help="last day (UTC, inclusive)"),
                 user: str = typer.Option(None, "--user", help="read as this person (default: the node operator)")
                 ) -> None:
    """Write custody events as one GS1 EPCIS 2.0 JSON-LD document to standard output (at most 10,000 events:
    narrow with --from/--to or --operator)."""
    setup()
    from kpcs.custody import epcis

    actor = cli_actor(user) if user else local_actor()
    doc = run_domain(epcis.export_document, actor, operator=operator, start=_day(start, "--from"),
                     end=_day(end, "--to"))
    print(json.dumps(doc, indent=2, ensure_ascii=False))


@custody_app.command("epcis-import")
def epcis_import(file: Path,
                 user: str = typer.Option(None, "--user", help="e-mail of the custody officer recording them "
                                                               "(default: the node operator)")) -> None:
    """Record the custody events of a GS1 EPCIS 2.0 JSON-LD document, all or nothing: the first refusal names
    its event (index in eventList) and field, and nothing is kept."""
    setup()
    from kpcs.custody import epcis

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    actor = cli_actor(user) if user else local_actor()
    doc = run_domain(epcis.loads, data)
    try:
        done = run_domain(epcis.import_document, actor, doc)
    except typer.Exit:
        err.print("nothing was imported")
        raise
    replayed = sum(d.replayed for d in done)
    out.print(f"recorded {len(done) - replayed:,} custody events from {file}"
              + (f" ({replayed:,} were already recorded)" if replayed else ""), highlight=False)


@commands.command("trace")
def trace(parcel: int = typer.Option(None, "--parcel", help="parcel id"),
          certificate: str = typer.Option(None, "--certificate", help="certificate number, e.g. 'BW 000123'"),
          output_format: str = typer.Option("table", "--format", help="table or json"),
          user: str = typer.Option(None, "--user", help="read as this person (default: the node operator)")) -> None:
    """Trace a parcel, or the goods of a certificate issued from custody, back to their sites: origin shares per
    country and site, and every event on the way (CERT-10)."""
    setup()
    from kpcs.certificates import services as certificates
    from kpcs.custody import services

    if output_format not in ("table", "json"):
        raise fail("--format is table or json")
    if (parcel is None) == (certificate is None):
        raise fail("name one of --parcel or --certificate")
    actor = cli_actor(user) if user else local_actor()
    found: dict[str, Any] = (run_domain(services.trace, actor, parcel) if certificate is None
                             else run_domain(certificates.trace, actor, certificate))
    if output_format == "json":
        print(json.dumps(found, indent=2, default=str))
        return
    from rich.table import Table

    if certificate is None:
        p = found["parcel"]
        out.print(f"parcel {p['id']}: {p['carats']} ct, US$ {p['value_usd']}, HS {p['hs_code']}, {p['status']}, "
                  f"held by {p['holder']['name']} ({p['holder']['participant']})", highlight=False)
    elif not found["from_custody"]:
        out.print(f"certificate {found['certificate']} was not issued from custody: nothing to trace",
                  highlight=False)
        return
    else:
        out.print(f"certificate {found['certificate']}: {found['carats']} ct in parcels "
                  f"{', '.join(str(p['id']) for p in found['parcels'])}", highlight=False)
    origins = Table("country", "site", "region", "carats", title="origins")
    for o in found["origins"]:
        site = o["site"] or {}
        origins.add_row(o["country"], site.get("name", ""), site.get("region", ""), o["carats"])
    out.print(origins)
    path = Table("event", "type", "occurred at", "operator", "licence", "counterparty", "licence", "site", "in",
                 "out", title="path (newest first)")

    def lic(value: dict[str, Any] | None) -> str:
        return value["number"] if value else ""

    for e in found["path"]:
        if e.get("withheld"):
            path.add_row(str(e["id"]), e["type"], str(e["occurred_at"]), f"({e['participant']}: withheld)",
                         "", "", "", "", "", "")
            continue
        path.add_row(str(e["id"]), e["type"], str(e["occurred_at"]), e["operator"]["name"],
                     lic(e["operator_licence"]), (e["counterparty"] or {}).get("name", ""),
                     lic(e["counterparty_licence"]), (e["site"] or {}).get("name", ""),
                     " ".join(f"{i['id']}:{i['carats']}" for i in e["inputs"]),
                     " ".join(f"{o['id']}:{o['carats']}" for o in e["outputs"]))
    out.print(path)


@custody_app.command("control")
def control(participant: str,
            valid_from: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
            on: bool = typer.Option(..., "--on/--off", help="custody control on or off from that day")) -> None:
    """Switch a participant's custody control on or off from a day (the node operator): under it, its
    certificates are issued from parcels in custody and the goods it imports enter custody (CERT-10, EXP-06)."""
    setup()
    import datetime as dt

    from kpcs.custody import services

    try:
        day = dt.date.fromisoformat(valid_from)
    except ValueError:
        raise fail("--from is a day YYYY-MM-DD") from None
    row = run_domain(services.set_control, local_actor(), participant, day, on)
    out.print(f"custody control of {row.participant_id} {'on' if row.enabled else 'off'} from "
              f"{row.valid_from.isoformat()}", highlight=False)
