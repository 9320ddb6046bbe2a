"""Governance pages: the scheme's decisions (adopted ones for everyone; proposed ones with their positions for the
Chair, delegates and observers), taking positions, adoption by consensus, proposing; a participant's status and
its history with the decisions behind it; the chairs and meetings. Every action goes through the governance
services, as the API's routes do."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.errors import BadRequest, DomainError, NotFound, PermissionDenied
from kpcs.governance import rules, services
from kpcs.governance.forms import (
    MEASURE_LABELS,
    MEETING_LABELS,
    POSITION_LABELS,
    PROCEDURE_LABELS,
    STATUS_LABELS,
    TYPE_LABELS,
    AdoptionForm,
    PositionForm,
    ProposalForm,
)
from kpcs.governance.models import Decision, Meeting
from kpcs.registry import services as registry
from kpcs.registry.services import Actor
from kpcs.statistics.views import error_page, parse_participant, parse_year
from kpcs.web.access import PUBLIC, page, rate_limited
from kpcs.web.paging import paginate

STATUS_BADGE = {"proposed": "warn", "adopted": "ok", "rejected": "bad", "withdrawn": ""}
POSITION_BADGE = {"support": "ok", "object": "bad", "abstain": "", "comment": ""}
PARTICIPANT_BADGE = {"active": "ok", "restricted": "warn", "embargoed": "warn", "applicant": "",
                     "non_participant": "", "self_suspended": "bad", "suspended": "bad", "removed": "bad"}
# Where a refusal of `services.propose` is shown: beside the field it is about.
PROPOSAL_FIELDS = {"invalid_type": "type", "participant_required": "participant", "text_required": "text",
                   "invalid_procedure": "procedure", "deadline_required": "deadline", "deadline_past": "deadline",
                   "deadline_not_for_plenary": "deadline", "invalid_dates": "until", "invalid_measure": "measure_kind",
                   "plenary_unknown": "meeting", "amendment_too_late": "meeting",
                   "invalid_policy": "policy_validity_days", "invalid_validity_days": "policy_validity_days",
                   "invalid_confirmation_days": "policy_confirmation_days"}



def _names() -> dict[str, str]:
    return dict(registry.participant_choices())


def _decorate(d: Decision) -> Decision:
    d.type_label = TYPE_LABELS.get(d.type, d.type)  # type: ignore[attr-defined]
    d.procedure_label = PROCEDURE_LABELS.get(d.procedure, d.procedure)  # type: ignore[attr-defined]
    d.status_label = STATUS_LABELS.get(d.status, d.status)  # type: ignore[attr-defined]
    d.status_badge = STATUS_BADGE.get(d.status, "")  # type: ignore[attr-defined]
    if d.measure:
        d.measure_label = MEASURE_LABELS.get(str(d.measure.get("kind")), d.measure.get("kind"))  # type: ignore[attr-defined]
    return d


def _positions(d: Decision, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every position taken, in order; the earlier ones of the same participant or observer marked superseded."""
    taken = list(d.positions.all())
    latest = {(p.participant_id or f"observer:{p.observer}"): p.pk for p in taken}
    out = []
    for p in taken:
        observer = p.participant_id is None
        label = POSITION_LABELS.get(p.stated, p.stated)
        out.append({"participant": p.participant_id, "name": (names or {}).get(p.participant_id or "", ""),
                    "observer": p.observer, "is_observer": observer,
                    "position": p.position, "stated": p.stated, "label": label,
                    "as_comment": observer and p.stated != p.position,
                    "badge": POSITION_BADGE.get(p.position, ""), "comment": p.comment, "by": p.by.split(" (")[0],
                    "at": p.at, "current": latest[p.participant_id or f"observer:{p.observer}"] == p.pk})
    return out


def _choice(request: HttpRequest, name: str, allowed: tuple[str, ...], label: str) -> str | None:
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    if value not in allowed:
        raise BadRequest(_("Unknown %(what)s: %(value)s.") % {"value": value[:40], "what": label})
    return value


@page(PUBLIC)
def decision_list(request: HttpRequest) -> HttpResponse:
    """Adopted decisions for everyone, filtered and paged; for those who read decisions also the proposals under
    consideration with the positions taken so far and their deadlines, and a status filter."""
    limited = rate_limited(request)
    if limited:
        return limited
    actor: Actor = request.actor  # type: ignore[attr-defined]
    reader = services.may_read_all(actor)
    names = _names()
    context: dict[str, Any] = {
        "reader": reader, "types": list(TYPE_LABELS.items()), "statuses": list(STATUS_LABELS.items()),
        "participants": sorted(names.items()), "may_propose": actor.may("decision.propose"),
        "f": {k: request.GET.get(k, "") for k in ("type", "participant", "year", "status")}}
    try:
        type_ = _choice(request, "type", rules.DECISION_TYPES, _("type"))
        code = parse_participant(request.GET.get("participant"))
        year = parse_year(request.GET.get("year"))
        status = _choice(request, "status", rules.DECISION_STATUSES, _("status")) if reader else None
    except DomainError as exc:
        context["error"] = exc.message
        return render(request, "governance/decisions.html", context, status=exc.status)
    qs = services.visible(actor, status=status or "adopted", type=type_, participant=code)
    if year is not None:
        qs = qs.filter(effective_on__year=year)
    context.update(paginate(request, qs.order_by("-effective_on", "-pk")))
    context["rows"] = [_decorate(d) for d in context["rows"]]
    if reader:
        today = clock.today()
        pending = []
        for d in services.visible(actor, status="proposed").prefetch_related("positions").order_by("deadline", "pk"):
            current = [p for p in _positions(_decorate(d)) if p["current"]]
            d.current_positions = current  # type: ignore[attr-defined]
            d.objectors = services.objectors(d)  # type: ignore[attr-defined]
            d.closed = bool(d.deadline and rules.deadline_passed(d.deadline, today))  # type: ignore[attr-defined]
            pending.append(d)
        context["pending"] = pending
    return render(request, "governance/decisions.html", context)


