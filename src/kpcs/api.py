"""The HTTP API under /api/v1/: one NinjaAPI, one router per app, one error format.

Errors are always JSON {"error": {"code", "message", "details"}} with the right status, never a trace.
Every operation declares its permission in the OpenAPI document as `x-kpcs-permission`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from kpcs import ratelimit
from kpcs.errors import DomainError
from kpcs.middleware import body_limit_message
from kpcs.registry import rules as registry_rules
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


# A request line over 8190 bytes (gunicorn's --limit-request-line under `kpcs serve`) is refused by the HTTP
# server before the application sees it, with its own HTML page: declared on every operation, as it is.
URI_TOO_LONG = {"414": {"description": "URI Too Long: the request line exceeds 8190 bytes (answered by the HTTP "
                                       "server, not in the JSON error format)",
                        "content": {"text/html": {"schema": {"type": "string"}}}}}


def permission(name: str) -> dict[str, Any]:
    """openapi_extra for a route: the permission it enforces, shown in the OpenAPI document (and the 414 every
    operation can meet)."""
    return {"x-kpcs-permission": name, "responses": URI_TOO_LONG}


def actor_of(request: HttpRequest) -> Actor:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Actor) else registry.ANONYMOUS


class ErrorBody(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    error: ErrorBody


# Statuses any operation may answer besides its own: a body over the limit (413), input the schema refuses (422),
# a caller over its rate (429, with Retry-After).
ALWAYS = (413, 422, 429)


def errors(*statuses: int) -> dict[int, Any]:
    """The `response=` entries for an operation's error statuses, each in the one error format."""
    return {status: ErrorOut for status in sorted({*statuses, *ALWAYS})}


# What most operations can answer; an app narrows it with errors(...) where some never apply.
ERRORS = errors(400, 401, 403, 404, 409)


def error_response(request: HttpRequest, status: int, code: str, message: str, details: Any = None) -> HttpResponse:
    return api.create_response(request, {"error": {"code": code, "message": message, "details": details}},
                               status=status)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


def _where(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "payload", "query", "path", "filters"))


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    details = [{"loc": [str(p) for p in e.get("loc", [])], "message": e.get("msg", "")} for e in exc.errors]
    loc: list[str] = details[0]["loc"] if details else []
    text = str(details[0]["message"]) if details else "invalid request"
    where = _where(loc)
    message = f"{where}: {text}" if where else text
    first = exc.errors[0] if exc.errors else {}
    if first.get("type") == REFUSAL:
        # A constraint the schema declares on behalf of a scheme rule answers as the service would (refused()).
        ctx = first.get("ctx") or {}
        refusal: dict[str, Any] = {"field": where, "items": details}
        if ctx.get("kpcs_rule"):
            refusal = {"rule": ctx["kpcs_rule"], **refusal}
        return error_response(request, 422, str(ctx.get("kpcs_code") or "invalid_request"), message, refusal)
    return error_response(request, 422, "invalid_request", message, details)


