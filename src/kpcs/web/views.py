"""Pages for people. The full web interface for every role is roadmap step 4; this is its front door."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from kpcs import ratelimit
from kpcs.certificates import services as certificates
from kpcs.errors import DomainError
from kpcs.registry import services as registry
from kpcs.web.access import PUBLIC, page

MAX_PRESENTED = 100_000  # as POST /api/v1/verification: the longest signed certificate a scanner may hand us


@page(PUBLIC)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html")


@page(PUBLIC)
def verify(request: HttpRequest) -> HttpResponse:
    """Public verification of a certificate: by its number and verification code, or by what its QR code holds
    (`?qr=KP1:…`, or a whole JWS) as a scanner reads it. Genuine? usable? why not? Never commercial details."""
    number = request.GET.get("number", "").strip()
    code = request.GET.get("code", "").strip()
    qr = request.GET.get("qr", "").strip()
    context: dict[str, Any] = {"number": number, "code": code, "qr": qr, "result": None, "error": ""}
    if number or qr:
        try:
            ratelimit.check_public(request)
            if qr:
                if len(qr) > MAX_PRESENTED:
                    raise DomainError(_("This is longer than any certificate's QR content."))
                context["result"] = certificates.verify_presented(qr)
            else:
                context["result"] = certificates.public_verification(number, code)
        except ratelimit.RateLimited as exc:
            error = _("too many requests: try again in %(seconds)s s") % {"seconds": exc.retry_after}
            response = render(request, "web/verify.html", {**context, "error": error}, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except DomainError as exc:
            context["error"] = exc.message
            return render(request, "web/verify.html", context, status=exc.status)
    return render(request, "web/verify.html", context)


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The person opens their one-time link and sets their own password, through the audited service.

    Django's view checks the link and moves its token out of the URL (no Referer leak); the service checks it
    again under a lock, refuses a deactivated account and records `user.password_changed`.
    """

    template_name = "web/password_reset.html"
    success_url = "/password-reset/done/"

    def get_user(self, uidb64: str) -> Any:
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        token = self.request.session.get(auth_views.INTERNAL_RESET_SESSION_TOKEN, "")
        try:
            if self.user is None:
                raise DomainError(_("this link is invalid"))
            registry.reset_password(self.user.pk, token, form.cleaned_data["new_password1"])
        except DomainError as exc:
            form.add_error(None, exc.message)
            return self.form_invalid(form)
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        return HttpResponseRedirect(self.get_success_url())


@page(PUBLIC)
def password_reset_done(request: HttpRequest) -> HttpResponse:
    return render(request, "web/password_reset_done.html")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": {"code": "not_found", "message": "no such API route", "details": None}},
                            status=404)
    return render(request, "web/error.html", {"title": _("Page not found"),
                                               "message": _("There is no page at this address.")}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": {"code": "internal_error", "message": "internal error", "details": None}},
                            status=500)
    return render(request, "web/error.html", {"title": _("Internal error"),
                                               "message": _("Something went wrong; the incident was logged.")},
                  status=500)
