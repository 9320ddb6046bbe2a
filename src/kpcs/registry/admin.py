"""The secretariat's desk at /admin/: people and their tokens, and the registry, read-only.

Who may enter is the `admin` role (the holder of `people.manage`), never Django's is_staff or is_superuser.
Nothing here writes a table: the actions call the same services as the `kpcs` command, so every change is
checked, attributed to the person who made it and audited. Certificates, statistics and findings are not
registered, so no commercial detail is reachable from here; nor is any password, hash or token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import PasswordChangeView, redirect_to_login
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from kpcs import clock
from kpcs.errors import DomainError
from kpcs.registry import rules, services
from kpcs.registry.models import (
    ApiToken,
    Authority,
    Observer,
    Operator,
    Participant,
    ParticipantPolicy,
    ParticipantStatus,
)
from kpcs.registry.services import Actor

User = get_user_model()
SITE_PERMISSION = "people.manage"  # the secretariat: switches accounts off and on, ends tokens, sends reset links


def actor_of(request: HttpRequest) -> Actor:
    """The person behind the request, with their roles; anonymous when signed out or deactivated."""
    cached = getattr(request, "_kpcs_actor", None)
    if cached is None:
        user = request.user
        signed_in = user.is_authenticated and user.is_active
        cached = services.actor_for_user(user, "admin site") if signed_in else services.ANONYMOUS  # type: ignore[arg-type]
        request._kpcs_actor = cached  # type: ignore[attr-defined]
    return cached


class _OwnPasswordChange(PasswordChangeView):
    """A person changes their own password (knowing the current one) through the audited service."""

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        try:
            user = services.change_own_password(int(str(self.request.user.pk)), form.cleaned_data["old_password"],
                                                form.cleaned_data["new_password1"])
        except DomainError as exc:
            form.add_error(None, exc.message)
            return self.form_invalid(form)
        update_session_auth_hash(self.request, user)
        return HttpResponseRedirect(self.get_success_url())


class KpcsAdminSite(admin.AdminSite):
    site_header = _("Kimberley Process secretariat")
    site_title = _("kpcs secretariat")
    index_title = _("People, API tokens and the registry")
    site_url = "/"

    def has_permission(self, request: HttpRequest) -> bool:
        return actor_of(request).may(SITE_PERMISSION)

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Sign-in is the node's one sign-in page (rate-limited); a person without the role is refused here."""
        if self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        if request.user.is_authenticated:
            return render(request, "web/error.html", {"message": _(
                "Your account does not hold the admin role: the secretariat's site is closed to it.")}, status=403)
        return redirect_to_login(request.GET.get("next") or reverse("admin:index", current_app=self.name),
                                 settings.LOGIN_URL)

    def password_change(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        from django.contrib.admin.forms import AdminPasswordChangeForm

        request.current_app = self.name  # type: ignore[attr-defined]
        return _OwnPasswordChange.as_view(
            form_class=AdminPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})})(request)

    def get_urls(self) -> list[Any]:
        # No "view on site" redirect for arbitrary objects and no autocomplete: nothing here needs them, and
        # both take any content type as a parameter.
        return [u for u in super().get_urls() if getattr(u, "name", None) not in ("view_on_site", "autocomplete")]


site = KpcsAdminSite(name="admin")
site.disable_action("delete_selected")


# --- read-only base ----------------------------------------------------------------------------------

