"""Governance use cases: chairs and meetings, decisions and positions, their effects, admission.

Each use case is one transaction: load, apply the rules, save, append to the audit log. Effects on a
participant's standing go through the registry's services (record_status, record_measure, record_admission).
"""

from __future__ import annotations

import csv
import datetime as dt
from importlib import resources
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.governance import rules
from kpcs.governance.models import Application, Chair, Decision, Meeting, Position
from kpcs.registry import rules as registry_rules
from kpcs.registry import services as registry
from kpcs.registry.services import SYSTEM, Actor

STATUS_SCOPE = {"suspended": "all trade", "self_suspended": "all trade", "removed": "all trade", "active": ""}


def _audit(actor: Actor, action: str, decision: Decision, **extra: Any) -> None:
    audit.record(actor=actor.label, action=action, object_type="decision", object_id=str(decision.pk),
                 participant=decision.participant_id or "",
                 payload={"type": decision.type, "status": decision.status, "procedure": decision.procedure,
                          "effective_on": decision.effective_on.isoformat(), **extra})


def seed_working_groups() -> int:
    """The scheme's working groups and committees (rules.WORKING_GROUPS), as the migration seeds them; for a
    database emptied since (e.g. by a test flush). Idempotent; returns how many were added."""
    from kpcs.governance.models import WorkingGroup

    added = 0
    with transaction.atomic():
        for code, name in rules.WORKING_GROUPS:
            _, created = WorkingGroup.objects.get_or_create(code=code, defaults={"name": name})
            added += created
    return added


# --- chairs and meetings -----------------------------------------------------------------------

def seed_chairs() -> int:
    """Chairs and Vice-Chairs per year from the packaged chairs.csv; a changed row is corrected. Idempotent."""
    text = resources.files("kpcs.registry").joinpath("data", "chairs.csv").read_text(encoding="utf-8")
    changed = 0
    with transaction.atomic():
        for row in csv.DictReader(text.splitlines()):
            year, chair, vice = int(row["year"]), row["chair"] or None, row["vice_chair"] or None
            current = Chair.objects.filter(year=year).first()
            if current is not None and (current.chair_id, current.vice_chair_id) == (chair, vice):
                continue
            Chair.objects.update_or_create(year=year, defaults={"chair_id": chair, "vice_chair_id": vice})
            audit.record(actor=SYSTEM.label, action="chair.recorded", object_type="chair", object_id=str(year),
                         payload={"chair": chair, "vice_chair": vice})
            changed += 1
    return changed


def chairs() -> dict[int, tuple[str | None, str | None]]:
    return {c.year: (c.chair_id, c.vice_chair_id) for c in Chair.objects.all()}


def chair_on(day: dt.date) -> tuple[str | None, str | None]:
    return rules.chair_on(day, chairs())


def add_meeting(actor: Actor, *, kind: str, year: int, host: str | None, place: str, starts_on: dt.date,
                ends_on: dt.date) -> Meeting:
    registry.require(actor, "decision.propose")
    if kind not in rules.MEETING_KINDS:
        raise ValidationFailed(_("kind must be one of %(kinds)s") % {"kinds": ", ".join(rules.MEETING_KINDS)},
                               code="invalid_kind")
    if ends_on < starts_on:
        raise ValidationFailed(_("a meeting ends after it starts"), code="invalid_dates")
    with transaction.atomic():
        if host:
            registry.get_participant(host)
        meeting = Meeting.objects.create(kind=kind, year=year, host_id=host, place=place, starts_on=starts_on,
                                         ends_on=ends_on)
        audit.record(actor=actor.label, action="meeting.scheduled", object_type="meeting", object_id=str(meeting.pk),
                     payload={"kind": kind, "year": year, "host": host, "starts_on": starts_on.isoformat(),
                              "ends_on": ends_on.isoformat()})
    return meeting


def next_plenary(after: dt.date) -> Meeting | None:
    return Meeting.objects.filter(kind__in=("plenary", "special_plenary"), starts_on__gt=after).order_by(
        "starts_on").first()


# --- decisions ---------------------------------------------------------------------------------

