"""Pages of statistics officers and the Working Group on Statistics: a participant's trade and production with
charts, production submissions, reporting compliance, and the import of a file in the exchange format."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.errors import BadRequest, DomainError, PermissionDenied
from kpcs.registry import selectors
from kpcs.registry import services as registry
from kpcs.registry.services import Actor
from kpcs.statistics import charts, published, rules, services
from kpcs.statistics.forms import ImportForm, ProductionForm
from kpcs.statistics.selectors import customs_facts
from kpcs.web.access import page
from kpcs.web.pages import error_page, parse_participant, parse_year

# Which field of the production form a refusal of the service belongs to (by its code, its details, then its
# wording, which keeps the field's name in every language).
FIELD_OF_CODE = {"invalid_period": "period"}
FIELD_OF_PREFIX = ("industrial_carats", "artisanal_carats", "carats", "usd")


def participant_choices() -> list[tuple[str, str]]:
    return [(p["code"], p["name"]) for p in selectors.participants_with_status(clock.today())]


def _desk_participant(actor: Actor, requested: str | None) -> str | None:
    """Officers see their own participant; analysts choose. Asking for another participant is refused (403)."""
    scope = actor.participants_for("statistics.read")
    if requested is None:
        return None if scope is None else (sorted(scope)[0] if scope else None)
    registry.require(actor, "statistics.read", requested)
    return requested


def _by_partner(trade: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Trade rows rolled up by flow and partner (origins and HS codes added together)."""
    sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for r in trade["rows"]:
        s = sums[(r["flow"], r["partner"] or "—")]
        s[0] += r["carats"] or 0
        s[1] += r["usd"] or 0
        s[2] += r["certificates"] or 0
    out: dict[str, list[dict[str, Any]]] = {"export": [], "import": []}
    for (flow, partner), (c, v, n) in sorted(sums.items(), key=lambda kv: (kv[0][0], -kv[1][0])):
        out[flow].append({"partner": partner, "carats": c, "usd": v, "price": charts.price(v, c), "certificates": n})
    return out


def year_charts(rows: list[dict[str, Any]], ident: str, who: str) -> list[dict[str, Any]]:
    """Carats, US$ and US$/ct by year for production, exports and imports: each chart with its table."""
    years = [str(r["year"]) for r in rows]
    flows = (("production", _("Production")), ("export", _("Exports")), ("import", _("Imports")))
    out = []
    for key, title, unit, kind in (("carats", _("Carats by year"), _("carats"), "bar"),
                                   ("usd", _("Value (US$) by year"), _("US$"), "bar"),
                                   ("price", _("US$ per carat by year"), _("US$/ct"), "line")):
        series = [charts.Series(label, [r[flow][key] for r in rows]) for flow, label in flows]
        series = [s for s in series if any(v is not None for v in s.values)]
        description = _("%(what)s of %(who)s for production, exports and imports, %(first)s to %(last)s; the "
                        "figures are in the table that follows.") % {
            "what": title, "who": who, "first": years[0] if years else "", "last": years[-1] if years else ""}
        draw = charts.line_chart if kind == "line" else charts.bar_chart
        out.append({"title": title, "svg": draw(title, description, years, series, unit,
                                                ident=f"{ident}-{key}"),
                    "key": key, "series": series,
                    "rows": [(y, [s.values[i] for s in series]) for i, y in enumerate(years)]})
    return out


def desk_context(request: HttpRequest, actor: Actor, code: str | None, year: int | None,
                 form: ProductionForm | None = None) -> dict[str, Any]:
    scope = actor.participants_for("statistics.read")
    context: dict[str, Any] = {
        "code": code, "choices": (None if scope is None else sorted(scope)),
        "all_participants": participant_choices() if scope is None else (),
        "may_import": actor.may("statistics.import"), "year": year,
    }
    if code is None:
        return context
    name = registry.get_participant(code).name
    annual = published.annual(code)
    years = [r["year"] for r in annual]
    if year is None:
        year = max(years, default=clock.today().year)
    trade = services.trade_statistics(actor, rules.Period(year, "year", 1), code)
    history = services.production_history(actor, code)
    for h in history:
        h["price"] = charts.price(h["usd"], h["carats"])
    current = [h for h in history if h["current"]]
    periods = [h["period"] for h in current]
    production_chart = charts.bar_chart(
        _("Production by period (carats)"),
        _("Carats and value (US$) of each production period reported by %(who)s; the figures are in the table "
          "that follows.") % {"who": name},
        periods, [charts.Series(_("carats"), [h["carats"] for h in current])], _("carats"), ident="production")
    may_submit = actor.may("statistics.submit", code)
    context.update({
        "customs": _customs_beside_kp(code, year, trade),
        "name": name, "year": year, "years": sorted(set(years) | {year}, reverse=True), "trade": trade,
        "partners": _by_partner(trade),
        "totals": {flow: {**t, "price": charts.price(t["usd"], t["carats"])} for flow, t in trade["totals"].items()},
        "history": history, "current": current, "production_chart": production_chart,
        "year_charts": year_charts(annual[-10:], "desk", name), "annual": annual[-10:],
        "obligations": services.obligations(code, clock.today()),
        "may_submit": may_submit,
        "form": form if form is not None else (ProductionForm(initial={"participant": code}) if may_submit else None),
    })
    return context


