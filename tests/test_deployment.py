"""Deployment: the production checks pass when the node is configured for HTTPS; the demo stays off real nodes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from kpcs import demo
from tests.e2e.support import kpcs, node_env, words


@pytest.mark.slow
def test_check_deploy_reports_nothing_behind_https(tmp_path: Path) -> None:
    env = node_env(tmp_path, f"sqlite:///{tmp_path / 'kpcs.sqlite3'}")
    env["KPCS_SECRET_KEY"] = "k" * 20 + "a-long-and-random-enough-secret-key-for-the-deploy-check-0123456789"
    plain = kpcs(env, "check", "--deploy")
    assert plain.returncode == 1 and "W004" in plain.stdout + plain.stderr  # HSTS missing: said, not hidden
    secured = kpcs({**env, "KPCS_HTTPS": "1", "KPCS_ALLOWED_HOSTS": "kp.example.org"}, "check", "--deploy")
    assert secured.returncode == 0, secured.stdout + secured.stderr
    assert "no issues" in words(secured.stdout + secured.stderr)


def test_https_settings_secure_cookies_hsts_and_the_proxy_header(settings: Any) -> None:
    import importlib
    import os

    import kpcs.settings as node_settings

    saved = {k: os.environ.get(k) for k in ("KPCS_HTTPS", "KPCS_ALLOWED_HOSTS")}
    os.environ.update(KPCS_HTTPS="1", KPCS_ALLOWED_HOSTS="kp.example.org")
    try:
        secured = importlib.reload(node_settings)
        assert secured.SESSION_COOKIE_SECURE and secured.CSRF_COOKIE_SECURE and secured.SECURE_SSL_REDIRECT
        assert secured.SECURE_HSTS_SECONDS >= 365 * 24 * 3600
        assert secured.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
        assert secured.CSRF_TRUSTED_ORIGINS == ["https://kp.example.org"]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        importlib.reload(node_settings)


@pytest.mark.django_db
def test_the_demo_refuses_a_node_holding_data_it_did_not_make(db: Any) -> None:
    from kpcs.registry import services as kp

    kp.seed_reference_data()
    kp.ensure_node_key()
    assert demo.foreign_data() == []  # what `kpcs init` loads: a fresh node may become a demo node
    kp.create_key("BW-KPA", actor=kp.SYSTEM)
    kp.register_operator(kp.SYSTEM, participant="BW", name="Real Rough Ltd", address="Gaborone", kind="exporter",
                         licence="BW-REAL-1", valid_from=dt.date(2020, 1, 1))
    assert demo.foreign_data() == ["operators", "authority keys"]
    demo._mark_as_demo()  # a demo node may be topped up by the demo
    assert demo.foreign_data() == []
    kp.create_user("officer@kpa.gov.bw", "a-long-enough-password", "exporting_officer", "BW", actor=kp.SYSTEM)
    assert demo.foreign_data() == ["accounts the demo did not make (officer@kpa.gov.bw)"]
