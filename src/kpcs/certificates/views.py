"""The certificate pages: issue, list, read, cancel (exporting side); look up, confirm, reject (importing side).

Each page calls the certificate services exactly as the API does and shows a refusal beside the field it
concerns, with the rule it enforces. Another participant's certificate is the same 404 as an unknown number.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kpcs import clock
from kpcs.certificates import rules, services
from kpcs.certificates.forms import (
    DISCREPANCY_LABELS,
    STATUS_LABELS,
    CancelForm,
    CertificateFilter,
    ConfirmForm,
    IssueForm,
    LineFormSet,
    LookupForm,
    PresentedForm,
    RejectForm,
    refusal,
)
from kpcs.certificates.models import Certificate
from kpcs.errors import Conflict, DomainError, NotFound, PermissionDenied
from kpcs.registry import services as registry
from kpcs.web.access import forbidden, page
from kpcs.web.paging import paginate

ACTION_LABELS = {
    "certificate.issued": gettext_lazy("issued"), "certificate.confirmed": gettext_lazy("receipt confirmed"),
    "certificate.rejected": gettext_lazy("rejected"), "certificate.cancelled": gettext_lazy("cancelled"),
    "certificate.expired": gettext_lazy("expired"), "certificate.signer_revoked": gettext_lazy("signing key revoked"),
}


def page_url(number: str) -> str:
    return reverse("certificate_page", args=[number])


def _refused(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A refusal that belongs to no form: the 404 or 403 page, else a notice on an error page."""
    if isinstance(exc, NotFound):
        raise Http404(exc.message)
    if isinstance(exc, PermissionDenied):
        return forbidden(request, exc.message)
    return render(request, "web/error.html", {"title": _("Refused"), "message": refusal(exc)}, status=exc.status)


# --- issuing -------------------------------------------------------------------------------------

