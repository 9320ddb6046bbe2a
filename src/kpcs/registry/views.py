"""The registry's pages: licensed operators (INT-08), listed and registered through the registry's services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.errors import DomainError
from kpcs.registry import services
from kpcs.registry.forms import KIND_LABELS, OperatorFilter, OperatorForm
from kpcs.web.access import page
from kpcs.web.paging import paginate


def _validity(valid_from: Any, valid_until: Any, today: Any) -> str:
    if today < valid_from:
        return "not_yet"
    if valid_until is not None and today > valid_until:
        return "expired"
    return "valid"


@page("operator.read")
def operator_list(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    filters = OperatorFilter(request.GET or None)
    chosen: dict[str, Any] = filters.cleaned_data if filters.is_valid() else {}
    scope = actor.participants_for("operator.read")
    participant = (chosen.get("participant") or "").strip().upper() or None
    qs = services.visible_operators(actor, participant=participant, kind=chosen.get("kind") or None,
                                    valid_on=chosen.get("valid_on"))
    context = paginate(request, qs)
    today = clock.today()
    context["rows"] = [{"op": op, "kind": KIND_LABELS.get(op.kind, op.kind),
                        "validity": _validity(op.valid_from, op.valid_until, today)} for op in context["rows"]]
    context.update(filters=filters, all_participants=scope is None, may_register=actor.may("operator.write"))
    return render(request, "registry/operator_list.html", context)


@page("operator.write")
def operator_new(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    participants = sorted(actor.participants_for("operator.write") or [])
    status = 200
    if request.method == "POST":
        form = OperatorForm(request.POST, participants=participants)
        if form.is_valid():
            data = form.cleaned_data
            try:
                op = services.register_operator(
                    actor, participant=data["participant"], name=data["name"], address=data["address"],
                    kind=data["kind"], licence=data["licence"], valid_from=data["valid_from"],
                    valid_until=data["valid_until"], nationality=data["nationality"])
            except DomainError as exc:
                form.add_refusal(exc)
                status = exc.status if exc.status in (403, 404, 409) else 422
            else:
                messages.success(request, _("Operator %(name)s registered with licence %(licence)s.")
                                 % {"name": op.name, "licence": op.licence})
                return HttpResponseRedirect(f"{reverse('operator_list')}?participant={op.participant_id}")
        else:
            status = 422
    else:
        form = OperatorForm(participants=participants)
    return render(request, "registry/operator_form.html", {"form": form}, status=status)
