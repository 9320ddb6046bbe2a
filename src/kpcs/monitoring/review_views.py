"""Peer-review pages of the Working Group on Monitoring (MON-02..MON-08): one page with every review, its status
and MON-04 due dates, the recommendations due and the annual reports' status; a review with its team, report,
recommendations and their follow-up, and the forms of the steps for those allowed; the public's published
summaries. Every action goes through the monitoring services, as the API's routes do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kpcs import clock
from kpcs.errors import BadRequest, DomainError, NotFound, PermissionDenied
from kpcs.monitoring import rules, services
from kpcs.monitoring.forms import (
    CommentForm,
    FollowUpForm,
    MissionForm,
    NoteForm,
    PublicationForm,
    RecommendationForm,
    ReportForm,
    ReviewForm,
    TeamMemberForm,
    VisitForm,
)
from kpcs.monitoring.models import (
    CONSTITUENCY_LABELS,
    RECOMMENDATION_STATUS_LABELS,
    REVIEW_KIND_LABELS,
    REVIEW_STATUS_LABELS,
)
from kpcs.registry.services import Actor
from kpcs.web.access import PUBLIC, page
from kpcs.web.pages import error_page, parse_year
from kpcs.web.paging import paginate

REVIEW_BADGE = {"planned": "", "visited": "warn", "report_submitted": "warn", "report_published": "ok",
                "closed": "ok"}
RECOMMENDATION_BADGE = {"open": "warn", "in_progress": "warn", "implemented": "ok", "closed": "ok"}
REPORT_STATUS = {"received": (gettext_lazy("received"), "ok"), "late": (gettext_lazy("late"), "warn"),
                 "missing": (gettext_lazy("missing"), "bad"), "pending": (gettext_lazy("pending"), "")}


def _labelled(data: dict[str, Any]) -> dict[str, Any]:
    data["kind_label"] = REVIEW_KIND_LABELS.get(data["kind"], data["kind"])
    if "status" in data:
        data["status_label"] = REVIEW_STATUS_LABELS.get(data["status"], data["status"])
        data["status_badge"] = REVIEW_BADGE.get(data["status"], "")
    return data


def _recommendation(data: dict[str, Any]) -> dict[str, Any]:
    data["status_label"] = RECOMMENDATION_STATUS_LABELS.get(data["status"], data["status"])
    data["status_badge"] = RECOMMENDATION_BADGE.get(data["status"], "")
    for f in data["follow_ups"]:
        f["to_label"] = RECOMMENDATION_STATUS_LABELS.get(f["to_status"], f["to_status"])
    return data


@page("review.read")
def review_list(request: HttpRequest, form: forms.Form | None = None, status: int = 200,
                error: str = "") -> HttpResponse:
    """The Working Group on Monitoring's page: reviews, recommendations due, annual reports (MON-01, MON-08)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    try:
        year = parse_year(request.GET.get("year")) or clock.today().year - 1
    except DomainError as exc:
        return error_page(request, exc)
    today = clock.today()
    context: dict[str, Any] = paginate(request, services.search_reviews(actor))
    context["rows"] = [_labelled(services.review_dict(r, as_of=today)) for r in context["rows"]]
    context["due"] = [{**_recommendation(services.recommendation_dict(x, today)),
                       "participant": x.review.participant_id} for x in services.recommendations_due(actor)[:50]]
    reports = services.annual_reports(actor, year, today)
    for x in reports:
        x["status_label"], x["status_badge"] = REPORT_STATUS[x["status"]]
    context.update({"year": year, "reports": reports, "may_manage": actor.may("review.manage"),
                    "form": form or ReviewForm(), "error": error,
                    "received": sum(1 for x in reports if x["status"] in ("received", "late"))})
    return render(request, "monitoring/review_list.html", context, status=status)


