"""Races against the real database: a transition attempted at once by many callers succeeds exactly once,
and concurrent issuing hands out distinct, gap-free numbers per participant.

Each thread has its own database connection (Django's connections are per thread) and closes it at the end.
A barrier releases all threads together so the calls truly overlap.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.audit.models import AuditEntry
from kpcs.certificates import rules, services
from kpcs.certificates.models import (
    Cancellation,
    Certificate,
    CertificateLine,
    Discrepancy,
    ImportConfirmation,
    SerialCounter,
)
from kpcs.errors import Conflict, ValidationFailed
from tests.conftest import certificate_request

pytestmark = pytest.mark.django_db(transaction=True)

JOIN_TIMEOUT = 120  # seconds; a hung thread fails the test instead of hanging the suite


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Argon2 costs ~0.4 s per user created; these tests are not about passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def race(n: int, work: Callable[[int], Any]) -> list[tuple[str, Any]]:
    """Run work(i) in n threads released together; return ("ok", result) or ("error", exception) per thread."""
    barrier = threading.Barrier(n)
    results: list[tuple[str, Any]] = [("error", RuntimeError("thread did not finish"))] * n

    def run(i: int) -> None:
        try:
            connection.ensure_connection()  # connect before the barrier so the calls, not the logins, race
            barrier.wait(timeout=JOIN_TIMEOUT)
            results[i] = ("ok", work(i))
        except BaseException as exc:  # noqa: B036 - reported to the main thread
            results[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), name=f"race-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread is still running: deadlock?"
    return results


def _confirmation() -> dict[str, Any]:
    return {"received_on": clock.today().isoformat(), "parcels": 4, "carats": "1650.40", "seals_intact": True}


def _split(results: list[tuple[str, Any]]) -> tuple[list[Any], list[BaseException]]:
    wins = [r for kind, r in results if kind == "ok"]
    errors = [r for kind, r in results if kind == "error"]
    unexpected = [e for e in errors if not isinstance(e, Conflict)]
    assert not unexpected, f"losers must get Conflict (409), got {unexpected!r}"
    assert all(e.code == "invalid_transition" for e in errors), [e.as_dict() for e in errors]
    return wins, errors


def _lifecycle_entries(number: str) -> Counter[str]:
    return Counter(AuditEntry.objects.filter(object_type="certificate", object_id=number)
                   .exclude(action="certificate.issued").values_list("action", flat=True))


def test_twenty_simultaneous_confirmations_succeed_once(issued: Any, eu_officer: Any) -> None:
    number = issued.number
    results = race(20, lambda i: services.confirm(eu_officer, number, _confirmation()).status)
    wins, errors = _split(results)
    assert wins == ["confirmed"]
    assert len(errors) == 19
    assert all(e.details["status"] == "confirmed" for e in errors)
    assert Certificate.objects.get(number=number).status == "confirmed"
    assert ImportConfirmation.objects.filter(certificate__number=number).count() == 1
    assert _lifecycle_entries(number) == Counter({"certificate.confirmed": 1})
    count, broken = audit.verify_chain()
    assert broken is None, broken


def test_confirm_reject_and_cancel_racing_have_one_winner(issued: Any, eu_officer: Any, bw_officer: Any) -> None:
    number = issued.number
    actions: list[tuple[str, Callable[[], Any]]] = [
        ("confirmed", lambda: services.confirm(eu_officer, number, _confirmation())),
        ("rejected", lambda: services.reject(eu_officer, number, {"reason": "seals cut",
                                                                  "discrepancy": {"kind": "seals_broken"}})),
        ("cancelled", lambda: services.cancel(bw_officer, number, {"reason": "withdrawn"})),
    ]
    results = race(21, lambda i: actions[i % 3][1]().status)
    wins, errors = _split(results)
    assert len(wins) == 1 and len(errors) == 20
    winner = wins[0]
    assert Certificate.objects.get(number=number).status == winner
    # Every loser was told which state won.
    assert {e.details["status"] for e in errors} == {winner}
    records = {"confirmed": ImportConfirmation.objects.filter(certificate__number=number).count(),
               "rejected": Discrepancy.objects.filter(certificate__number=number).count(),
               "cancelled": Cancellation.objects.filter(certificate__number=number).count()}
    assert records == {s: int(s == winner) for s in records}
    action = {"confirmed": "certificate.confirmed", "rejected": "certificate.rejected",
              "cancelled": "certificate.cancelled"}[winner]
    assert _lifecycle_entries(number) == Counter({action: 1})
    assert audit.verify_chain()[1] is None


def test_concurrent_issuing_gives_distinct_gap_free_numbers(bw_officer: Any, make_operator: Any,
                                                            kp: Any) -> None:
    make_operator("ZA", "exporter", "ZA-EXP-1")
    za_officer = kp.Actor("za-officer", grants=(kp.Grant("exporting_officer", "ZA", "ZA-KPA"),))
    za_request = certificate_request(exporter={"licence": "ZA-EXP-1"}, origin="ZA")
    refused = certificate_request(lines=[{"hs_code": "7102.39", "carats": "1.00", "value_usd": "1.00",
                                          "parcels": 1}])
    assert not SerialCounter.objects.exists()  # the very first numbers race too
    per_thread = 4

    def work(i: int) -> list[str]:
        actor, request = (bw_officer, certificate_request()) if i % 2 == 0 else (za_officer, za_request)
        numbers = []
        for j in range(per_thread):
            if j == 1:  # a refusal in the middle must not burn a number
                with pytest.raises(ValidationFailed) as exc:
                    services.issue(actor, refused)
                assert exc.value.rule == "DEF-05", exc.value
            numbers.append(services.issue(actor, request).number)
        return numbers

    threads = 8
    results = race(threads, work)
    errors = [r for kind, r in results if kind == "error"]
    assert not errors, errors
    issued = [n for _, numbers in results for n in numbers]
    assert len(issued) == len(set(issued)) == threads * per_thread
    for prefix in ("BW", "ZA"):
        mine = sorted(n for n in issued if n.startswith(prefix))
        expected = [rules.format_number(prefix, s) for s in range(1, threads // 2 * per_thread + 1)]
        assert mine == expected, f"{prefix} numbers have gaps or repeats: {mine}"
        assert SerialCounter.objects.get(participant_id=prefix).last_serial == len(expected)
        # Each thread saw its own numbers in increasing order.
        for _, numbers in results:
            own = [n for n in numbers if n.startswith(prefix)]
            assert own == sorted(own)
    stored = Certificate.objects.order_by("number")
    assert sorted(stored.values_list("number", flat=True)) == sorted(issued)
    assert CertificateLine.objects.count() == 2 * len(issued)
    for cert in stored:
        result = services.verify_token(cert.jws)
        assert result.genuine and result.payload["number"] == cert.number, (cert.number, result.reasons)
    assert AuditEntry.objects.filter(action="certificate.issued").count() == len(issued)
    assert audit.verify_chain()[1] is None