def propose(actor: Actor, *, type: str, participant: str | None, effective_on: dt.date, text: str,
            procedure: str, deadline: dt.date | None = None, meeting: int | None = None,
            until: dt.date | None = None, measure: dict[str, Any] | None = None, lift: int | None = None,
            policy: dict[str, Any] | None = None, now: dt.datetime | None = None) -> Decision:
    """The Chair puts a decision to the participants (GOV-03); amendments 90 days before the Plenary (GOV-07).

    A `measure` or `administrative` decision may instead lift a measure in force (`lift`: its id) from its
    effective date (SPEC-01, SPEC-07): checked here (422 unknown or another participant's, 409 already ended)
    and again on adoption. An administrative decision about a participant may carry a policy change
    ({"validity_days", "confirmation_days"}, CERT-09, IMP-02), recorded from its effective date when adopted."""
    registry.require(actor, "decision.propose")
    now = now or clock.now()
    today = now.date()
    if type not in rules.DECISION_TYPES:
        raise ValidationFailed(_("type must be one of %(types)s") % {"types": ", ".join(rules.DECISION_TYPES)},
                               code="invalid_type")
    if procedure not in rules.PROCEDURES:
        raise ValidationFailed(_("procedure is plenary or written"), code="invalid_procedure")
    if not text.strip():
        raise ValidationFailed(_("a decision has a text"), code="text_required")
    code = participant.upper() if participant else None
    if type in rules.NEEDS_PARTICIPANT and not code:
        raise ValidationFailed(_("a %(type)s decision names its participant") % {"type": type},
                               code="participant_required")
    if procedure == "written":
        if deadline is None:
            raise ValidationFailed(_("a written procedure has a deadline"), code="deadline_required", rule="GOV-03")
        if deadline < today:
            raise ValidationFailed(_("the deadline of a written procedure is not in the past"), code="deadline_past",
                                   rule="GOV-03")
    elif deadline is not None:
        raise ValidationFailed(_("only a written procedure has a deadline"), code="deadline_not_for_plenary")
    if until is not None and until <= effective_on:
        raise ValidationFailed(_("until is after effective_on"), code="invalid_dates")
    if lift is not None:
        if type not in rules.LIFTING_TYPES:
            raise ValidationFailed(_("only a measure or administrative decision lifts a measure"), code="invalid_lift",
                                   rule="SPEC-07")
        if measure is not None:
            raise ValidationFailed(_("a decision that lifts a measure carries no new measure"),
                                   code="invalid_measure")
        if until is not None:
            raise ValidationFailed(_("a decision that lifts a measure has no until: the lift is its effective date"),
                                   code="invalid_dates")
        if not code:
            raise ValidationFailed(_("a decision that lifts a measure names its participant"),
                                   code="participant_required")
    elif type == "measure":
        kind = (measure or {}).get("kind")
        if kind not in registry_rules.MEASURE_KINDS:
            raise ValidationFailed(_("a measure decision says which measure: %(kinds)s")
                                   % {"kinds": ", ".join(registry_rules.MEASURE_KINDS)}, code="invalid_measure")
    elif measure is not None:
        raise ValidationFailed(_("only a measure decision carries a measure"), code="invalid_measure")
    policy = _checked_policy(type, code, policy)
    with transaction.atomic():
        if code:
            registry.get_participant(code)
        if lift is not None:
            _check_lift(lift, str(code), effective_on)
        held = None
        if meeting is not None:
            held = Meeting.objects.filter(pk=meeting).first()
            if held is None:
                raise NotFound(_("no meeting %(id)s") % {"id": meeting})
        if type == "amendment":
            plenary = held if held is not None and held.kind != "intersessional" else next_plenary(today)
            if plenary is None:
                raise ValidationFailed(_("an amendment is proposed for a Plenary on record (GOV-07); none is "
                                         "scheduled"), code="plenary_unknown", rule="GOV-07")
            if not rules.amendment_in_time(today, plenary.starts_on):
                raise ValidationFailed(
                    _("an amendment to the core document is proposed at least %(days)s days before the Plenary "
                      "(%(plenary)s) (GOV-07)") % {"days": rules.AMENDMENT_NOTICE_DAYS,
                                                   "plenary": plenary.starts_on.isoformat()},
                    code="amendment_too_late",
                    rule="GOV-07", details={"plenary": plenary.starts_on.isoformat()})
            held = held or plenary
        decision = Decision.objects.create(
            type=type, participant_id=code, text=text.strip(), effective_on=effective_on, until=until,
            procedure=procedure, deadline=deadline, meeting=held, measure=measure, lifts=lift, policy=policy,
            status="proposed", proposed_by=actor.label, proposed_at=now)
        _audit(actor, "decision.proposed", decision, deadline=deadline.isoformat() if deadline else None,
               **({"lifts": lift} if lift is not None else {}), **({"policy": policy} if policy else {}))
    return decision


