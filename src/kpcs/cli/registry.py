"""`kpcs participant`: a participant's date-effective policies (CERT-09 validity, IMP-02 confirmation deadline)."""

from __future__ import annotations

import typer

from kpcs.cli.common import date_option, fail, local_actor, out, run_domain, setup

participant_app = typer.Typer(help="Participants: their certificate validity and confirmation deadline.",
                              no_args_is_help=True)


@participant_app.command("policy")
def policy(code: str = typer.Argument(..., help="participant code"),
           valid_from: str = typer.Option(..., "--from", help="first day the policy applies (YYYY-MM-DD)"),
           validity_days: int = typer.Option(None, "--validity-days",
                                             help="longest certificate validity, 1-365 days (CERT-09)"),
           confirmation_days: int = typer.Option(None, "--confirmation-days",
                                                 help="import confirmation deadline, 1-120 days (IMP-02)")) -> None:
    """Record a participant's policy from a day on (as the node operator); a value not given is carried from the
    policy in force that day. Never changes a recorded policy: certificates issued before keep theirs."""
    setup()
    from kpcs.registry import services

    if validity_days is None and confirmation_days is None:
        raise fail("give --validity-days, --confirmation-days or both")
    day = date_option(valid_from)
    recorded = run_domain(services.record_policy, local_actor(), code, day, validity_days, confirmation_days)
    out.print(f"{recorded.participant_id} from {recorded.valid_from.isoformat()}: certificates valid up to "
              f"{recorded.validity_days} days, imports confirmed within {recorded.confirmation_days} days",
              highlight=False)


@participant_app.command("policies")
def policies(code: str = typer.Argument(..., help="participant code")) -> None:
    """A participant's recorded policies, each in force from its day until the next one's."""
    setup()
    from kpcs.registry import rules, services

    participant = run_domain(services.get_participant, code.strip().upper())
    rows = services.policy_records(participant.code)
    if not rows:
        out.print(f"{participant.code}: the scheme's defaults ({rules.DEFAULT_VALIDITY_DAYS} and "
                  f"{rules.DEFAULT_CONFIRMATION_DAYS} days)", highlight=False)
    for row in rows:
        out.print(f"{participant.code} from {row.valid_from.isoformat()}: validity {row.validity_days} days, "
                  f"confirmation {row.confirmation_days} days"
                  f"{f'  (decision {row.decision_id})' if row.decision_id else ''}", highlight=False)
