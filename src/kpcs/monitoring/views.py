"""Findings pages: the list with its filters, one finding with its evidence and history, and the follow-up
workflow by role (STAT-09, MON-09): the Working Group on Statistics asks, the participant's statistics officer
answers every question, the Group closes or escalates. Every action goes through the monitoring services."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kpcs.errors import BadRequest, DomainError, PermissionDenied
from kpcs.monitoring import rules, services
from kpcs.monitoring.forms import ClarificationForm, MissionForm, NoteForm, ScanForm, answer_form
from kpcs.monitoring.models import SCAN_PHASES, SCAN_STATUSES, STATUSES, Finding, Scan
from kpcs.registry.services import Actor
from kpcs.statistics.rules import parse_period
from kpcs.web.access import page
from kpcs.web.pages import error_page, parse_participant
from kpcs.web.paging import paginate

STATUS_LABELS = {"open": gettext_lazy("open"), "clarification_requested": gettext_lazy("clarification requested"),
                 "answered": gettext_lazy("answered"), "closed": gettext_lazy("closed"),
                 "escalated": gettext_lazy("escalated")}
SEVERITY_LABELS = {"high": gettext_lazy("high"), "medium": gettext_lazy("medium"), "low": gettext_lazy("low")}
SEVERITY_BADGE = {"high": "bad", "medium": "warn", "low": ""}
STATUS_BADGE = {"open": "warn", "clarification_requested": "warn", "answered": "", "closed": "ok", "escalated": "bad"}


def _choice(request: HttpRequest, name: str, allowed: tuple[str, ...], label: str) -> str | None:
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    if value not in allowed:
        raise BadRequest(_("Unknown %(what)s: %(value)s.") % {"value": value[:40], "what": label})
    return value


def _filters(request: HttpRequest) -> dict[str, Any]:
    period = request.GET.get("period", "").strip() or None
    if period:
        try:
            parse_period(period)
        except ValueError:
            raise BadRequest(_("%(period)s is not a period: use YYYY, YYYY-H1/H2 or YYYY-Q1..Q4.")
                             % {"period": period[:20]}) from None
    return {"rule": _choice(request, "rule", rules.RULES, _("rule")),
            "participant": parse_participant(request.GET.get("participant")), "period": period,
            "status": _choice(request, "status", STATUSES, _("status")),
            "severity": _choice(request, "severity", rules.SEVERITIES, _("severity"))}


def _decorate(f: Finding) -> Finding:
    f.status_label = STATUS_LABELS.get(f.status, f.status)  # type: ignore[attr-defined]
    f.status_badge = STATUS_BADGE.get(f.status, "")  # type: ignore[attr-defined]
    f.severity_label = SEVERITY_LABELS.get(f.severity, f.severity)  # type: ignore[attr-defined]
    f.severity_badge = SEVERITY_BADGE.get(f.severity, "")  # type: ignore[attr-defined]
    return f


@page("finding.read")
def finding_list(request: HttpRequest) -> HttpResponse:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    context: dict[str, Any] = {"rules": rules.RULES, "statuses": [(s, STATUS_LABELS[s]) for s in STATUSES],
                               "severities": [(s, SEVERITY_LABELS[s]) for s in rules.SEVERITIES],
                               "f": {k: request.GET.get(k, "") for k in ("rule", "participant", "period", "status",
                                                                         "severity")}}
    try:
        filters = _filters(request)
        qs = services.search(actor, **filters).only("id", "rule", "participant", "period", "subject", "severity",
                                                     "summary", "status", "last_seen")
    except DomainError as exc:
        context["error"] = exc.message
        return render(request, "monitoring/list.html", context, status=exc.status)
    context.update(paginate(request, qs))
    context["rows"] = [_decorate(f) for f in context["rows"]]
    context["may_scan"] = actor.may("finding.manage")
    return render(request, "monitoring/list.html", context)


# --- scans of the analysis (background jobs, MON-09) -------------------------------------------------

SCAN_STATUS_LABELS = dict(SCAN_STATUSES)
SCAN_PHASE_LABELS = dict(SCAN_PHASES)
SCAN_STATUS_BADGE = {"queued": "", "running": "warn", "succeeded": "ok", "failed": "bad"}


def _scan_row(s: Scan) -> dict[str, Any]:
    scope = {k: v for k, v in (("participant", s.participant), ("period", s.period)) if v}
    return {"scan": s, "status_label": SCAN_STATUS_LABELS.get(s.status, s.status),
            "status_badge": SCAN_STATUS_BADGE.get(s.status, ""),
            "phase_label": SCAN_PHASE_LABELS.get(s.phase, s.phase), "percent": round(s.fraction * 100),
            "error": (s.error or {}).get("message", "") if s.status == "failed" else "",
            "findings_url": reverse("finding_list") + (f"?{urlencode(scope)}" if scope else "")}


@page("finding.manage")
def scan_list(request: HttpRequest, form: ScanForm | None = None, status: int = 200, error: str = "") -> HttpResponse:
    """The scans with their progress and outcome, and a form to start one (as POST /findings/scan)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    context: dict[str, Any] = {"form": form or ScanForm(), "error": error}
    context.update(paginate(request, services.scans(actor)))
    context["rows"] = [_scan_row(s) for s in context["rows"]]
    context["in_progress"] = any(r["scan"].status in ("queued", "running") for r in context["rows"])
    return render(request, "monitoring/scan_list.html", context, status=status)


