"""What every app's pages share: a refusal of a service as a page, and the participant and year filters read
from a query string. Here rather than in one app's views, so that no app's pages import another's (statistics,
monitoring and governance all use them; docs/decisions.md, "Boundaries between apps (issue 10 item 7)")."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from kpcs.errors import BadRequest, DomainError, NotFound, PermissionDenied
from kpcs.registry import services as registry


def error_page(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A refusal of a service as a page with its status: never a stack trace."""
    titles = {400: _("Not understood"), 403: _("Not allowed"), 404: _("Not found"), 409: _("Not possible now")}
    message = _("Your role does not allow this for that participant.") if isinstance(exc, PermissionDenied) \
        else exc.message
    return render(request, "web/error.html", {"title": titles.get(exc.status, _("Refused")), "message": message},
                  status=exc.status)


def parse_year(text: str | None) -> int | None:
    """A year from a filter: empty is None; anything but 1990–2100 is refused with a clear message (400)."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1990 <= int(text) <= 2100:
        raise BadRequest(_("%(year)s is not a year between 1990 and 2100.") % {"year": text[:12]},
                         code="invalid_year")
    return int(text)


def parse_participant(text: str | None) -> str | None:
    """A participant code from a filter: empty is None; an unknown code is refused (404) by the registry."""
    code = (text or "").strip().upper()
    if not code:
        return None
    if len(code) != 2 or not code.isalpha():
        raise BadRequest(_("%(code)s is not a participant code (two letters, such as BW or EU).")
                         % {"code": code[:12]}, code="invalid_participant")
    try:
        registry.get_participant(code)
    except NotFound:
        raise NotFound(_("%(code)s is not a participant of the Kimberley Process.") % {"code": code}) from None
    return code
