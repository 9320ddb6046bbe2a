"""People and their tokens: expiry, revocation, deactivation, one-time reset links, and what the log records."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

from kpcs import clock
from kpcs.audit.rules import iso
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.registry import rules
from kpcs.registry.models import ApiToken
from tests.conftest import PASSWORD, Api
from tests.registry.conftest import of

pytestmark = pytest.mark.django_db

USER_STATE = {"is_active", "is_staff", "is_superuser", "roles"}
TOKEN_STATE = {"user", "prefix", "token_hash", "expires_at", "revoked_at"}


@pytest.fixture
def officer(make_user: Callable[..., Any]) -> Any:
    return make_user("officer@people.kpcs", "exporting_officer", "BW")


@pytest.fixture
def secretariat(make_user: Callable[..., Any]) -> Any:
    return make_user("secretariat@people.kpcs", "admin")


def signs_in(email: str, password: str) -> bool:
    """Through the real sign-in page (rate-limited by axes), as a person would."""
    client = Client()
    client.post("/login/", {"username": email, "password": password})
    return "_auth_user_id" in client.session


def password_is(email: str, password: str) -> bool:
    return bool(get_user_model().objects.get(username=email).check_password(password))


def me(token: str) -> int:
    return int(Api(token).get("/me").status_code)


# --- tokens ------------------------------------------------------------------------------------

def test_a_token_expires_after_its_days(kp: Any, officer: Any, recorded: list[dict[str, Any]]) -> None:
    before = clock.now()
    token = kp.create_token("officer@people.kpcs", "ci", days=7, actor=kp.SYSTEM)
    stored = ApiToken.objects.get(prefix=token[:12])
    assert stored.expires_at - stored.created_at == dt.timedelta(days=7) and stored.created_at >= before
    assert me(token) == 200
    ApiToken.objects.filter(pk=stored.pk).update(expires_at=clock.now() - dt.timedelta(seconds=1))
    resp = Api(token).get("/me")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"
    assert kp.actor_for_token(token) is None and kp.user_for_token(token) is None

    (created,) = of(recorded, "token.created")
    assert created["object_type"] == "api_token" and created["object_id"] == str(stored.pk)
    state = created["payload"]["state"]
    assert set(state) == TOKEN_STATE and state["user"] == "officer@people.kpcs"
    assert state["token_hash"] == stored.token_hash and state["revoked_at"] is None
    assert dt.datetime.fromisoformat(state["expires_at"]) == stored.expires_at
    assert token not in str(created["payload"])


def test_token_lifetime_defaults_to_90_days_and_is_at_most_a_year(kp: Any, officer: Any) -> None:
    default = ApiToken.objects.get(prefix=kp.create_token("officer@people.kpcs", actor=kp.SYSTEM)[:12])
    assert default.expires_at - default.created_at == dt.timedelta(days=90)
    longest = ApiToken.objects.get(prefix=kp.create_token("officer@people.kpcs", days=365, actor=kp.SYSTEM)[:12])
    assert longest.expires_at - longest.created_at == dt.timedelta(days=rules.TOKEN_MAX_DAYS)
    for days in (0, -1, 366, 10_000):
        with pytest.raises(ValidationFailed, match="1 to 365 days"):
            kp.create_token("officer@people.kpcs", days=days, actor=kp.SYSTEM)
    assert ApiToken.objects.count() == 2


def test_a_revoked_token_gets_401_and_the_revocation_is_audited(kp: Any, officer: Any,
                                                                recorded: list[dict[str, Any]]) -> None:
    token = kp.create_token("officer@people.kpcs", actor=kp.SYSTEM)
    other = kp.create_token("officer@people.kpcs", actor=kp.SYSTEM)
    assert me(token) == 200
    revoked = kp.revoke_token(token[:12] + "…", reason="laptop lost", actor=kp.SYSTEM)
    assert revoked.revoked_at is not None
    assert me(token) == 401 and me(other) == 200
    (entry,) = of(recorded, "token.revoked")
    assert entry["object_id"] == str(revoked.pk) and entry["actor"] == "system"
    assert entry["payload"]["reason"] == "laptop lost"
    assert entry["payload"]["state"]["revoked_at"] == iso(revoked.revoked_at)
    with pytest.raises(Conflict, match="already revoked"):
        kp.revoke_token(token[:12], actor=kp.SYSTEM)


def test_a_prefix_naming_several_tokens_is_refused_with_the_count(kp: Any, officer: Any) -> None:
    tokens = [kp.create_token("officer@people.kpcs", actor=kp.SYSTEM) for _ in range(3)]
    for i, t in enumerate(tokens):
        ApiToken.objects.filter(prefix=t[:12]).update(prefix=f"kpcs_Abcde{i}x")
    with pytest.raises(ValidationFailed, match="3 tokens start with 'kpcs_Abcde'") as refused:
        kp.revoke_token("kpcs_Abcde", actor=kp.SYSTEM)
    assert refused.value.details == {"count": 3}
    assert all(me(t) == 200 for t in tokens)
    with pytest.raises(ValidationFailed, match="at least its first 8"):
        kp.revoke_token("kpcs_", actor=kp.SYSTEM)
    with pytest.raises(NotFound):
        kp.revoke_token("kpcs_Zzzzzzz", actor=kp.SYSTEM)
    kp.revoke_token("kpcs_Abcde1", actor=kp.SYSTEM)
    assert [me(t) for t in tokens] == [200, 401, 200]
    kp.revoke_token(tokens[2], actor=kp.SYSTEM)  # the whole token, pasted, names exactly one
    assert me(tokens[2]) == 401


def test_holders_revoke_their_own_tokens_the_secretariat_anyones(kp: Any, officer: Any, secretariat: Any,
                                                                 make_user: Callable[..., Any]) -> None:
    stranger = make_user("stranger@people.kpcs", "importing_officer", "ZA")
    mine = kp.create_token("officer@people.kpcs", actor=kp.SYSTEM)
    with pytest.raises(NotFound):  # another person's token does not exist for an officer
        kp.revoke_token(mine[:12], actor=stranger)
    with pytest.raises(PermissionDenied):
        kp.list_tokens("officer@people.kpcs", actor=stranger)
    assert [t.prefix for t in kp.list_tokens("officer@people.kpcs", actor=officer)] == [mine[:12]]
    assert len(kp.list_tokens("officer@people.kpcs", actor=secretariat)) == 1
    kp.revoke_token(mine[:12], actor=officer)
    second = kp.create_token("officer@people.kpcs", actor=kp.SYSTEM)
    kp.revoke_token(second[:12], actor=secretariat)
    with pytest.raises(PermissionDenied):
        kp.revoke_token(second[:12], actor=kp.ANONYMOUS)


def test_only_the_holder_or_the_node_operator_makes_a_token(kp: Any, officer: Any, secretariat: Any) -> None:
    with pytest.raises(PermissionDenied):  # a token for someone else is access: the secretariat grants none
        kp.create_token("officer@people.kpcs", actor=secretariat)
    assert kp.create_token("secretariat@people.kpcs", actor=secretariat).startswith("kpcs_")


# --- deactivation --------------------------------------------------------------------------------

def test_deactivation_ends_sessions_and_tokens_in_one_audited_change(kp: Any, officer: Any, secretariat: Any,
                                                                    recorded: list[dict[str, Any]]) -> None:
    email = "officer@people.kpcs"
    user = get_user_model().objects.get(username=email)
    tokens = [kp.create_token(email, actor=kp.SYSTEM) for _ in range(2)]
    browsers = []
    for _ in range(2):
        browser = Client()
        browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        assert browser.get("/api/v1/me").status_code == 200
        browsers.append(browser)
    bystander = Client()
    bystander.force_login(get_user_model().objects.get(username="secretariat@people.kpcs"),
                          backend="django.contrib.auth.backends.ModelBackend")
    sessions_before = Session.objects.count()

    done = kp.deactivate_user(email, reason="left the authority", actor=secretariat)
    assert done == {"sessions": 2, "tokens": 2}
    assert Session.objects.count() == sessions_before - 2
    assert [me(t) for t in tokens] == [401, 401]
    assert [b.get("/api/v1/me").status_code for b in browsers] == [401, 401]
    assert bystander.get("/api/v1/me").status_code == 200
    user.refresh_from_db()
    assert not user.is_active and not signs_in(email, PASSWORD)

    (entry,) = of(recorded, "user.deactivated")
    assert entry["object_type"] == "user" and entry["object_id"] == email
    assert entry["actor"] == "secretariat@people.kpcs"
    assert entry["payload"]["state"] == {"is_active": False, "is_staff": False, "is_superuser": False,
                                         "roles": ["exporting_officer/BW/BW-KPA"]}
    assert entry["payload"]["sessions_ended"] == 2 and len(entry["payload"]["tokens_revoked"]) == 2
    revoked = of(recorded, "token.revoked")
    assert len(revoked) == 2 and all(e["payload"]["state"]["revoked_at"] for e in revoked)
    assert all(set(e["payload"]["state"]) == TOKEN_STATE for e in revoked)

    with pytest.raises(Conflict, match="already deactivated"):
        kp.deactivate_user(email, actor=secretariat)
    with pytest.raises(Conflict, match="deactivated"):
        kp.create_token(email, actor=kp.SYSTEM)

    kp.reactivate_user(email, actor=secretariat)
    (back,) = of(recorded, "user.reactivated")
    assert back["payload"]["state"]["is_active"] is True
    assert [me(t) for t in tokens] == [401, 401]  # tokens stay revoked
    assert [b.get("/api/v1/me").status_code for b in browsers] == [401, 401]  # sessions stay ended
    assert signs_in(email, PASSWORD)
    assert me(kp.create_token(email, actor=kp.SYSTEM)) == 200
    with pytest.raises(Conflict, match="is active"):
        kp.reactivate_user(email, actor=secretariat)


def test_only_the_secretariat_and_the_node_operator_deactivate(kp: Any, officer: Any,
                                                               make_user: Callable[..., Any]) -> None:
    analyst = make_user("analyst@people.kpcs", "kp_analyst")
    for actor in (officer, analyst, kp.ANONYMOUS):
        with pytest.raises(PermissionDenied):
            kp.deactivate_user("officer@people.kpcs", actor=actor)
    kp.deactivate_user("officer@people.kpcs", actor=kp.SYSTEM)
    with pytest.raises(PermissionDenied):
        kp.reactivate_user("officer@people.kpcs", actor=analyst)
    with pytest.raises(NotFound):
        kp.deactivate_user("nobody@people.kpcs", actor=kp.SYSTEM)


# --- accounts and passwords ----------------------------------------------------------------------

def test_granting_a_role_never_changes_a_password(kp: Any, officer: Any, recorded: list[dict[str, Any]]) -> None:
    with pytest.raises(Conflict, match="reset link"):
        kp.create_user("officer@people.kpcs", "another-password-123", "importing_officer", "BW", actor=kp.SYSTEM)
    assert password_is("officer@people.kpcs", PASSWORD)
    assert not password_is("officer@people.kpcs", "another-password-123")
    kp.create_user("officer@people.kpcs", None, "importing_officer", "BW", actor=kp.SYSTEM)
    (granted,) = of(recorded, "membership.granted")
    assert granted["payload"]["state"]["roles"] == ["exporting_officer/BW/BW-KPA", "importing_officer/BW/BW-KPA"]
    kp.create_user("officer@people.kpcs", None, "importing_officer", "BW", actor=kp.SYSTEM)
    assert len(of(recorded, "membership.granted")) == 1  # granting what is held changes nothing, logs nothing


def test_a_new_account_is_audited_with_its_state(kp: Any, recorded: list[dict[str, Any]]) -> None:
    kp.create_user("new@people.kpcs", PASSWORD, "kp_analyst", actor=kp.SYSTEM)
    created, granted = recorded
    assert created["action"] == "user.created" and created["payload"]["state"] == {
        "is_active": True, "is_staff": False, "is_superuser": False, "roles": []}
    assert granted["payload"]["state"]["roles"] == ["kp_analyst//"]
    assert PASSWORD not in str(recorded)


def _open_link(client: Client, link: str) -> Any:
    path = link.removeprefix("http://testserver")
    first = client.get(path)
    if first.status_code != 302:
        return first
    return client.get(first["Location"])


def _set_password(client: Client, link: str, password: str) -> Any:
    page = _open_link(client, link)
    if "Set password" not in page.content.decode():
        return page
    return client.post(page.wsgi_request.path, {"new_password1": password, "new_password2": password})


def test_a_reset_link_works_once_and_only_for_its_person(kp: Any, officer: Any, make_user: Callable[..., Any],
                                                         recorded: list[dict[str, Any]]) -> None:
    make_user("other@people.kpcs", "importing_officer", "ZA")
    link = kp.password_reset_link("officer@people.kpcs", base_url="http://testserver", actor=kp.SYSTEM)
    assert re.fullmatch(r"http://testserver/password-reset/[\w-]+/[\w-]+/", link)
    other_link = kp.password_reset_link("other@people.kpcs", base_url="http://testserver", actor=kp.SYSTEM)

    # The token of one person's link does not open another person's account.
    uid, token = link.rstrip("/").split("/")[-2:]
    other_uid = other_link.rstrip("/").split("/")[-2]
    crossed = _open_link(Client(), f"/password-reset/{other_uid}/{token}/").content.decode()
    assert "invalid, has expired or was already used" in crossed

    new = "a-brand-new-passphrase"
    done = _set_password(Client(), link, new)
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    assert signs_in("officer@people.kpcs", new)
    assert not password_is("officer@people.kpcs", PASSWORD)

    again = _set_password(Client(), link, "yet-another-passphrase")
    assert "already used" in again.content.decode()
    assert password_is("officer@people.kpcs", new)
    assert password_is("other@people.kpcs", PASSWORD)  # untouched

    requested = of(recorded, "user.password_reset_requested")
    assert [e["object_id"] for e in requested] == ["officer@people.kpcs", "other@people.kpcs"]
    (changed,) = of(recorded, "user.password_changed")
    assert changed["object_id"] == "officer@people.kpcs" and changed["actor"] == "officer@people.kpcs (reset link)"
    assert set(changed["payload"]["state"]) == USER_STATE
    text = str(recorded)
    assert new not in text and token not in text and "md5$" not in text


def test_a_weak_password_is_refused_and_the_link_still_works(kp: Any, officer: Any) -> None:
    link = kp.password_reset_link("officer@people.kpcs", base_url="http://testserver", actor=kp.SYSTEM)
    client = Client()
    weak = _set_password(client, link, "short")
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    assert _set_password(Client(), link, "a-good-long-passphrase").status_code == 302


def test_no_reset_for_a_deactivated_account(kp: Any, officer: Any) -> None:
    link = kp.password_reset_link("officer@people.kpcs", base_url="http://testserver", actor=kp.SYSTEM)
    kp.deactivate_user("officer@people.kpcs", actor=kp.SYSTEM)
    assert "invalid, has expired" in _open_link(Client(), link).content.decode()
    with pytest.raises(Conflict, match="deactivated"):
        kp.password_reset_link("officer@people.kpcs", base_url="http://testserver", actor=kp.SYSTEM)
    user = get_user_model().objects.get(username="officer@people.kpcs")
    uid, token = link.rstrip("/").split("/")[-2:]
    with pytest.raises(PermissionDenied):
        kp.reset_password(user.pk, token, "a-good-long-passphrase")


def test_the_secretariat_sends_a_link_it_never_sees(kp: Any, officer: Any, secretariat: Any,
                                                     recorded: list[dict[str, Any]]) -> None:
    assert kp.send_password_reset("officer@people.kpcs", base_url="http://testserver", actor=secretariat) is None
    (message,) = mail.outbox
    assert message.to == ["officer@people.kpcs"]
    link = re.search(r"http://testserver/password-reset/\S+/", message.body).group(0)  # type: ignore[union-attr]
    (entry,) = of(recorded, "user.password_reset_requested")
    assert entry["actor"] == "secretariat@people.kpcs" and entry["payload"]["delivery"] == "e-mail"
    assert link not in str(entry)
    with pytest.raises(PermissionDenied):  # a link shown to the secretariat would let it sign in as the officer
        kp.password_reset_link("officer@people.kpcs", base_url="http://testserver", actor=secretariat)
    with pytest.raises(PermissionDenied):
        kp.send_password_reset("secretariat@people.kpcs", base_url="http://testserver", actor=officer)
    assert _set_password(Client(), link, "chosen-by-the-officer").status_code == 302


# --- over the API: a person's own tokens -------------------------------------------------------------

def test_a_person_lists_and_revokes_their_own_tokens_over_the_api(kp: Any, officer: Any,
                                                                  make_user: Callable[..., Any]) -> None:
    make_user("other@people.kpcs", "importing_officer", "ZA")
    current = kp.create_token("officer@people.kpcs", "laptop", actor=kp.SYSTEM)
    spare = kp.create_token("officer@people.kpcs", "ci", days=30, actor=kp.SYSTEM)
    theirs = kp.create_token("other@people.kpcs", actor=kp.SYSTEM)
    api = Api(current)
    listed = api.get("/me/tokens").json()
    assert listed["count"] == 2 and [t["name"] for t in listed["items"]] == ["ci", "laptop"]
    assert set(listed["items"][0]) == {"prefix", "name", "created_at", "last_used_at", "expires_at", "revoked_at",
                                       "status"}
    assert current not in str(listed) and spare not in str(listed)

    refused = api.post(f"/me/tokens/{theirs[:12]}/revocation", {})
    assert refused.status_code == 404 and me(theirs) == 200
    short = api.post("/me/tokens/kpcs_/revocation", {})
    assert short.status_code == 422 and short.json()["error"]["code"] == "prefix_too_short"
    done = api.post(f"/me/tokens/{spare[:12]}/revocation", {})
    assert done.status_code == 200 and done.json()["status"] == "revoked"
    assert me(spare) == 401 and me(current) == 200
    again = api.post(f"/me/tokens/{spare[:12]}/revocation", {})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_revoked"
    for i, t in enumerate((current, kp.create_token("officer@people.kpcs", actor=kp.SYSTEM))):
        ApiToken.objects.filter(prefix=t[:12]).update(prefix=f"kpcs_Same{i}xx")
    ambiguous = api.post("/me/tokens/kpcs_Same/revocation", {})
    assert ambiguous.status_code == 422 and ambiguous.json()["error"]["details"] == {"count": 2}
    assert api.post(f"/me/tokens/{current}/revocation", {}).status_code == 200  # a token may end itself
    assert me(current) == 401


# --- mail ----------------------------------------------------------------------------------------

def test_links_last_a_day_and_mail_waits_in_a_private_outbox_without_smtp(settings: Any) -> None:
    import os
    import stat
    import subprocess
    import sys

    assert settings.PASSWORD_RESET_TIMEOUT <= 24 * 3600
    assert stat.S_IMODE(os.stat(settings.EMAIL_FILE_PATH).st_mode) == 0o700
    probe = ("import kpcs.settings as s; print(s.EMAIL_BACKEND.rsplit('.', 2)[-2], s.EMAIL_HOST, s.EMAIL_PORT, "
             "s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD)")
    env = {**os.environ, "KPCS_SMTP_URL": "smtp://kp%40mail:p%2Fss@mail.example.org"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["smtp", "mail.example.org", "587", "True", "False", "kp@mail", "p/ss"]
    env["KPCS_SMTP_URL"] = "smtps://mail.example.org"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[1:5] == ["mail.example.org", "465", "False", "True"]
    env["KPCS_SMTP_URL"] = "http://mail.example.org"
    bad = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "KPCS_SMTP_URL must look like" in bad.stderr