def _detail_context(request: HttpRequest, actor: Actor, pk: int, **given: Any) -> dict[str, Any]:
    decision = _decorate(services.get(actor, pk))
    names = _names()
    today = clock.today()
    proposed = decision.status == "proposed"
    closed = bool(decision.deadline and rules.deadline_passed(decision.deadline, today))
    delegate_of = sorted(g.participant for g in actor.grants if g.role == "delegate" and g.participant)
    observer = not delegate_of and actor.may("decision.position")
    context: dict[str, Any] = {
        "decision": decision, "positions": _positions(decision, names),
        "participant_name": names.get(decision.participant_id or "", ""),
        "objectors": [(c, names.get(c, c)) for c in services.objectors(decision)] if proposed else [],
        "closed": closed, "observer": observer, "delegate_of": delegate_of,
        "may_position": proposed and not closed and actor.may("decision.position"),
        "may_adopt": proposed and actor.may("decision.adopt") and (decision.procedure == "plenary" or closed),
        "waits_for_deadline": proposed and decision.procedure == "written" and not closed,
        "error": given.get("error", ""), "refused_objectors": given.get("refused_objectors", []),
    }
    if context["may_position"]:
        context["position_form"] = given.get("position_form") or PositionForm(delegate_of=delegate_of,
                                                                               observer=observer)
    if context["may_adopt"]:
        context["adoption_form"] = given.get("adoption_form") or AdoptionForm()
    return context


@page(PUBLIC)
def decision_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One decision with its positions; a proposed one only for those who read decisions (else the same 404 as
    an unknown number)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    try:
        return render(request, "governance/decision.html", _detail_context(request, actor, pk))
    except DomainError as exc:
        return error_page(request, exc)


def _refused(request: HttpRequest, actor: Actor, pk: int, exc: DomainError, **given: Any) -> HttpResponse:
    if isinstance(exc, PermissionDenied | NotFound):
        return error_page(request, exc)
    try:
        context = _detail_context(request, actor, pk, error=exc.message, **given)
    except DomainError as again:
        return error_page(request, again)
    return render(request, "governance/decision.html", context, status=exc.status)


@page("decision.position")
def decision_position(request: HttpRequest, pk: int) -> HttpResponse:
    """A delegate's position for its participant, or an observer's comment (never a block)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("governance_decision", args=[pk]))
    delegate_of = sorted(g.participant for g in actor.grants if g.role == "delegate" and g.participant)
    form = PositionForm(request.POST, delegate_of=delegate_of, observer=not delegate_of)
    if not form.is_valid():
        try:
            context = _detail_context(request, actor, pk, position_form=form)
        except DomainError as exc:
            return error_page(request, exc)
        return render(request, "governance/decision.html", context, status=422)
    try:
        taken = services.take_position(actor, pk, form.cleaned_data["position"], form.cleaned_data["comment"] or "",
                                       participant=form.cleaned_data.get("participant") or None)
    except DomainError as exc:
        return _refused(request, actor, pk, exc, position_form=form)
    if taken.participant_id is None and taken.stated == "object":
        messages.success(request, _("Your objection was recorded as a comment: observers do not block decisions."))
    else:
        messages.success(request, _("Your position was recorded."))
    return HttpResponseRedirect(reverse("governance_decision", args=[pk]))


@page("decision.adopt")
def decision_adopt(request: HttpRequest, pk: int) -> HttpResponse:
    """The Chair declares consensus; refused, naming the objectors, when a participant objects."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("governance_decision", args=[pk]))
    try:
        services.adopt(actor, pk)
    except DomainError as exc:
        names = _names()
        against = (exc.details or {}).get("objectors", []) if isinstance(exc.details, dict) else []
        return _refused(request, actor, pk, exc, refused_objectors=[(c, names.get(c, c)) for c in against])
    messages.success(request, _("The decision is adopted."))
    return HttpResponseRedirect(reverse("governance_decision", args=[pk]))