@page("review.manage")
def review_create(request: HttpRequest) -> HttpResponse:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("review_list"))
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return review_list(request, form=form, status=422)
    d = form.cleaned_data
    try:
        r = services.create_review(actor, kind=d["kind"], participant=d["participant"], mandate=d["mandate"],
                                   starts_on=d["starts_on"], ends_on=d["ends_on"],
                                   decision_reference=d["decision_reference"])
    except PermissionDenied as exc:
        return error_page(request, exc)
    except DomainError as exc:
        return review_list(request, form=form, status=exc.status, error=exc.message)
    messages.success(request, _("The review was opened."))
    return HttpResponseRedirect(reverse("review_detail", args=[r.pk]))


def detail_context(actor: Actor, pk: int, **forms_: Any) -> dict[str, Any]:
    review = services.get_review(actor, pk)
    data = _labelled(services.review_dict(review, detail=True))
    for m in data["team"]:
        m["constituency_label"] = CONSTITUENCY_LABELS.get(m["constituency"], m["constituency"])
    recommendations = [_recommendation(x) for x in data["recommendations"]]
    manage = actor.may("review.manage")
    status = review.status
    # the reviewed participant's delegate comments while the report is with it (MON-04)
    may_comment = actor.may("review.comment", review.participant_id)
    for x in recommendations:
        x["may_act"] = manage and status != "closed" and x["status"] != "closed"
        x["may_follow_up"] = x["may_act"] and x["status"] in ("open", "in_progress")
        x["follow_up_form"] = forms_.get(f"fu{x['id']}") or FollowUpForm(prefix=f"fu{x['id']}")
        x["close_form"] = forms_.get(f"rc{x['id']}") or NoteForm(prefix=f"rc{x['id']}")
    return {"review": data, "recommendations": recommendations,
            "may_team": manage and status in rules.TEAM_OPEN,
            "may_visit": manage and status == "planned", "may_report": manage and status == "visited",
            "may_publish": manage and status == "report_submitted",
            "may_recommend": manage and status in rules.RECOMMENDATIONS_OPEN,
            "may_close": manage and status == "report_published",
            "team_form": forms_.get("team_form") or TeamMemberForm(),
            "visit_form": forms_.get("visit_form") or VisitForm(),
            "report_form": forms_.get("report_form") or ReportForm(),
            "publication_form": forms_.get("publication_form") or PublicationForm(),
            "recommendation_form": forms_.get("recommendation_form") or RecommendationForm(),
            "may_comment": may_comment and rules.comment_refusal(status) is None,
            "comments_closed": may_comment and rules.comment_refusal(status) == "comments_closed",
            "comments_not_yet": may_comment and rules.comment_refusal(status) == "no_report",
            "comment_form": forms_.get("comment_form") or CommentForm(),
            "error": forms_.get("error", "")}


@page("review.read")
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    try:
        return render(request, "monitoring/review_detail.html", detail_context(actor, pk))
    except DomainError as exc:
        return error_page(request, exc)


