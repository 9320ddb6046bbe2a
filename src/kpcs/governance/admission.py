"""Admission over the API and the CLI (GOV-05): applications by id, circulation within one month (refused later),
the participation committee's recommendation, and the stage each application has reached.

The steps themselves are governance.services' (apply_to_join, circulate, recommend); the admission decision is
an ordinary decision of type `admission` (POST /api/v1/decisions), whose adoption needs a recommendation to admit.
Also the working groups and committees (the Committee on Participation and Chairmanship recommends admissions) and
their members.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.errors import NotFound, ValidationFailed
from kpcs.governance import rules, services
from kpcs.governance.models import Application, Decision, WorkingGroup, WorkingGroupMember
from kpcs.registry import services as registry
from kpcs.registry.models import Observer
from kpcs.registry.services import Actor

# The stages an application goes through, in order (`not_admitted`: its admission decision was rejected or
# withdrawn; a new proposal takes it back to `admission_proposed`).
STAGES = ("received", "circulated", "recommended", "admission_proposed", "admitted", "not_admitted")


def get(application_id: int) -> Application:
    application = Application.objects.select_related("participant", "circulated").filter(pk=application_id).first()
    if application is None:
        raise NotFound(f"no application {application_id}")
    return application


def submit(actor: Actor, *, code: str, name: str, applied_on: dt.date, kind: str = "state") -> Application:
    """The Chair records an application on the applicant's behalf: the applicant is in the registry with the
    status `applicant` from that day (it cannot trade, EXP-01) and no admission date."""
    return services.apply_to_join(actor, code=code, name=name, kind=kind, applied_on=applied_on)


def circulate(actor: Actor, application_id: int, *, now: dt.datetime | None = None) -> Application:
    """Circulate the application to all participants (a `notice` decision, adopted as issued). GOV-05 gives one
    month from the application: later, it is refused naming the rule (docs/decisions.md)."""
    registry.require(actor, "decision.propose")
    now = now or clock.now()
    application = get(application_id)
    due = rules.circulation_due(application.applied_on)
    if now.date() > due:
        raise ValidationFailed(
            f"an application is circulated to all participants within one month of its receipt (GOV-05): "
            f"{application.participant_id} applied on {application.applied_on.isoformat()}, the last day was "
            f"{due.isoformat()}", code="circulation_late", rule="GOV-05",
            details={"applied_on": application.applied_on.isoformat(), "due": due.isoformat()})
    services.circulate(actor, application.participant_id, now=now)
    return get(application_id)


def recommend(actor: Actor, application_id: int, *, admit: bool, text: str = "",
              on: dt.date | None = None) -> Application:
    """The Committee on Participation and Chairmanship's recommendation, recorded by the Chair: to admit or not."""
    registry.require(actor, "decision.propose")
    application = get(application_id)
    services.recommend(actor, application.participant_id, "admit" if admit else "reject", text, on=on)
    return get(application_id)


def _admission(application: Application) -> Decision | None:
    return Decision.objects.filter(type="admission", participant_id=application.participant_id).order_by(
        "-proposed_at", "-pk").first()


def stage(application: Application, admission: Decision | None = None) -> str:
    admission = admission if admission is not None else _admission(application)
    if admission is not None:
        return {"adopted": "admitted", "proposed": "admission_proposed"}.get(admission.status, "not_admitted")
    if application.recommendation:
        return "recommended"
    return "circulated" if application.circulated_id else "received"


def listed() -> QuerySet[Application]:
    return Application.objects.select_related("participant", "circulated").order_by("applied_on", "pk")


def as_dict(application: Application) -> dict[str, Any]:
    admission = _admission(application)
    notice = application.circulated
    return {
        "id": application.pk,
        "code": application.participant_id,
        "name": application.participant.name,
        "applied_on": application.applied_on,
        "circulation_due": rules.circulation_due(application.applied_on),
        "circulation": None if notice is None else {
            "decision": notice.pk, "on": notice.effective_on, "late": notice.outcome == "circulated late"},
        "recommendation": application.recommendation or None,
        "recommended_on": application.recommended_on,
        "recommendation_text": application.recommendation_note,
        "admission": None if admission is None else {
            "decision": admission.pk, "status": admission.status, "effective_on": admission.effective_on},
        "admitted_on": application.participant.admitted_on,
        "stage": stage(application, admission),
    }


# --- working groups and committees (issue 8, item 2; the Committee on Participation and Chairmanship among them) ---

def add_member(actor: Actor, group: str, *, participant: str | None = None, observer: str | None = None,
               valid_from: dt.date, valid_to: dt.date | None = None) -> WorkingGroupMember:
    """A participant or an observer organisation joins a working group (the Chair records it); audited."""
    registry.require(actor, "decision.propose")
    if (participant is None) == (observer is None):
        raise ValidationFailed("a member is a participant or an observer organisation", code="invalid_member")
    if valid_to is not None and valid_to <= valid_from:
        raise ValidationFailed("membership ends after it begins", code="invalid_dates")
    with transaction.atomic():
        found = WorkingGroup.objects.filter(code=group).first()
        if found is None:
            raise NotFound(f"no working group {group!r}")
        code = registry.get_participant(participant.upper()).code if participant else None
        org = Observer.objects.filter(name=observer).first() if observer else None
        if observer and org is None:
            raise NotFound(f"no observer {observer!r}")
        member = WorkingGroupMember.objects.create(group=found, participant_id=code, observer=org,
                                                   valid_from=valid_from, valid_to=valid_to)
        audit.record(actor=actor.label, action="working_group.member_added", object_type="working_group",
                     object_id=found.code, participant=code or "",
                     payload={"participant": code, "observer": observer, "valid_from": valid_from.isoformat(),
                              "valid_to": valid_to.isoformat() if valid_to else None})
    return member


def working_groups(on: dt.date | None = None) -> list[dict[str, Any]]:
    """Every working group with its members (those of a day when `on` is given)."""
    members: dict[str, list[dict[str, Any]]] = {}
    for m in WorkingGroupMember.objects.select_related("observer").order_by("group_id", "valid_from", "pk"):
        if on is not None and not (m.valid_from <= on and (m.valid_to is None or on < m.valid_to)):
            continue
        members.setdefault(m.group_id, []).append({
            "participant": m.participant_id, "observer": m.observer.name if m.observer else None,
            "constituency": m.observer.constituency if m.observer else "government",
            "from": m.valid_from, "to": m.valid_to})
    return [{"code": g.code, "name": g.name, "members": members.get(g.code, [])}
            for g in WorkingGroup.objects.order_by("code")]
