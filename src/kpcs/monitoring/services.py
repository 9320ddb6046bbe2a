"""Monitoring use cases: run the anomaly analysis, keep its findings, and follow them up (STAT-09, MON-09).

A finding's fingerprint (rule, participant, period, subject) makes re-running the analysis update it
instead of duplicating it; its workflow is open → clarification_requested → answered → closed | escalated.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.certificates import selectors as certificates
from kpcs.errors import Conflict, DomainError, NotFound, ValidationFailed
from kpcs.monitoring import rules
from kpcs.monitoring.models import (
    Finding,
    FindingEvent,
    FollowUp,
    Questionnaire,
    Recommendation,
    Review,
    ReviewComment,
    ReviewTeamMember,
    Scan,
)
from kpcs.registry import rules as registry_rules
from kpcs.registry import services as registry
from kpcs.registry.services import Actor
from kpcs.statistics import selectors as statistics
from kpcs.statistics.rules import parse_period, periods_of_year

# (from, action) -> to: the workflow of a finding
WORKFLOW = {
    ("open", "request_clarification"): "clarification_requested",
    ("clarification_requested", "answer"): "answered",
    ("open", "close"): "closed",
    ("answered", "close"): "closed",
    ("clarification_requested", "close"): "closed",
    ("open", "escalate"): "escalated",
    ("answered", "escalate"): "escalated",
    ("clarification_requested", "escalate"): "escalated",
}


def certificate_shipments(prices: Mapping[tuple[str, int], Decimal], th: rules.Thresholds,
                          as_of: dt.date | None = None) -> list[rules.Shipment]:
    """Certificates whose gem-quality US$/ct lies outside the band around their origin's production price.

    The database pre-selects candidates per origin and year (a band check on two integer columns,
    `certificates.selectors.priced_outside`); the pure rule then judges each candidate exactly. A certificate
    past its expiry date on `as_of` and never used is no shipment (effective status, CERT-09), whether or not
    the expiry job has written it yet.
    """
    as_of = as_of or clock.today()
    out: list[rules.Shipment] = []
    origins = sorted({o for o, _year in prices})
    if not origins:
        return out
    span = certificates.issued_between(origins)  # a year without such certificates finds nothing
    if span is None:
        return out
    min_centi = int(th.certificate_min_carats * 100)
    bands = []
    for year in range(span[0].year, span[1].year + 1):
        for origin in origins:
            ref = rules.reference_price(prices, origin, year)
            if ref is not None:
                bands.append((origin, year, float(ref[0] / th.certificate_factor),
                              float(ref[0] * th.certificate_factor)))
    for number, p, origin, day, c, v in certificates.priced_outside(
            bands, statuses=certificates.EXPORTED, min_gem_centi=min_centi, as_of=as_of):
        out.append(rules.Shipment(number, p, day, origin, Decimal(c) / 100, Decimal(v) / 100, False, "certificate"))
    return out


def overdue_certificates(as_of: dt.date) -> list[rules.Overdue]:
    """IMP-02: certificates unconfirmed past the exporting participant's deadline on `as_of`, and not expired
    then (CERT-09): an expired, unused certificate is no longer awaited by the importer, from the day it expires,
    whether its status is already `expired` or the expiry job has not reached it yet (effective status)."""
    out = []
    snap = registry.snapshot()
    # IMP-02: each certificate by the exporting participant's deadline in force on its issue day
    # none issued within the shortest deadline of any policy can be overdue yet
    shortest = min([registry_rules.DEFAULT_CONFIRMATION_DAYS]  # the default, for those without a policy
                   + [p.confirmation_days for history in snap.participants.values() for p in history])
    last_issue_day = as_of - dt.timedelta(days=shortest)
    for number, exp, imp, issued_on, c, v in certificates.awaiting_confirmation(as_of, last_issue_day):
        due = issued_on + dt.timedelta(days=snap.policy_on(exp, issued_on).confirmation_days)
        if as_of > due:
            out.append(rules.Overdue(number, exp, imp, issued_on, due, Decimal(c) / 100, Decimal(v) / 100))
    return out


Progress = Callable[[str, float], None]  # (phase: reading, analysing, writing, done; fraction of the whole, 0..1)


def _no_progress(phase: str, fraction: float) -> None:
    return None


def analyse(*, as_of: dt.date | None = None, thresholds: rules.Thresholds | None = None,
            progress: Progress = _no_progress) -> list[rules.Finding]:
    """Run every rule over everything the node knows (history matters, so no period filter here).

    Reads only, each query streamed and outside any transaction: on SQLite (IMMEDIATE transactions) a
    transaction would take the write lock for the whole analysis, and issuing or confirming would wait.
    """
    th = thresholds or rules.Thresholds(due_months=settings.KPCS_STATISTICS_DUE_MONTHS)
    as_of = as_of or clock.today()
    progress("reading", 0.0)
    statuses = registry.snapshot().statuses
    # origins matter to the rules only for trade with a participant while it was barred (embargoed-trade)
    facts = statistics.effective_facts(by_hs=False, as_of=as_of, origins_within=rules.barred_spans(statuses))
    progress("reading", 0.3)
    # rolled up once, from the figures the rules judge (a participant's own periods), for the rules and for the
    # price band that picks the candidate certificates: the same origin prices in both
    judged = rules.as_participant(facts, statuses)
    view = rules.YearlyView(judged)
    shipments = rules.shipments_from_facts(facts) + certificate_shipments(rules.origin_prices(view, th), th, as_of)
    progress("reading", 0.5)
    overdue = overdue_certificates(as_of)
    reports, reports_from = statistics.annual_reports(), statistics.annual_reports_from()
    progress("analysing", 0.6)
    return rules.analyse(facts, shipments=shipments, overdue=overdue, statuses=statuses, annual_reports=reports,
                         annual_reports_from=reports_from, as_of=as_of, thresholds=th, view=view, judged=judged,
                         customs=statistics.customs_facts())


def _in_scope(f: rules.Finding, period: str | None, participant: str | None) -> bool:
    if participant and f.participant != participant:
        return False
    if period:
        want = parse_period(period)
        have = parse_period(f.period)
        return want.contains(have) or have.contains(want)
    return True


def _check_scope(period: str | None) -> None:
    if period:
        try:
            parse_period(period)
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="invalid_period") from None


@dataclass
class ScanOutcome:
    findings: list[Finding]
    created: int
    revised: int


def scan(actor: Actor, *, period: str | None = None, participant: str | None = None, as_of: dt.date | None = None,
         thresholds: rules.Thresholds | None = None, progress: Progress = _no_progress) -> list[Finding]:
    """Analyse, then create or update the findings in scope; their workflow status is kept. Synchronous: the
    CLI (`kpcs analyse`) and tests; the API starts a background job instead (`start_scan`)."""
    registry.require(actor, "finding.manage")
    _check_scope(period)
    return _scan(actor.label, period=period, participant=participant, as_of=as_of, thresholds=thresholds,
                 progress=progress).findings


WRITE_CHUNK = 100  # new or changed findings per write transaction (each with its audit entry)
# Seconds between two such transactions. SQLite's busy handler makes a waiting writer retry at growing intervals
# (up to 100 ms): without a pause, back-to-back chunks kept an issue waiting for the whole writing phase (0.9 s
# at 1M certificates, hundreds of new findings); with 30 ms, about 0.1 s. 0.6 s more for a first scan's 2,000.
WRITE_PAUSE = 0.03
PROGRESS_EVERY = 0.5  # seconds between two writes of a running scan's progress in its writing phase (`run_scan`)


def _scan(by: str, *, period: str | None, participant: str | None, as_of: dt.date | None,
          thresholds: rules.Thresholds | None, progress: Progress) -> ScanOutcome:
    """The analysis reads outside any transaction (`analyse`); the findings are then compared with those kept,
    still outside any transaction, and only the new and changed ones written, in short transactions of
    WRITE_CHUNK findings (each with its audit entry); the unchanged ones' `last_seen` is one UPDATE in the last
    transaction, with the `monitoring.scanned` entry: a re-scan that changes nothing writes once. Between two
    chunks the scan pauses (WRITE_PAUSE): on SQLite a waiting writer polls for the lock and would lose it to
    chunks that follow each other closely (MON-09)."""
    found = [f for f in analyse(as_of=as_of, thresholds=thresholds, progress=progress)
             if _in_scope(f, period, participant)]
    progress("writing", 0.9)
    now = clock.now()
    kept: list[Finding | None] = [None] * len(found)
    unchanged: list[int] = []
    created = revised = 0
    for start in range(0, len(found), WRITE_CHUNK):
        chunk = found[start:start + WRITE_CHUNK]
        existing = {f.fingerprint: f for f in Finding.objects.filter(fingerprint__in=[x.fingerprint
                                                                                      for x in chunk])}
        changed = []
        for i, f in enumerate(chunk, start=start):
            row = existing.get(f.fingerprint)
            if row is not None and _unchanged(row, f):
                row.last_seen = now
                unchanged.append(row.pk)
                kept[i] = row
            else:
                changed.append((i, f))
        if changed:
            # what the new ones will store and their record hash (RFC 8785, pure Python), before taking the lock
            prepared = {f.fingerprint: _prepare(f) for _i, f in changed if f.fingerprint not in existing}
            with transaction.atomic():  # read again under the lock: another scan may have written them meanwhile
                fresh = {f.fingerprint: f for f in Finding.objects.filter(fingerprint__in=[f.fingerprint
                                                                                           for _i, f in changed])}
                new = [(i, f) for i, f in changed if f.fingerprint not in fresh]
                rows = _create_findings(by, [(f, prepared.get(f.fingerprint) or _prepare(f)) for _i, f in new], now)
                for (i, _f), row in zip(new, rows, strict=True):
                    kept[i] = row
                created += len(new)
                for i, f in changed:
                    if f.fingerprint in fresh:
                        row, change = _record_finding(by, f, fresh[f.fingerprint], now)
                        revised += change == "revised"
                        kept[i] = row
            if start + WRITE_CHUNK < len(found):
                time.sleep(WRITE_PAUSE)  # a writer waiting for the lock gets it before our next chunk
        progress("writing", 0.9 + 0.1 * (start + len(chunk)) / len(found))
    rows = [r for r in kept if r is not None]
    with transaction.atomic():
        for start in range(0, len(unchanged), 500):
            Finding.objects.filter(pk__in=unchanged[start:start + 500]).update(last_seen=now)
        audit.record(actor=by, action="monitoring.scanned", object_type="analysis", object_id=now.isoformat(),
                     payload={"period": period, "participant": participant, "findings": len(found), "new": created,
                              "revised": revised,
                              "seen_hash": audit.record_hash({"last_seen": sorted(r.pk for r in rows)})})
    progress("done", 1.0)
    return ScanOutcome(rows, created, revised)


def _says(severity: str, summary: str, evidence: Any) -> str:
    """What a finding says, as comparable text (plain JSON: equal texts are equal canonical records)."""
    return json.dumps([severity, summary, evidence], sort_keys=True, ensure_ascii=False)


def _unchanged(row: Finding, f: rules.Finding) -> bool:
    """Whether the finding says what the kept row says (then only its `last_seen` moves). Compared as plain
    JSON texts: the record hash (RFC 8785, pure Python) is computed only when something changed."""
    evidence = json.loads(json.dumps(f.evidence, default=_decimal_text))  # as the JSON column gives it back
    return _says(row.severity, row.summary, row.evidence) == _says(f.severity, f.summary, evidence)


def _prepare(f: rules.Finding) -> tuple[Any, str]:
    """A new finding's evidence as stored, and the record hash of what it says (`_finding_hash` of its row)."""
    evidence = _jsonable(f.evidence)
    return evidence, _says_hash(f.severity, f.summary, evidence)


