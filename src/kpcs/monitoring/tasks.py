"""Background jobs of the statistics analysis, run by `kpcs worker` (django-tasks; the backend is settings.TASKS).

Arguments are plain values (the job is stored as JSON); what the job did is kept on our own `Scan` record."""

from __future__ import annotations

from django_tasks import task

from kpcs.monitoring import services


@task()
def run_scan(scan_id: int) -> str:
    """Run one scan asked for over the API (POST /findings/scan)."""
    return services.run_scan(scan_id).status
