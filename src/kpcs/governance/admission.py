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
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.errors import Conflict, NotFound, ValidationFailed
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

def _group(code: str) -> WorkingGroup:
    found = WorkingGroup.objects.filter(code=code).first()
    if found is None:
        raise NotFound(_("no working group %(code)s") % {"code": repr(code)})
    return found


def _member_dict(m: WorkingGroupMember) -> dict[str, Any]:
    return {"id": m.pk, "group": m.group_id, "participant": m.participant_id,
            "observer": m.observer.name if m.observer else None,
            "constituency": m.observer.constituency if m.observer else "government", "role": m.role,
            "from": m.valid_from, "to": m.valid_to}


def add_member(actor: Actor, group: str, *, participant: str | None = None, observer: str | None = None,
               role: str = "member", valid_from: dt.date, valid_to: dt.date | None = None) -> WorkingGroupMember:
    """A participant or an observer organisation joins a working group in a role (the Chair, who presides the
    groups (GOV-02), records it); audited. Nobody sits twice in the same group over the same days."""
    registry.require(actor, "working_group.manage")
    if (participant is None) == (observer is None):
        raise ValidationFailed(_("a member is a participant or an observer organisation"), code="invalid_member")
    if role not in rules.MEMBER_ROLES:
        raise ValidationFailed(_("role is one of %(roles)s") % {"roles": ", ".join(rules.MEMBER_ROLES)},
                               code="invalid_role")
    if valid_to is not None and valid_to <= valid_from:
        raise ValidationFailed(_("membership ends after it begins"), code="invalid_dates")
    with transaction.atomic():
        found = _group(group)
        code = registry.get_participant(participant.upper()).code if participant else None
        org = Observer.objects.filter(name=observer).first() if observer else None
        if observer and org is None:
            raise NotFound(_("no observer %(name)s") % {"name": repr(observer)})
        same = WorkingGroupMember.objects.select_for_update().filter(group=found, participant_id=code, observer=org)
        if rules.membership_overlaps(same.values_list("valid_from", "valid_to"), valid_from, valid_to):
            raise Conflict(_("%(who)s is already a member of %(group)s on these days")
                           % {"who": code or observer, "group": found.name}, code="already_member")
        member = WorkingGroupMember.objects.create(group=found, participant_id=code, observer=org, role=role,
                                                   valid_from=valid_from, valid_to=valid_to)
        audit.record(actor=actor.label, action="working_group.member_added", object_type="working_group",
                     object_id=found.code, participant=code or "",
                     payload={"member": member.pk, "participant": code, "observer": observer, "role": role,
                              "valid_from": valid_from.isoformat(),
                              "valid_to": valid_to.isoformat() if valid_to else None})
    return member


def end_member(actor: Actor, group: str, member_id: int, *, on: dt.date) -> WorkingGroupMember:
    """A membership ends from `on` (its first day no longer a member); never deleted, audited. 409 when it has
    already ended by then."""
    registry.require(actor, "working_group.manage")
    with transaction.atomic():
        found = _group(group)
        member = WorkingGroupMember.objects.select_for_update(of=("self",)).select_related("observer").filter(
            group=found, pk=member_id).first()
        if member is None:
            raise NotFound(_("no member %(id)s in %(group)s") % {"id": member_id, "group": found.name})
        if member.valid_to is not None and member.valid_to <= on:
            raise Conflict(_("this membership already ended on %(day)s") % {"day": member.valid_to.isoformat()},
                           code="membership_ended")
        if on <= member.valid_from:
            raise ValidationFailed(_("membership ends after it begins (%(day)s)")
                                   % {"day": member.valid_from.isoformat()}, code="invalid_dates")
        before = member.valid_to.isoformat() if member.valid_to else None
        member.valid_to = on
        member.save(update_fields=["valid_to"])
        audit.record(actor=actor.label, action="working_group.member_ended", object_type="working_group",
                     object_id=found.code, participant=member.participant_id or "",
                     payload={"member": member.pk, "participant": member.participant_id,
                              "observer": member.observer.name if member.observer else None,
                              "valid_to": on.isoformat(), "valid_to_before": before})
    return member


def member(group: str, member_id: int) -> dict[str, Any]:
    found = WorkingGroupMember.objects.select_related("observer").filter(group_id=group, pk=member_id).first()
    if found is None:
        raise NotFound(_("no member %(id)s in %(group)s") % {"id": member_id, "group": group})
    return _member_dict(found)


def working_groups(on: dt.date | None = None) -> list[dict[str, Any]]:
    """Every working group with its members (those of a day when `on` is given)."""
    members: dict[str, list[dict[str, Any]]] = {}
    for m in WorkingGroupMember.objects.select_related("observer").order_by("group_id", "valid_from", "pk"):
        if on is not None and not rules.member_on(m.valid_from, m.valid_to, on):
            continue
        members.setdefault(m.group_id, []).append(_member_dict(m))
    return [{"code": g.code, "name": g.name, "members": members.get(g.code, [])}
            for g in WorkingGroup.objects.order_by("code")]


def working_group(code: str) -> dict[str, Any]:
    """One working group with all its memberships, past ones included."""
    found = _group(code)
    return {"code": found.code, "name": found.name,
            "members": [_member_dict(m) for m in WorkingGroupMember.objects.select_related("observer").filter(
                group=found).order_by("valid_from", "pk")]}


def observer_names() -> list[str]:
    return list(Observer.objects.order_by("name").values_list("name", flat=True))
