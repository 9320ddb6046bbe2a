"""The custody pages of a mining ministry and its buying offices: the desk, the registers (sites, licences),
production and transfers, an operator's stock and ledger, a parcel's trace, the events (INT-06..INT-12).

Each page calls the custody services exactly as the API does and shows a refusal beside the field it concerns,
with the rule it enforces. Another participant's operator, site, parcel or event is the same 404 as a missing one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.custody import rules, selectors, services
from kpcs.custody.forms import (
    EventFilter,
    LedgerForm,
    LicenceForm,
    MergeForm,
    ProductionForm,
    RemovalForm,
    SiteForm,
    SplitForm,
    TransferForm,
    refusal,
)
from kpcs.errors import DomainError, NotFound, PermissionDenied
from kpcs.registry import services as registry
from kpcs.registry.models import Operator
from kpcs.registry.services import Actor
from kpcs.web.access import forbidden, page
from kpcs.web.paging import paginate

COLOURS = ("#16324f", "#b35900", "#126b2f", "#6b2f8a", "#4a5568")  # 3:1 against white, as statistics/charts.py
RECENT_EVENTS = 10
DESK_ROWS = 200
LEDGER_DAYS = 30
HELD_SHOWN = 50


def _refused(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A refusal that belongs to no form: the 404 or 403 page, else a notice on an error page."""
    if isinstance(exc, NotFound):
        raise Http404(exc.message)
    if isinstance(exc, PermissionDenied):
        return forbidden(request, exc.message)
    return render(request, "web/error.html", {"title": _("Refused"), "message": refusal(exc)}, status=exc.status)


def _operators(actor: Actor, permission: str) -> list[Operator]:
    """The operators of the participants the actor may `permission` for (its own, for a custody officer)."""
    scope = actor.participants_for(permission)
    qs = registry.visible_operators(actor)
    if scope is not None:
        qs = qs.filter(participant_id__in=scope)
    return list(qs[:1000])


def _operator_choices(operators: list[Operator]) -> list[tuple[int, str]]:
    return [(op.pk, f"{op.name} — {op.licence} ({op.participant_id})") for op in operators]


def _site_choices(scope: set[str] | None) -> list[tuple[int, str]]:
    return [(s.pk, f"{s.name} — {rules.SITE_KIND_LABELS.get(s.kind, s.kind)}, {s.region} ({s.participant_id})")
            for s in selectors.sites(scope)[:1000]]


def _event_rows(events: Any) -> list[dict[str, Any]]:
    """Events as a list shows them, with the parcels each consumed and made (two queries for the page)."""
    events = list(events)
    moved = selectors.parcels_of_events(e.pk for e in events)
    return [{"event": e, "type_label": rules.EVENT_TYPE_LABELS.get(e.type, e.type), **moved[e.pk]} for e in events]


# --- the desk ------------------------------------------------------------------------------------

@page("custody.read")
def custody_desk(request: HttpRequest) -> HttpResponse:
    """What a custody officer works from: its participant's sites, licences, operators with their stock (INT-09)
    and the latest events."""
    actor = request.actor  # type: ignore[attr-defined]
    scope = services.readable(actor)
    operators = _operators(actor, "custody.read")
    names = {op.pk: op.name for op in operators}
    held = selectors.held_by_operator(scope)
    stock = [{"operator": op, "parcels": held.get(op.pk, (0, 0))[0],
              "carats": rules.centi_text(held.get(op.pk, (0, 0))[1])} for op in operators]
    licences = [{"licence": lic, "operator": names.get(lic.operator_id, lic.operator_id),
                 "kind_label": rules.LICENCE_KIND_LABELS.get(lic.kind, lic.kind)}
                for lic in selectors.licences(scope)[:DESK_ROWS]]
    sites = [{"site": s, "holder": names.get(s.holder_id, s.holder_id),
              "kind_label": rules.SITE_KIND_LABELS.get(s.kind, s.kind)} for s in selectors.sites(scope)[:DESK_ROWS]]
    recent = _event_rows(selectors.events(scope).order_by("-occurred_at", "-pk")[:RECENT_EVENTS])
    return render(request, "custody/desk.html", {
        "sites": sites, "licences": licences, "stock": stock, "recent": recent, "names": names,
        "may_register": actor.may("custody.register"), "may_record": actor.may("custody.record"),
        "today": clock.today()})