def _customs_beside_kp(code: str, year: int, trade: dict[str, Any]) -> list[dict[str, Any]]:
    """Customs HS 7102 values of the year beside the KP figures (the customs cross-check, MON-09); empty when no
    customs figures were loaded for the participant and year."""
    facts = customs_facts(participant=code, year=year)
    out = []
    for flow in ("export", "import"):
        rows = [f for f in facts if f.flow == flow]
        if not rows:
            continue
        value = sum((f.usd for f in rows), Decimal(0))
        kp = trade["totals"][flow]["usd"]
        out.append({"flow": flow, "customs": value, "kp": kp, "reporters": sorted({f.iso2 for f in rows}),
                    "difference": (value - kp) / max(value, kp) * 100 if max(value, kp) else None,
                    "sources": sorted({f.source for f in rows})})
    return out


@page("statistics.read")
def desk(request: HttpRequest) -> HttpResponse:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    try:
        code = _desk_participant(actor, parse_participant(request.GET.get("participant")))
        year = parse_year(request.GET.get("year"))
        return render(request, "statistics/desk.html", desk_context(request, actor, code, year))
    except DomainError as exc:
        return error_page(request, exc)


def _field_of(exc: DomainError) -> str | None:
    if exc.code in FIELD_OF_CODE:
        return FIELD_OF_CODE[exc.code]
    if isinstance(exc.details, dict) and exc.details.get("field") in FIELD_OF_PREFIX:
        return str(exc.details["field"])
    for name in FIELD_OF_PREFIX:
        if exc.message.startswith(f"{name}:"):
            return name
    if exc.code == "invalid_quantity":
        return "carats"
    return None


@page("statistics.submit")
def submit_production(request: HttpRequest) -> HttpResponse:
    """POST: submit half-yearly production through the service; refusals are shown beside their field."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    if request.method != "POST":
        return HttpResponseRedirect(reverse("statistics_desk"))
    form = ProductionForm(request.POST)
    try:
        code = parse_participant(request.POST.get("participant"))
        if code is None:
            raise BadRequest(_("Choose a participant."))
        registry.require(actor, "statistics.submit", code)
    except DomainError as exc:
        return error_page(request, exc)
    status = 422
    if form.is_valid():
        d = form.cleaned_data
        try:
            fig = services.submit_production(actor, participant=code, period=d["period"].strip(),
                                             carats=d["carats"] or None, usd=d["usd"] or None,
                                             industrial_carats=d["industrial_carats"] or None,
                                             artisanal_carats=d["artisanal_carats"] or None)
        except PermissionDenied as exc:
            return error_page(request, exc)
        except DomainError as exc:
            form.add_error(_field_of(exc), exc.message)
            status = exc.status
        else:
            messages.success(request, _("Production for %(period)s recorded (revision %(revision)s).")
                             % {"period": fig.period, "revision": fig.revision})
            return HttpResponseRedirect(reverse("statistics_desk") + "?" + urlencode({"participant": code}))
    context = desk_context(request, actor, code, None, form)
    return render(request, "statistics/desk.html", context, status=status)


@page("statistics.import")
def import_file(request: HttpRequest) -> HttpResponse:
    """Upload a file in the exchange format: all or nothing; a bad row is named by row and column (422)."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    context: dict[str, Any] = {"columns": rules.COLUMNS}
    status = 200
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = services.import_csv(upload.read(), actor=actor, filename=upload.name[:300])
            except rules.RowError as exc:
                context["row_error"] = exc
                status = 422
            except DomainError as exc:
                if isinstance(exc, PermissionDenied):
                    return error_page(request, exc)
                form.add_error("file", exc.message)
                status = exc.status
            else:
                messages.success(request, _("%(rows)s rows imported from %(file)s (batch %(batch)s; %(revised)s "
                                            "earlier figures revised).") % {
                    "rows": result.rows, "file": upload.name, "batch": result.batch_id, "revised": result.revised})
                return HttpResponseRedirect(reverse("statistics_import"))
        else:
            status = 422
    else:
        form = ImportForm()
    context["form"] = form
    return render(request, "statistics/import.html", context, status=status)