def _check_lift(measure_id: int, code: str, on: dt.date) -> None:
    """A measure may be lifted from `on` by a decision about its participant: 422 when it does not exist or is
    another participant's, or when `on` is not after its start; 409 when it no longer applies then (SPEC-07)."""
    found = registry.find_measure(measure_id)
    if found is None or found.participant_id != code:
        raise ValidationFailed(_("%(code)s has no measure %(id)s") % {"code": code, "id": measure_id},
                               code="unknown_measure", details={"lift": measure_id})
    refusal = rules.lift_refusal(found.valid_from, found.valid_to, on)
    if refusal == "before_start":
        raise ValidationFailed(_("a measure is lifted after it begins (%(day)s)")
                               % {"day": found.valid_from.isoformat()}, code="invalid_dates", rule="SPEC-07")
    if refusal == "ended" and found.valid_to is not None:
        raise Conflict(_("measure %(id)s already ended on %(day)s")
                       % {"id": found.pk, "day": found.valid_to.isoformat()}, code="measure_ended", rule="SPEC-07")


def _checked_policy(type: str, participant: str | None, policy: dict[str, Any] | None) -> dict[str, int] | None:
    """The policy change an administrative decision carries, checked as far as it can be before adoption (the
    bounds, CERT-09, IMP-02); values not given are carried from the policy in force on the effective date."""
    if policy is None:
        return None
    if type not in rules.POLICY_TYPES:
        raise ValidationFailed(_("only an administrative decision carries a policy change"), code="invalid_policy")
    if not participant:
        raise ValidationFailed(_("a policy change names its participant"), code="participant_required")
    given = {k: v for k, v in policy.items() if v is not None}
    if not given or set(given) - set(rules.POLICY_KEYS) \
            or any(isinstance(v, bool) or not isinstance(v, int) for v in given.values()):
        raise ValidationFailed(_("a policy change gives validity_days, confirmation_days or both, in days"),
                               code="invalid_policy")
    registry_rules.check_policy(given.get("validity_days", registry_rules.DEFAULT_VALIDITY_DAYS),
                                given.get("confirmation_days", registry_rules.DEFAULT_CONFIRMATION_DAYS))
    return {k: int(v) for k, v in given.items()}


def stances(decision: Decision) -> list[rules.Stance]:
    return [rules.Stance(p.participant_id or f"observer:{p.observer}", p.position, p.at, p.pk,
                         counts=p.participant_id is not None) for p in decision.positions.all()]


def objectors(decision: Decision) -> list[str]:
    return rules.objectors(stances(decision))


def _speaker(actor: Actor, participant: str | None) -> tuple[str | None, str]:
    """(participant, observer label) a position is taken for: a delegate's own participant, else an observer."""
    scope = set() if actor.system else {g.participant for g in actor.grants
                                        if g.role == "delegate" and g.participant}
    if participant:
        code = participant.upper()
        if code in scope or actor.system:
            return code, ""
        raise PermissionDenied(_("you are not a delegate of %(code)s") % {"code": code},
                               details={"action": "decision.position"})
    if len(scope) == 1:
        return next(iter(scope)), ""
    if len(scope) > 1:
        raise ValidationFailed(_("you are a delegate of several participants: name one"), code="participant_required")
    if actor.may("decision.position"):
        return None, actor.label.split(" (")[0]
    raise PermissionDenied(_("you may not perform %(action)s") % {"action": "decision.position"},
                           details={"action": "decision.position"})


