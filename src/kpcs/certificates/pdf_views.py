"""GET /certificates/{number}.pdf: the printable certificate, for exactly those who may read it over the API.

A person signed in to the web interface (session) or a machine with `Authorization: Bearer <token>`, with the
same permission (`certificate.read`), participant scoping and rate limits as the API. Another participant's
certificate is 404, as over the API; signed out is a redirect to the sign-in page (401 for a bearer client).
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from kpcs import ratelimit
from kpcs.certificates import services
from kpcs.errors import DomainError
from kpcs.registry import services as registry
from kpcs.registry.services import Actor
from kpcs.web.access import checks_itself


def _bearer(request: HttpRequest) -> str | None:
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": None}}, status=status)


def _actor(request: HttpRequest, token: str | None) -> Actor | None:
    """As kpcs.api's BearerAuth and SessionActorAuth decide, with their rate-limit calls."""
    if token is not None:
        actor = registry.actor_for_token(token)
        if actor is None:  # a wrong token costs a lookup: counted against the caller's address
            ratelimit.check_public(request)
        else:
            ratelimit.check_caller("t:" + hashlib.sha256(token.encode()).hexdigest())
        return actor
    user = request.user
    if not user.is_authenticated or not user.is_active:
        return None
    ratelimit.check_caller(f"u:{user.pk}")
    return registry.actor_for_user(user, "session")


@checks_itself("certificate.read")  # services.certificate_pdf checks it, for a session or a bearer token
@require_safe
def certificate_pdf(request: HttpRequest, number: str) -> HttpResponse:
    token = _bearer(request)
    try:
        actor = _actor(request, token)
        if actor is None:
            if token is not None or request.headers.get("Authorization"):
                return _error(401, "unauthenticated", "authentication required: send Authorization: Bearer <token> "
                                                      "or sign in")
            return redirect_to_login(request.get_full_path())
        filename, content = services.certificate_pdf(actor, number)
    except ratelimit.RateLimited as exc:
        return ratelimit.too_many(exc)
    except DomainError as exc:  # 404 for a certificate the caller may not see, 403 for a role that reads none
        if token is None and exc.status == 404:
            raise Http404(exc.message) from None  # a person gets the site's page; a machine the API's JSON
        if token is None and exc.status == 403:
            raise PermissionDenied(exc.message) from None
        return JsonResponse(exc.as_dict(), status=exc.status)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"  # commercial details: kept by no shared cache
    return response