@api.exception_handler(ratelimit.RateLimited)
def _rate_limited(request: HttpRequest, exc: ratelimit.RateLimited) -> HttpResponse:
    return ratelimit.too_many(exc)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(request, 413, "body_too_large", body_limit_message())


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    """Too many query fields and the like: the request's own fault, never a 500."""
    return error_response(request, 400, "bad_request", str(exc) or "bad request")


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
             409: "conflict", 413: "body_too_large", 422: "invalid_request", 429: "too_many_requests"}
    return error_response(request, exc.status_code, codes.get(exc.status_code, "error"), str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(request, 500, "internal_error", "internal error; the incident was logged")


# --- input types ---------------------------------------------------------------------------------
# What the services enforce on a value alone is declared here, in the OpenAPI document, so that a client (or a
# fuzzer) reads the same contract the server applies. Patterns use [0-9] and [A-Za-z], never \d or \w: those
# are Unicode-wide in Python and pydantic but ASCII in JSON Schema (ECMA 262).

REFUSAL = "kpcs_refusal"
# Errors about a value's shape (a number where a string belongs) stay generic; only a broken constraint is
# answered with the rule it enforces.
_CONSTRAINT_ERRORS = frozenset({"string_pattern_mismatch", "string_too_short", "string_too_long", "greater_than",
                                "greater_than_equal", "less_than", "less_than_equal", "literal_error", "enum",
                                "too_short", "too_long", "date_range"})


def refused(code: str, rule: str | None = None, message: str | None = None) -> WrapValidator:
    """Annotate a constrained input so that breaking its constraint answers with the service's own code and
    scheme rule (details.rule), as it did before the schema declared the constraint; refusals explain themselves.
    """

    def wrap(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except PydanticValidationError as exc:
            errors = exc.errors()
            if not errors or any(e["type"] not in _CONSTRAINT_ERRORS for e in errors):
                raise
            raise PydanticCustomError(REFUSAL, message or errors[0]["msg"],
                                      {"kpcs_code": code, "kpcs_rule": rule}) from None

    return WrapValidator(wrap)


class BodyIn(BaseModel):
    """Base of request bodies: JSON types are taken as sent ("3" is not a number, "yes" is not true), and an
    object is an object. A plain pydantic model, not ninja's Schema: Schema reads attributes of whatever it is
    given, so a list or a number would pass as an empty body."""

    model_config = ConfigDict(strict=True)


def _whole(value: Any) -> Any:
    """JSON Schema counts 3.0 as an integer; strict validation would not. Strings and booleans stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Marks an integer of a request body, after its constraints: 3 or 3.0, never "3" or true (BodyIn is strict).
# Annotated[int, Field(ge=1), WHOLE]: placed before the Field, it would hide the bounds from the JSON schema.
WHOLE = BeforeValidator(_whole)

# Paging, the same on every list: out of range is 422, never clamped, never a database overflow.
MAX_LIMIT = 500
MAX_OFFSET = 10**9
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"items per page, 1 to {MAX_LIMIT}")]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description=f"items to skip, 0 to {MAX_OFFSET:,}")]

# Dates a request may carry: ISO 8601 days in 1990-01-01 .. 2100-12-31. Wider dates mean nothing to the scheme
# (2003 onwards) and overflow date arithmetic at the edges of the calendar (year 1 and 9999).
FIRST_DAY, LAST_DAY = dt.date(1990, 1, 1), dt.date(2100, 12, 31)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAY_PATTERN = r"^(199[0-9]|20[0-9][0-9]|2100)-[0-9]{2}-[0-9]{2}$"


def _iso_day(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date_format", "a date is written YYYY-MM-DD (ISO 8601), e.g. 2026-01-31")


def _in_range(day: dt.date) -> dt.date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PydanticCustomError("date_range", f"dates run from {FIRST_DAY} to {LAST_DAY}")
    return day


Day = Annotated[dt.date, BeforeValidator(_iso_day), AfterValidator(_in_range),
                WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN,
                                "description": f"a day from {FIRST_DAY} to {LAST_DAY}"})]

# ISO 3166-1 alpha-2 (or EU), either case; whether it names a participant is the registry's answer (404/422).
CODE_PATTERN = r"^[A-Za-z]{2}$"
ParticipantCode = Annotated[str, Field(pattern=CODE_PATTERN, description="participant code: ISO 3166-1 alpha-2 "
                                                                          "or EU")]
# DEF-05: rough diamonds only, in the forms registry.rules.normalise_hs reads (7102.31, 710231, 7102 31 00…).
HsCode = Annotated[str, Field(pattern=registry_rules.HS_PATTERN,
                              description="HS " + ", ".join(registry_rules.HS_IN_SCOPE[:-1]) + " or "
                              + registry_rules.HS_IN_SCOPE[-1]),
                   refused("hs_out_of_scope", "DEF-05")]
# Reporting periods as statistics/rules.parse_period reads them: YYYY, YYYY-H1/H2, YYYY-Q1..Q4, years 1990-2100.
PERIOD_PATTERN = r"^(199[0-9]|20[0-9][0-9]|2100)(-(H[12]|Q[1-4]))?$"
Period = Annotated[str, Field(pattern=PERIOD_PATTERN, description="YYYY, YYYY-H1/H2 or YYYY-Q1..Q4"),
                   refused("invalid_period")]
# Quantities travel as strings, never floats (BRIEF §4): a non-negative decimal with at most two places.
DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
DECIMAL_MAX_LENGTH = 20
# Free text a person writes (reasons, notes, questions): not blank, and bounded.
TEXT_MAX_LENGTH = 2000
NOT_BLANK = r"\S"
# Database ids.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


# An app names the refusal: Annotated[DecimalText, refused("invalid_quantity", "CERT-02")].
DecimalText = Annotated[str, Field(pattern=DECIMAL_PATTERN, max_length=DECIMAL_MAX_LENGTH,
                                   description='a non-negative decimal with at most 2 places, as a string: "12.50"')]


class Page(Schema):
    count: int
    limit: int
    offset: int


def paginate(items: Iterable[T], count: int, limit: int, offset: int, convert: Callable[[T], Any]) -> dict[str, Any]:
    return {"count": count, "limit": limit, "offset": offset, "items": [convert(i) for i in items]}


def page_bounds(limit: int, offset: int) -> tuple[int, int]:
    """The page a list serves. The schema already bounds both (Limit, Offset); this guards direct callers."""
    return max(1, min(limit, MAX_LIMIT)), max(0, min(offset, MAX_OFFSET))


def _register_routers() -> None:
    from kpcs.audit.api import router as audit_router
    from kpcs.certificates.api import router as certificates_router
    from kpcs.certificates.api import verification_router
    from kpcs.custody.api import router as custody_router
    from kpcs.governance.api import router as governance_router
    from kpcs.monitoring.api import review_router
    from kpcs.monitoring.api import router as monitoring_router
    from kpcs.registry.api import router as registry_router
    from kpcs.statistics.api import router as statistics_router

    api.add_router("/", registry_router)
    api.add_router("/certificates", certificates_router)
    api.add_router("/verification", verification_router)
    api.add_router("/statistics", statistics_router)
    api.add_router("/findings", monitoring_router)
    api.add_router("/reviews", review_router)
    api.add_router("/audit", audit_router)
    api.add_router("/", governance_router)
    api.add_router("/", custody_router)


_register_routers()