class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Seen here, never written: changes go through the services (this site's actions, or `kpcs`)."""

    view_permission = SITE_PERMISSION

    def has_module_permission(self, request: HttpRequest) -> bool:
        return site.has_permission(request) and actor_of(request).may(self.view_permission)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """For the actions; each service checks again."""
        return site.has_permission(request) and actor_of(request).may("people.manage")

    def run_each(self, request: HttpRequest, objects: QuerySet[Any], act: Callable[[Any, Actor], Any],
                 done: object) -> None:
        """Apply a service to each selected object; report what was done and every refusal."""
        actor = actor_of(request)
        succeeded = []
        for obj in objects:
            try:
                act(obj, actor)
            except DomainError as exc:
                self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            else:
                succeeded.append(str(obj))
        if succeeded:
            self.message_user(request, f"{done}: {', '.join(succeeded)}", messages.SUCCESS)


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return site.has_permission(request)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def _base_url(request: HttpRequest) -> str:
    return settings.KPCS_BASE_URL or request.build_absolute_uri("/").rstrip("/")


# --- people and tokens -------------------------------------------------------------------------------

@admin.register(User, site=site)
class PersonAdmin(ReadOnlyAdmin):
    """People: who may sign in and with which roles. Roles are granted by the node operator (`kpcs user create`)."""

    list_display = ("username", "is_active", "roles", "last_login", "date_joined")
    list_filter = ("is_active", "memberships__role")
    search_fields = ("username", "email")
    ordering = ("username",)
    fields = ("username", "email", "is_active", "roles", "tokens", "last_login", "date_joined", "is_staff",
              "is_superuser")
    readonly_fields = fields
    actions = ("deactivate", "reactivate", "send_reset_link")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("memberships", "api_tokens")

    @admin.display(description=_("roles"))
    def roles(self, user: Any) -> str:
        return ", ".join(sorted(
            m.role + (f" {m.participant_id} ({m.authority_id})" if m.participant_id else "")
            for m in user.memberships.all())) or "-"

    @admin.display(description=_("API tokens"))
    def tokens(self, user: Any) -> str:
        now = clock.now()
        rows = sorted(user.api_tokens.all(), key=lambda t: t.created_at, reverse=True)
        return format_html_join(
            "\n", "<div>{}… {} · {} · expires {}</div>",
            ((t.prefix, t.name or "-", rules.token_status(t.expires_at, t.revoked_at, now),
              t.expires_at.strftime("%Y-%m-%d")) for t in rows)) or "-"

    @admin.action(description=_("Deactivate: end their sessions and revoke their API tokens"),
                  permissions=["manage"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self.run_each(request, queryset, lambda u, actor: services.deactivate_user(
            u.get_username(), reason="from the admin site", actor=actor), _("Deactivated"))

    @admin.action(description=_("Reactivate (their old API tokens stay revoked)"), permissions=["manage"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self.run_each(request, queryset, lambda u, actor: services.reactivate_user(
            u.get_username(), reason="from the admin site", actor=actor), _("Reactivated"))

    @admin.action(description=_("E-mail them a one-time link to set their password"), permissions=["manage"])
    def send_reset_link(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        base = _base_url(request)
        self.run_each(request, queryset, lambda u, actor: services.send_password_reset(
            u.get_username(), base_url=base, actor=actor), _("Reset link sent by e-mail to"))


class TokenStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("active", _("active")), ("expired", _("expired")), ("revoked", _("revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = clock.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken, site=site)
class TokenAdmin(ReadOnlyAdmin):
    """API tokens: listed and revoked here, made only by their holder or the node operator (`kpcs token create`)."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "expires_at", "status")
    list_filter = (TokenStatusFilter,)
    list_select_related = ("user",)
    search_fields = ("prefix", "name", "user__username")
    ordering = ("-created_at",)
    fields = ("prefix", "name", "user", "created_at", "last_used_at", "expires_at", "revoked_at", "status")
    readonly_fields = fields
    actions = ("revoke",)

    @admin.display(description=_("status"))
    def status(self, token: ApiToken) -> str:
        return rules.token_status(token.expires_at, token.revoked_at, clock.now())

    @admin.action(description=_("Revoke: every call with the token gets 401"), permissions=["manage"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self.run_each(request, queryset, lambda t, actor: services.revoke_token_id(
            t.pk, reason="from the admin site", actor=actor), _("Revoked"))


# --- the registry, read-only -------------------------------------------------------------------------

class StatusInline(ReadOnlyInline):
    model = ParticipantStatus
    fields = ("status", "scope", "valid_from", "valid_to", "cause")


class PolicyInline(ReadOnlyInline):
    model = ParticipantPolicy
    fields = ("valid_from", "validity_days", "confirmation_days", "decision_id", "recorded_at")


@admin.register(Participant, site=site)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "kind", "status_today", "validity_today", "confirmation_today")
    list_filter = ("kind",)
    search_fields = ("code", "name")
    inlines = (StatusInline, PolicyInline)

    @admin.display(description=_("status today"))
    def status_today(self, p: Participant) -> str:
        return services.status_on(p.code, clock.today()).status

    @admin.display(description=_("certificate validity (days)"))
    def validity_today(self, p: Participant) -> int:
        return services.participant_policy(p.code, clock.today()).validity_days

    @admin.display(description=_("import confirmation deadline (days)"))
    def confirmation_today(self, p: Participant) -> int:
        return services.participant_policy(p.code, clock.today()).confirmation_days


@admin.register(Authority, site=site)
class AuthorityAdmin(ReadOnlyAdmin):
    list_display = ("id", "participant", "name", "city", "member_state", "roles")
    list_filter = ("member_state",)
    list_select_related = ("participant",)
    search_fields = ("id", "name", "city", "participant__code", "participant__name")


@admin.register(Observer, site=site)
class ObserverAdmin(ReadOnlyAdmin):
    list_display = ("name", "constituency")
    list_filter = ("constituency",)
    search_fields = ("name",)


@admin.register(Operator, site=site)
class OperatorAdmin(ReadOnlyAdmin):
    view_permission = "operator.read"
    list_display = ("name", "participant", "kind", "licence", "valid_from", "valid_until")
    list_filter = ("kind", "participant")
    list_select_related = ("participant",)
    search_fields = ("name", "licence", "participant__code")
