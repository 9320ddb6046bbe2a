"""The secretariat's site at /admin/, driven as a browser would (Django's test Client).

It opens to the `admin` role only; its actions go through the services and the audit log; it shows no
certificate, no commercial detail, no password; nothing is added, changed or deleted past the services.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.test import Client
from django.urls import resolve

from kpcs.certificates.models import Certificate
from kpcs.registry.admin import site
from kpcs.registry.models import ApiToken
from tests.conftest import PASSWORD
from tests.registry.conftest import of

pytestmark = pytest.mark.django_db

SECRETARIAT = "secretariat@admin.kpcs"
OFFICER = "bw@test.kpcs"  # the `bw_officer` fixture


def browser(email: str) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username=email),
                       backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def secretariat(make_user: Callable[..., Any]) -> Client:
    make_user(SECRETARIAT, "admin")
    return browser(SECRETARIAT)


def action(client: Client, model: str, name: str, *pks: int) -> Any:
    return client.post(f"/admin/{model}/", {"action": name, "_selected_action": [str(pk) for pk in pks]},
                       follow=True)


def pk_of(email: str) -> int:
    return int(get_user_model().objects.get(username=email).pk)


# --- who enters --------------------------------------------------------------------------------

def test_signed_out_people_are_sent_to_the_sign_in_page(kp: Any) -> None:
    first = Client().get("/admin/auth/user/")
    assert first.status_code == 302
    final = Client().get("/admin/auth/user/", follow=True)
    path, _ = final.redirect_chain[-1]
    assert path.startswith("/login/?next=/admin/auth/user/")


def test_the_site_opens_to_the_admin_role_not_to_is_staff(make_user: Callable[..., Any],
                                                          secretariat: Client) -> None:
    make_user("officer@admin.kpcs", "exporting_officer", "BW")
    make_user("analyst@admin.kpcs", "kp_analyst")
    get_user_model().objects.create_superuser("root@admin.kpcs", "root@admin.kpcs", PASSWORD)
    for email in ("officer@admin.kpcs", "analyst@admin.kpcs", "root@admin.kpcs"):
        for path in ("/admin/", "/admin/auth/user/", "/admin/registry/apitoken/"):
            refused = browser(email).get(path, follow=True)
            assert refused.status_code == 403, (email, path)
            assert "does not hold the admin role" in refused.content.decode()
    index = secretariat.get("/admin/")
    assert index.status_code == 200
    page = index.content.decode()
    for section in ("Users", "API tokens", "Participants", "Authorities", "Observers", "Operators"):
        assert section in page
    assert "Certificate" not in page and "Group" not in page


def test_signing_in_goes_through_the_rate_limited_sign_in_page(make_user: Callable[..., Any]) -> None:
    make_user(SECRETARIAT, "admin")
    client = Client()
    signed_in = client.post("/login/?next=/admin/", {"username": SECRETARIAT, "password": PASSWORD,
                                                     "next": "/admin/"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert Client().get("/admin/login/")["Location"].startswith("/login/")


def test_only_the_kpcs_site_is_served(kp: Any) -> None:
    assert resolve("/admin/").func.admin_site is site  # type: ignore[attr-defined]
    user_model = get_user_model()
    assert not django_admin.site.is_registered(user_model)
    from django.contrib.auth.models import Group

    assert not site.is_registered(Group) and not django_admin.site.is_registered(Group)
    shown = {model._meta.app_label for model in site._registry}
    assert shown == {"auth", "registry"}


# --- what it shows -----------------------------------------------------------------------------

def test_no_certificate_commercial_detail_or_password_is_reachable(secretariat: Client, issued: Any,
                                                                   token_for: Callable[[str], str]) -> None:
    token = token_for(OFFICER)
    officer = get_user_model().objects.get(username=OFFICER)
    secrets = [officer.password, token, ApiToken.objects.get(prefix=token[:12]).token_hash,
               "Y BV", "Hoveniersstraat", "1875600", "1,875,600", issued.number, issued.jws[:40]]
    pages = ["/admin/"]
    for model in site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages.append(base)
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages += [f"{base}{first.pk}/change/", f"{base}{first.pk}/history/"]
    pages += [f"/admin/auth/user/{officer.pk}/change/", f"/admin/auth/user/?q={OFFICER}"]
    for path in pages:
        resp = secretariat.get(path)
        assert resp.status_code == 200, path
        text = resp.content.decode()
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path} shows {leaked}"

    cert_type = ContentType.objects.get_for_model(Certificate)
    for path in ("/admin/certificates/certificate/", f"/admin/certificates/certificate/{issued.pk}/change/",
                 f"/admin/auth/user/{officer.pk}/password/", "/admin/auth/group/",
                 f"/admin/r/{cert_type.pk}/{issued.pk}/",
                 "/admin/autocomplete/?app_label=certificates&model_name=certificate&field_name=number"):
        resp = secretariat.get(path, follow=True)
        text = resp.content.decode()
        assert resp.status_code == 404 or resp.redirect_chain[-1][0] == "/admin/", path  # "does not exist"
        assert issued.number not in text and 'name="password1"' not in text and officer.password not in text


def test_people_show_their_roles_and_tokens_read_only(secretariat: Client, bw_officer: Any,
                                                      token_for: Callable[[str], str]) -> None:
    token = token_for(OFFICER)
    page = secretariat.get(f"/admin/auth/user/{pk_of(OFFICER)}/change/").content.decode()
    assert "exporting_officer BW (BW-KPA)" in page and f"{token[:12]}…" in page
    assert 'name="is_superuser"' not in page and 'name="password"' not in page
    listed = secretariat.get("/admin/auth/user/?memberships__role__exact=exporting_officer")
    assert [u.username for u in listed.context["cl"].result_list] == [OFFICER]
    tokens = secretariat.get("/admin/registry/apitoken/?status=active")
    assert [t.prefix for t in tokens.context["cl"].result_list] == [token[:12]]
    assert not secretariat.get("/admin/registry/apitoken/?status=revoked").context["cl"].result_list


# --- nothing past the services -------------------------------------------------------------------

def test_nothing_is_added_changed_or_deleted_here(secretariat: Client, bw_officer: Any,
                                                  token_for: Callable[[str], str]) -> None:
    token = token_for(OFFICER)
    officer = pk_of(OFFICER)
    token_pk = ApiToken.objects.get(prefix=token[:12]).pk
    forms = {
        f"/admin/auth/user/{officer}/change/": {"username": OFFICER, "is_superuser": "on", "is_staff": "on",
                                                "is_active": "on", "password": "x"},
        "/admin/auth/user/add/": {"username": "puppet@admin.kpcs", "password1": "x" * 12, "password2": "x" * 12},
        f"/admin/auth/user/{officer}/delete/": {"post": "yes"},
        "/admin/registry/apitoken/add/": {"user": str(officer), "name": "mine"},
        f"/admin/registry/apitoken/{token_pk}/change/": {"expires_at_0": "2999-01-01", "name": "x"},
        f"/admin/registry/apitoken/{token_pk}/delete/": {"post": "yes"},
        "/admin/registry/participant/add/": {"code": "XX", "name": "Nowhere", "kind": "state"},
        "/admin/registry/participant/BW/delete/": {"post": "yes"},
    }
    for path, data in forms.items():
        assert secretariat.post(path, data).status_code == 403, path
    assert secretariat.get("/admin/auth/user/add/").status_code == 403
    deleted = action(secretariat, "auth/user", "delete_selected", officer)
    assert deleted.status_code == 200
    user = get_user_model().objects.get(pk=officer)
    assert user.is_active and not user.is_superuser and not user.is_staff
    assert not get_user_model().objects.filter(username="puppet@admin.kpcs").exists()
    assert ApiToken.objects.get(pk=token_pk).revoked_at is None and ApiToken.objects.count() == 1


# --- actions through the services ----------------------------------------------------------------

def test_deactivate_and_reactivate_from_the_site_are_audited(secretariat: Client, bw_officer: Any,
                                                             token_for: Callable[[str], str],
                                                             recorded: list[dict[str, Any]]) -> None:
    token = token_for(OFFICER)
    officer_browser = browser(OFFICER)
    assert officer_browser.get("/api/v1/me").status_code == 200

    done = action(secretariat, "auth/user", "deactivate", pk_of(OFFICER))
    assert f"Deactivated: {OFFICER}" in done.content.decode()
    assert not get_user_model().objects.get(username=OFFICER).is_active
    assert officer_browser.get("/api/v1/me").status_code == 401
    assert ApiToken.objects.get(prefix=token[:12]).revoked_at is not None
    (entry,) = of(recorded, "user.deactivated")
    assert entry["actor"] == f"{SECRETARIAT} (admin site)" and entry["object_id"] == OFFICER
    assert entry["payload"]["state"]["is_active"] is False
    assert [e["actor"] for e in of(recorded, "token.revoked")] == [f"{SECRETARIAT} (admin site)"]

    again = action(secretariat, "auth/user", "deactivate", pk_of(OFFICER)).content.decode()
    assert "already deactivated" in again
    own = action(secretariat, "auth/user", "deactivate", pk_of(SECRETARIAT)).content.decode()
    assert "does not deactivate itself" in own
    assert get_user_model().objects.get(username=SECRETARIAT).is_active

    back = action(secretariat, "auth/user", "reactivate", pk_of(OFFICER)).content.decode()
    assert f"Reactivated: {OFFICER}" in back
    assert of(recorded, "user.reactivated")[0]["payload"]["state"]["is_active"] is True
    assert ApiToken.objects.get(prefix=token[:12]).revoked_at is not None


def test_revoke_a_token_from_the_site(secretariat: Client, bw_officer: Any, token_for: Callable[[str], str],
                                      recorded: list[dict[str, Any]]) -> None:
    kept, revoked = token_for(OFFICER), token_for(OFFICER)
    target = ApiToken.objects.get(prefix=revoked[:12])
    page = action(secretariat, "registry/apitoken", "revoke", target.pk).content.decode()
    assert "Revoked:" in page
    (entry,) = of(recorded, "token.revoked")
    assert entry["object_id"] == str(target.pk) and entry["actor"] == f"{SECRETARIAT} (admin site)"
    assert entry["payload"]["state"]["prefix"] == revoked[:12]
    assert Client().get("/api/v1/me", headers={"Authorization": f"Bearer {revoked}"}).status_code == 401
    assert Client().get("/api/v1/me", headers={"Authorization": f"Bearer {kept}"}).status_code == 200


def test_a_reset_link_goes_to_the_person_never_to_the_secretariat(secretariat: Client, bw_officer: Any,
                                                                  recorded: list[dict[str, Any]]) -> None:
    page = action(secretariat, "auth/user", "send_reset_link", pk_of(OFFICER)).content.decode()
    assert f"Reset link sent by e-mail to: {OFFICER}" in page
    (message,) = mail.outbox
    assert message.to == [OFFICER]
    link = re.search(r"http://testserver(/password-reset/\S+/)", message.body).group(1)  # type: ignore[union-attr]
    assert link not in page and link.split("/")[-2] not in page
    (entry,) = of(recorded, "user.password_reset_requested")
    assert entry["actor"] == f"{SECRETARIAT} (admin site)" and link not in str(entry)
    # The officer uses it; the secretariat never knew the password.
    officer = Client()
    form = officer.get(link, follow=True)
    assert "Set password" in form.content.decode()
    done = officer.post(form.wsgi_request.path, {"new_password1": "officer-chosen-secret",
                                                 "new_password2": "officer-chosen-secret"})
    assert done.status_code == 302
    assert get_user_model().objects.get(username=OFFICER).check_password("officer-chosen-secret")


def test_own_password_change_in_the_site_is_audited(secretariat: Client, recorded: list[dict[str, Any]]) -> None:
    form = secretariat.get("/admin/password_change/")
    assert form.status_code == 200
    wrong = secretariat.post("/admin/password_change/", {"old_password": "not-it", "new_password1": "n3w-secret-pass",
                                                         "new_password2": "n3w-secret-pass"})
    assert wrong.status_code == 200 and not of(recorded, "user.password_changed")
    done = secretariat.post("/admin/password_change/", {"old_password": PASSWORD, "new_password1": "n3w-secret-pass",
                                                        "new_password2": "n3w-secret-pass"})
    assert done.status_code == 302
    assert secretariat.get("/admin/").status_code == 200  # still signed in
    (entry,) = of(recorded, "user.password_changed")
    assert entry["actor"] == SECRETARIAT and entry["payload"]["via"] == "own password"
    assert "n3w-secret-pass" not in str(entry)
