"""Monitoring use cases: run the anomaly analysis, keep its findings, and follow them up (STAT-09, MON-09).

A finding's fingerprint (rule, participant, period, subject) makes re-running the analysis update it
instead of duplicating it; its workflow is open → clarification_requested → answered → closed | escalated.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Min, Q, QuerySet
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.certificates.models import Certificate
from kpcs.errors import Conflict, NotFound, ValidationFailed
from kpcs.monitoring import rules
from kpcs.monitoring.models import Finding, FindingEvent, Questionnaire
from kpcs.registry import services as registry
from kpcs.registry.services import Actor
from kpcs.statistics import services as statistics
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


def certificate_shipments(prices: Mapping[tuple[str, int], Decimal], th: rules.Thresholds) -> list[rules.Shipment]:
    """Certificates whose gem-quality US$/ct lies outside the band around their origin's production price.

    The database pre-selects candidates per origin and year (a band check on two integer columns); the pure
    rule then judges each candidate exactly.
    """
    out: list[rules.Shipment] = []
    origins = sorted({o for o, _year in prices})
    if not origins:
        return out
    # The span of years from two index look-ups; a year without such certificates finds nothing below. (On
    # SQLite, .dates() would call Django's Python date_trunc function once per certificate.)
    span = Certificate.objects.filter(origin__in=origins).aggregate(first=Min("issued_on"), last=Max("issued_on"))
    if span["first"] is None:
        return out
    min_centi = int(th.certificate_min_carats * 100)
    for year in range(span["first"].year, span["last"].year + 1):
        for origin in origins:
            ref = rules.reference_price(prices, origin, year)
            if ref is None:
                continue
            low, high = float(ref[0] / th.certificate_factor), float(ref[0] * th.certificate_factor)
            qs = (Certificate.objects.filter(origin=origin, issued_on__gte=dt.date(year, 1, 1),
                                             issued_on__lte=dt.date(year, 12, 31), status__in=statistics.EXPORTED,
                                             signer_revoked=False,
                                             gem_carats_centi__gte=min_centi)
                  .filter(Q(gem_value_cents__lte=F("gem_carats_centi") * low)
                          | Q(gem_value_cents__gte=F("gem_carats_centi") * high)))
            for number, p, day, c, v in qs.values_list("number", "exporting_participant_id", "issued_on",
                                                       "gem_carats_centi", "gem_value_cents"):
                out.append(rules.Shipment(number, p, day, origin, Decimal(c) / 100, Decimal(v) / 100, False,
                                          "certificate"))
    return out


def overdue_certificates(as_of: dt.date) -> list[rules.Overdue]:
    out = []
    days = {code: policy[1] for code, policy in registry.snapshot().participants.items()}
    earliest = as_of - dt.timedelta(days=max(days.values(), default=15))
    for number, exp, imp, issued_on, c, v in Certificate.objects.filter(
            status="issued", signer_revoked=False, issued_on__lt=earliest + dt.timedelta(days=1)).values_list(
            "number", "exporting_participant_id", "importing_participant_id", "issued_on", "total_carats_centi",
            "total_value_cents"):
        due = issued_on + dt.timedelta(days=days.get(exp, 15))
        if as_of > due:
            out.append(rules.Overdue(number, exp, imp, issued_on, due, Decimal(c) / 100, Decimal(v) / 100))
    return out


def analyse(*, as_of: dt.date | None = None, thresholds: rules.Thresholds | None = None) -> list[rules.Finding]:
    """Run every rule over everything the node knows (history matters, so no period filter here)."""
    th = thresholds or rules.Thresholds(due_months=settings.KPCS_STATISTICS_DUE_MONTHS)
    as_of = as_of or clock.today()
    facts = statistics.effective_facts(by_hs=False)
    view = rules.YearlyView(facts)
    shipments = rules.shipments_from_facts(facts) + certificate_shipments(rules.origin_prices(view, th), th)
    return rules.analyse(facts, shipments=shipments, overdue=overdue_certificates(as_of),
                         statuses=registry.snapshot().statuses,
                         annual_reports=statistics.annual_reports(),
                         annual_reports_from=statistics.annual_reports_from(), as_of=as_of, thresholds=th,
                         view=view)


def _in_scope(f: rules.Finding, period: str | None, participant: str | None) -> bool:
    if participant and f.participant != participant:
        return False
    if period:
        want = parse_period(period)
        have = parse_period(f.period)
        return want.contains(have) or have.contains(want)
    return True


@transaction.atomic
def scan(actor: Actor, *, period: str | None = None, participant: str | None = None, as_of: dt.date | None = None,
         thresholds: rules.Thresholds | None = None) -> list[Finding]:
    """Analyse, then create or update the findings in scope; their workflow status is kept."""
    registry.require(actor, "finding.manage")
    if period:
        try:
            parse_period(period)
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="invalid_period") from None
    now = clock.now()
    found = [f for f in analyse(as_of=as_of, thresholds=thresholds) if _in_scope(f, period, participant)]
    existing = {f.fingerprint: f for f in Finding.objects.filter(fingerprint__in=[x.fingerprint for x in found])}
    kept: list[Finding] = []
    created = revised = 0
    for f in found:
        row = existing.get(f.fingerprint)
        if row is None:
            row = Finding.objects.create(fingerprint=f.fingerprint, rule=f.rule, participant=f.participant,
                                         period=f.period, subject=f.subject, severity=f.severity, summary=f.summary,
                                         evidence=_jsonable(f.evidence), first_seen=now, last_seen=now)
            FindingEvent.objects.create(finding=row, from_status="", to_status="open", by=actor.label, at=now,
                                        note="found by the analysis")
            audit.record(actor=actor.label, action="finding.found", object_type="finding", object_id=str(row.pk),
                         participant=row.participant,
                         payload={"rule": row.rule, "period": row.period, "subject": row.subject,
                                  "severity": row.severity, "status": row.status, "record_hash": _finding_hash(row)})
            created += 1
        else:
            before = (row.severity, _finding_hash(row))
            row.severity, row.summary, row.evidence, row.last_seen = (f.severity, f.summary, _jsonable(f.evidence),
                                                                      now)
            row.save(update_fields=["severity", "summary", "evidence", "last_seen"])
            if (row.severity, _finding_hash(row)) != before:  # what it says changed, not only when it was seen
                audit.record(actor=actor.label, action="finding.revised", object_type="finding",
                             object_id=str(row.pk), participant=row.participant,
                             payload={"severity": {"from": before[0], "to": row.severity},
                                      "record_hash": {"from": before[1], "to": _finding_hash(row)}})
                revised += 1
        kept.append(row)
    audit.record(actor=actor.label, action="monitoring.scanned", object_type="analysis", object_id=now.isoformat(),
                 payload={"period": period, "participant": participant, "findings": len(found), "new": created,
                          "revised": revised,
                          "seen_hash": audit.record_hash({"last_seen": sorted(r.pk for r in kept)})})
    return kept


def _finding_hash(row: Finding) -> str:
    """Binds an entry to what a finding says (its summary and evidence quote statistics the audit log's
    readers may not see)."""
    # as stored: the JSON column's round trip, whether the row was just analysed or read back
    evidence = json.loads(json.dumps(row.evidence))
    return audit.record_hash({"severity": row.severity, "summary": row.summary, "evidence": evidence})


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
                            "last_seen": f.last_seen}
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
