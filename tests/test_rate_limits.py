"""Rate limits: every public operation per client address, every authenticated caller per token (BRIEF §7)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from kpcs import ratelimit
from tests.conftest import Api, assert_error, code_of, path_of

pytestmark = pytest.mark.django_db


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate_and_says_when_to_come_back() -> None:
    clock = FakeClock()
    limiter = ratelimit.Limiter(per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        limiter.hit("a")
    with pytest.raises(ratelimit.RateLimited) as refused:
        limiter.hit("a")
    assert refused.value.retry_after == 1
    limiter.hit("b")  # another client is not held back
    clock.now += 1.0
    limiter.hit("a")  # one token back after a second at 60 per minute
    with pytest.raises(ratelimit.RateLimited):
        limiter.hit("a")
    clock.now += 3600
    for _ in range(3):  # refilled, but never beyond the burst
        limiter.hit("a")
    with pytest.raises(ratelimit.RateLimited):
        limiter.hit("a")


def test_the_client_address_behind_trusted_proxies_cannot_be_chosen_by_the_client(settings: Any) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    settings.KPCS_PROXY_HOPS = 0
    assert ratelimit.client_address(request) == "10.0.0.1"
    settings.KPCS_PROXY_HOPS = 1  # the proxy appended the address it saw; what the client wrote is further left
    assert ratelimit.client_address(request) == "198.51.100.7"


def _adopted_decision() -> str:
    from kpcs import clock
    from kpcs.governance import services as governance
    from kpcs.registry.services import SYSTEM

    decision = governance.propose(SYSTEM, type="administrative", participant="ZA", effective_on=clock.today(),
                                  text="An adopted decision, public", procedure="plenary")
    return str(governance.adopt(SYSTEM, decision.pk).pk)


def _public_operations(issued: Any) -> list[tuple[str, str, Any]]:
    doc = Client().get("/api/v1/openapi.json").json()
    decision = _adopted_decision()
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if op.get("x-kpcs-permission") != "public":
                continue
            filled = (path.removeprefix("/api/v1").replace("{code}", "BW").replace("{decision_id}", decision)
                      .replace("/certificates/{number}", path_of(issued.number)))
            if filled.endswith("/verification") and method == "get":
                filled += "?code=" + code_of(issued)
            ops.append((method.upper(), filled, {"jws": issued.jws} if method == "post" else None))
    return ops


def test_every_public_operation_is_limited_per_client_address(settings: Any, issued: Any) -> None:
    settings.KPCS_RATE_PUBLIC = 30  # a burst of 5, then one every 2 seconds
    ops = _public_operations(issued)
    assert len(ops) >= 8
    for i, (method, path, body) in enumerate(ops):
        client = Client(REMOTE_ADDR=f"192.0.2.{i + 1}")
        call = (lambda c=client, p=path: c.get("/api/v1" + p)) if method == "GET" else (
            lambda c=client, p=path, b=body: c.post("/api/v1" + p, b, content_type="application/json"))
        statuses = [call().status_code for _ in range(5)]
        assert statuses == [200] * 5, (method, path, statuses)
        refused = call()
        error = assert_error(refused, 429, "too_many_requests")
        assert int(refused["Retry-After"]) >= 1 and error["details"]["retry_after"] == int(refused["Retry-After"])
        other = Client(REMOTE_ADDR="203.0.113.99").get("/api/v1/participants")
        assert other.status_code == 200  # somebody else is served meanwhile
        ratelimit._limiters.clear()


def test_the_public_verification_page_is_limited_too(settings: Any, issued: Any) -> None:
    settings.KPCS_RATE_PUBLIC = 30
    client = Client(REMOTE_ADDR="192.0.2.200")
    asked = {"number": issued.number, "code": code_of(issued)}
    assert all(client.get("/verify/", asked).status_code == 200 for _ in range(5))
    page = client.get("/verify/", asked)
    assert page.status_code == 429 and int(page["Retry-After"]) >= 1
    assert "genuine" not in page.content.decode()


def test_authenticated_calls_are_limited_per_token(settings: Any, token_for: Any, bw_officer: Any,
                                                   make_user: Any) -> None:
    settings.KPCS_RATE_TOKEN = 30
    first, second = Api(token_for("bw@test.kpcs")), Api(token_for("bw@test.kpcs"))
    assert [first.get("/me").status_code for _ in range(5)] == [200] * 5
    refused = first.get("/certificates")
    assert_error(refused, 429, "too_many_requests")
    assert int(refused["Retry-After"]) >= 1
    assert second.get("/me").status_code == 200  # the same person's other token has its own allowance
    assert_error(Api("kpcs_not-a-token").get("/me"), 401, "unauthenticated")  # a bad token is not counted as one


def test_wrong_tokens_are_limited_per_address(settings: Any, kp: Any) -> None:
    """Each wrong token costs a lookup: a sprayer is held back like an anonymous caller."""
    settings.KPCS_RATE_PUBLIC = 30
    sprayer = Client(REMOTE_ADDR="192.0.2.77")
    statuses = [sprayer.get("/api/v1/me", headers={"Authorization": f"Bearer kpcs_guess{i}"}).status_code
                for i in range(6)]
    assert statuses == [401] * 5 + [429]