def _create_findings(by: str, found: list[tuple[rules.Finding, tuple[Any, str]]], now: dt.datetime) -> list[Finding]:
    """Create new findings (each with what `_prepare` made of it) in bulk, inside the caller's transaction: one
    INSERT of the findings (their ids come back on SQLite and PostgreSQL), one of their `open` events, one append
    of their `finding.found` entries to the audit log (`audit.record_many`, chained as one by one). A first scan
    creates thousands (MON-09)."""
    if not found:
        return []
    rows = Finding.objects.bulk_create([
        Finding(fingerprint=f.fingerprint, rule=f.rule, participant=f.participant, period=f.period,
                subject=f.subject, severity=f.severity, summary=f.summary, evidence=evidence,
                first_seen=now, last_seen=now) for f, (evidence, _hash) in found])
    FindingEvent.objects.bulk_create([FindingEvent(finding=row, from_status="", to_status="open", by=by, at=now,
                                                   note="found by the analysis") for row in rows])
    audit.record_many([
        {"actor": by, "action": "finding.found", "object_type": "finding", "object_id": str(row.pk),
         "participant": row.participant,
         "payload": {"rule": row.rule, "period": row.period, "subject": row.subject, "severity": row.severity,
                     "status": row.status, "record_hash": record_hash}}
        for row, (_f, (_evidence, record_hash)) in zip(rows, found, strict=True)])
    return rows


