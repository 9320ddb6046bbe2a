"""`kpcs governance`: decisions, written procedures, chairs, applications, working groups."""

from __future__ import annotations

import datetime as dt

import typer

from kpcs.cli.common import fail, out, run_domain, setup

governance_app = typer.Typer(help="Governance: decisions, written procedures, chairs.", no_args_is_help=True)
decisions_app = typer.Typer(help="Decisions of the scheme.", no_args_is_help=True)
governance_app.add_typer(decisions_app, name="decisions")


def _day(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@decisions_app.command("list")
def list_decisions(status: str = typer.Option(None, help="proposed, adopted, rejected or withdrawn"),
                   participant: str = typer.Option(None, help="participant code")) -> None:
    """Every decision (the node operator sees them all), newest first."""
    setup()
    from kpcs.governance import services
    from kpcs.registry.services import SYSTEM

    for d in services.visible(SYSTEM, status=status, participant=participant):
        when = d.deadline.isoformat() if d.deadline else (d.meeting.starts_on.isoformat() if d.meeting else "")
        objecting = services.objectors(d)
        out.print(f"{d.pk:>5}  {d.status:<9} {d.type:<16} {d.participant_id or '--'}  effective "
                  f"{d.effective_on.isoformat()}  {d.procedure}{' until ' + when if when else ''}"
                  f"{'  objecting: ' + ', '.join(objecting) if objecting else ''}  {d.text[:60]}", highlight=False)


@governance_app.command("close-procedures")
def close_procedures(today: str = typer.Option(None, help="judge as of this day (default: today)")) -> None:
    """Close written procedures past their deadline: adopted without a participant's objection, else rejected."""
    setup()
    from kpcs.governance import services

    closed = services.close_procedures(_day(today))
    for d in closed:
        out.print(f"decision {d.pk} ({d.type} {d.participant_id or ''}): {d.status}"
                  f"{' — ' + d.outcome if d.outcome else ''}", highlight=False)
    out.print(f"{len(closed)} written procedure(s) closed")


@governance_app.command("chairs")
def chairs(on: str = typer.Option(None, help="the Chair on this day (default: today)")) -> None:
    """The Chair and Vice-Chair per year, and who chairs on a day (the Vice-Chair becomes Chair on 1 January)."""
    setup()
    from kpcs import clock
    from kpcs.governance import services

    for year, (chair, vice) in sorted(services.chairs().items()):
        out.print(f"{year}  Chair {chair or '?'}  Vice-Chair {vice or '?'}")
    day = _day(on) or clock.today()
    chair, vice = services.chair_on(day)
    out.print(f"on {day.isoformat()}: Chair {chair or 'unknown'}, Vice-Chair {vice or 'unknown'}")


applications_app = typer.Typer(help="Applications to participate (GOV-05).", no_args_is_help=True)
governance_app.add_typer(applications_app, name="applications")


@applications_app.command("list")
def list_applications(stage: str = typer.Option(None, help="received, circulated, recommended, "
                                                           "admission_proposed, admitted or not_admitted")) -> None:
    """Every application with the stage it has reached: circulated (due within one month), the committee's
    recommendation, the admission decision."""
    setup()
    from kpcs.governance import admission

    if stage is not None and stage not in admission.STAGES:
        raise typer.BadParameter(f"stage is one of {', '.join(admission.STAGES)}")
    shown = 0
    for a in admission.listed():
        row = admission.as_dict(a)
        if stage is not None and row["stage"] != stage:
            continue
        circulation = row["circulation"]
        circulated = (f"circulated {circulation['on'].isoformat()}{' (late)' if circulation['late'] else ''}"
                      if circulation else f"to circulate by {row['circulation_due'].isoformat()}")
        decided = (f"  admission decision {row['admission']['decision']} {row['admission']['status']}, effective "
                   f"{row['admission']['effective_on'].isoformat()}" if row["admission"] else "")
        out.print(f"{row['id']:>4}  {row['code']}  {row['name'][:30]:<30} applied {row['applied_on'].isoformat()}  "
                  f"{row['stage']:<18} {circulated}"
                  f"{'  recommendation: ' + row['recommendation'] if row['recommendation'] else ''}{decided}",
                  highlight=False)
        shown += 1
    out.print(f"{shown} application(s)")


working_groups_app = typer.Typer(help="Working groups and committees and their members.", no_args_is_help=True)
governance_app.add_typer(working_groups_app, name="working-groups")


@working_groups_app.command("list")
def list_working_groups(on: str = typer.Option(None, help="only the members of this day (default: all, with "
                                                          "their dates)")) -> None:
    """Every working group and committee with its members (participants and observer organisations)."""
    setup()
    from kpcs.governance import admission

    for g in admission.working_groups(_day(on)):
        out.print(f"{g['code']}  {g['name']}  ({len(g['members'])} member(s))", highlight=False)
        for m in g["members"]:
            until = m["to"].isoformat() if m["to"] else "open"
            out.print(f"  {m['id']:>4}  {m['participant'] or m['observer']}  {m['constituency']}  {m['role']}  "
                      f"{m['from'].isoformat()} – {until}", highlight=False)


@working_groups_app.command("add-member")
def add_member(group: str = typer.Argument(..., help="the group's code, e.g. monitoring"),
               participant: str = typer.Option(None, help="a participant's code"),
               observer: str = typer.Option(None, help="an observer organisation's name"),
               role: str = typer.Option("member", help="chair, vice_chair or member"),
               member_from: str = typer.Option(..., "--from", help="first day a member, YYYY-MM-DD"),
               until: str = typer.Option(None, help="first day no longer a member, YYYY-MM-DD")) -> None:
    """Add a participant or an observer organisation to a working group (audited as the node operator)."""
    setup()
    from kpcs.governance import admission
    from kpcs.registry.services import SYSTEM

    start = _day(member_from)
    if start is None:
        raise fail("--from is a date YYYY-MM-DD")
    made = run_domain(admission.add_member, SYSTEM, group, participant=participant, observer=observer, role=role,
                      valid_from=start, valid_to=_day(until))
    out.print(f"member {made.pk} added to {group}", highlight=False)


@working_groups_app.command("end-member")
def end_member(group: str = typer.Argument(..., help="the group's code"),
               member: int = typer.Argument(..., help="the membership's id (see `list`)"),
               on: str = typer.Option(..., help="first day no longer a member, YYYY-MM-DD")) -> None:
    """End a membership from a day (kept, never deleted; audited as the node operator)."""
    setup()
    from kpcs.governance import admission
    from kpcs.registry.services import SYSTEM

    day = _day(on)
    if day is None:
        raise fail("--on is a date YYYY-MM-DD")
    run_domain(admission.end_member, SYSTEM, group, member, on=day)
    out.print(f"member {member} of {group} ends on {day.isoformat()}", highlight=False)
