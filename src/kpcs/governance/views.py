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
from kpcs.governance import admission, rules, services
from kpcs.governance.forms import (
    CONSTITUENCY_LABELS,
    GROUP_LABELS,
    MEASURE_LABELS,
    MEETING_LABELS,
    MEMBER_ROLE_LABELS,
    POSITION_LABELS,
    PROCEDURE_LABELS,
    RECOMMENDATION_LABELS,
    STAGE_LABELS,
    STATUS_LABELS,
    TYPE_LABELS,
    AdoptionForm,
    MemberEndForm,
    MemberForm,
    PositionForm,
    ProposalForm,
    RecommendationForm,
)
from kpcs.governance.models import Decision, Meeting
from kpcs.registry import services as registry
from kpcs.registry.services import Actor
from kpcs.web.access import PUBLIC, page, rate_limited
from kpcs.web.pages import error_page, parse_participant, parse_year
from kpcs.web.paging import paginate

STATUS_BADGE = {"proposed": "warn", "adopted": "ok", "rejected": "bad", "withdrawn": ""}
POSITION_BADGE = {"support": "ok", "object": "bad", "abstain": "", "comment": ""}
PARTICIPANT_BADGE = {"active": "ok", "restricted": "warn", "embargoed": "warn", "applicant": "",
                     "non_participant": "", "self_suspended": "bad", "suspended": "bad", "removed": "bad"}
# Where a refusal of `services.propose` is shown: beside the field it is about.
PROPOSAL_FIELDS = {"invalid_type": "type", "participant_required": "participant", "text_required": "text",
                   "invalid_procedure": "procedure", "deadline_required": "deadline", "deadline_past": "deadline",
                   "deadline_not_for_plenary": "deadline", "invalid_dates": "until", "invalid_measure": "measure_kind",
                   "plenary_unknown": "meeting", "amendment_too_late": "meeting", "invalid_lift": "lift",
                   "unknown_measure": "lift", "measure_ended": "lift",
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
                                        until=data["until"], measure=form.measure(), lift=data["lift"],
                                        policy=form.policy())
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
        for ref in (m["decision"], m["lifted_by"]):
            if ref:
                ref["type_label"] = TYPE_LABELS.get(ref["type"], ref["type"])
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


# --- working groups (issue 8, item 2) ------------------------------------------------------------------------

def _member_row(m: dict[str, Any], names: dict[str, str], today: dt.date) -> dict[str, Any]:
    return {**m, "name": names.get(m["participant"] or "", "") if m["participant"] else m["observer"],
            "role_label": MEMBER_ROLE_LABELS.get(m["role"], m["role"]),
            "constituency_label": CONSTITUENCY_LABELS.get(m["constituency"], m["constituency"]),
            "current": rules.member_on(m["from"], m["to"], today),
            "ended": m["to"] is not None and m["to"] <= today}


@page(PUBLIC)
def working_groups(request: HttpRequest) -> HttpResponse:
    """The working groups and committees with today's members and their constituency (public)."""
    limited = rate_limited(request)
    if limited:
        return limited
    names, today = _names(), clock.today()
    groups = [{**g, "name": GROUP_LABELS.get(g["code"], g["name"]),
               "members": [_member_row(m, names, today) for m in g["members"]]}
              for g in admission.working_groups(today)]
    return render(request, "governance/working_groups.html", {"groups": groups, "today": today})


def _group_context(request: HttpRequest, code: str, **given: Any) -> dict[str, Any]:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    names, today = _names(), clock.today()
    group = admission.working_group(code)
    group["name"] = GROUP_LABELS.get(group["code"], group["name"])
    rows = [_member_row(m, names, today) for m in group["members"]]
    manage = actor.may("working_group.manage")
    context: dict[str, Any] = {"group": group, "today": today, "manage": manage,
                               "current": [r for r in rows if not r["ended"]],
                               "past": [r for r in rows if r["ended"]], "error": given.get("error", ""),
                               "end_error": given.get("end_error")}
    if manage:
        context["form"] = given.get("form") or MemberForm(observers=admission.observer_names(),
                                                          initial={"valid_from": today, "role": "member"})
    return context


