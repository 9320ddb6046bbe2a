"""Scheduled job of the certificates app: expire unused certificates past their expiry date (CERT-09).

`kpcs worker` enqueues it every KPCS_EXPIRY_INTERVAL seconds (hourly by default) and runs it like any job:
django-tasks has no periodic tasks of its own. Reading judges effective status anyway, so statistics and
findings are right between two runs."""

from __future__ import annotations

from django_tasks import task

from kpcs.certificates import services
from kpcs.registry.services import Actor

# The node expires its own certificates: node-operator work that no role holds (docs/decisions.md, Actors).
WORKER = Actor("kpcs worker", system=True)


@task()
def expire_due() -> int:
    """Mark expired every certificate past its expiry date that was never used; returns how many."""
    return len(services.expire_due(actor=WORKER))