# --- registers -----------------------------------------------------------------------------------

@page("custody.register")
def site_new(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    form = SiteForm(request.POST if request.method == "POST" else None,
                    operators=_operator_choices(_operators(actor, "custody.register")))
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            d = form.cleaned_data
            try:
                site = services.register_site(actor, name=d["name"], kind=d["kind"], region=d["region"],
                                              holder=d["holder"])
            except DomainError as exc:
                form.add_refusal(exc)
                status = exc.status if exc.status in (403, 409) else 422
            else:
                messages.success(request, _("Site %(name)s registered.") % {"name": site.name})
                return HttpResponseRedirect(reverse("custody_desk"))
    return render(request, "custody/form.html", {"form": form, "title": _("Register a site"),
                                                 "submit": _("Register the site")}, status=status)


@page("custody.register")
def licence_new(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    form = LicenceForm(request.POST if request.method == "POST" else None,
                       operators=_operator_choices(_operators(actor, "custody.register")))
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            d = form.cleaned_data
            try:
                lic = services.register_licence(actor, operator=d["operator"], kind=d["kind"], number=d["number"],
                                                area=d["area"], valid_from=d["valid_from"],
                                                valid_until=d["valid_until"])
            except DomainError as exc:
                form.add_refusal(exc)
                status = exc.status if exc.status in (403, 409) else 422
            else:
                messages.success(request, _("Licence %(number)s registered.") % {"number": lic.number})
                return HttpResponseRedirect(reverse("custody_desk"))
    return render(request, "custody/form.html", {"form": form, "title": _("Register a licence"),
                                                 "submit": _("Register the licence"),
                                                 "intro": _("A renewal is a new licence; the old one is kept.")},
                  status=status)


# --- events --------------------------------------------------------------------------------------

def _record(request: HttpRequest,
            form: ProductionForm | TransferForm | SplitForm | MergeForm | RemovalForm) -> HttpResponse | int:
    """Record the form's event; on success go to the parcel it made (the buyer's, for a transfer), else the
    refusal is put beside its field and the status to answer with is returned (409 for a conflict of stock)."""
    actor = request.actor  # type: ignore[attr-defined]
    try:
        done = services.record_event(actor, form.request())
    except DomainError as exc:
        form.add_refusal(exc)
        return exc.status if exc.status in (403, 409) else 422
    made = done.outputs()
    messages.success(request, _("%(type)s recorded: event %(event)s.")
                     % {"type": str(rules.EVENT_TYPE_LABELS[done.event.type]).capitalize(), "event": done.event.pk})
    if made:
        return HttpResponseRedirect(reverse("custody_parcel", args=[made[-1] if done.event.type != "transfer"
                                                                    else made[0]]))
    return HttpResponseRedirect(reverse("custody_events"))


@page("custody.record")
def production_new(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    form = ProductionForm(request.POST if request.method == "POST" else None,
                          sites=_site_choices(actor.participants_for("custody.record")))
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            done = _record(request, form)
            if not isinstance(done, int):
                return done
            status = done
    return render(request, "custody/form.html", {
        "form": form, "title": _("Record production"), "submit": _("Record the production"),
        "intro": _("One lot produced at a site, recorded by its holder's licence: a mining licence at an industrial "
                   "mine (INT-06), a digging or mining licence at an alluvial area (INT-07).")}, status=status)


@page("custody.record")
def transfer_new(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    operators = _operator_choices(_operators(actor, "custody.record"))
    if request.method == "POST":
        form = TransferForm(request.POST, operators=operators)
    else:
        initial = {k: request.GET[k] for k in ("parcels", "seller") if request.GET.get(k)}
        form = TransferForm(initial=initial, operators=operators)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            done = _record(request, form)
            if not isinstance(done, int):
                return done
            status = done
    return render(request, "custody/form.html", {
        "form": form, "title": _("Record a transfer"), "submit": _("Record the transfer"),
        "intro": _("A sale between two licensed operators of the participant (INT-08), with its invoice and the "
                   "warranty statement (INT-11)."), **_held_by_seller(actor, form, operators)}, status=status)


def _held_by_seller(actor: Actor, form: TransferForm, operators: list[tuple[int, str]]) -> dict[str, Any]:
    """The parcels the chosen seller holds, beside the form, so that the officer can name them."""
    raw = form.data.get("seller") if form.is_bound else form.initial.get("seller")
    names = dict(operators)
    seller = int(raw) if isinstance(raw, str | int) and str(raw).isdigit() and int(raw) in names else None
    if seller is None:
        return {}
    held = selectors.parcels(actor.participants_for("custody.record"), holder=seller, status="held")
    return {"held": [selectors.parcel_view(p) for p in held[:HELD_SHOWN]], "held_count": held.count(),
            "held_by": names[seller].split(" — ")[0]}


def _held_event(request: HttpRequest, form: SplitForm | MergeForm | RemovalForm, title: str, submit: str,
                intro: str) -> HttpResponse:
    """A page recording an event on parcels their holder keeps or loses: split, merge, loss, seizure."""
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            done = _record(request, form)
            if not isinstance(done, int):
                return done
            status = done
    return render(request, "custody/form.html", {"form": form, "title": title, "submit": submit, "intro": intro},
                  status=status)


def _prefilled(request: HttpRequest) -> dict[str, str] | None:
    """A parcel page links here with ?parcels=ID."""
    return {"parcels": request.GET["parcels"]} if request.GET.get("parcels") else None


@page("custody.record")
def split_new(request: HttpRequest) -> HttpResponse:
    form = SplitForm(request.POST) if request.method == "POST" else SplitForm(initial=_prefilled(request))
    return _held_event(request, form, _("Record a split"), _("Record the split"), _(
        "One parcel sorted into several by its holder: the pieces weigh what the parcel weighed, to 0.01 ct, and "
        "share its origins in proportion (INT-09, CERT-10)."))


@page("custody.record")
def merge_new(request: HttpRequest) -> HttpResponse:
    form = MergeForm(request.POST) if request.method == "POST" else MergeForm(initial=_prefilled(request))
    return _held_event(request, form, _("Record a merge"), _("Record the merge"), _(
        "Parcels of one holder mixed into one: it weighs what they weighed and carries each of their origins with "
        "its carats (INT-09, CERT-10)."))


@page("custody.record")
def loss_new(request: HttpRequest) -> HttpResponse:
    form = (RemovalForm(request.POST, kind="loss") if request.method == "POST"
            else RemovalForm(initial=_prefilled(request), kind="loss"))
    return _held_event(request, form, _("Record a loss"), _("Record the loss"), _(
        "Parcels that left their holder's stock without a buyer, with the reason; the stock ledger shows them "
        "as lost (INT-08, INT-09)."))


@page("custody.record")
def seizure_new(request: HttpRequest) -> HttpResponse:
    form = (RemovalForm(request.POST, kind="seizure") if request.method == "POST"
            else RemovalForm(initial=_prefilled(request), kind="seizure"))
    return _held_event(request, form, _("Record a seizure"), _("Record the seizure"), _(
        "Parcels seized from their holder by the authorities, with the reason; the stock ledger shows them as "
        "seized (INT-08, INT-09)."))


@page("custody.read")
def event_list(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    scope = services.readable(actor)
    filters = EventFilter(request.GET or None, operators=_operator_choices(_operators(actor, "custody.read")),
                          sites=_site_choices(scope))
    chosen: dict[str, Any] = filters.cleaned_data if filters.is_valid() else {}
    qs = selectors.events(scope, operator=chosen.get("operator"), parcel=chosen.get("parcel"),
                          site=chosen.get("site")).order_by("-occurred_at", "-pk")
    context = paginate(request, qs)
    context["rows"] = _event_rows(context["rows"])
    context["filters"] = filters
    return render(request, "custody/events.html", context, status=200 if not filters.errors else 400)


# --- stock, ledger, trace ------------------------------------------------------------------------

@page("custody.read")
def operator_stock(request: HttpRequest, pk: int) -> HttpResponse:
    """An operator's parcels held and its stock book for a range of days: opening + in − out = closing, checked
    against the parcels it holds (INT-08 daily records, INT-09 inventory)."""
    actor = request.actor  # type: ignore[attr-defined]
    today = clock.today()
    form = LedgerForm(request.GET if "start" in request.GET or "end" in request.GET else None,
                      initial={"start": today - dt.timedelta(days=LEDGER_DAYS), "end": today})
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        start, end = today - dt.timedelta(days=LEDGER_DAYS), today
    try:
        book = services.ledger(actor, pk, start, end)
    except DomainError as exc:
        return _refused(request, exc)
    context = paginate(request, selectors.parcels(services.readable(actor), holder=pk, status="held"))
    context["rows"] = [{**selectors.parcel_view(p), "created_on": p.created_on} for p in context["rows"]]
    labels = rules.EVENT_TYPE_LABELS
    book["in_rows"] = [(labels.get(k, k), v) for k, v in book["in"].items()]
    book["out_rows"] = [(labels.get(k, k), v) for k, v in book["out"].items()]
    context.update(book=book, form=form, may_record=actor.may("custody.record", book["operator"]["participant"]))
    return render(request, "custody/stock.html", context, status=400 if form.is_bound and form.errors else 200)


def _step(view: dict[str, Any], names: dict[int, str], focus: int) -> dict[str, Any]:
    return {**view, "type_label": rules.EVENT_TYPE_LABELS.get(view["type"], view["type"]),
            "returned_because": rules.RETURN_REASON_LABELS.get((view.get("details") or {}).get(
                "certificate_status", "")) if view["type"] == "return" else None,
            "site_kind": rules.SITE_KIND_LABELS.get(view["site"]["kind"], "") if view["site"] else "",
            "outputs": [{**o, "holder_name": names.get(o["holder"], o["holder"]), "focus": o["id"] == focus}
                        for o in view["outputs"]],
            "inputs": [{**i, "focus": i["id"] == focus} for i in view["inputs"]],
            "here": any(o["id"] == focus for o in view["outputs"])}


@page("custody.read")
def parcel_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A parcel and its trace: from the sites through each event to the parcel, and onward (CERT-10, INT-09)."""
    actor = request.actor  # type: ignore[attr-defined]
    try:
        trace = services.trace(actor, pk)
        onward = (selectors.event_view(services.get_event(actor, trace["parcel"]["consumed_by"]))
                  if trace["parcel"]["consumed_by"] else None)
    except DomainError as exc:
        return _refused(request, exc)
    views = [*reversed(trace["path"]), *([onward] if onward else [])]
    names: dict[int, str] = {}
    for v in views:
        for side in ("operator", "counterparty"):
            if v[side]:
                names[v[side]["id"]] = v[side]["name"]
    steps = [_step(v, names, pk) for v in views]
    if onward:
        steps[-1]["onward"] = True
    parcel = trace["parcel"]
    total = rules.to_centi(parcel["carats"]) or 1
    origins, x = [], 0.0
    for i, o in enumerate(trace["origins"]):  # a stacked bar of the shares, drawn here (no JavaScript)
        width = rules.to_centi(o["carats"]) * 100 / total
        origins.append({**o, "percent": width, "x": f"{x:.3f}", "width": f"{width:.3f}",
                        "colour": COLOURS[i % len(COLOURS)]})
        x += width
    return render(request, "custody/parcel.html", {
        "parcel": parcel, "status_label": rules.PARCEL_STATUS_LABELS.get(parcel["status"], parcel["status"]),
        "origins": origins, "steps": steps, "onward": onward is not None,
        "may_transfer": parcel["status"] == "held" and actor.may("custody.record", parcel["participant"])})
