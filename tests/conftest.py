"""Shared fixtures: a seeded registry, officers with tokens, a licensed exporter, signing keys.

Dates are pinned by passing `now=` to services; nothing sleeps or freezes the global clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

PASSWORD = "correct-horse-battery"


DATABASE_FIXTURES = frozenset({"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
                               "live_server"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--database-tests-only", action="store_true",
                     help="deselect the tests that never touch the database (pure rules): their outcome cannot "
                          "depend on the engine, so scripts/test.sh runs them in the SQLite pass only")


def touches_database(item: pytest.Item) -> bool:
    return (item.get_closest_marker("django_db") is not None or item.get_closest_marker("slow") is not None
            or bool(DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort: the order within each group is kept). Under pytest-xdist with
    `--dist loadscope` (scripts/test.sh) each slow module then starts at once on a worker of its own while the
    other worker works through the quick ones, instead of starting last and running alone."""
    if config.getoption("--database-tests-only"):
        engine_free = [item for item in items if not touches_database(item)]
        if engine_free:
            config.hook.pytest_deselected(items=engine_free)
            items[:] = [item for item in items if touches_database(item)]
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Argon2 is the production hasher (checked in tests/registry/test_security.py); tests use a fast one."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def kp(db: Any) -> Any:
    """Reference data (participants, statuses, authorities) plus keys for BW, EU Antwerp, ZA and the node."""
    from kpcs.registry import services as registry
    from kpcs.registry.models import Participant, SigningKey

    if not Participant.objects.exists():
        registry.seed_reference_data()
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    for authority in ("BW-KPA", "EU-BE-ANTWERP", "ZA-KPA", "CI-KPA", "CG-KPA", "VE-KPA", "CF-KPA"):
        if not SigningKey.objects.filter(authority_id=authority).exists():
            registry.create_key(authority, valid_from=since, actor=registry.SYSTEM)
    if not SigningKey.objects.filter(purpose="node").exists():
        registry.create_key(None, valid_from=since, actor=registry.SYSTEM)
    return registry


@pytest.fixture
def make_user(kp: Any) -> Callable[..., Any]:
    """make_user(email, role, participant=None, authority=None) -> Actor (creating the user if new)."""
    from django.contrib.auth import get_user_model

    def make(email: str, role: str, participant: str | None = None, authority: str | None = None) -> Any:
        exists = get_user_model().objects.filter(username=email).exists()
        kp.create_user(email, None if exists else PASSWORD, role, participant, authority, actor=kp.SYSTEM)
        return kp.actor_for_user(get_user_model().objects.get(username=email))

    return make


@pytest.fixture
def make_operator(kp: Any) -> Callable[..., Any]:
    def make(participant: str, kind: str = "exporter", licence: str | None = None,
             valid_from: dt.date = dt.date(2000, 1, 1), valid_until: dt.date | None = None) -> Any:
        from kpcs.registry.models import Operator

        licence = licence or f"{participant}-{kind[:3].upper()}-1"
        existing = Operator.objects.filter(participant_id=participant, licence=licence).first()
        if existing:
            return existing
        return kp.register_operator(kp.SYSTEM,
                                    participant=participant, name=f"{participant} {kind} Ltd",
                                    address=f"1 Main Road, {participant}", kind=kind, licence=licence,
                                    valid_from=valid_from, valid_until=valid_until)

    return make


@pytest.fixture
def bw_officer(make_user: Any, make_operator: Any) -> Any:
    make_operator("BW", "exporter", "BW-EXP-1")
    return make_user("bw@test.kpcs", "exporting_officer", "BW")


@pytest.fixture
def eu_officer(make_user: Any) -> Any:
    return make_user("eu@test.kpcs", "importing_officer", "EU", "EU-BE-ANTWERP")


def certificate_request(**overrides: Any) -> dict[str, Any]:
    """The FIX-09 sample shipment from Botswana to the EU."""
    req: dict[str, Any] = {
        "importing_participant": "EU",
        "exporter": {"licence": "BW-EXP-1"},
        "importer": {"name": "Y BV", "address": "Hoveniersstraat 22, Antwerp"},
        "origin": "BW",
        "lines": [
            {"hs_code": "7102.31", "carats": "1250.40", "value_usd": "1875600.00", "parcels": 3},
            {"hs_code": "7102.21", "carats": "400.00", "value_usd": "12000.00", "parcels": 1},
        ],
    }
    req.update(overrides)
    return req


@pytest.fixture
def issued(bw_officer: Any) -> Any:
    from kpcs.certificates import services

    return services.issue(bw_officer, certificate_request())


@pytest.fixture
def token_for(kp: Any) -> Callable[[str], str]:
    def make(email: str) -> str:
        return str(kp.create_token(email, actor=kp.SYSTEM))

    return make


class Api:
    """A thin JSON client for /api/v1 with an optional bearer token."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client()
        self.token = token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params, headers=self._headers())

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/api/v1{path}", body, content_type="application/json", headers=self._headers())


@pytest.fixture
def api_as(token_for: Callable[[str], str]) -> Callable[[str | None], Api]:
    def make(email: str | None) -> Api:
        return Api(token_for(email) if email else None)

    return make


@pytest.fixture(autouse=True)
def _english_unless_asked() -> Any:
    """A request with Accept-Language: fr leaves French active in the thread (LocaleMiddleware activates, nothing
    deactivates; under gunicorn every request activates its own): each test starts in English."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _no_rate_limits(settings: Any) -> None:
    """Tests hammer one address with many calls; tests/test_rate_limits.py turns the limits back on."""
    settings.KPCS_RATE_PUBLIC = 0
    settings.KPCS_RATE_TOKEN = 0


@pytest.fixture(autouse=True)
def _wide_cli_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's consoles read their width from COLUMNS when imported, which differs between runs and xdist
    workers: a narrow one folds table cells and long lines that tests look for. Tests read a wide console."""
    from kpcs.cli import common

    monkeypatch.setattr(common.out, "width", 250)
    monkeypatch.setattr(common.err, "width", 250)


def client_for(email: str) -> Any:
    """Django's test Client signed in as an existing person, as a browser with its session cookie."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=email),
                       backend="django.contrib.auth.backends.ModelBackend")
    return client


def code_of(cert: Any) -> str:
    """The verification code printed on a certificate (derived from its signature)."""
    from kpcs import crypto
    from kpcs.certificates import rules

    return rules.verification_code(crypto.signature_bytes(cert.jws if hasattr(cert, "jws") else cert))


def path_of(number: str) -> str:
    return "/certificates/" + number.replace(" ", "%20")


def assert_error(resp: Any, status: int, code: str | None = None, rule: str | None = None) -> dict[str, Any]:
    """The API's one error format: {"error": {"code", "message", "details"}}, JSON, the right status."""
    assert resp.status_code == status, resp.content
    assert resp["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if rule is not None:
        assert isinstance(error["details"], dict) and error["details"].get("rule") == rule, error
    return error
