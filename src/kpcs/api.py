"""The HTTP API under /api/v1/: one NinjaAPI, one router per app, one error format.

Errors are always JSON {"error": {"code", "message", "details"}} with the right status, never a trace.
Every operation declares its permission in the OpenAPI document as `x-kpcs-permission`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth

from kpcs import ratelimit
from kpcs.errors import DomainError
from kpcs.registry import services as registry
from kpcs.registry.services import Actor

log = logging.getLogger("kpcs.api")
T = TypeVar("T")
PUBLIC = "public"


class BearerAuth(HttpBearer):
    """Authorization: Bearer <token> for machines."""

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        actor = registry.actor_for_token(token)
        if actor is None:  # a wrong token costs a lookup: counted against the caller's address, as public calls
            ratelimit.check_public(request)
        else:
            ratelimit.check_caller("t:" + hashlib.sha256(token.encode()).hexdigest())
        return actor


class SessionActorAuth(SessionAuth):
    """Session cookie + CSRF for people signed in to the web interface."""

    def _get_key(self, request: HttpRequest) -> str | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None  # no session at all: answer 401, not a CSRF failure
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        user = super().authenticate(request, key)
        if user is None or not user.is_active:  # deactivation ends sessions too; this holds if one survived
            return None
        ratelimit.check_caller(f"u:{user.pk}")
        return registry.actor_for_user(user, "session")


AUTH = [BearerAuth(), SessionActorAuth()]

api = NinjaAPI(
    title="kpcs API",
    version="1",
    description="Kimberley Process Certification Scheme: registry, signed certificates, verification, audit. "
                "Authenticate with `Authorization: Bearer <token>` (see `kpcs token create`).",
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def permission(name: str) -> dict[str, Any]:
    """openapi_extra for a route: the permission it enforces, shown in the OpenAPI document."""
    return {"x-kpcs-permission": name}


def actor_of(request: HttpRequest) -> Actor:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Actor) else registry.ANONYMOUS


class ErrorBody(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    error: ErrorBody


def error_response(request: HttpRequest, status: int, code: str, message: str, details: Any = None) -> HttpResponse:
    return api.create_response(request, {"error": {"code": code, "message": message, "details": details}},
                               status=status)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    details = [{"loc": [str(p) for p in e.get("loc", [])], "message": e.get("msg", "")} for e in exc.errors]
    loc: list[str] = details[0]["loc"] if details else []
    text = str(details[0]["message"]) if details else "invalid request"
    where = ".".join(p for p in loc if p not in ("body", "payload", "query", "path", "filters"))
    message = f"{where}: {text}" if where else text
    return error_response(request, 422, "invalid_request", message, details)


@api.exception_handler(ratelimit.RateLimited)
def _rate_limited(request: HttpRequest, exc: ratelimit.RateLimited) -> HttpResponse:
    return ratelimit.too_many(exc)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "unauthenticated",
                          "authentication required: send Authorization: Bearer <token> or sign in")


@api.exception_handler(AuthorizationError)
def _authz_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return error_response(request, 403, "forbidden", str(exc) or "forbidden")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    codes = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             409: "conflict", 422: "invalid_request", 429: "too_many_requests"}
    return error_response(request, exc.status_code, codes.get(exc.status_code, "error"), str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(request, 500, "internal_error", "internal error; the incident was logged")


class Page(Schema):
    count: int
    limit: int
    offset: int


def paginate(items: Iterable[T], count: int, limit: int, offset: int, convert: Callable[[T], Any]) -> dict[str, Any]:
    return {"count": count, "limit": limit, "offset": offset, "items": [convert(i) for i in items]}


def page_bounds(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, 500)), max(0, offset)


def _register_routers() -> None:
    from kpcs.audit.api import router as audit_router
    from kpcs.certificates.api import router as certificates_router
    from kpcs.certificates.api import verification_router
    from kpcs.monitoring.api import router as monitoring_router
    from kpcs.registry.api import router as registry_router
    from kpcs.statistics.api import router as statistics_router

    api.add_router("/", registry_router)
    api.add_router("/certificates", certificates_router)
    api.add_router("/verification", verification_router)
    api.add_router("/statistics", statistics_router)
    api.add_router("/findings", monitoring_router)
    api.add_router("/audit", audit_router)


_register_routers()
