"""Who may open a page: every view declares its permission, as every API route does (`x-kpcs-permission`).

Pages act as the signed-in person through the same services and permissions as the API; a page never reads
another app's tables. `@page("certificate.issue")` signs the person in (or sends them to the sign-in page),
refuses with a 403 page what their roles do not allow, and puts the actor on `request.actor`.
`@page(PUBLIC)` marks a page anyone may open, so that forgetting a permission is visible in review and in
`tests/web/test_access.py`, which checks that every page route carries one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _

from kpcs import ratelimit
from kpcs.registry import services as registry

PUBLIC = "public"
View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def actor_of(request: HttpRequest) -> registry.Actor:
    """The actor behind a browser request: the signed-in, active person, or the anonymous caller."""
    cached = getattr(request, "_kpcs_actor", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    user = getattr(request, "user", None)
    actor = (registry.actor_for_user(user, "web") if user is not None and user.is_authenticated and user.is_active
             else registry.ANONYMOUS)
    request._kpcs_actor = actor  # type: ignore[attr-defined]
    return actor


def rate_limited(request: HttpRequest) -> HttpResponse | None:
    """For public pages that read many rows: None while the client address is within its share, else the 429
    page with Retry-After (kpcs.ratelimit, as every public API route)."""
    try:
        ratelimit.check_public(request)
    except ratelimit.RateLimited as exc:
        response = render(request, "web/error.html", {"title": _("Too many requests"),
                                                       "message": _("Too many requests from your address: try again "
                                                                    "in %(s)s seconds.") % {"s": exc.retry_after}},
                          status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    return None


def forbidden(request: HttpRequest, message: str | None = None) -> HttpResponse:
    return render(request, "web/error.html", {"title": _("Not allowed"),
                                               "message": message or _("Your role does not allow this page.")},
                  status=403)


def page(permission: str) -> Callable[[View], View]:
    """Declare a view's permission (a key of `registry.rules.PERMISSIONS`, or PUBLIC)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            actor = actor_of(request)
            request.actor = actor  # type: ignore[attr-defined]
            if permission != PUBLIC:
                if actor is registry.ANONYMOUS:
                    return HttpResponseRedirect(f"{settings.LOGIN_URL}?next={quote(request.get_full_path())}")
                if not actor.may(permission):
                    return forbidden(request)
            return view(request, *args, **kwargs)

        wrapper.kpcs_permission = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def checks_itself(permission: str) -> Callable[[View], View]:
    """Declare the permission of a view that enforces it through a service itself, because it also serves
    machines by bearer token (e.g. the certificate PDF): no redirect to the sign-in page is added here."""

    def declare(view: View) -> View:
        view.kpcs_permission = permission  # type: ignore[attr-defined]
        return view

    return declare