@page("certificate.issue")
def certificate_issue(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    exporting_scope = sorted(actor.participants_for("certificate.issue") or [])
    data = request.POST if request.method == "POST" else None
    chosen = (data.get("exporting_participant") if data else None) or exporting_scope[0]
    if chosen not in exporting_scope:
        chosen = exporting_scope[0]
    today = clock.today()
    exporters = [(op.licence, f"{op.licence} — {op.name}") for op in registry.visible_operators(
        actor, participant=chosen, kind="exporter", valid_on=today)]
    importing = [(c, n) for c, n in registry.participant_choices() if c not in exporting_scope]
    form = IssueForm(data, exporting=exporting_scope, importing=importing, exporters=exporters,
                     initial={"exporting_participant": chosen})
    if data is not None and "more_lines" in data:  # another empty line row, keeping what was typed
        more = data.copy()
        rows = more.get("lines-TOTAL_FORMS") or "3"
        more["lines-TOTAL_FORMS"] = str(min(100, (int(rows) if rows.isdigit() else 3) + 1))
        form = IssueForm(more, exporting=exporting_scope, importing=importing, exporters=exporters)
        form.errors.clear()  # not judged yet
        return _issue_page(request, form, LineFormSet(more, prefix="lines"), 200, today)
    lines = LineFormSet(data, prefix="lines")
    if data is None:
        return _issue_page(request, form, lines, 200, today)
    if form.is_valid() and lines.is_valid():
        positions = [i for i, f in enumerate(lines.forms) if not f.is_blank()]
        try:
            cert = services.issue(actor, form.request([lines.forms[i].as_line() for i in positions]))
        except DomainError as exc:
            form.add_refusal(exc, lines, positions)
            return _issue_page(request, form, lines, exc.status if exc.status in (403, 409) else 422, today)
        messages.success(request, _("Certificate %(number)s issued and signed. Verification code: %(code)s.")
                         % {"number": cert.number, "code": services.to_dict(cert)["verification_code"]})
        return HttpResponseRedirect(page_url(cert.number))
    return _issue_page(request, form, lines, 422, today)


def _issue_page(request: HttpRequest, form: IssueForm, lines: Any, status: int, today: dt.date) -> HttpResponse:
    return render(request, "certificates/issue.html",
                  {"form": form, "lines": lines, "today": today,
                   "one_exporting": len(form.fields["exporting_participant"].choices) == 1},  # type: ignore[attr-defined]
                  status=status)


# --- lists ---------------------------------------------------------------------------------------

def _rows(certs: Any, today: dt.date) -> list[dict[str, Any]]:
    """What a list shows of certificates: their own columns only (no lines, no second query per row); each
    exporting participant's confirmation deadline in force on the issue day is read from the snapshot (IMP-02)."""
    snap = registry.snapshot()
    return [_row(c, today, snap.policy_on(c.exporting_participant_id, c.issued_on).confirmation_days)
            for c in certs]


def _row(cert: Certificate, today: dt.date, confirmation_days: int) -> dict[str, Any]:
    status = rules.effective_status(cert.status, cert.expires_on, today)
    return {"number": cert.number, "type": cert.type, "status": status, "status_label": STATUS_LABELS[status],
            "exporting": cert.exporting_participant_id, "importing": cert.importing_participant_id,
            "issued_on": cert.issued_on, "expires_on": cert.expires_on,
            "carats": rules.from_centi(cert.total_carats_centi), "value_usd": rules.from_centi(cert.total_value_cents),
            "parcels": cert.total_parcels,
            "overdue": rules.is_overdue(cert.status, cert.issued_on, today, confirmation_days),
            "due_on": cert.issued_on + dt.timedelta(days=confirmation_days)}


@page("certificate.read")
def certificate_list(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    filters = CertificateFilter(request.GET or None)
    chosen: dict[str, Any] = filters.cleaned_data if filters.is_valid() else {}
    today = clock.today()
    qs = services.search(actor, status=chosen.get("status") or None, side=chosen.get("side") or None,
                         participant=(chosen.get("participant") or "").strip().upper() or None,
                         overdue=True if chosen.get("overdue") else None, today=today)
    if chosen.get("issued_from"):
        qs = qs.filter(issued_on__gte=chosen["issued_from"])
    if chosen.get("issued_to"):
        qs = qs.filter(issued_on__lte=chosen["issued_to"])
    context = paginate(request, qs)
    context["rows"] = _rows(context["rows"], today)
    context.update(filters=filters, may_issue=actor.may("certificate.issue"))
    return render(request, "certificates/list.html", context)


# --- one certificate -------------------------------------------------------------------------------

def _certificate_context(request: HttpRequest, number: str) -> dict[str, Any]:
    actor = request.actor  # type: ignore[attr-defined]
    cert = services.get(actor, number)
    data = services.to_dict(cert)
    issuing = registry.authority_summary(cert.issuing_authority_id)
    status = data["status"]
    open_ = status == "issued"
    history = [{**e, "label": ACTION_LABELS.get(e["action"], e["action"])}
               for e in services.history(actor, cert.number)]
    rejection = data["rejection"]
    return {
        "cert": data, "number": cert.number, "title": rules.TITLE, "statement": rules.STATEMENT,
        "issuing": issuing, "status_label": STATUS_LABELS.get(status, status), "history": history,
        "discrepancy_label": DISCREPANCY_LABELS.get(rejection["kind"], rejection["kind"]) if rejection else "",
        "may_cancel": open_ and actor.may("certificate.cancel", cert.exporting_participant_id),
        "may_confirm": open_ and actor.may("certificate.confirm", cert.importing_participant_id),
        "may_reject": open_ and actor.may("certificate.reject", cert.importing_participant_id),
        "confirm_form": ConfirmForm(initial={"received_on": clock.today()}), "reject_form": RejectForm(),
    }


def _certificate_page(request: HttpRequest, number: str, status: int = 200, **extra: Any) -> HttpResponse:
    try:
        context = _certificate_context(request, number)
    except DomainError as exc:
        return _refused(request, exc)
    context.update(extra)
    return render(request, "certificates/certificate.html", context, status=status)


@page("certificate.read")
def certificate_page(request: HttpRequest, number: str) -> HttpResponse:
    canonical = rules.normalise_number(number)
    if canonical != number and rules.serial_of(canonical, canonical[:2]) is not None:
        return HttpResponseRedirect(page_url(canonical))
    return _certificate_page(request, number)


@page("certificate.cancel")
def certificate_cancel(request: HttpRequest, number: str) -> HttpResponse:
    """A confirmation step: the reason is asked on a page of its own, and only a POST cancels."""
    actor = request.actor  # type: ignore[attr-defined]
    try:
        cert = services.get(actor, number)
    except DomainError as exc:
        return _refused(request, exc)
    if not actor.may("certificate.cancel", cert.exporting_participant_id):
        return forbidden(request)
    form = CancelForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.cancel(actor, cert.number, {"reason": form.cleaned_data["reason"]})
            except DomainError as exc:
                if isinstance(exc, Conflict):
                    return _certificate_page(request, cert.number, 409, refusal_notice=refusal(exc))
                form.add_refusal(exc)
                status = 422
            else:
                messages.success(request, _("Certificate %(number)s cancelled.") % {"number": cert.number})
                return HttpResponseRedirect(page_url(cert.number))
        else:
            status = 422
    return render(request, "certificates/cancel.html",
                  {"number": cert.number, "form": form, "importing": cert.importing_participant_id,
                   "issued_on": cert.issued_on}, status=status)


def _decide(request: HttpRequest, number: str, form: ConfirmForm | RejectForm, done: str) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    form_key = "confirm_form" if isinstance(form, ConfirmForm) else "reject_form"
    if form.is_valid():
        decide = services.confirm if isinstance(form, ConfirmForm) else services.reject
        try:
            cert = decide(actor, number, form.body())
        except Conflict as exc:
            return _certificate_page(request, number, 409, refusal_notice=refusal(exc))
        except (NotFound, PermissionDenied) as exc:
            return _refused(request, exc)
        except DomainError as exc:
            form.add_refusal(exc)
        else:
            messages.success(request, done % {"number": cert.number})
            return HttpResponseRedirect(page_url(cert.number))
    return _certificate_page(request, number, 422, **{form_key: form, "open_form": form_key})


@require_POST
@page("certificate.confirm")
def certificate_confirm(request: HttpRequest, number: str) -> HttpResponse:
    return _decide(request, number, ConfirmForm(request.POST), _("Receipt of %(number)s confirmed."))


@require_POST
@page("certificate.reject")
def certificate_reject(request: HttpRequest, number: str) -> HttpResponse:
    return _decide(request, number, RejectForm(request.POST), _("Certificate %(number)s rejected."))


# --- arrivals ----------------------------------------------------------------------------------

@page("certificate.confirm")
def certificate_arrivals(request: HttpRequest) -> HttpResponse:
    """Customs and the importing authority: is the certificate that came with a shipment genuine and usable?"""
    actor = request.actor  # type: ignore[attr-defined]
    ours = sorted(actor.participants_for("certificate.confirm") or [])
    lookup = LookupForm(request.GET if "number" in request.GET else None)
    presented = PresentedForm(request.POST if request.method == "POST" else None)
    result: dict[str, Any] | None = None
    error = ""
    status = 200
    try:
        if request.method == "POST":
            if presented.is_valid():
                result = services.verify_presented(presented.cleaned_data["presented"].strip())
            else:
                status = 422
        elif lookup.is_bound and lookup.is_valid():
            number = lookup.cleaned_data["number"].strip()
            if number:
                result = services.public_verification(number, lookup.cleaned_data["code"])
            else:
                lookup.add_error("number", _("Type the certificate number."))
                status = 422
    except DomainError as exc:
        error, status = refusal(exc), exc.status
    addressed = bool(result and result["genuine"] and result["importing_participant"]["code"] in ours)
    context: dict[str, Any] = {"lookup": lookup, "presented": presented, "result": result, "error": error,
                               "addressed": addressed}
    if addressed and result and result["usable"] and result["status"] == "issued":
        context.update(number=result["number"], confirm_form=ConfirmForm(initial={"received_on": clock.today()}),
                       reject_form=RejectForm(), may_confirm=True,
                       may_reject=actor.may("certificate.reject", result["importing_participant"]["code"]))
    elif addressed and result and result["status"] == "issued":  # genuine, ours, but not usable: reject it
        context.update(number=result["number"], reject_form=RejectForm(),
                       may_reject=actor.may("certificate.reject", result["importing_participant"]["code"]))
    today = clock.today()
    awaiting: list[dict[str, Any]] = []
    overdue: list[dict[str, Any]] = []
    for code in ours:
        awaiting += _rows(services.search(actor, status="issued", side="import", participant=code, today=today)[:50],
                          today)
        overdue += _rows(services.search(actor, side="import", participant=code, overdue=True, today=today)[:50],
                         today)
    context.update(awaiting=awaiting, overdue=overdue, ours=ours)
    return render(request, "certificates/arrivals.html", context, status=status)