def _act(request: HttpRequest, pk: int, form_name: str, form: forms.Form, run: Callable[[Actor, Any], Any],
         done: str) -> HttpResponse:
    """Run a step; on success back to the review with a message, on refusal the review again with the refusal
    beside its form and the refusal's status."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("review_detail", args=[pk]))
    status, error = 422, ""
    if form.is_valid():
        try:
            run(actor, form.cleaned_data)
        except PermissionDenied as exc:
            return error_page(request, exc)
        except DomainError as exc:
            if exc.status == 404:
                return error_page(request, exc)
            error, status = exc.message, exc.status
        else:
            messages.success(request, done)
            return HttpResponseRedirect(reverse("review_detail", args=[pk]))
    try:
        context = detail_context(actor, pk, **{form_name: form, "error": error})
    except DomainError as exc:
        return error_page(request, exc)
    return render(request, "monitoring/review_detail.html", context, status=status)


@page("review.manage")
def review_team(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "team_form", TeamMemberForm(request.POST),
                lambda a, d: services.add_team_member(a, pk, name=d["name"], constituency=d["constituency"],
                                                      participant=d["participant"] or None,
                                                      organisation=d["organisation"], is_leader=d["is_leader"]),
                _("The member joined the review team."))


@page("review.manage")
def review_visit(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "visit_form", VisitForm(request.POST),
                lambda a, d: services.record_visit(a, pk, starts_on=d["starts_on"], ends_on=d["ends_on"]),
                _("The visit is recorded; the report is due three weeks after it (MON-04)."))


@page("review.manage")
def review_report(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "report_form", ReportForm(request.POST),
                lambda a, d: services.submit_report(a, pk, text=d["text"], on=d["on"]),
                _("The report is submitted to the Chair and the participant."))


@page("review.manage")
def review_publish(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "publication_form", PublicationForm(request.POST),
                lambda a, d: services.publish_report(a, pk, public_summary=d["public_summary"], on=d["on"]),
                _("The report is published; the public sees its summary."))


@page("review.manage")
def review_close(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "close_form", forms.Form(request.POST), lambda a, d: services.close_review(a, pk),
                _("The review is closed."))


@page("review.manage")
def recommendation_add(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "recommendation_form", RecommendationForm(request.POST),
                lambda a, d: services.add_recommendation(a, pk, text=d["text"], owner=d["owner"],
                                                         due_on=d["due_on"]),
                _("The recommendation was added."))


@page("review.manage")
def recommendation_follow_up(request: HttpRequest, pk: int, rid: int) -> HttpResponse:
    return _act(request, pk, f"fu{rid}", FollowUpForm(request.POST, prefix=f"fu{rid}"),
                lambda a, d: services.follow_up(a, pk, rid, note=d["note"], status=d["status"]),
                _("The follow-up was recorded."))


@page("review.manage")
def recommendation_close(request: HttpRequest, pk: int, rid: int) -> HttpResponse:
    return _act(request, pk, f"rc{rid}", NoteForm(request.POST, prefix=f"rc{rid}"),
                lambda a, d: services.close_recommendation(a, pk, rid, note=d["note"]),
                _("The recommendation is closed."))


@page("review.comment")
def review_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """The reviewed participant's delegate comments on the report (MON-04); a refusal (the report not there yet,
    or already posted) is shown beside the comment with its rule."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("review_detail", args=[pk]))
    form = CommentForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            services.comment_on_report(actor, pk, text=form.cleaned_data["text"])
        except (PermissionDenied, NotFound) as exc:
            return error_page(request, exc)
        except DomainError as exc:
            form.add_error("text", exc.message)
            status = exc.status
        else:
            messages.success(request, _("Your comment was recorded; it will be posted with the report."))
            return HttpResponseRedirect(reverse("review_detail", args=[pk]) + "#comments-h")
    try:
        context = detail_context(actor, pk, comment_form=form)
    except DomainError as exc:
        return error_page(request, exc)
    context["may_comment"] = True  # keep the form and its refusal in view, even once comments have closed
    return render(request, "monitoring/review_detail.html", context, status=status)


@page(PUBLIC)
def review_published(request: HttpRequest) -> HttpResponse:
    """Public: the published review reports' summaries (never the restricted full text)."""
    context = paginate(request, services.published_reviews())
    context["rows"] = [_labelled(services.public_review_dict(r)) for r in context["rows"]]
    return render(request, "monitoring/review_published.html", context)


@page("review.manage")
def finding_review_mission(request: HttpRequest, pk: int) -> HttpResponse:
    """MON-11: an escalated finding becomes a review mission case; both pages link to each other."""
    from kpcs.monitoring.views import detail_context as finding_context

    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("finding_detail", args=[pk]))
    form = MissionForm(request.POST)
    status, error = 422, ""
    if form.is_valid():
        d = form.cleaned_data
        try:
            r = services.escalate_to_review(actor, pk, mandate=d["mandate"], starts_on=d["starts_on"],
                                            ends_on=d["ends_on"], decision_reference=d["decision_reference"])
        except (PermissionDenied, BadRequest) as exc:
            return error_page(request, exc)
        except DomainError as exc:
            if exc.status == 404:
                return error_page(request, exc)
            error, status = exc.message, exc.status
        else:
            messages.success(request, _("A review mission was opened on this finding."))
            return HttpResponseRedirect(reverse("review_detail", args=[r.pk]))
    try:
        context = finding_context(request, actor, pk, mission_form=form, error=error)
    except DomainError as exc:
        return error_page(request, exc)
    return render(request, "monitoring/detail.html", context, status=status)
