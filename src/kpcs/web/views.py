"""Pages for people. The full web interface for every role is roadmap step 4; this is its front door."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from kpcs import ratelimit
from kpcs.certificates import services as certificates
from kpcs.errors import DomainError


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html")


def verify(request: HttpRequest) -> HttpResponse:
    """Public verification of a certificate by its number and verification code (what the QR code will lead to)."""
    number = request.GET.get("number", "").strip()
    code = request.GET.get("code", "").strip()
    result: dict[str, Any] | None = None
    error = ""
    if number:
        try:
            ratelimit.check_public(request)
            result = certificates.public_verification(number, code)
        except ratelimit.RateLimited as exc:
            response = render(request, "web/verify.html", {"number": number, "code": code, "error": str(exc)},
                              status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except DomainError as exc:
            error = exc.message
    return render(request, "web/verify.html", {"number": number, "code": code, "result": result, "error": error})


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": {"code": "not_found", "message": "no such API route", "details": None}},
                            status=404)
    return render(request, "web/error.html", {"message": "Page not found."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": {"code": "internal_error", "message": "internal error", "details": None}},
                            status=500)
    return render(request, "web/error.html", {"message": "Internal error; the incident was logged."}, status=500)