@page(PUBLIC)
def working_group(request: HttpRequest, code: str) -> HttpResponse:
    """One working group: its members now and before; for the Chair, the forms to add and to end a membership."""
    limited = rate_limited(request)
    if limited:
        return limited
    try:
        return render(request, "governance/working_group.html", _group_context(request, code))
    except DomainError as exc:
        return error_page(request, exc)


# Where a refusal of `admission.add_member` is shown: beside the field it is about.
MEMBER_FIELDS = {"invalid_member": "participant", "invalid_role": "role", "invalid_dates": "valid_to",
                 "already_member": "valid_from", "not_found": "observer"}


@page("working_group.manage")
def working_group_member_add(request: HttpRequest, code: str) -> HttpResponse:
    """The Chair adds a participant or an observer organisation; a refusal is shown beside its field."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("governance_working_group", args=[code]))
    try:
        admission.working_group(code)
    except DomainError as exc:
        return error_page(request, exc)
    form = MemberForm(request.POST, observers=admission.observer_names())
    status = 422
    if form.is_valid():
        data = form.cleaned_data
        try:
            admission.add_member(actor, code, participant=data["participant"] or None,
                                 observer=data["observer"] or None, role=data["role"],
                                 valid_from=data["valid_from"], valid_to=data["valid_to"])
        except PermissionDenied as exc:
            return error_page(request, exc)
        except DomainError as exc:
            status = exc.status
            form.add_error(MEMBER_FIELDS.get(exc.code, "participant"), exc.message)
        else:
            messages.success(request, _("The member was added."))
            return HttpResponseRedirect(reverse("governance_working_group", args=[code]))
    try:
        context = _group_context(request, code, form=form)
    except DomainError as exc:
        return error_page(request, exc)
    return render(request, "governance/working_group.html", context, status=status)


@page("working_group.manage")
def working_group_member_end(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    """The Chair ends a membership from a day: kept in the list of past members, never deleted."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("governance_working_group", args=[code]))
    form = MemberEndForm(request.POST)
    try:
        if not form.is_valid():
            context = _group_context(request, code, end_error={"member": pk, "message": _("Give the day as "
                                                                                          "YYYY-MM-DD.")})
            return render(request, "governance/working_group.html", context, status=422)
        admission.end_member(actor, code, pk, on=form.cleaned_data["on"])
    except (PermissionDenied, NotFound) as exc:
        return error_page(request, exc)
    except DomainError as exc:
        try:
            context = _group_context(request, code, end_error={"member": pk, "message": exc.message})
        except DomainError as again:
            return error_page(request, again)
        return render(request, "governance/working_group.html", context, status=exc.status)
    messages.success(request, _("The membership was ended."))
    return HttpResponseRedirect(reverse("governance_working_group", args=[code]))


# --- applications to participate (GOV-05; issue 8, item 5) ------------------------------------------------------

def _application_row(a: dict[str, Any]) -> dict[str, Any]:
    return {**a, "stage_label": STAGE_LABELS.get(a["stage"], a["stage"]),
            "recommendation_label": RECOMMENDATION_LABELS.get(a["recommendation"] or "", ""),
            "admission_label": STATUS_LABELS.get(a["admission"]["status"], a["admission"]["status"])
            if a["admission"] else ""}


@page("decision.read")
def application_list(request: HttpRequest) -> HttpResponse:
    """Applications to participate and the stage each has reached (as `GET /api/v1/applications`)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    context: dict[str, Any] = paginate(request, admission.listed())
    context["rows"] = [_application_row(admission.as_dict(a)) for a in context["rows"]]
    context["may_act"] = actor.may("decision.propose")
    return render(request, "governance/applications.html", context)


def _application_context(request: HttpRequest, pk: int, **given: Any) -> dict[str, Any]:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    a = _application_row(admission.as_dict(admission.get(pk)))
    today = clock.today()
    chair = actor.may("decision.propose")
    steps = [
        {"label": _("Application received"), "done": True, "on": a["applied_on"], "rule": "GOV-05"},
        {"label": _("Circulated to all participants"), "done": a["circulation"] is not None,
         "on": a["circulation"]["on"] if a["circulation"] else None, "rule": "GOV-05",
         "due": a["circulation_due"], "late": bool(a["circulation"] and a["circulation"]["late"])},
        {"label": _("Recommendation of the Committee on Participation and Chairmanship"),
         "done": a["recommendation"] is not None, "on": a["recommended_on"], "rule": "GOV-05"},
        {"label": _("Admission decision proposed"), "done": a["admission"] is not None,
         "on": None, "rule": "GOV-03"},
        {"label": _("Admitted"), "done": a["stage"] == "admitted", "on": a["admitted_on"], "rule": "GOV-05"},
    ]
    context: dict[str, Any] = {
        "a": a, "steps": steps, "chair": chair, "error": given.get("error", ""),
        "may_circulate": chair and a["circulation"] is None,
        "circulation_overdue": a["circulation"] is None and today > a["circulation_due"],
        "may_recommend": chair and a["circulation"] is not None and a["admission"] is None,
    }
    if context["may_recommend"]:
        context["form"] = given.get("form") or RecommendationForm()
    return context


@page("decision.read")
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One application: its facts, the steps done and still to do; for the Chair the actions the API offers."""
    try:
        return render(request, "governance/application.html", _application_context(request, pk))
    except DomainError as exc:
        return error_page(request, exc)