def _meeting_choices() -> list[tuple[int, str]]:
    return [(m.pk, f"{MEETING_LABELS.get(m.kind, m.kind)} {m.starts_on.isoformat()}"
                   + (f" · {m.place}" if m.place else ""))
            for m in Meeting.objects.filter(ends_on__gte=clock.today() - dt.timedelta(days=366))
            .order_by("starts_on", "pk")]


@page("decision.propose")
def decision_new(request: HttpRequest) -> HttpResponse:
    """The Chair proposes a decision; a refusal is shown beside its field and nothing is written."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    meetings = _meeting_choices()
    if request.method != "POST":
        return render(request, "governance/propose.html", {"form": ProposalForm(meetings=meetings)})
    form = ProposalForm(request.POST, meetings=meetings)
    status = 422
    error = ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            decision = services.propose(actor, type=data["type"], participant=data["participant"] or None,
                                        effective_on=data["effective_on"], text=data["text"],
                                        procedure=data["procedure"], deadline=data["deadline"],
                                        meeting=int(data["meeting"]) if data["meeting"] else None,
                                        until=data["until"], measure=form.measure(), policy=form.policy())
        except PermissionDenied as exc:
            return error_page(request, exc)
        except DomainError as exc:
            status = exc.status
            field = PROPOSAL_FIELDS.get(exc.code)
            if field is None and isinstance(exc, NotFound):
                field = "meeting" if data["meeting"] and "meeting" in exc.message else "participant"
            message = exc.message if not exc.rule or exc.rule in exc.message else f"{exc.message} ({exc.rule})"
            if field:
                form.add_error(field, message)
            else:
                error = message
        else:
            messages.success(request, _("The decision was proposed."))
            return HttpResponseRedirect(reverse("governance_decision", args=[decision.pk]))
    return render(request, "governance/propose.html", {"form": form, "error": error}, status=status)


@page(PUBLIC)
def participant_detail(request: HttpRequest, code: str) -> HttpResponse:
    """A participant's status today, its admission date, the measures in force, and its whole history with the
    decision behind each change (as `GET /api/v1/participants/{code}/history`)."""
    limited = rate_limited(request)
    if limited:
        return limited
    try:
        found = parse_participant(code)
        if found is None:
            raise NotFound(_("%(code)s is not a participant of the Kimberley Process.") % {"code": code})
        history = services.participant_history(found)
    except DomainError as exc:
        return error_page(request, exc)
    today = clock.today()
    snap = registry.snapshot()
    now = snap.status_on(found, today)
    for s in history["statuses"]:
        s["badge"] = PARTICIPANT_BADGE.get(s["status"], "")
        if s["decision"]:
            s["decision"]["type_label"] = TYPE_LABELS.get(s["decision"]["type"], s["decision"]["type"])
    for m in history["measures"]:
        m["label"] = MEASURE_LABELS.get(m["kind"], m["kind"])
        m["in_force"] = m["valid_from"] <= today and (m["valid_to"] is None or today < m["valid_to"])
        if m["decision"]:
            m["decision"]["type_label"] = TYPE_LABELS.get(m["decision"]["type"], m["decision"]["type"])
    for q in history["policies"]:
        if q["decision"]:
            q["decision"]["type_label"] = TYPE_LABELS.get(q["decision"]["type"], q["decision"]["type"])
    in_force = [{"label": MEASURE_LABELS.get(m.kind, m.kind), "scope": m.scope, "valid_from": m.valid_from,
                 "valid_to": m.valid_to, "zones": m.zones_on(today)} for m in snap.measures_on(found, today)]
    decisions = services.visible(registry.ANONYMOUS, participant=found).order_by("-effective_on", "-pk")[:50]
    return render(request, "governance/participant.html", {
        "p": history, "today": today, "status": now.status, "scope": now.scope,
        "badge": PARTICIPANT_BADGE.get(now.status, ""), "in_force": in_force,
        "policy": snap.policy_on(found, today),  # CERT-09, IMP-02: the policy in force today
        "decisions": [_decorate(d) for d in decisions]})


@page(PUBLIC)
def chairs(request: HttpRequest) -> HttpResponse:
    """The Chair and Vice-Chair per year (GOV-02), today's, and the meetings on record (GOV-01)."""
    limited = rate_limited(request)
    if limited:
        return limited
    names = _names()
    today = clock.today()
    chair, vice = services.chair_on(today)
    years = [{"year": y, "chair": c, "vice_chair": v, "chair_name": names.get(c or "", ""),
              "vice_chair_name": names.get(v or "", "")} for y, (c, v) in sorted(services.chairs().items(),
                                                                              reverse=True)]
    meetings = [{"kind": MEETING_LABELS.get(m.kind, m.kind), "year": m.year, "host": m.host_id, "place": m.place,
                 "starts_on": m.starts_on, "ends_on": m.ends_on}
                for m in Meeting.objects.order_by("-starts_on", "-pk")[:100]]
    return render(request, "governance/chairs.html", {
        "today": today, "chair": chair, "vice_chair": vice, "chair_name": names.get(chair or "", ""),
        "vice_chair_name": names.get(vice or "", ""), "years": years, "meetings": meetings})
