"""Middleware in front of the API: oversized bodies and bare framework errors answer in the one JSON format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

API_PREFIX = "/api/"


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": None}}, status=status)


def body_limit_message() -> str:
    return f"the request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"


def _too_large() -> JsonResponse:
    return _error(413, "body_too_large", body_limit_message())


class ApiGuardMiddleware:
    """First in the chain for /api/: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before anything
    reads it (by Content-Length), or when Django finds it too big while reading one sent without a length.
    A 405 from routing (HTML, no body) is given the JSON error body, keeping its Allow header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            declared = int(length)
        except ValueError:
            return _error(400, "bad_request", f"Content-Length {length!r} is not a number")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and declared > limit:
            return _too_large()
        try:
            response = self.get_response(request)
        except RequestDataTooBig:
            return _too_large()
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            allowed = response.get("Allow", "")
            response = _error(405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}")
            response["Allow"] = allowed
        return response



class PageMessageMiddleware(MessageMiddleware):
    """Django's flash messages, for pages only: the API never shows them, and skipping their storage for /api/
    is a measurable share of the cheapest requests (public verification, bench/bench_public_verify.py)."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if request.path.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)