def _record_finding(by: str, f: rules.Finding, row: Finding, now: dt.datetime) -> tuple[Finding, str]:
    """Update what a kept finding says (its workflow status is kept); audited when what it says changed.
    Returns the row and "revised" or "seen"."""
    before = (row.severity, _finding_hash(row))
    row.severity, row.summary, row.evidence, row.last_seen = f.severity, f.summary, _jsonable(f.evidence), now
    row.save(update_fields=["severity", "summary", "evidence", "last_seen"])
    after = (row.severity, _finding_hash(row))
    if after == before:  # what it says is unchanged: only when it was seen
        return row, "seen"
    audit.record(actor=by, action="finding.revised", object_type="finding", object_id=str(row.pk),
                 participant=row.participant,
                 payload={"severity": {"from": before[0], "to": after[0]},
                          "record_hash": {"from": before[1], "to": after[1]}})
    return row, "revised"


# --- scans as background jobs (`kpcs worker` runs them) ---------------------------------------------

def start_scan(actor: Actor, *, period: str | None = None, participant: str | None = None,
               as_of: dt.date | None = None) -> Scan:
    """Record a scan and queue it for the worker, in one transaction (the database task backend stores the job
    beside the record: both or neither). The job acts for whoever asked, whose right is checked here."""
    registry.require(actor, "finding.manage")
    _check_scope(period)
    from kpcs.monitoring import tasks  # the task module imports these services

    fail_lost_scans()  # a scan whose worker died says so before the next one starts
    with transaction.atomic():
        row = Scan.objects.create(requested_by=actor.label, requested_at=clock.now(), period=period or "",
                                  participant=participant or "", as_of=as_of)
        row.task_id = str(tasks.run_scan.enqueue(row.pk).id)[:64]
        row.save(update_fields=["task_id"])
        audit.record(actor=actor.label, action="monitoring.scan_started", object_type="scan", object_id=str(row.pk),
                     payload={"period": period, "participant": participant,
                              "as_of": as_of.isoformat() if as_of else None})
    return row


def run_scan(scan_id: int, *, progress: Progress = _no_progress) -> Scan:
    """Run a queued scan (the worker's job), reporting its phase and fraction on the record as it goes, then
    its outcome: counts of findings created and revised, or the error. A scan already started is left alone
    (a job delivered twice runs once)."""
    now = clock.now()
    if not Scan.objects.filter(pk=scan_id, status="queued").update(status="running", started_at=now,
                                                                   heartbeat_at=now, phase="reading", fraction=0.0):
        return Scan.objects.get(pk=scan_id)
    row = Scan.objects.get(pk=scan_id)

    written: dict[str, Any] = {"phase": "", "at": 0.0}

    def report(phase: str, fraction: float) -> None:
        # each write is a commit (an fsync on SQLite) taking the write lock: the writing phase reports every chunk
        # (a first scan: 20 of them), and its record follows at most every PROGRESS_EVERY seconds
        t = time.monotonic()
        if phase != "writing" or written["phase"] != phase or t - written["at"] >= PROGRESS_EVERY:
            Scan.objects.filter(pk=scan_id).update(phase=phase, fraction=round(min(max(fraction, 0.0), 1.0), 3),
                                                   heartbeat_at=_later(clock.now()))
            written.update(phase=phase, at=t)
        progress(phase, fraction)

    try:
        with _Heartbeat(scan_id, settings.KPCS_SCAN_HEARTBEAT):
            outcome = _scan(row.requested_by, period=row.period or None, participant=row.participant or None,
                            as_of=row.as_of, thresholds=None, progress=report)
    except DomainError as exc:  # as the API would have answered it
        error = exc.as_dict()["error"]
        if not isinstance(error["details"], dict):
            error["details"] = {"items": error["details"]} if error["details"] is not None else {}
    except Exception as exc:  # noqa: BLE001 - recorded on the scan (the worker logs the traceback)
        error = {"code": "scan_failed", "message": _("the scan failed: %(error)s") % {"error": type(exc).__name__},
                 "details": {}}
        _finish(scan_id, error=error)
        raise
    else:
        return _finish(scan_id, outcome=outcome)
    return _finish(scan_id, error=error)


def _later(now: dt.datetime) -> Any:
    """`heartbeat_at` moved to `now` unless it already holds a later time: the heartbeat thread and the progress
    reports both write it, and the one that took its clock first may commit last."""
    return Greatest(Coalesce(F("heartbeat_at"), Value(now)), Value(now))


