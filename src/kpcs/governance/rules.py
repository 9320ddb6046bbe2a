"""Governance rules (GOV-02, GOV-03, GOV-05, GOV-07): consensus, written procedure, chairs, admission.

Plain functions over plain values; no database, no request.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DECISION_TYPES = ("administrative", "admission", "suspension", "self_suspension", "removal", "readmission",
                  "measure", "amendment", "notice")
PROCEDURES = ("plenary", "written")
DECISION_STATUSES = ("proposed", "adopted", "rejected", "withdrawn")
POSITIONS = ("support", "object", "abstain", "comment")
MEETING_KINDS = ("plenary", "intersessional", "special_plenary")
RECOMMENDATIONS = ("admit", "defer", "reject")
# What an adopted decision records as the participant's status from its effective date (readmission and
# admission end a restriction or an application: `active`).
STATUS_EFFECT = {"suspension": "suspended", "self_suspension": "self_suspended", "removal": "removed",
                 "readmission": "active", "admission": "active"}
NEEDS_PARTICIPANT = frozenset(STATUS_EFFECT) | {"measure"}
# A later decision of these types may lift a measure in force from its effective date (SPEC-01, SPEC-07): the
# measure's validity is closed at that date, never edited silently.
LIFTING_TYPES = ("measure", "administrative")
# The roles a participant or an observer organisation holds in a working group or committee.
MEMBER_ROLES = ("chair", "vice_chair", "member")
# An administrative decision may change its participant's policy (CERT-09 validity, IMP-02 confirmation
# deadline) from its effective date: {"validity_days", "confirmation_days"}, either or both.
POLICY_TYPES = frozenset({"administrative"})
POLICY_KEYS = ("validity_days", "confirmation_days")
AMENDMENT_NOTICE_DAYS = 90  # GOV-07
CIRCULATION_MONTHS = 1  # GOV-05: an application is circulated to all participants within one month


@dataclass(frozen=True)
class Stance:
    """One position as recorded: who (a participant's code, or an observer's label), what, when, in order."""

    who: str
    position: str
    at: dt.datetime
    seq: int = 0
    counts: bool = True  # a delegate's position counts; an observer's is a comment


def current_positions(stances: Iterable[Stance]) -> dict[str, Stance]:
    """The latest position of each participant or observer: later positions supersede earlier ones."""
    out: dict[str, Stance] = {}
    for s in sorted(stances, key=lambda s: (s.at, s.seq)):
        out[s.who] = s
    return out


def objectors(stances: Iterable[Stance]) -> list[str]:
    """Participants whose current position is an objection; observers never block (GOV-03, GOV-04)."""
    return sorted(who for who, s in current_positions(stances).items() if s.counts and s.position == "object")


def consensus(stances: Iterable[Stance]) -> bool:
    """Consensus: no participant objects (GOV-03). Silence and abstention do not block."""
    return not objectors(stances)


def recorded_position(position: str, *, observer: bool) -> str:
    """An observer's position is a comment, whatever it says (an objection is never a block)."""
    return "comment" if observer else position


def deadline_passed(deadline: dt.date, today: dt.date) -> bool:
    """Positions may be taken through the deadline day; the procedure closes the day after."""
    return today > deadline


def written_outcome(deadline: dt.date, today: dt.date, stances: Iterable[Stance]) -> str:
    """A written procedure: `pending` until its deadline has passed, then `adopted` if no participant objects,
    else `rejected` (GOV-03)."""
    if not deadline_passed(deadline, today):
        return "pending"
    return "adopted" if consensus(stances) else "rejected"


def amendment_in_time(proposed_on: dt.date, plenary_starts_on: dt.date) -> bool:
    """GOV-07: a core-document amendment is proposed at least 90 days before the Plenary that considers it."""
    return (plenary_starts_on - proposed_on).days >= AMENDMENT_NOTICE_DAYS


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def circulation_due(applied_on: dt.date) -> dt.date:
    """GOV-05: the last day to circulate an application to all participants."""
    return add_months(applied_on, CIRCULATION_MONTHS)


def lift_refusal(valid_from: dt.date, valid_to: dt.date | None, on: dt.date) -> str | None:
    """Why a measure valid from `valid_from` (to `valid_to`, exclusive) cannot be lifted from `on`, or None.

    `before_start`: the end would not be after its start (a measure never in force is not lifted: SPEC-07 keeps
    history interpretable); `ended`: it no longer applies on that day (already ended or lifted)."""
    if on <= valid_from:
        return "before_start"
    if valid_to is not None and valid_to <= on:
        return "ended"
    return None


def membership_overlaps(periods: Iterable[tuple[dt.date, dt.date | None]], valid_from: dt.date,
                        valid_to: dt.date | None) -> bool:
    """Whether a membership [valid_from, valid_to) overlaps one of the periods (end exclusive, None = open)."""
    for start, end in periods:
        if (end is None or valid_from < end) and (valid_to is None or start < valid_to):
            return True
    return False


def member_on(valid_from: dt.date, valid_to: dt.date | None, day: dt.date) -> bool:
    return valid_from <= day and (valid_to is None or day < valid_to)


def chair_on(day: dt.date, chairs: Mapping[int, tuple[str | None, str | None]]) -> tuple[str | None, str | None]:
    """(Chair, Vice-Chair) on a day (GOV-02): the year's Chair; for a year not on record, the Vice-Chair
    selected the year before, who becomes Chair on 1 January. The Vice-Chair is the year's, if known."""
    chair, vice = chairs.get(day.year, (None, None))
    if chair is None:
        chair = chairs.get(day.year - 1, (None, None))[1]
    return chair, vice

# The working groups and committees (issue 8, item 2), seeded by a migration.
WORKING_GROUPS = (
    ("statistics", "Working Group on Statistics"),
    ("monitoring", "Working Group on Monitoring"),
    ("diamond_experts", "Working Group of Diamond Experts"),
    ("artisanal_alluvial", "Working Group on Artisanal and Alluvial Production"),
    ("participation_chairmanship", "Committee on Participation and Chairmanship"),
)