def _locked(decision_id: int) -> Decision:
    decision = Decision.objects.select_for_update().filter(pk=decision_id).first()
    if decision is None:
        raise NotFound(_("no decision %(id)s") % {"id": decision_id})
    return decision


def take_position(actor: Actor, decision_id: int, position: str, comment: str = "", *,
                  participant: str | None = None, now: dt.datetime | None = None) -> Position:
    """A delegate's position for its participant (the one that counts), or an observer's comment (GOV-03,
    GOV-04). Later positions supersede earlier ones; all are kept."""
    registry.require(actor, "decision.position")
    if position not in rules.POSITIONS:
        raise ValidationFailed(_("position must be one of %(positions)s") % {"positions": ", ".join(rules.POSITIONS)},
                               code="invalid_position")
    now = now or clock.now()
    code, observer = _speaker(actor, participant)
    with transaction.atomic():
        decision = _locked(decision_id)
        if decision.status != "proposed":
            raise Conflict(_("decision %(id)s is %(status)s: positions are closed")
                           % {"id": decision.pk, "status": decision.status},
                           code="invalid_transition")
        if decision.deadline is not None and rules.deadline_passed(decision.deadline, now.date()):
            raise Conflict(_("the written procedure closed on %(day)s") % {"day": decision.deadline.isoformat()},
                           code="invalid_transition", rule="GOV-03")
        taken = Position.objects.create(
            decision=decision, participant_id=code, observer=observer,
            position=rules.recorded_position(position, observer=code is None), stated=position,
            comment=comment.strip(), by=actor.label, at=now)
        _audit(actor, "decision.position_taken", decision, position=taken.position, stated=position,
               participant=code, observer=observer or None)
    return taken


def _apply_effects(actor: Actor, decision: Decision) -> None:
    code = decision.participant_id
    if code is None:
        return
    if decision.type == "admission":
        application = Application.objects.filter(participant_id=code).first()
        if application is None or application.recommendation != "admit":
            raise Conflict(_("%(code)s has no recommendation to admit from the participation committee (GOV-05)")
                           % {"code": code},
                           code="recommendation_required", rule="GOV-05")
        registry.record_admission(code, decision.effective_on, "day", actor=actor, decision=decision.pk)
    status = rules.STATUS_EFFECT.get(decision.type)
    if status is not None:
        registry.record_status(code, status, STATUS_SCOPE[status], decision.effective_on, decision.until,
                               decision=decision.pk, actor=actor, cause=decision.text[:2000])
    if decision.lifts is not None:
        _check_lift(decision.lifts, code, decision.effective_on)
        registry.lift_measure(decision.lifts, decision.effective_on, decision=decision.pk, actor=actor)
    if decision.type in rules.POLICY_TYPES and decision.policy:
        registry.record_policy(actor, code, decision.effective_on, validity_days=decision.policy.get("validity_days"),
                               confirmation_days=decision.policy.get("confirmation_days"), decision=decision.pk)
    if decision.type == "measure" and decision.measure:
        registry.record_measure(code, str(decision.measure["kind"]), decision.effective_on, decision.until,
                                zones=list(decision.measure.get("zones") or []),
                                scope=str(decision.measure.get("scope") or ""), decision=decision.pk, actor=actor)


def _decide(actor: Actor, decision: Decision, status: str, now: dt.datetime, outcome: str = "") -> None:
    decision.status, decision.decided_by, decision.decided_at, decision.outcome = status, actor.label, now, outcome
    decision.save(update_fields=["status", "decided_by", "decided_at", "outcome"])
    if status == "adopted":
        _apply_effects(actor, decision)
    _audit(actor, f"decision.{status}", decision, objectors=objectors(decision), outcome=outcome)