class _Heartbeat:
    """While a scan runs, its sign of life (`heartbeat_at`) every `every` seconds, from a thread with its own
    database connection: a long silent stretch of reading or analysing is not taken for a dead worker."""

    def __init__(self, scan_id: int, every: float) -> None:
        self.scan_id, self.every = scan_id, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"scan {scan_id} heartbeat", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(self.every):
                try:
                    self.beat()
                except DatabaseError:  # the database busy for longer than its timeout: the next beat
                    pass
        finally:
            connection.close()  # this thread's own connection

    def beat(self) -> None:
        Scan.objects.filter(pk=self.scan_id, status="running").update(heartbeat_at=_later(clock.now()))

    def __enter__(self) -> _Heartbeat:
        if self.every > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def _fail_lost(still: Q, pks: Iterable[int], by: str, now: dt.datetime, message: Callable[[Scan], str]) -> list[Scan]:
    """Mark failed (`worker_lost`, audited) each scan of `pks` that still matches `still` under its row lock."""
    lost = []
    for pk in list(pks):
        with transaction.atomic():
            row = Scan.objects.select_for_update().filter(still, pk=pk).first()
            if row is None:  # finished, started, or a sign of life, meanwhile
                continue
            last = row.heartbeat_at or row.started_at
            row.status, row.finished_at = "failed", now
            row.error = {"code": "worker_lost", "message": message(row),
                         "details": {"last_sign_of_life": last.isoformat() if last else None, "phase": row.phase}}
            row.save(update_fields=["status", "finished_at", "error"])
            audit.record(actor=by, action="monitoring.scan_finished", object_type="scan", object_id=str(row.pk),
                         payload={"status": row.status, "findings": row.findings, "new": row.created,
                                  "revised": row.revised, "error": "worker_lost"})
        lost.append(row)
    return lost


def fail_lost_scans(*, by: str = "kpcs worker", now: dt.datetime | None = None) -> list[Scan]:
    """Mark failed (`worker_lost`) every running scan silent for more than KPCS_SCAN_STALE seconds: the worker
    running it is gone (killed, or its machine stopped); a live scan writes a sign of life every
    KPCS_SCAN_HEARTBEAT seconds. `kpcs worker` calls it when it starts and every minute, and so does every new
    scan. A plain read first: with nothing lost, no write lock is taken. Returns the scans marked."""
    now = now or clock.now()
    cutoff = now - dt.timedelta(seconds=settings.KPCS_SCAN_STALE)
    silent = Q(status="running") & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))

    def message(row: Scan) -> str:
        last = row.heartbeat_at or row.started_at
        return _("the worker running this scan stopped: no sign of life since %(at)s. Start a new scan.") % {
            "at": f"{last:%Y-%m-%d %H:%M:%S} UTC" if last else "?"}

    return _fail_lost(silent, Scan.objects.filter(silent).values_list("pk", flat=True), by, now, message)


def fail_unstarted_scans(task_ids: Iterable[str], *, by: str = "kpcs worker",
                         now: dt.datetime | None = None) -> list[Scan]:
    """Mark failed (`worker_lost`) the scans still `queued` whose jobs (`task_ids`) a worker claimed long ago and
    never started: it died between claiming the job and starting the scan, and no other worker will claim a job
    the backend holds as running. The task backend's side is the caller's (`kpcs worker`). Returns the scans."""
    queued = Q(status="queued")
    pks = Scan.objects.filter(queued, task_id__in=[str(t) for t in task_ids]).values_list("pk", flat=True)
    return _fail_lost(queued, pks, by, now or clock.now(), lambda _row: _(
        "the worker that took this scan stopped before starting it. Start a new scan."))


def _finish(scan_id: int, *, outcome: ScanOutcome | None = None, error: dict[str, Any] | None = None) -> Scan:
    with transaction.atomic():
        row = Scan.objects.select_for_update().get(pk=scan_id)
        row.finished_at = clock.now()
        if outcome is not None:
            row.status, row.phase, row.fraction = "succeeded", "done", 1.0
            row.findings, row.created, row.revised = len(outcome.findings), outcome.created, outcome.revised
        else:
            row.status, row.error = "failed", error
        row.save()
        audit.record(actor=row.requested_by, action="monitoring.scan_finished", object_type="scan",
                     object_id=str(row.pk),
                     payload={"status": row.status, "findings": row.findings, "new": row.created,
                              "revised": row.revised, "error": (error or {}).get("code")})
    return row


def scans(actor: Actor) -> QuerySet[Scan]:
    """Every scan, newest first: who asked, when, how far it got, what it found (the scans page)."""
    registry.require(actor, "finding.manage")
    return Scan.objects.all()


def get_scan(actor: Actor, scan_id: int) -> Scan:
    registry.require(actor, "finding.manage")
    row = Scan.objects.filter(pk=scan_id).first()
    if row is None:
        raise NotFound(_("scan %(pk)s not found") % {"pk": scan_id})
    return row


def scan_dict(row: Scan) -> dict[str, Any]:
    return {"id": row.pk, "status": row.status, "phase": row.phase, "fraction": row.fraction,
            "requested_by": row.requested_by, "requested_at": row.requested_at,
            "period": row.period or None, "participant": row.participant or None, "as_of": row.as_of,
            "started_at": row.started_at, "finished_at": row.finished_at,
            "outcome": ({"findings": row.findings, "created": row.created, "revised": row.revised}
                        if row.status == "succeeded" else None),
            "error": row.error if row.status == "failed" else None}


def _finding_hash(row: Finding) -> str:
    """Binds an entry to what a finding says (its summary and evidence quote statistics the audit log's
    readers may not see)."""
    return _says_hash(row.severity, row.summary, row.evidence)


def _says_hash(severity: str, summary: str, evidence: Any) -> str:
    # as stored: the JSON column's round trip, whether the row was just analysed or read back
    evidence = json.loads(json.dumps(evidence))
    return audit.record_hash({"severity": severity, "summary": summary, "evidence": evidence})


