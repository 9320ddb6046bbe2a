"""The one clock services read "now" from, so rules take dates as parameters (DOMAIN: Time)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def now() -> dt.datetime:
    return timezone.now()


def today() -> dt.date:
    return now().date()