def _application_refused(request: HttpRequest, pk: int, exc: DomainError, **given: Any) -> HttpResponse:
    if isinstance(exc, PermissionDenied | NotFound):
        return error_page(request, exc)
    message = exc.message if not exc.rule or exc.rule in exc.message else f"{exc.message} ({exc.rule})"
    try:
        context = _application_context(request, pk, error=message, **given)
    except DomainError as again:
        return error_page(request, again)
    return render(request, "governance/application.html", context, status=exc.status)


@page("decision.propose")
def application_circulate(request: HttpRequest, pk: int) -> HttpResponse:
    """The Chair circulates the application to all participants (GOV-05: within one month of it)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("governance_application", args=[pk]))
    try:
        admission.circulate(actor, pk)
    except DomainError as exc:
        return _application_refused(request, pk, exc)
    messages.success(request, _("The application was circulated to all participants."))
    return HttpResponseRedirect(reverse("governance_application", args=[pk]))


@page("decision.propose")
def application_recommend(request: HttpRequest, pk: int) -> HttpResponse:
    """The Chair records the participation committee's recommendation, to admit or not (GOV-05)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("governance_application", args=[pk]))
    form = RecommendationForm(request.POST)
    if not form.is_valid():
        try:
            return render(request, "governance/application.html", _application_context(request, pk, form=form),
                          status=422)
        except DomainError as exc:
            return error_page(request, exc)
    try:
        admission.recommend(actor, pk, admit=form.cleaned_data["recommend"], text=form.cleaned_data["text"] or "")
    except DomainError as exc:
        return _application_refused(request, pk, exc, form=form)
    messages.success(request, _("The committee's recommendation was recorded."))
    return HttpResponseRedirect(reverse("governance_application", args=[pk]))


# --- meetings (GOV-01, GOV-02; issue 8, item 7) ------------------------------------------------------------------

@page(PUBLIC)
def meetings(request: HttpRequest) -> HttpResponse:
    """Plenaries and intersessionals per year with host and dates, and the Chair and Vice-Chair of each year."""
    limited = rate_limited(request)
    if limited:
        return limited
    names = _names()
    chairs_by_year = services.chairs()
    held: dict[int, list[dict[str, Any]]] = {}
    for m in Meeting.objects.order_by("-starts_on", "-pk")[:500]:
        held.setdefault(m.year, []).append({
            "kind": MEETING_LABELS.get(m.kind, m.kind), "host": m.host_id, "host_name": names.get(m.host_id or "", ""),
            "place": m.place, "starts_on": m.starts_on, "ends_on": m.ends_on})
    years: list[dict[str, Any]] = []
    quiet: list[dict[str, Any]] = []
    # This year too, and its Chair by the rotation when chairs.csv has no row yet (GOV-02: last year's Vice-Chair).
    for year in sorted(set(held) | set(chairs_by_year) | {clock.today().year}, reverse=True):
        chair, vice = rules.chair_on(dt.date(year, 1, 1), chairs_by_year)
        row = {"year": year, "chair": chair, "chair_name": names.get(chair or "", ""), "vice_chair": vice,
               "vice_chair_name": names.get(vice or "", ""), "meetings": held.get(year, [])}
        # Years with meetings on record get a card each; the others one table of chairs (a short page on a phone).
        (years if row["meetings"] else quiet).append(row)
    return render(request, "governance/meetings.html", {"years": years, "quiet": quiet})