def _decimal_text(value: Any) -> str:
    """`json.dumps(value, default=_decimal_text)` writes what `json.dumps(_jsonable(value))` writes, faster."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- reading and the workflow ---------------------------------------------------------------------

def visible(actor: Actor) -> QuerySet[Finding]:
    registry.require(actor, "finding.read")
    scope = actor.participants_for("finding.read")
    qs = Finding.objects.all()
    return qs if scope is None else qs.filter(participant__in=scope)


def search(actor: Actor, *, rule: str | None = None, participant: str | None = None, period: str | None = None,
           status: str | None = None, severity: str | None = None) -> QuerySet[Finding]:
    qs = visible(actor)
    if rule:
        qs = qs.filter(rule=rule)
    if participant:
        qs = qs.filter(participant=participant)
    if period:
        qs = qs.filter(period__in=overlapping_labels(period))
    if status:
        qs = qs.filter(status=status)
    if severity:
        qs = qs.filter(severity=severity)
    return qs.order_by("rule", "participant", "period", "subject")


def overlapping_labels(period: str) -> list[str]:
    """Every period label of the same year that overlaps `period` (2024-H1 → 2024, 2024-H1, 2024-Q1, 2024-Q2)."""
    try:
        p = parse_period(period)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_period") from None
    return [q.label for kind in ("year", "half", "quarter") for q in periods_of_year(p.year, kind)
            if p.contains(q) or q.contains(p)]


def get(actor: Actor, pk: int) -> Finding:
    row = visible(actor).filter(pk=pk).first()
    if row is None:
        raise NotFound(_("finding %(pk)s not found") % {"pk": pk})
    return row


def to_dict(f: Finding, events: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"id": f.pk, "rule": f.rule, "participant": f.participant, "period": f.period,
                            "subject": f.subject, "severity": f.severity, "summary": f.summary,
                            "evidence": f.evidence, "status": f.status, "first_seen": f.first_seen,
                            "last_seen": f.last_seen, "review": f.review_id}
    if events:
        data["events"] = [{"from": e.from_status, "to": e.to_status, "by": e.by, "at": e.at, "note": e.note}
                          for e in f.events.all()]
        q = Questionnaire.objects.filter(finding=f).first()
        data["questionnaire"] = None if q is None else {
            "questions": q.questions, "sent_at": q.sent_at, "due_on": q.due_on, "answers": q.answers,
            "answered_at": q.answered_at, "answered_by": q.answered_by}
    return data


def _move(actor: Actor, pk: int, action: str, note: str) -> Finding:
    now = clock.now()
    with transaction.atomic():
        row = Finding.objects.select_for_update().filter(pk=pk).order_by("pk").first()
        if row is None:
            raise NotFound(_("finding %(pk)s not found") % {"pk": pk})
        new = WORKFLOW.get((row.status, action))
        if new is None:
            raise Conflict(_("a finding that is %(status)s cannot take the action %(action)s")
                             % {"status": row.status, "action": action},
                           code="invalid_transition", details={"status": row.status, "action": action})
        old = row.status
        FindingEvent.objects.create(finding=row, from_status=old, to_status=new, by=actor.label, at=now, note=note)
        row.status = new
        row.save(update_fields=["status"])
        audit.record(actor=actor.label, action=f"finding.{new}", object_type="finding", object_id=str(row.pk),
                     participant=row.participant,
                     payload={"from": old, "to": new, "note_hash": audit.record_hash({"note": note})})
    return row


def _questionnaire_hash(q: Questionnaire) -> str:
    return audit.record_hash({"questions": q.questions, "due_on": q.due_on.isoformat(), "answers": q.answers,
                              "answered_by": q.answered_by})


def request_clarification(actor: Actor, pk: int, questions: Iterable[str], due_on: dt.date | None = None) -> Finding:
    """STAT-09: send a Data Anomaly Questionnaire to the participant."""
    finding = get(actor, pk)
    registry.require(actor, "finding.manage")
    qs = [q.strip() for q in questions if q and q.strip()]
    if not qs:
        raise ValidationFailed(_("a questionnaire needs at least one question (STAT-09)"), code="no_questions",
                               rule="STAT-09")
    due_on = due_on or clock.today() + dt.timedelta(days=30)
    with transaction.atomic():
        row = _move(actor, finding.pk, "request_clarification", f"{len(qs)} question(s), due {due_on}")
        q, _created = Questionnaire.objects.update_or_create(finding=row, defaults={
            "questions": qs, "sent_at": clock.now(), "due_on": due_on, "answers": None, "answered_at": None,
            "answered_by": ""})
        audit.record(actor=actor.label, action="questionnaire.sent", object_type="questionnaire",
                     object_id=str(row.pk), participant=row.participant,
                     payload={"questions": len(qs), "due_on": due_on.isoformat(),
                              "record_hash": _questionnaire_hash(q)})
    return row


def answer(actor: Actor, pk: int, answers: list[str]) -> Finding:
    """The participant answers every question of the questionnaire (STAT-09)."""
    finding = get(actor, pk)
    registry.require(actor, "finding.answer", finding.participant)
    q = Questionnaire.objects.filter(finding=finding).first()
    if q is None or finding.status != "clarification_requested":
        raise Conflict(_("no questionnaire awaits an answer for this finding"), code="invalid_transition")
    cleaned = [a.strip() for a in answers]
    if len(cleaned) != len(q.questions) or not all(cleaned):
        raise ValidationFailed(_("answer every one of the %(count)s questions (STAT-09)")
                                 % {"count": len(q.questions)},
                               code="incomplete_answers", rule="STAT-09")
    with transaction.atomic():
        row = _move(actor, finding.pk, "answer", "questionnaire answered")
        q.answers, q.answered_at, q.answered_by = cleaned, clock.now(), actor.label
        q.save(update_fields=["answers", "answered_at", "answered_by"])
        audit.record(actor=actor.label, action="questionnaire.answered", object_type="questionnaire",
                     object_id=str(row.pk), participant=row.participant,
                     payload={"answers": len(cleaned), "record_hash": _questionnaire_hash(q)})
    return row


def close(actor: Actor, pk: int, note: str) -> Finding:
    get(actor, pk)
    registry.require(actor, "finding.manage")
    if not note.strip():
        raise ValidationFailed(_("say why the finding is closed (the explanation)"), code="note_required")
    return _move(actor, pk, "close", note.strip())


def escalate(actor: Actor, pk: int, note: str) -> Finding:
    """Hand the finding to the Working Group on Monitoring (MON-08)."""
    get(actor, pk)
    registry.require(actor, "finding.manage")
    if not note.strip():
        raise ValidationFailed(_("say why the finding is escalated"), code="note_required")
    return _move(actor, pk, "escalate", note.strip())


# --- peer review (MON-02..MON-08) --------------------------------------------------------------------
# Review visits and missions of the Working Group on Monitoring: every change is audited in its transaction with
# the actor; texts (mandate, report, summary, recommendations, notes) are bound by record hashes, never copied
# into the log, since the full report is restricted (MON-04).

def _text(value: str | None, what: str, code: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(f"{what} must not be blank", code=code)
    return text


def _not_future(day: dt.date, what: str) -> dt.date:
    if day > clock.today():
        raise ValidationFailed(f"{what} ({day}) is after today", code="date_in_future", rule="MON-04")
    return day


def reviews_visible(actor: Actor) -> QuerySet[Review]:
    registry.require(actor, "review.read")
    scope = actor.participants_for("review.read")
    qs = Review.objects.select_related("participant")
    return qs if scope is None else qs.filter(participant_id__in=scope)


def search_reviews(actor: Actor, *, participant: str | None = None, status: str | None = None,
                   kind: str | None = None) -> QuerySet[Review]:
    qs = reviews_visible(actor)
    if participant:
        qs = qs.filter(participant_id=participant)
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-starts_on", "-pk")


def get_review(actor: Actor, pk: int) -> Review:
    """A review the actor may read; another participant's is the same 404 as a missing one."""
    row = reviews_visible(actor).filter(pk=pk).first()
    if row is None:
        raise NotFound(f"review {pk} not found")
    return row


