"""Scans as background jobs (STAT-09, MON-09) and the scheduled expiry (CERT-09), against the real database.

A scan reads outside any transaction and writes its findings in one short transaction at the end, so issuing
and confirming certificates go on while it runs: a thread runs the worker's job and pauses in the middle of its
reading (a progress hook waiting on an event) while the main thread issues and confirms; nothing sleeps. On
SQLite (WAL, IMMEDIATE transactions) a scan holding the write lock would make the issue wait for the busy
timeout and fail; on PostgreSQL it would block on the rows the scan had locked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django_tasks import TaskResultStatus
from django_tasks.backends.database.models import DBTaskResult
from typer.testing import CliRunner

from kpcs import clock
from kpcs.audit.models import AuditEntry
from kpcs.certificates import services as certificates
from kpcs.certificates.models import Certificate
from kpcs.cli import app, worker
from kpcs.errors import ValidationFailed
from kpcs.monitoring import services
from kpcs.monitoring.models import Scan
from kpcs.registry.services import Actor, Grant
from kpcs.statistics import services as statistics
from tests.conftest import certificate_request

pytestmark = pytest.mark.django_db(transaction=True)

WGS = Actor("wgs@test", grants=(Grant("wgs_analyst", None, None),))
JOIN_TIMEOUT = 120  # seconds; a hung thread fails the test instead of hanging the suite


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def receipt(number: str) -> dict[str, Any]:
    return {"received_on": clock.today().isoformat(), "parcels": 4, "carats": "1650.40", "seals_intact": True}


def test_certificates_are_issued_and_confirmed_while_a_scan_runs(bw_officer: Any, eu_officer: Any) -> None:
    waiting = certificates.issue(bw_officer, certificate_request())
    row = services.start_scan(WGS)
    paused, resume = threading.Event(), threading.Event()
    phases: list[tuple[str, float]] = []
    outcome: dict[str, Any] = {}

    def hook(phase: str, fraction: float) -> None:
        phases.append((phase, fraction))
        if phase == "reading" and fraction > 0 and not paused.is_set():  # facts read, certificates next
            paused.set()
            resume.wait(JOIN_TIMEOUT)

    def job() -> None:
        try:
            outcome["scan"] = services.run_scan(row.pk, progress=hook)
        except BaseException as exc:  # noqa: B036 - reported to the main thread
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=job, name="scan-job")
    thread.start()
    try:
        assert paused.wait(JOIN_TIMEOUT), "the scan never reached its reading"
        running = Scan.objects.get(pk=row.pk)
        assert (running.status, running.phase) == ("running", "reading") and 0 < running.fraction < 1
        issued = certificates.issue(bw_officer, certificate_request())  # while the scan is mid-way
        confirmed = certificates.confirm(eu_officer, waiting.number, receipt(waiting.number))
    finally:
        resume.set()
        thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive(), "the scan did not finish"
    assert "error" not in outcome, outcome
    assert issued.status == "issued" and confirmed.status == "confirmed"
    done = Scan.objects.get(pk=row.pk)
    assert (done.status, done.phase, done.fraction, done.error) == ("succeeded", "done", 1.0, None)
    assert done.started_at is not None and done.finished_at is not None and done.findings is not None
    order = [p for i, (p, _f) in enumerate(phases) if i == 0 or phases[i - 1][0] != p]
    assert order == ["reading", "analysing", "writing", "done"]
    assert [f for _p, f in phases] == sorted(f for _p, f in phases)  # progress only moves forward
    assert statistics.check_trade_cells() == 0


def test_the_worker_runs_queued_scans_and_the_expiry(bw_officer: Any) -> None:
    """`kpcs worker`'s round: the expiry job it enqueues itself (CERT-09), then every queued scan."""
    lapsed = certificates.issue(bw_officer, certificate_request(), now=clock.now() - dt.timedelta(days=90))
    current = certificates.issue(bw_officer, certificate_request())
    # before any job ran, statistics already judge the lapsed certificate expired: no export
    exported = [f for f in statistics.derived_facts(participant="BW") if f.flow == "export"]
    assert sum(f.certificates or 0 for f in exported) == 1
    assert Certificate.objects.get(number=lapsed.number).status == "issued"
    row = services.start_scan(WGS, participant="EU")
    assert DBTaskResult.objects.ready().count() == 1
    worker.work(interval=0, once=True, expiry_every=3600)
    assert Certificate.objects.get(number=lapsed.number).status == "expired"
    assert Certificate.objects.get(number=current.number).status == "issued"
    [expired] = AuditEntry.objects.filter(action="certificate.expired")
    assert (expired.object_id, expired.actor) == (lapsed.number, "kpcs worker")
    assert Scan.objects.get(pk=row.pk).status == "succeeded"
    assert set(DBTaskResult.objects.values_list("task_path", "status")) == {
        ("kpcs.certificates.tasks.expire_due", TaskResultStatus.SUCCEEDED),
        ("kpcs.monitoring.tasks.run_scan", TaskResultStatus.SUCCEEDED)}
    # the statistics say the same after the job as before it, and the cells match the certificates again
    assert [f for f in statistics.derived_facts(participant="BW") if f.flow == "export"] == exported
    assert statistics.check_trade_cells() == 0
    assert [e.action for e in AuditEntry.objects.filter(object_type="scan").order_by("seq")] == [
        "monitoring.scan_started", "monitoring.scan_finished"]


