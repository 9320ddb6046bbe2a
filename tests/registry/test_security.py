"""Security settings a deployment relies on (BRIEF §7)."""

from __future__ import annotations

import importlib

from django.conf import settings


def test_passwords_are_hashed_with_argon2_in_production() -> None:
    production = importlib.import_module("kpcs.settings")
    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_sessions_expire_and_sign_in_is_rate_limited() -> None:
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600 and settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert "axes.middleware.AxesMiddleware" in settings.MIDDLEWARE
    assert settings.AXES_FAILURE_LIMIT <= 10


def test_sign_in_locks_after_repeated_failures(make_user: object) -> None:
    import pytest
    from django.test import Client

    from tests.conftest import PASSWORD

    pytest.importorskip("axes")
    make_user("victim@test.kpcs", "kp_analyst")  # type: ignore[operator]
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "victim@test.kpcs", "password": "wrong-password"})
    locked = client.post("/login/", {"username": "victim@test.kpcs", "password": PASSWORD})
    assert locked.status_code == 429 or "_auth_user_id" not in client.session
    fresh = Client(REMOTE_ADDR="10.9.8.7")
    ok = fresh.post("/login/", {"username": "victim@test.kpcs", "password": PASSWORD})
    assert ok.status_code == 302 and "_auth_user_id" in fresh.session