def published_reviews() -> QuerySet[Review]:
    """Public: reviews whose report is published (MON-06), newest first. Only `public_review_dict` of them."""
    return (Review.objects.select_related("participant")
            .filter(status__in=("report_published", "closed"), report_published_on__isnull=False)
            .order_by("-report_published_on", "-pk"))


def public_review_dict(r: Review) -> dict[str, Any]:
    """What the public sees of a review: never the restricted full text, the mandate or the team's notes."""
    return {"id": r.pk, "kind": r.kind, "participant": r.participant_id, "participant_name": r.participant.name,
            "starts_on": r.starts_on, "ends_on": r.ends_on, "report_published_on": r.report_published_on,
            "public_summary": r.public_summary}


def review_dict(r: Review, detail: bool = False, as_of: dt.date | None = None) -> dict[str, Any]:
    as_of = as_of or clock.today()
    flags = rules.review_flags(r.status, r.ends_on, r.report_submitted_on, r.report_published_on, as_of)
    data: dict[str, Any] = {
        "id": r.pk, "kind": r.kind, "participant": r.participant_id, "participant_name": r.participant.name,
        "decision_reference": r.decision_reference, "mandate": r.mandate, "starts_on": r.starts_on,
        "ends_on": r.ends_on, "status": r.status, "report_due_on": rules.report_due(r.ends_on),
        "publication_due_on": rules.publication_due(r.ends_on), "report_submitted_on": r.report_submitted_on,
        "report_published_on": r.report_published_on, "closed_on": r.closed_on,
        "report_overdue": flags.report_overdue, "publication_overdue": flags.publication_overdue,
        "created_by": r.created_by, "created_at": r.created_at}
    if detail:
        data["report_text"] = r.report_text
        data["public_summary"] = r.public_summary
        data["team"] = [{"id": m.pk, "name": m.name, "constituency": m.constituency,
                         "participant": m.participant_id, "organisation": m.organisation, "is_leader": m.is_leader}
                        for m in r.team.all()]
        data["recommendations"] = [recommendation_dict(x, as_of) for x in
                                   r.recommendations.prefetch_related("follow_ups").all()]
        data["findings"] = list(r.findings.order_by("pk").values_list("pk", flat=True))
        data["comments"] = [comment_dict(c) for c in r.comments.all()]
    return data


def comment_dict(c: ReviewComment) -> dict[str, Any]:
    return {"id": c.pk, "review": c.review_id, "participant": c.participant_id, "author": c.author,
            "text": c.text, "created_at": c.created_at}


def recommendation_dict(x: Recommendation, as_of: dt.date | None = None) -> dict[str, Any]:
    as_of = as_of or clock.today()
    return {"id": x.pk, "review": x.review_id, "text": x.text, "owner": x.owner_id, "due_on": x.due_on,
            "status": x.status, "overdue": rules.recommendation_overdue(x.status, x.due_on, as_of),
            "follow_ups": [{"from_status": f.from_status, "to_status": f.to_status, "note": f.note, "by": f.by,
                            "at": f.at}
                           for f in x.follow_ups.all()]}


def recommendations_due(actor: Actor) -> QuerySet[Recommendation]:
    """Recommendations not yet implemented or closed, of the reviews the actor may read, soonest due first."""
    ids = reviews_visible(actor).values("pk")
    return (Recommendation.objects.filter(review__in=ids, status__in=("open", "in_progress"))
            .select_related("review", "review__participant").order_by("due_on", "pk"))


