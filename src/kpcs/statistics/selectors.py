"""Read-only queries the statistics app publishes to other apps.

Annual reports (STAT-11, MON-01) are recorded here (`services.record_annual_report`, `POST
/statistics/annual-reports`); the Working Group on Monitoring only shows their status.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Min

from kpcs.statistics import rules
from kpcs.statistics.models import AnnualReport


def annual_report_status(year: int, participants: Iterable[str], as_of: dt.date) -> list[dict[str, Any]]:
    """Each participant's annual report on `year`: due 31 March of the next year, the day it was received (the
    node's clock when it was first recorded) and its status as of `as_of` (received, late, missing, pending)."""
    due = rules.annual_report_due(year)
    received = dict(AnnualReport.objects.filter(year=year).values_list("participant")
                    .annotate(first=Min("received_on")).order_by())  # the first receipt; revisions do not move it
    return [{"participant": code, "year": year, "due_on": due, "received_on": received.get(code),
             "status": rules.obligation_status(received.get(code), due, as_of)} for code in participants]