def adopt(actor: Actor, decision_id: int, *, now: dt.datetime | None = None) -> Decision:
    """The Chair adopts a decision by consensus: no participant objects (GOV-03); else 409 naming the objectors.
    A written procedure is adopted only once its deadline has passed."""
    registry.require(actor, "decision.adopt")
    now = now or clock.now()
    with transaction.atomic():
        decision = _locked(decision_id)
        if decision.status != "proposed":
            raise Conflict(_("decision %(id)s is already %(status)s") % {"id": decision.pk, "status": decision.status},
                           code="invalid_transition")
        if decision.procedure == "written" and decision.deadline is not None \
                and not rules.deadline_passed(decision.deadline, now.date()):
            raise Conflict(_("the written procedure runs until %(day)s") % {"day": decision.deadline.isoformat()},
                           code="invalid_transition", rule="GOV-03")
        against = objectors(decision)
        if against:
            raise Conflict(_("no consensus: %(objectors)s object(s)") % {"objectors": ", ".join(against)},
                           code="invalid_transition",
                           rule="GOV-03", details={"objectors": against})
        _decide(actor, decision, "adopted", now)
    return decision


def withdraw(actor: Actor, decision_id: int, *, now: dt.datetime | None = None) -> Decision:
    registry.require(actor, "decision.propose")
    with transaction.atomic():
        decision = _locked(decision_id)
        if decision.status != "proposed":
            raise Conflict(_("decision %(id)s is already %(status)s") % {"id": decision.pk, "status": decision.status},
                           code="invalid_transition")
        _decide(actor, decision, "withdrawn", now or clock.now())
    return decision


def close_procedures(today: dt.date | None = None, *, actor: Actor = SYSTEM) -> list[Decision]:
    """Close every written procedure whose deadline has passed: adopted without a participant's objection,
    rejected otherwise (GOV-03). Run by `kpcs governance close-procedures`."""
    registry.require(actor, "decision.adopt")
    now = clock.now()
    today = today or now.date()
    closed = []
    for pk in Decision.objects.filter(status="proposed", procedure="written", deadline__lt=today).order_by(
            "deadline", "pk").values_list("pk", flat=True):
        with transaction.atomic():
            decision = _locked(pk)
            if decision.status != "proposed":
                continue
            outcome = rules.written_outcome(decision.deadline or today, today, stances(decision))
            against = objectors(decision)
            _decide(actor, decision, outcome,
                    now, "" if outcome == "adopted" else f"objected to by {', '.join(against)}")
        closed.append(decision)
    return closed


def may_read_all(actor: Actor) -> bool:
    return actor.may("decision.read")


def visible(actor: Actor, *, status: str | None = None, type: str | None = None,
            participant: str | None = None) -> QuerySet[Decision]:
    """Adopted decisions for everyone (public); proposed, rejected and withdrawn ones too for those who read
    decisions (the Chair, delegates, observers)."""
    qs = Decision.objects.select_related("meeting").order_by("-proposed_at", "-pk")
    if not may_read_all(actor):
        qs = qs.filter(status="adopted")
    if status:
        qs = qs.filter(status=status)
    if type:
        qs = qs.filter(type=type)
    if participant:
        qs = qs.filter(participant_id=participant.upper())
    return qs


def get(actor: Actor, decision_id: int) -> Decision:
    decision = visible(actor).filter(pk=decision_id).first()
    if decision is None:
        raise NotFound(_("no decision %(id)s") % {"id": decision_id})
    return decision


# --- admission (GOV-05) -----------------------------------------------------------------------------

def apply_to_join(actor: Actor, *, code: str, name: str, kind: str = "state", applied_on: dt.date) -> Application:
    """An applicant notifies the Chair: recorded as a participant with status `applicant` (no trade)."""
    with transaction.atomic():
        p = registry.register_applicant(code, name, kind, applied_on, actor=actor)
        application = Application.objects.create(participant=p, applied_on=applied_on)
        audit.record(actor=actor.label, action="application.received", object_type="application",
                     object_id=p.code, participant=p.code, payload={"applied_on": applied_on.isoformat()})
    return application


def _application(code: str) -> Application:
    application = Application.objects.select_for_update().filter(participant_id=code.upper()).first()
    if application is None:
        raise NotFound(_("no application from %(code)s") % {"code": repr(code)})
    return application