def annual_reports(actor: Actor, year: int, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """MON-01: every participant's annual report on `year` and its status, as the statistics app recorded it."""
    registry.require(actor, "review.read")
    scope = actor.participants_for("review.read")
    codes = sorted(registry.snapshot().participants)
    if scope is not None:
        codes = [c for c in codes if c in scope]
    return statistics.annual_report_status(year, codes, as_of or clock.today())


def _review_state(r: Review) -> dict[str, Any]:
    return {"status": r.status, "starts_on": r.starts_on.isoformat(), "ends_on": r.ends_on.isoformat(),
            "record_hash": audit.record_hash({"mandate": r.mandate, "report_text": r.report_text,
                                              "public_summary": r.public_summary})}


def _create_review(actor: Actor, *, kind: str, participant: str, mandate: str, starts_on: dt.date,
                   ends_on: dt.date, decision_reference: str = "") -> Review:
    """Inside the caller's transaction."""
    if kind not in rules.REVIEW_KINDS:
        raise ValidationFailed(f"a review is one of {', '.join(rules.REVIEW_KINDS)}", code="invalid_kind")
    mandate = _text(mandate, "the mandate", "mandate_required")
    if ends_on < starts_on:
        raise ValidationFailed(f"the visit ends ({ends_on}) before it starts ({starts_on})", code="invalid_dates")
    registry.get_participant(participant)
    r = Review.objects.create(
        kind=kind, participant_id=participant, mandate=mandate, starts_on=starts_on, ends_on=ends_on,
        decision_reference=(decision_reference or "").strip(), created_by=actor.label, created_at=clock.now())
    audit.record(actor=actor.label, action="review.created", object_type="review", object_id=str(r.pk),
                 participant=participant,
                 payload={"kind": kind, "decision_reference": r.decision_reference, **_review_state(r)})
    return r


def create_review(actor: Actor, *, kind: str, participant: str, mandate: str, starts_on: dt.date, ends_on: dt.date,
                  decision_reference: str = "") -> Review:
    """A review visit (on the participant's invitation) or a review mission (by decision) with its mandate."""
    registry.require(actor, "review.manage", participant)
    with transaction.atomic():
        return _create_review(actor, kind=kind, participant=participant, mandate=mandate, starts_on=starts_on,
                              ends_on=ends_on, decision_reference=decision_reference)


def _locked_review(actor: Actor, pk: int) -> Review:
    """The review, visible to the actor (else 404) and managed by it (else 403), locked for the change."""
    get_review(actor, pk)
    registry.require(actor, "review.manage")
    return Review.objects.select_for_update().select_related("participant").get(pk=pk)


def _step(actor: Actor, r: Review, action: str, fields: dict[str, Any], payload: dict[str, Any]) -> Review:
    new = rules.next_review_status(r.status, action)
    if new is None:
        raise Conflict(f"a review that is {r.status} cannot take the action {action}", code="invalid_transition",
                       details={"status": r.status, "action": action})
    old = r.status
    for name, value in fields.items():
        setattr(r, name, value)
    r.status = new
    r.save(update_fields=["status", *fields])
    audit.record(actor=actor.label, action=f"review.{new}", object_type="review", object_id=str(r.pk),
                 participant=r.participant_id, payload={"from": old, "to": new, **payload, **_review_state(r)})
    return r


def add_team_member(actor: Actor, pk: int, *, name: str, constituency: str, participant: str | None = None,
                    organisation: str = "", is_leader: bool = False) -> ReviewTeamMember:
    """A member tagged by constituency; a team has one leader (MON-07)."""
    name = _text(name, "the member's name", "name_required")
    if constituency not in rules.CONSTITUENCIES:
        raise ValidationFailed(f"constituency is one of {', '.join(rules.CONSTITUENCIES)}", code="invalid_constituency")
    organisation = (organisation or "").strip()
    if not participant and not organisation:
        raise ValidationFailed("name the member's participant or organisation", code="affiliation_required")
    if participant:
        registry.get_participant(participant)
    with transaction.atomic():
        r = _locked_review(actor, pk)
        if r.status not in rules.TEAM_OPEN:
            raise Conflict(f"the team of a review that is {r.status} is settled", code="invalid_transition",
                           details={"status": r.status, "action": "add_team_member"})
        if is_leader and r.team.filter(is_leader=True).exists():
            raise Conflict("the team already has its leader", code="leader_exists")
        member = ReviewTeamMember.objects.create(review=r, name=name, constituency=constituency,
                                                   participant_id=participant or None, organisation=organisation,
                                                   is_leader=is_leader)
        audit.record(actor=actor.label, action="review.member_added", object_type="review", object_id=str(r.pk),
                     participant=r.participant_id,
                     payload={"member": member.pk, "constituency": constituency, "participant": participant or "",
                              "is_leader": is_leader,
                              "record_hash": audit.record_hash({"name": name, "organisation": organisation})})
    return member


def record_visit(actor: Actor, pk: int, *, starts_on: dt.date | None = None, ends_on: dt.date | None = None) -> Review:
    """The visit took place (on the dates given, if they moved): the report is due three weeks after (MON-04)."""
    with transaction.atomic():
        r = _locked_review(actor, pk)
        starts_on, ends_on = starts_on or r.starts_on, ends_on or r.ends_on
        if ends_on < starts_on:
            raise ValidationFailed(f"the visit ends ({ends_on}) before it starts ({starts_on})", code="invalid_dates")
        _not_future(ends_on, "the visit's last day")
        members = list(r.team.values_list("is_leader", flat=True))
        problems = rules.team_problems(sum(members), len(members))
        if problems and r.status == "planned":
            raise ValidationFailed("; ".join(problems), code="team_incomplete", rule="MON-03")
        return _step(actor, r, "record_visit", {"starts_on": starts_on, "ends_on": ends_on}, {})


def submit_report(actor: Actor, pk: int, *, text: str, on: dt.date | None = None) -> Review:
    """The report goes to the Chair and the participant (MON-04); its full text stays restricted."""
    text = _text(text, "the report", "report_required")
    with transaction.atomic():
        r = _locked_review(actor, pk)
        on = _not_future(on or clock.today(), "the submission date")
        if r.status == "visited" and on < r.ends_on:
            raise ValidationFailed(f"a report is submitted after the visit, which ended on {r.ends_on}",
                                   code="invalid_dates", rule="MON-04")
        return _step(actor, r, "submit_report", {"report_text": text, "report_submitted_on": on}, {})


def publish_report(actor: Actor, pk: int, *, public_summary: str, on: dt.date | None = None) -> Review:
    """The report is posted (MON-04); the public sees its summary, never the full text."""
    summary = _text(public_summary, "the public summary", "summary_required")
    with transaction.atomic():
        r = _locked_review(actor, pk)
        on = _not_future(on or clock.today(), "the publication date")
        if r.report_submitted_on and on < r.report_submitted_on:
            raise ValidationFailed(f"a report is published after its submission on {r.report_submitted_on}",
                                   code="invalid_dates", rule="MON-04")
        return _step(actor, r, "publish_report", {"public_summary": summary, "report_published_on": on}, {})


def close_review(actor: Actor, pk: int, *, on: dt.date | None = None) -> Review:
    """Closes once every recommendation is implemented or closed; names those still open otherwise (409)."""
    with transaction.atomic():
        r = _locked_review(actor, pk)
        pending = list(r.recommendations.exclude(status__in=rules.RECOMMENDATION_DONE).values_list("pk", flat=True))
        if r.status == "report_published" and not rules.may_close_review(
                r.recommendations.values_list("status", flat=True)):
            raise Conflict(f"{len(pending)} recommendation(s) are not implemented or closed yet",
                           code="recommendations_open", details={"recommendations": pending})
        on = _not_future(on or clock.today(), "the closing date")
        return _step(actor, r, "close", {"closed_on": on}, {})


def add_recommendation(actor: Actor, pk: int, *, text: str, owner: str, due_on: dt.date) -> Recommendation:
    text = _text(text, "the recommendation", "text_required")
    registry.get_participant(owner)
    with transaction.atomic():
        r = _locked_review(actor, pk)
        if r.status not in rules.RECOMMENDATIONS_OPEN:
            raise Conflict(f"a review that is {r.status} takes no recommendation", code="invalid_transition",
                           details={"status": r.status, "action": "add_recommendation"})
        x = Recommendation.objects.create(review=r, text=text, owner_id=owner, due_on=due_on,
                                                           created_by=actor.label, created_at=clock.now())
        audit.record(actor=actor.label, action="recommendation.added", object_type="recommendation",
                     object_id=str(x.pk), participant=r.participant_id,
                     payload={"review": r.pk, "owner": owner, "due_on": due_on.isoformat(), "status": x.status,
                              "record_hash": audit.record_hash({"text": text})})
    return x


def _move_recommendation(actor: Actor, review_pk: int, pk: int, action: str, note: str,
                         to: str | None) -> Recommendation:
    note = _text(note, "the follow-up note", "note_required")
    with transaction.atomic():
        r = _locked_review(actor, review_pk)
        x = Recommendation.objects.select_for_update().filter(pk=pk, review=r).first()
        if x is None:
            raise NotFound(f"recommendation {pk} of review {review_pk} not found")
        if r.status == "closed":
            raise Conflict("the review is closed", code="invalid_transition",
                           details={"status": r.status, "action": action})
        new = rules.next_recommendation_status(x.status, action, to)
        if new is None:
            raise Conflict(f"a recommendation that is {x.status} cannot take the action {action}"
                           + (f" to {to}" if to else ""), code="invalid_transition",
                           details={"status": x.status, "action": action})
        old = x.status
        now = clock.now()
        FollowUp.objects.create(recommendation=x, from_status=old, to_status=new, note=note,
                                                 by=actor.label, at=now)
        x.status = new
        x.save(update_fields=["status"])
        audit.record(actor=actor.label, action=f"recommendation.{new}", object_type="recommendation",
                     object_id=str(x.pk), participant=r.participant_id,
                     payload={"review": r.pk, "from": old, "to": new,
                              "note_hash": audit.record_hash({"note": note})})
    return x


def follow_up(actor: Actor, review_pk: int, pk: int, *, note: str, status: str = "in_progress") -> Recommendation:
    """A follow-up note on a recommendation, moving it to in progress or implemented."""
    return _move_recommendation(actor, review_pk, pk, "follow_up", note, status)


def close_recommendation(actor: Actor, review_pk: int, pk: int, *, note: str) -> Recommendation:
    return _move_recommendation(actor, review_pk, pk, "close", note, None)


def comment_on_report(actor: Actor, pk: int, *, text: str) -> ReviewComment:
    """MON-04: the reviewed participant's delegate comments on the report once it has reached the participant and
    until it is posted (its comments are posted with it). Another participant's review is the same 404 as a missing
    one; a comment is never edited, and its text is kept out of the audit log (a record hash binds it)."""
    with transaction.atomic():
        found = get_review(actor, pk)
        registry.require(actor, "review.comment", found.participant_id)
        r = Review.objects.select_for_update().get(pk=found.pk)
        refusal = rules.comment_refusal(r.status)
        if refusal == "comments_closed":
            raise Conflict(_("the report was posted on %(day)s: comments on it are closed (MON-04)")
                           % {"day": r.report_published_on}, code=refusal, rule="MON-04",
                           details={"status": r.status})
        if refusal is not None:
            raise Conflict(_("there is no report to comment on yet: it reaches the participant once submitted "
                             "(MON-04)"), code=refusal, rule="MON-04", details={"status": r.status})
        cleaned = (text or "").strip()
        if not cleaned:
            raise ValidationFailed(_("write the comment"), code="text_required")
        if len(cleaned) > rules.COMMENT_MAX_LENGTH:
            raise ValidationFailed(_("a comment is at most %(max)s characters") % {"max": rules.COMMENT_MAX_LENGTH},
                                   code="text_too_long")
        c = ReviewComment.objects.create(review=r, participant_id=r.participant_id, author=actor.label,
                                         text=cleaned, created_at=clock.now())
        audit.record(actor=actor.label, action="review.commented", object_type="review", object_id=str(r.pk),
                     participant=r.participant_id,
                     payload={"comment": c.pk, "status": r.status,
                              "record_hash": audit.record_hash({"text": cleaned})})
    return c


def escalate_to_review(actor: Actor, finding_pk: int, *, mandate: str, starts_on: dt.date, ends_on: dt.date,
                       decision_reference: str = "") -> Review:
    """MON-11: an escalated finding becomes a review mission case on its participant; the finding names the
    mission and the mission lists the finding."""
    finding = get(actor, finding_pk)
    registry.require(actor, "review.manage", finding.participant)
    with transaction.atomic():
        row = Finding.objects.select_for_update().filter(pk=finding.pk).order_by("pk").first()
        assert row is not None
        if row.status != "escalated":
            raise Conflict(f"only an escalated finding becomes a review mission; this one is {row.status}",
                           code="not_escalated", details={"status": row.status})
        if row.review_id is not None:
            raise Conflict(f"this finding is already the case of review {row.review_id}", code="already_linked",
                           details={"review": row.review_id})
        r = _create_review(actor, kind="mission", participant=row.participant, mandate=mandate,
                           starts_on=starts_on, ends_on=ends_on, decision_reference=decision_reference)
        row.review = r
        row.save(update_fields=["review"])
        audit.record(actor=actor.label, action="finding.review_opened", object_type="finding",
                     object_id=str(row.pk), participant=row.participant, payload={"review": r.pk})
    return r
