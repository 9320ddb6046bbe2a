"""`kpcs worker`: run background jobs (statistics scans started over the API) and the hourly expiry of unused
certificates (CERT-09). `kpcs serve` starts one beside the web server."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

import typer

from kpcs.cli.common import fail, out, setup

commands = typer.Typer()  # top-level commands, added to the main app by register()


def register(app: typer.Typer) -> None:
    app.registered_commands.extend(commands.registered_commands)


@commands.command()
def worker(interval: float = typer.Option(1.0, min=0.0, help="seconds between looks for new jobs"),
           once: bool = typer.Option(False, help="run the jobs waiting now (and the expiry), then exit"),
           parent: int = typer.Option(0, hidden=True, help="exit when this process is gone (set by `kpcs serve`)"),
           ) -> None:
    """Run background jobs: statistics scans asked for over the API, and every hour the expiry of certificates
    past their expiry date and never used (CERT-09)."""
    setup()
    from django.conf import settings
    from django_tasks import task_backends
    from django_tasks.backends.database import DatabaseBackend

    if not isinstance(task_backends["default"], DatabaseBackend):
        raise fail(f"`kpcs worker` runs jobs of the database task backend; KPCS_TASK_BACKEND is "
                   f"{settings.TASKS['default']['BACKEND']}: run that backend's own worker")
    out.print(f"kpcs worker: running jobs (expiry every {settings.KPCS_EXPIRY_INTERVAL} s)", highlight=False)
    work(interval=interval, once=once, expiry_every=settings.KPCS_EXPIRY_INTERVAL,
         alive=(lambda: os.getppid() == parent) if parent else (lambda: True))


def work(*, interval: float, once: bool, expiry_every: float, alive: Callable[[], bool] | None = None) -> None:
    """Run every ready job, wait `interval`, again; every `expiry_every` seconds first enqueue the expiry job
    (django-tasks has no schedules of its own). `once`: one round, then return (also what tests call)."""
    from django.db import close_old_connections
    from django_tasks.backends.database.management.commands.db_worker import Worker
    from django_tasks.base import DEFAULT_TASK_QUEUE_NAME
    from django_tasks.utils import get_random_id

    from kpcs.certificates import tasks as certificate_tasks

    jobs = Worker(queue_names=[DEFAULT_TASK_QUEUE_NAME], interval=interval, batch=True, backend_name="default",
                  startup_delay=False, max_tasks=None, worker_id=get_random_id())
    if not once:
        jobs.configure_signals()  # SIGTERM/SIGINT: finish the running job, then stop
    next_expiry = next_lost_check = 0.0
    while jobs.running and (alive is None or alive()):
        if time.monotonic() >= next_lost_check:  # at start-up, then every minute
            settle_lost_scans()
            next_lost_check = time.monotonic() + LOST_CHECK_EVERY
        if time.monotonic() >= next_expiry:
            certificate_tasks.expire_due.enqueue()
            next_expiry = time.monotonic() + expiry_every
        run_ready(jobs)
        if once:
            return
        close_old_connections()  # as Django does between requests (not in `once`: a test's transaction)
        time.sleep(interval)


LOST_CHECK_EVERY = 60.0  # seconds between two looks for scans whose worker died


def settle_lost_scans() -> int:
    """Scans whose worker died (killed: no sign of life for KPCS_SCAN_STALE seconds) are marked failed, and so
    are their jobs in the task backend, which would otherwise say `RUNNING` for ever. Returns how many."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone
    from django_tasks import TaskResultStatus
    from django_tasks.backends.database.models import DBTaskResult

    from kpcs.monitoring import services as monitoring

    lost = monitoring.fail_lost_scans()
    # a worker killed between claiming a scan's job and starting the scan: the job says RUNNING, the scan `queued`
    claimed_before = timezone.now() - dt.timedelta(seconds=settings.KPCS_SCAN_STALE)
    stuck = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=claimed_before)
    lost += monitoring.fail_unstarted_scans(str(pk) for pk in stuck.values_list("id", flat=True))
    for row in lost:
        if row.task_id:
            with transaction.atomic():
                DBTaskResult.objects.filter(id=row.task_id, status=TaskResultStatus.RUNNING).update(
                    status=TaskResultStatus.FAILED, finished_at=timezone.now(),
                    exception_class_path="kpcs.cli.worker.WorkerLost",
                    traceback=f"the worker running scan {row.pk} stopped without finishing it")
    if lost:
        out.print(f"kpcs worker: {len(lost)} scan(s) whose worker died marked failed: "
                  f"{', '.join(str(r.pk) for r in lost)}", highlight=False)
    return len(lost)


def run_ready(jobs: Any) -> int:
    """Claim and run ready jobs one at a time until none is left, as django-tasks' `db_worker` does (a row
    locked and claimed in a short transaction, so several workers never run the same job); returns how many."""
    from django.db import transaction
    from django_tasks.backends.database.models import DBTaskResult

    done = 0
    while jobs.running:
        ready = DBTaskResult.objects.ready().filter(backend_name=jobs.backend_name, queue_name__in=jobs.queue_names)
        if not ready.exists():  # a plain read first: an idle worker never takes SQLite's write lock
            return done
        # PostgreSQL: the row is locked (FOR UPDATE SKIP LOCKED); SQLite: our transactions are IMMEDIATE, which
        # takes the write lock at BEGIN (django-tasks' own BEGIN EXCLUSIVE cannot nest in a test's transaction)
        with transaction.atomic(using=ready.db):
            claimed = ready.get_locked()
            if claimed is not None:
                claimed.claim(jobs.worker_id)
        if claimed is None:
            return done
        jobs.run_task(claimed)
        done += 1
    return done
