"""Public pages, no sign-in: the scheme's published statistics (annual totals per participant, with charts and
a CSV download) and the participants with their status and the list of those that have not reported (STAT-10).

Both read many rows, so both are rate-limited per client address like every public API route."""

from __future__ import annotations

import csv
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.errors import DomainError
from kpcs.registry import selectors
from kpcs.statistics import charts, published, services
from kpcs.statistics.views import year_charts
from kpcs.web.access import PUBLIC, page, rate_limited
from kpcs.web.pages import error_page, parse_participant, parse_year

TOP = 8  # participants drawn in the chart of a year (all of them are in the table)



def _default_year(years: list[int]) -> int:
    """The last complete year with figures (this year's are still coming in)."""
    done = [y for y in years if y < clock.today().year]
    return max(done or years or [clock.today().year - 1])


@page(PUBLIC)
def public_statistics(request: HttpRequest) -> HttpResponse:
    limited = rate_limited(request)
    if limited:
        return limited
    if request.GET.get("format") == "csv":
        return _csv(request)
    names = {p["code"]: p["name"] for p in selectors.participants_with_status(clock.today())}
    years = published.years()
    try:
        code = parse_participant(request.GET.get("participant"))
        year = parse_year(request.GET.get("year"))
    except DomainError as exc:
        return error_page(request, exc)
    if code is None and year is None:
        year = _default_year(years)
    rows = published.annual(code, year)
    for r in rows:
        r["name"] = names.get(r["participant"], r["participant"])
    context: dict[str, Any] = {"code": code, "year": year, "years": years, "rows": rows,
                               "participants": sorted(names.items()), "name": names.get(code or "", ""),
                               "csv_query": "&".join(f"{k}={v}" for k, v in (("participant", code), ("year", year))
                                                     if v)}
    if code is not None and year is None:
        context["charts"] = year_charts(rows[-15:], "public", f"{code} {names.get(code, '')}")
    else:
        ranked = sorted(rows, key=lambda r: -(r["production"]["carats"] or 0))[:TOP]
        ranked = [r for r in ranked if r["production"]["carats"]] or rows[:TOP]
        codes = [r["participant"] for r in ranked]
        context["year_chart"] = charts.bar_chart(
            _("Production and exports by participant, %(year)s (carats)") % {"year": year},
            _("Carats produced and exported in %(year)s by the %(n)s largest producers; every participant's "
              "figures are in the table that follows.") % {"year": year, "n": len(codes)},
            codes, [charts.Series(_("Production"), [r["production"]["carats"] for r in ranked]),
                    charts.Series(_("Exports"), [r["export"]["carats"] for r in ranked])],
            _("carats"), ident="year")
    return render(request, "statistics/public.html", context)


@page(PUBLIC)
def public_statistics_csv(request: HttpRequest) -> HttpResponse:
    """The same annual totals as CSV (UTF-8, a header row): by participant and year, nothing finer."""
    return rate_limited(request) or _csv(request)


def _csv(request: HttpRequest) -> HttpResponse:
    try:
        code = parse_participant(request.GET.get("participant"))
        year = parse_year(request.GET.get("year"))
    except DomainError as exc:
        return HttpResponse(f"{exc.message}\n", status=exc.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = "-".join(["kp-statistics", *([code] if code else []), *([str(year)] if year else [])])
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response, lineterminator="\n")
    writer.writerow(published.CSV_COLUMNS)
    writer.writerows(published.csv_rows(published.annual(code, year)))
    return response


STATUS_BADGE = {"active": "ok", "restricted": "warn", "embargoed": "warn", "applicant": "",
                "self_suspended": "bad", "suspended": "bad", "removed": "bad"}


@page(PUBLIC)
def participants(request: HttpRequest) -> HttpResponse:
    """Every participant with its status today and since when, then those that have not reported (STAT-10)."""
    limited = rate_limited(request)
    if limited:
        return limited
    today = clock.today()
    rows = selectors.participants_with_status(today)
    for r in rows:
        r["badge"] = STATUS_BADGE.get(r["status"], "")
    names = {r["code"]: r["name"] for r in rows}
    missing = [{"participant": m["participant"], "name": names.get(m["participant"], m["participant"]),
                "gaps": [tuple(item.split(" ", 1)) for item in m["missing"]]} for m in services.non_reporting(today)]
    return render(request, "statistics/participants.html", {"rows": rows, "missing": missing, "today": today})