def circulate(actor: Actor, code: str, *, now: dt.datetime | None = None) -> Decision:
    """The application circulated to all participants as a notice (GOV-05: within one month). A notice decides
    nothing, so it is adopted as it is issued; `late` in its audit entry when past the month."""
    now = now or clock.now()
    with transaction.atomic():
        application = _application(code)
        if application.circulated_id is not None:
            raise Conflict(_("the application of %(code)s was already circulated")
                           % {"code": application.participant_id},
                           code="invalid_transition")
        notice = propose(actor, type="notice", participant=application.participant_id, effective_on=now.date(),
                         procedure="plenary", now=now,
                         text=f"Application of {application.participant_id} to participate, received on "
                              f"{application.applied_on.isoformat()}, circulated to all participants (GOV-05).")
        late = now.date() > rules.circulation_due(application.applied_on)
        _decide(actor, notice, "adopted", now, "circulated late" if late else "")
        application.circulated = notice
        application.save(update_fields=["circulated"])
    return notice


def recommend(actor: Actor, code: str, recommendation: str, note: str = "", *,
              on: dt.date | None = None) -> Application:
    """The Committee on Participation and Chairmanship's recommendation, recorded by the Chair who presides it."""
    registry.require(actor, "decision.propose")
    if recommendation not in rules.RECOMMENDATIONS:
        raise ValidationFailed(_("recommendation is one of %(choices)s")
                               % {"choices": ", ".join(rules.RECOMMENDATIONS)},
                               code="invalid_recommendation")
    with transaction.atomic():
        application = _application(code)
        if application.circulated_id is None:
            raise Conflict(_("an application is circulated before the committee recommends (GOV-05)"),
                           code="invalid_transition", rule="GOV-05")
        application.recommendation, application.recommendation_note = recommendation, note.strip()
        application.recommended_on = on or clock.today()
        application.save(update_fields=["recommendation", "recommendation_note", "recommended_on"])
        audit.record(actor=actor.label, action="application.recommended", object_type="application",
                     object_id=application.participant_id, participant=application.participant_id,
                     payload={"recommendation": recommendation, "on": application.recommended_on.isoformat()})
    return application


# --- a participant's history with the decisions behind it ---------------------------------------------

def participant_history(code: str) -> dict[str, Any]:
    p = registry.get_participant(code.upper())
    decisions = {d.pk: d for d in Decision.objects.filter(participant_id=p.code)}

    def behind(decision_id: int | None) -> dict[str, Any] | None:
        d = decisions.get(decision_id) if decision_id else None
        if d is None:
            return None
        return {"id": d.pk, "type": d.type, "procedure": d.procedure, "text": d.text,
                "decided_at": d.decided_at, "effective_on": d.effective_on}

    statuses = [{"id": s.pk, "status": s.status, "scope": s.scope, "valid_from": s.valid_from,
                 "valid_to": s.valid_to, "superseded": s.valid_to == s.valid_from, "source": s.source,
                 "cause": s.cause, "decision": behind(s.decision_id)} for s in registry.status_records(p.code)]
    lifted_by = {d.lifts: d.pk for d in sorted(decisions.values(), key=lambda d: d.pk)
                 if d.lifts is not None and d.status == "adopted"}
    measures = [{"id": m.pk, "kind": m.kind, "scope": m.scope, "valid_from": m.valid_from, "valid_to": m.valid_to,
                 "zones": m.zones, "decision": behind(m.decision_id), "lifted_by": behind(lifted_by.get(m.pk))}
                for m in registry.measures_of(p.code)]
    policies = [{"id": q.pk, "valid_from": q.valid_from, "validity_days": q.validity_days,
                 "confirmation_days": q.confirmation_days, "decision": behind(q.decision_id)}
                for q in registry.policy_records(p.code)]
    return {"code": p.code, "name": p.name, "admitted_on": p.admitted_on,
            "admission_precision": p.admission_precision, "statuses": statuses, "measures": measures,
            "policies": policies}
