"""Every page declares who may open it, and the menu offers each person only what their roles allow."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from kpcs.registry import rules

pytestmark = pytest.mark.django_db

# Served by Django or django-ninja with their own checks: the API (x-kpcs-permission per route, tested in
# tests/test_permissions.py), the secretariat's admin site (registry/admin.py), the language switch.
OWN_CHECKS = ("api/v1/", "admin/", "i18n/")


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if not route.startswith(OWN_CHECKS):
                found += _routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            found.append((route, p.callback))
    return found


def test_every_page_declares_its_permission() -> None:
    routes = _routes(get_resolver().url_patterns)
    assert routes, "no page routes found"
    missing = [r for r, view in routes if not hasattr(view, "kpcs_permission")]
    assert missing == []
    unknown = {v.kpcs_permission for _, v in routes} - set(rules.PERMISSIONS) - {"public"}
    assert unknown == set()


def test_the_menu_shows_each_role_only_its_pages(make_user: Any) -> None:
    anonymous = Client().get("/").content.decode()
    assert 'href="/verify/"' in anonymous and "Sign in" in anonymous and "Secretariat" not in anonymous
    make_user("sec@web.kpcs", "admin")
    client = Client()
    client.force_login(get_user_model().objects.get(username="sec@web.kpcs"),
                       backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/").content.decode()
    assert "sec@web.kpcs" in page and "secretariat" in page
    assert 'href="/admin/"' in page and "Issue<" not in page


def test_the_language_switch_and_the_browser_language_give_french() -> None:
    client = Client()
    french = client.get("/verify/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'lang="fr"' in french and "Vérifier" in french
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert "Vérifier" in client.get("/verify/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Verify a KP certificate" in client.get("/verify/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()


def test_participants_are_named_in_the_readers_language(kp: Any) -> None:
    french = Client().get("/participants", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "République centrafricaine" in french and "Union européenne" in french
    english = Client().get("/participants", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Central African Republic" in english and "République centrafricaine" not in english