def test_a_failed_scan_keeps_its_error(kp: Any, monkeypatch: Any) -> None:
    refused = services.start_scan(WGS)

    def refuse(**_kwargs: Any) -> list[Any]:
        raise ValidationFailed("thresholds out of range", code="invalid_thresholds")

    monkeypatch.setattr(services, "analyse", refuse)
    worker.work(interval=0, once=True, expiry_every=3600)
    failed = Scan.objects.get(pk=refused.pk)
    assert failed.status == "failed" and failed.error == {"code": "invalid_thresholds",
                                                          "message": "thresholds out of range", "details": {}}
    assert services.scan_dict(failed)["outcome"] is None

    def crash(**_kwargs: Any) -> list[Any]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "analyse", crash)
    crashed = services.start_scan(WGS)
    worker.work(interval=0, once=True, expiry_every=3600)
    row = Scan.objects.get(pk=crashed.pk)
    assert row.status == "failed" and row.error["code"] == "scan_failed" and "disk full" not in str(row.error)
    job = DBTaskResult.objects.get(id=row.task_id)
    assert job.status == TaskResultStatus.FAILED and "disk full" in job.traceback  # the operator's log
    finished = [json.loads(e.payload) for e in AuditEntry.objects.filter(action="monitoring.scan_finished")
                .order_by("seq")]
    assert [(p["status"], p["error"]) for p in finished] == [("failed", "invalid_thresholds"),
                                                            ("failed", "scan_failed")]


def test_a_job_delivered_twice_runs_once(kp: Any) -> None:
    row = services.start_scan(WGS)
    first = services.run_scan(row.pk)
    again = services.run_scan(row.pk)
    assert first.status == again.status == "succeeded" and again.finished_at == first.finished_at
    assert AuditEntry.objects.filter(action="monitoring.scanned").count() == 1


def test_kpcs_worker_once(bw_officer: Any) -> None:
    lapsed = certificates.issue(bw_officer, certificate_request(), now=clock.now() - dt.timedelta(days=90))
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "kpcs worker" in result.output
    assert Certificate.objects.get(number=lapsed.number).status == "expired"


HANGING_WORKER = """
import sys

import django

django.setup()
from kpcs.cli import worker
from kpcs.monitoring import services


def hang(**_kwargs):
    print("scanning", flush=True)
    sys.stdin.read()  # until the process is killed


services.analyse = hang
worker.work(interval=0, once=True, expiry_every=3600)
"""


