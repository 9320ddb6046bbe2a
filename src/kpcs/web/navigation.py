"""The menu: each entry shows only to those whose roles allow its page, and only once its page exists."""

from __future__ import annotations

from typing import Any, NamedTuple

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from kpcs.registry import rules
from kpcs.web.access import PUBLIC, actor_of


class Entry(NamedTuple):
    label: str | Promise
    url_name: str
    permission: str


# In the order of the work: an authority's desk first, then statistics and monitoring, then public pages.
ENTRIES = (
    Entry(_("Issue"), "certificate_issue", "certificate.issue"),
    Entry(_("Certificates"), "certificate_list", "certificate.read"),
    Entry(_("Arrivals"), "certificate_arrivals", "certificate.confirm"),
    Entry(_("Operators"), "operator_list", "operator.read"),
    Entry(_("Statistics"), "statistics_desk", "statistics.read"),
    Entry(_("Findings"), "finding_list", "finding.read"),
    Entry(_("Reviews"), "review_list", "review.read"),
    Entry(_("Secretariat"), "admin:index", "people.manage"),
    Entry(_("Verify"), "verify", PUBLIC),
    Entry(_("Public statistics"), "public_statistics", PUBLIC),
    Entry(_("Participants"), "participants", PUBLIC),
    Entry(_("Review reports"), "review_published", PUBLIC),
    Entry(_("Decisions"), "governance_decisions", PUBLIC),
    Entry(_("Applications"), "governance_applications", "decision.read"),
    Entry(_("Working groups"), "governance_working_groups", PUBLIC),
    Entry(_("Meetings"), "governance_meetings", PUBLIC),
)

ROLE_LABELS = {
    "exporting_officer": _("exporting officer"),
    "importing_officer": _("importing officer"),
    "statistics_officer": _("statistics officer"),
    "kp_analyst": _("KP analyst"),
    "wgs_analyst": _("Working Group on Statistics"),
    "admin": _("secretariat"),
    "kp_chair": _("KP Chair"),
    "delegate": _("delegate"),
    "observer": _("observer"),
}
assert set(ROLE_LABELS) == set(rules.ROLES)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the menu for this person and a line saying who they are acting as."""
    actor = actor_of(request)
    items = []
    for entry in ENTRIES:
        if entry.permission != PUBLIC and not actor.may(entry.permission):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:  # that page has not landed yet
            continue
        items.append({"label": entry.label, "url": url, "current": False})
    # The page is under the entry with the longest matching address (/certificates/new is Issue, not Certificates).
    under = [item for item in items if item["url"] != "/" and request.path.startswith(str(item["url"]))]
    if under:
        max(under, key=lambda item: len(str(item["url"])))["current"] = True
    # One line per participant and authority, its roles together: "BW · BW-KPA: exporting officer, …".
    grouped: dict[tuple[str, str], list[str]] = {}
    for g in actor.grants:
        grouped.setdefault((g.participant or "", g.authority or ""), []).append(str(ROLE_LABELS.get(g.role, g.role)))
    acting = [{"participant": p, "authority": a, "roles": ", ".join(roles)} for (p, a), roles in grouped.items()]
    return {"nav": items, "acting_as": acting}