@page("finding.manage")
def scan_start(request: HttpRequest) -> HttpResponse:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("scan_list"))
    form = ScanForm(request.POST)
    if not form.is_valid():
        return scan_list(request, form=form, status=422)
    d = form.cleaned_data
    try:
        row = services.start_scan(actor, period=d["period"].strip() or None, participant=d["participant"] or None,
                                  as_of=d["as_of"])
    except PermissionDenied as exc:
        return error_page(request, exc)
    except DomainError as exc:
        return scan_list(request, form=form, status=exc.status, error=exc.message)
    messages.success(request, _("Scan %(pk)s is queued: the worker runs it in the background and this page shows "
                                "how far it got.") % {"pk": row.pk})
    return HttpResponseRedirect(reverse("scan_list"))


def _evidence(value: Any) -> list[tuple[str, Any]]:
    """The evidence as (label, text) pairs, nested values flattened as `a · b`."""
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, sub in v.items():
                walk(f"{prefix} · {k}" if prefix else str(k), sub)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, sub in enumerate(v, start=1):
                walk(f"{prefix} {i}", sub)
        elif isinstance(v, list):
            out.append((prefix, "; ".join(str(x) for x in v) or "—"))
        else:
            out.append((prefix, "—" if v is None else v))

    walk("", value)
    return out


def detail_context(request: HttpRequest, actor: Actor, pk: int, **forms_: Any) -> dict[str, Any]:
    finding = _decorate(services.get(actor, pk))
    data = services.to_dict(finding, events=True)
    q = data["questionnaire"]
    may_manage = actor.may("finding.manage")
    may_answer = actor.may("finding.answer", finding.participant) and finding.status == "clarification_requested"
    allowed = {action for (status, action) in services.WORKFLOW if status == finding.status}
    events = [{**e, "from_label": STATUS_LABELS.get(e["from"], e["from"]),
               "to_label": STATUS_LABELS.get(e["to"], e["to"])} for e in data["events"]]
    context = {"finding": finding, "evidence": _evidence(finding.evidence), "events": events, "questionnaire": q,
               "qa": list(zip(q["questions"], q["answers"] or [""] * len(q["questions"]), strict=True)) if q else [],
               "may_request": may_manage and "request_clarification" in allowed,
               "may_close": may_manage and "close" in allowed, "may_escalate": may_manage and "escalate" in allowed,
               "may_answer": may_answer and q is not None}
    context["clarification_form"] = forms_.get("clarification_form") or ClarificationForm()
    context["close_form"] = forms_.get("close_form") or NoteForm(prefix="close")
    context["escalate_form"] = forms_.get("escalate_form") or NoteForm(prefix="escalate")
    if context["may_answer"]:
        context["answer_form"] = forms_.get("answer_form") or answer_form(q["questions"])
    context["error"] = forms_.get("error", "")
    # MON-11: an escalated finding becomes a review mission case; the finding names it
    context["review"] = finding.review_id
    context["may_open_mission"] = (finding.status == "escalated" and finding.review_id is None
                                   and actor.may("review.manage"))
    if context["may_open_mission"]:
        context["mission_form"] = forms_.get("mission_form") or MissionForm()
    return context


@page("finding.read")
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    try:
        return render(request, "monitoring/detail.html", detail_context(request, actor, pk))
    except DomainError as exc:
        return error_page(request, exc)


def _act(request: HttpRequest, pk: int, form_name: str, form: forms.Form, run: Any, done: str) -> HttpResponse:
    """Run a workflow step; on success back to the finding with a message, on refusal the finding again with
    the refusal beside the form and the refusal's status."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("finding_detail", args=[pk]))
    status = 422
    error = ""
    if form.is_valid():
        try:
            run(actor, form)
        except PermissionDenied as exc:
            return error_page(request, exc)
        except DomainError as exc:
            if exc.status == 404:
                return error_page(request, exc)
            error, status = exc.message, exc.status
            if exc.code == "incomplete_answers":
                for name, field in form.fields.items():
                    if not (form.cleaned_data.get(name) or "").strip():
                        form.add_error(name, _("Answer this question too (STAT-09)."))
                        field.required = True
        else:
            messages.success(request, done)
            return HttpResponseRedirect(reverse("finding_detail", args=[pk]))
    try:
        context = detail_context(request, actor, pk, **{form_name: form, "error": error})
    except DomainError as exc:
        return error_page(request, exc)
    return render(request, "monitoring/detail.html", context, status=status)


@page("finding.manage")
def request_clarification(request: HttpRequest, pk: int) -> HttpResponse:
    form = ClarificationForm(request.POST)
    return _act(request, pk, "clarification_form", form,
                lambda actor, f: services.request_clarification(actor, pk, f.question_list(),
                                                                f.cleaned_data["due_on"]),
                _("The questionnaire was sent to the participant."))


@page("finding.answer")
def answer(request: HttpRequest, pk: int) -> HttpResponse:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    try:
        finding = services.get(actor, pk)
    except DomainError as exc:
        return error_page(request, exc)
    q = services.to_dict(finding, events=True)["questionnaire"]
    form = answer_form(q["questions"] if q else [], request.POST)
    for field in form.fields.values():
        field.required = False  # the service says which are missing (STAT-09)
    return _act(request, pk, "answer_form", form,
                lambda actor, f: services.answer(actor, pk, [f.cleaned_data.get(n, "") or ""
                                                             for n in f.fields]),
                _("Your answers were sent to the Working Group on Statistics."))


@page("finding.manage")
def close(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "close_form", NoteForm(request.POST, prefix="close"),
                lambda actor, f: services.close(actor, pk, f.cleaned_data["note"]), _("The finding is closed."))


@page("finding.manage")
def escalate(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "escalate_form", NoteForm(request.POST, prefix="escalate"),
                lambda actor, f: services.escalate(actor, pk, f.cleaned_data["note"]),
                _("The finding was escalated to the Working Group on Monitoring."))