def database_url() -> str:
    """The test database, for another process."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_a_scan_whose_worker_was_killed_is_marked_failed_and_a_new_one_runs(kp: Any, settings: Any) -> None:
    """A worker process killed in the middle of a scan leaves it `running` and its job `RUNNING`; the next
    worker, when it starts, marks both failed once the scan has been silent for KPCS_SCAN_STALE seconds."""
    row = services.start_scan(WGS)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kpcs.settings", "KPCS_DATABASE_URL": database_url()}
    proc = subprocess.Popen([sys.executable, "-c", HANGING_WORKER], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line == "scanning\n", proc.communicate(timeout=JOIN_TIMEOUT)
    finally:
        proc.kill()  # SIGKILL: nothing of the worker runs any more
        proc.communicate(timeout=JOIN_TIMEOUT)
    left = Scan.objects.get(pk=row.pk)
    assert (left.status, left.phase) == ("running", "reading") and left.heartbeat_at is not None
    assert DBTaskResult.objects.get(id=left.task_id).status == TaskResultStatus.RUNNING

    worker.work(interval=0, once=True, expiry_every=3600)  # silent for less than KPCS_SCAN_STALE: still running
    assert Scan.objects.get(pk=row.pk).status == "running"
    settings.KPCS_SCAN_STALE = 0  # as if the default five minutes had passed
    worker.work(interval=0, once=True, expiry_every=3600)
    lost = Scan.objects.get(pk=row.pk)
    assert lost.status == "failed" and lost.error["code"] == "worker_lost" and lost.finished_at is not None
    assert lost.error["details"] == {"last_sign_of_life": left.heartbeat_at.isoformat(), "phase": "reading"}
    assert services.scan_dict(lost)["error"]["message"].startswith("the worker running this scan stopped")
    job = DBTaskResult.objects.get(id=lost.task_id)
    assert job.status == TaskResultStatus.FAILED and job.finished_at is not None
    [entry] = AuditEntry.objects.filter(action="monitoring.scan_finished")
    assert (entry.actor, json.loads(entry.payload)["error"]) == ("kpcs worker", "worker_lost")

    settings.KPCS_SCAN_STALE = 300
    again = services.start_scan(WGS)
    worker.work(interval=0, once=True, expiry_every=3600)
    assert Scan.objects.get(pk=again.pk).status == "succeeded"
    assert Scan.objects.get(pk=row.pk).status == "failed"  # marked once


def test_a_long_scan_keeps_signing_of_life(kp: Any, settings: Any, monkeypatch: Any) -> None:
    """While the analysis is silent (no progress to report), the heartbeat thread writes `heartbeat_at`, so a
    live scan is never taken for a lost one."""
    settings.KPCS_SCAN_HEARTBEAT = 0.01
    beaten = threading.Event()

    class Observed(services._Heartbeat):
        def beat(self) -> None:
            super().beat()
            beaten.set()

    monkeypatch.setattr(services, "_Heartbeat", Observed)
    row = services.start_scan(WGS)
    seen: dict[str, Any] = {}

    def hook(phase: str, fraction: float) -> None:
        if phase == "analysing" and "before" not in seen:  # the analysis is about to run: no report for a while
            seen["before"] = Scan.objects.get(pk=row.pk).heartbeat_at
            beaten.clear()
            # two beats: the first may have read the clock before `before` was read; the second began after it
            seen["beaten"] = beaten.wait(JOIN_TIMEOUT)
            beaten.clear()
            seen["beaten"] = seen["beaten"] and beaten.wait(JOIN_TIMEOUT)
            seen["after"] = Scan.objects.get(pk=row.pk).heartbeat_at

    done = services.run_scan(row.pk, progress=hook)
    assert done.status == "succeeded" and seen["beaten"]
    assert seen["after"] > seen["before"]
    assert services.fail_lost_scans() == []


def test_a_sign_of_life_never_moves_back(kp: Any, monkeypatch: Any) -> None:
    """The heartbeat thread and the progress reports both write `heartbeat_at`; the one that read the clock first
    may commit last, and must not put the time back (a live scan would look silent for longer than it was)."""
    row = services.start_scan(WGS)
    later = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    Scan.objects.filter(pk=row.pk).update(status="running", heartbeat_at=later)
    monkeypatch.setattr(clock, "now", lambda: later - dt.timedelta(seconds=5))
    services._Heartbeat(row.pk, 60).beat()
    assert Scan.objects.get(pk=row.pk).heartbeat_at == later
    monkeypatch.setattr(clock, "now", lambda: later + dt.timedelta(seconds=5))
    services._Heartbeat(row.pk, 60).beat()
    assert Scan.objects.get(pk=row.pk).heartbeat_at == later + dt.timedelta(seconds=5)
    Scan.objects.filter(pk=row.pk).update(heartbeat_at=None)
    services._Heartbeat(row.pk, 60).beat()  # none yet: the first sign of life
    assert Scan.objects.get(pk=row.pk).heartbeat_at == later + dt.timedelta(seconds=5)


def test_a_scan_whose_worker_died_before_starting_it_is_marked_failed(kp: Any, settings: Any) -> None:
    """A worker killed between claiming a scan's job and starting the scan leaves the job `RUNNING` (no other
    worker claims it again) and the scan `queued`; a worker looking after KPCS_SCAN_STALE seconds fails both."""
    from django.utils import timezone

    row = services.start_scan(WGS)
    claimed = timezone.now() - dt.timedelta(seconds=60)  # what the dead worker's claim left behind
    DBTaskResult.objects.filter(id=row.task_id).update(status=TaskResultStatus.RUNNING, started_at=claimed,
                                                      worker_ids=["a-worker-that-died"])
    worker.work(interval=0, once=True, expiry_every=3600)  # claimed a minute ago, less than KPCS_SCAN_STALE
    assert Scan.objects.get(pk=row.pk).status == "queued"
    settings.KPCS_SCAN_STALE = 30
    worker.work(interval=0, once=True, expiry_every=3600)
    lost = Scan.objects.get(pk=row.pk)
    assert lost.status == "failed" and lost.error["code"] == "worker_lost" and lost.finished_at is not None
    assert services.scan_dict(lost)["error"]["message"].startswith("the worker that took this scan stopped")
    assert DBTaskResult.objects.get(id=row.task_id).status == TaskResultStatus.FAILED
    [entry] = AuditEntry.objects.filter(action="monitoring.scan_finished")
    assert json.loads(entry.payload)["error"] == "worker_lost"
    again = services.start_scan(WGS)
    worker.work(interval=0, once=True, expiry_every=3600)
    assert Scan.objects.get(pk=again.pk).status == "succeeded"
