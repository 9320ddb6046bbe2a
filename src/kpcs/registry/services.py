"""Registry use cases: reference data, permissions, operators, users and tokens, signing keys, trust list."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from kpcs import clock, config, crypto
from kpcs.audit import services as audit
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.registry import rules, selectors
from kpcs.registry.models import (
    ApiToken,
    Authority,
    Measure,
    Membership,
    Observer,
    Operator,
    Participant,
    ParticipantPolicy,
    ParticipantStatus,
    RegistryVersion,
    SigningKey,
    TrustListIssue,
)

User = get_user_model()
if TYPE_CHECKING:
    from django.contrib.auth.models import User as Person  # the model AUTH_USER_MODEL names


# --- reference data ----------------------------------------------------------------------------

def _csv(name: str) -> list[dict[str, str]]:
    text = resources.files("kpcs.registry").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def authority_id_for(code: str, member_state: str = "", city: str = "") -> str:
    if code == "EU":
        return f"EU-{member_state}-{city.upper().replace(' ', '-')}"
    return f"{code}-KPA"


@transaction.atomic
def seed_reference_data() -> dict[str, int]:
    """Load participants, status history and authorities from the packaged reference data. Idempotent."""
    created = {"participants": 0, "statuses": 0, "measures": 0, "admissions": 0, "authorities": 0, "observers": 0}
    names: dict[str, list[str]] = {"participants": [], "authorities": [], "observers": []}  # for the entry
    for row in _csv("participants.csv"):
        _participant, new = Participant.objects.get_or_create(code=row["code"],
                                                   defaults={"name": row["name"], "kind": row["kind"]})
        created["participants"] += new
        names["participants"] += [row["code"]] if new else []
    for row in _csv("admissions.csv"):
        if Participant.objects.filter(code=row["code"]).exists():
            changed = record_admission(row["code"], dt.date.fromisoformat(row["admitted_on"]) if row["admitted_on"]
                                       else None, row["precision"] or "unknown", actor=SYSTEM)
            created["admissions"] += changed
    for row in _csv("status-history.csv"):
        created["statuses"] += _seed_status(row)
    for row in _csv("measures.csv"):
        created["measures"] += _seed_measure(row)
    all_roles = list(rules.AUTHORITY_ROLES)
    for p in Participant.objects.exclude(code="EU"):
        authority, new = Authority.objects.get_or_create(
            id=authority_id_for(p.code), defaults={"participant": p, "roles": all_roles,
                                                   "name": f"{p.name} Kimberley Process Authority"})
        created["authorities"] += new
        names["authorities"] += [authority.id] if new else []
    for row in _csv("eu-authorities.csv"):
        authority, new = Authority.objects.get_or_create(
            id=authority_id_for("EU", row["member_state"], row["city"]),
            defaults={"participant_id": "EU", "name": row["authority"], "city": row["city"],
                      "member_state": row["member_state"], "roles": all_roles})
        created["authorities"] += new
        names["authorities"] += [authority.id] if new else []
    for row in _csv("observers.csv"):
        _obs, new = Observer.objects.get_or_create(name=row["name"], defaults={"constituency": row["constituency"]})
        created["observers"] += new
        names["observers"] += [row["name"]] if new else []
    if any(created.values()):
        audit.record(actor=SYSTEM.label, action="registry.seeded", object_type="registry", object_id="reference",
                     payload={**created, "created": names})
    return created


SEED_SOURCE = "status-history.csv"


def _seed_status(row: dict[str, str]) -> int:
    """One row of status-history.csv through record_status: nothing when the same period stands (or a decision
    has since closed it), a corrected period when its dates or scope changed in the file."""
    start = dt.date.fromisoformat(row["from"])
    end = dt.date.fromisoformat(row["to"]) if row["to"] else None
    seeded = ParticipantStatus.objects.filter(participant_id=row["participant"], status=row["status"],
                                              valid_from=start, source=SEED_SOURCE).order_by("-pk")
    for old in seeded:
        if not rules.live(rules.StatusPeriod(old.status, old.valid_from, old.valid_to)):
            continue  # superseded by an earlier correction
        if old.valid_to == end and old.scope == row["scope"]:
            return 0
        if old.closed_by_id is not None and old.closed_by is not None and old.closed_by.source != SEED_SOURCE:
            return 0  # a decision closed it since: decisions win over the seed
    record_status(row["participant"], row["status"], row["scope"], start, end, actor=SYSTEM, cause=row["note"],
                  source=SEED_SOURCE)
    return 1


def _seed_measure(row: dict[str, str]) -> int:
    """One row of measures.csv (the Côte d'Ivoire neighbours' enhanced vigilance) through record_measure, once:
    nothing when the participant is not in the registry or the same seeded measure stands."""
    if not Participant.objects.filter(code=row["participant"]).exists():
        return 0
    start = dt.date.fromisoformat(row["from"])
    end = dt.date.fromisoformat(row["to"]) if row["to"] else None
    if Measure.objects.filter(participant_id=row["participant"], kind=row["kind"], valid_from=start, valid_to=end,
                              decision_id__isnull=True).exists():
        return 0
    record_measure(row["participant"], row["kind"], start, end, scope=row["scope"], actor=SYSTEM)
    return 1


def _audit_status(actor: Actor, action: str, status: ParticipantStatus, **extra: Any) -> None:
    audit.record(actor=actor.label, action=action, object_type="participant_status", object_id=str(status.pk),
                 participant=status.participant_id,
                 payload={**extra, "state": selectors.participant_status_state(status)})


def record_status(participant: str, status: str, scope: str, from_on: dt.date, to_on: dt.date | None = None, *,
                  decision: int | None = None, actor: Actor, cause: str = "", source: str = "") -> ParticipantStatus:
    """Add a status period from `from_on` (to `to_on`, exclusive) and close every period it overlaps (SPEC-07).

    Nothing is edited in place: an overlapped period only gets its end (a period beginning on or inside the new
    one is closed at its own start: superseded, kept, never applied). `active` ends a restriction (a
    readmission). With a decision (its id) the caller must be the one who adopts decisions; without one, only
    the node operator may record (the seed). Audited in the transaction: each closure and the new period.
    """
    if decision is None:
        require(actor, "participant_status.record")
    else:
        require(actor, "decision.adopt")
    if status not in rules.STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(rules.STATUSES)}", code="invalid_status")
    if to_on is not None and to_on <= from_on:
        raise ValidationFailed("a status period ends after it begins", code="invalid_dates")
    with transaction.atomic():
        get_participant(participant)
        rows = list(ParticipantStatus.objects.select_for_update().filter(participant_id=participant).order_by("pk"))
        new_period = rules.StatusPeriod(status, from_on, to_on, scope)
        same = next((r for r in rows if r.status == status and r.valid_from == from_on and r.valid_to == to_on
                     and r.scope == scope and rules.live(rules.StatusPeriod(status, from_on, to_on))), None)
        if same is not None:
            return same
        closures = rules.plan_status_change(
            [(r.pk, rules.StatusPeriod(r.status, r.valid_from, r.valid_to, r.scope)) for r in rows], new_period)
        new = ParticipantStatus.objects.create(
            participant_id=participant, status=status, scope=scope[:200], valid_from=from_on, valid_to=to_on,
            cause=cause, decision_id=decision, source=source, recorded_at=clock.now())
        by_pk = {r.pk: r for r in rows}
        for pk, end in closures:
            old = by_pk[pk]
            old.valid_to = end
            old.closed_by = new
            old.save(update_fields=["valid_to", "closed_by"])
            _audit_status(actor, "participant_status.closed", old, closed_by=new.pk, decision=decision)
        _audit_status(actor, "participant_status.created", new, decision=decision, source=source)
    return new


def record_measure(participant: str, kind: str, from_on: dt.date, to_on: dt.date | None = None, *,
                   zones: list[dict[str, Any]] | None = None, scope: str = "", decision: int | None = None,
                   actor: Actor) -> Measure:
    """A structured measure from its date (SPEC-01, SPEC-03, SPEC-04); as record_status, by a decision (or the
    node operator). Zones: [{"name", "valid_from", "valid_to"}] with ISO days or null."""
    if decision is None:
        require(actor, "participant_status.record")
    else:
        require(actor, "decision.adopt")
    data = {"kind": kind, "scope": scope, "zones": zones or [], "valid_from": from_on.isoformat(),
            "valid_to": to_on.isoformat() if to_on else None}
    try:
        parsed = rules.measure_from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"not a valid measure: {exc}", code="invalid_measure") from None
    if to_on is not None and to_on <= from_on:
        raise ValidationFailed("a measure ends after it begins", code="invalid_dates")
    with transaction.atomic():
        get_participant(participant)
        measure = Measure.objects.create(participant_id=participant, kind=kind, scope=scope[:200],
                                         valid_from=from_on, valid_to=to_on,
                                         zones=[z.as_dict() for z in parsed.zones], decision_id=decision,
                                         recorded_at=clock.now())
        audit.record(actor=actor.label, action="measure.recorded", object_type="measure", object_id=str(measure.pk),
                     participant=participant, payload={**parsed.as_dict(), "decision": decision})
    return measure


def find_measure(measure_id: int) -> Measure | None:
    """One recorded measure by its id, or None (for the governance checks of a decision that lifts it)."""
    return Measure.objects.filter(pk=measure_id).first()


def lift_measure(measure_id: int, on: dt.date, *, decision: int | None = None, actor: Actor) -> Measure:
    """Close a measure's validity from `on` (exclusive end), as a later decision lifts it (SPEC-01, SPEC-07).

    Never edited silently: only the end is set, in a transaction, audited (`measure.lifted`, with the decision
    and the end it had before). The end is after the start; a measure no longer in force that day (ended or
    lifted already) is a conflict. Rights as record_measure: by a decision, the one who adopts decisions."""
    if decision is None:
        require(actor, "participant_status.record")
    else:
        require(actor, "decision.adopt")
    with transaction.atomic():
        measure = Measure.objects.select_for_update().filter(pk=measure_id).first()
        if measure is None:
            raise NotFound(f"no measure {measure_id}")
        if on <= measure.valid_from:
            raise ValidationFailed(f"a measure is lifted after it begins ({measure.valid_from.isoformat()})",
                                   code="invalid_dates", rule="SPEC-07")
        if measure.valid_to is not None and measure.valid_to <= on:
            raise Conflict(f"measure {measure.pk} already ended on {measure.valid_to.isoformat()}",
                           code="measure_ended", rule="SPEC-07")
        before = measure.valid_to.isoformat() if measure.valid_to else None
        measure.valid_to = on
        measure.save(update_fields=["valid_to"])  # post_save bumps the registry version: snapshots re-read it
        audit.record(actor=actor.label, action="measure.lifted", object_type="measure", object_id=str(measure.pk),
                     participant=measure.participant_id,
                     payload={**measure.as_rule().as_dict(), "valid_to_before": before, "decision": decision})
    return measure


def record_admission(code: str, admitted_on: dt.date | None, precision: str, *, actor: Actor,
                     decision: int | None = None) -> bool:
    """Set a participant's admission date (a non-participant before it); audited; False when unchanged.

    An unknown date (None from the seed) counts from the scheme's start, precision `unknown`
    (docs/decisions.md, "Governance")."""
    if decision is None:
        require(actor, "participant_status.record")
    else:
        require(actor, "decision.adopt")
    day = admitted_on or rules.SCHEME_START
    with transaction.atomic():
        p = Participant.objects.select_for_update().filter(code=code).first()
        if p is None:
            raise NotFound(f"{code!r} is not a participant of the Kimberley Process")
        if p.admitted_on == day and p.admission_precision == precision:
            return False
        before = p.admitted_on.isoformat() if p.admitted_on else None
        p.admitted_on, p.admission_precision = day, precision
        p.save(update_fields=["admitted_on", "admission_precision"])
        audit.record(actor=actor.label, action="participant.admission_recorded", object_type="participant",
                     object_id=code, participant=code,
                     payload={"before": before, "admitted_on": day.isoformat(), "precision": precision,
                              "decision": decision})
    return True


def record_policy(actor: Actor, code: str, valid_from: dt.date, validity_days: int | None = None,
                  confirmation_days: int | None = None, decision: int | None = None) -> ParticipantPolicy:
    """A participant's certificate validity (CERT-09) and confirmation deadline (IMP-02) from `valid_from` on.

    Never edited in place: a new row, in force until the next recorded one's day; a value not given is carried
    from the policy in force on `valid_from`. One policy per day: recording the same again changes nothing, a
    different one for a day that has one is refused (409; record it from another day). Audited
    (`participant_policy.recorded`); the registry version changes with the row, so every snapshot sees it. By
    the node operator, or through an adopted decision (which needs `decision.adopt`).
    """
    if decision is None:
        require(actor, "participant_policy.record")
    else:
        require(actor, "decision.adopt")
    code = code.strip().upper()
    with transaction.atomic():
        p = Participant.objects.select_for_update().filter(code=code).first()
        if p is None:
            raise NotFound(_("%(code)s is not a participant of the Kimberley Process") % {"code": repr(code)})
        rows = list(ParticipantPolicy.objects.filter(participant_id=code))
        before = rules.policy_on([r.as_rule() for r in rows], valid_from)
        validity = before.validity_days if validity_days is None else validity_days
        confirmation = before.confirmation_days if confirmation_days is None else confirmation_days
        rules.check_policy(validity, confirmation)
        same_day = next((r for r in rows if r.valid_from == valid_from), None)
        if same_day is not None:
            if (same_day.validity_days, same_day.confirmation_days) == (validity, confirmation):
                return same_day
            raise Conflict(_("%(code)s already has a policy from %(day)s (%(validity)s and %(confirmation)s days): "
                             "a policy is never changed, record the new one from another day")
                           % {"code": code, "day": valid_from.isoformat(), "validity": same_day.validity_days,
                              "confirmation": same_day.confirmation_days}, code="policy_exists")
        policy = ParticipantPolicy.objects.create(participant=p, valid_from=valid_from, validity_days=validity,
                                                  confirmation_days=confirmation, decision_id=decision,
                                                  recorded_at=clock.now())
        audit.record(actor=actor.label, action="participant_policy.recorded", object_type="participant_policy",
                     object_id=str(policy.pk), participant=code,
                     payload={"valid_from": valid_from.isoformat(), "validity_days": validity,
                              "confirmation_days": confirmation, "decision": decision,
                              "before": {"valid_from": before.valid_from.isoformat(),
                                         "validity_days": before.validity_days,
                                         "confirmation_days": before.confirmation_days}})
    return policy


def policy_records(code: str) -> list[ParticipantPolicy]:
    """Every recorded policy of a participant, in the order they apply."""
    return list(ParticipantPolicy.objects.filter(participant_id=code).order_by("valid_from"))


def register_applicant(code: str, name: str, kind: str, applied_on: dt.date, *, actor: Actor) -> Participant:
    """An applicant (GOV-05): a participant row not admitted, with status `applicant` from its application; it
    cannot trade (EXP-01) until an admission decision takes effect."""
    require(actor, "decision.propose")
    code = code.strip().upper()
    if not rules.is_participant_code(code):
        raise ValidationFailed(f"{code!r} is not an ISO 3166-1 alpha-2 code", code="invalid_code")
    if kind not in rules.PARTICIPANT_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(rules.PARTICIPANT_KINDS)}", code="invalid_kind")
    if not name.strip():
        raise ValidationFailed("an applicant has a name", code="name_required")
    with transaction.atomic():
        if Participant.objects.filter(code=code).exists():
            raise Conflict(f"{code} is already in the registry", code="already_registered")
        p = Participant.objects.create(code=code, name=name.strip()[:200], kind=kind, admitted_on=None,
                                       admission_precision="")
        audit.record(actor=actor.label, action="participant.applied", object_type="participant", object_id=code,
                     participant=code, payload={"name": p.name, "kind": kind, "applied_on": applied_on.isoformat()})
        Authority.objects.create(id=authority_id_for(code), participant=p, roles=list(rules.AUTHORITY_ROLES),
                                 name=f"{p.name} Kimberley Process Authority")
        new = ParticipantStatus.objects.create(participant=p, status="applicant", scope="application under "
                                               "consideration", valid_from=applied_on, recorded_at=clock.now())
        _audit_status(actor, "participant_status.created", new)
    return p


def status_records(code: str) -> list[ParticipantStatus]:
    """Every recorded period of a participant, superseded ones included, in the order they apply."""
    return list(ParticipantStatus.objects.filter(participant_id=code).order_by("valid_from", "pk"))


def measures_of(code: str) -> list[Measure]:
    return list(Measure.objects.filter(participant_id=code).order_by("valid_from", "pk"))


def get_participant(code: str) -> Participant:
    try:
        return Participant.objects.get(code=code)
    except Participant.DoesNotExist:
        raise NotFound(_("%(code)s is not a participant of the Kimberley Process") % {"code": repr(code)}) from None



def participant_choices() -> list[tuple[str, str]]:
    """(code, name) of every participant, by code: for the choices of a form."""
    return list(Participant.objects.order_by("code").values_list("code", "name"))

# --- the registry snapshot ---------------------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    """Participants, statuses, authorities and keys as plain values, read once per registry change."""

    stamp: str
    # code -> its policies (CERT-09, IMP-02), each in force from its day (rules.policy_on)
    participants: dict[str, tuple[rules.Policy, ...]]
    # what judges standing: recorded periods, non-participation before admission, measures' effects
    # (rules.effective_history); the trust list carries exactly these
    statuses: dict[str, list[rules.StatusPeriod]]
    authorities: dict[str, dict[str, Any]]
    keys: dict[str, SigningKey]
    measures: dict[str, list[rules.Measure]] = field(default_factory=dict)
    admitted: dict[str, dt.date | None] = field(default_factory=dict)

    def measures_on(self, code: str, day: dt.date) -> list[rules.Measure]:
        return [m for m in self.measures.get(code, []) if m.in_force(day)]

    def policy_on(self, code: str, day: dt.date) -> rules.Policy:
        """The policy in force on `day` (an unknown code gets the scheme's defaults: callers check the code)."""
        return rules.policy_on(self.participants.get(code, ()), day)

    def status_on(self, code: str, day: dt.date) -> rules.StatusPeriod:
        """Status of a participant on a day (SPEC-07). An unknown code is a non-participant."""
        if code not in self.participants:
            return rules.StatusPeriod("non_participant", day, None, "not a participant")
        return rules.status_on(self.statuses.get(code, []), day) or rules.StatusPeriod("active", day, None)


_snapshot: Snapshot | None = None


def bump_registry_version(**_kwargs: Any) -> None:
    if not RegistryVersion.objects.filter(pk=1).update(stamp=secrets.token_hex(16)):
        RegistryVersion.objects.create(pk=1, stamp=secrets.token_hex(16))


def _current_stamp() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT stamp FROM {RegistryVersion._meta.db_table} WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


def snapshot() -> Snapshot:
    """This process's copy of the registry, re-read only when the registry version stamp has changed.

    The stamp is read before the tables, so a snapshot is never labelled newer than its contents.
    """
    global _snapshot
    stamp = _current_stamp()
    if stamp is not None and _snapshot is not None and _snapshot.stamp == stamp:
        return _snapshot
    recorded: dict[str, list[rules.StatusPeriod]] = {}
    for st in ParticipantStatus.objects.order_by("participant_id", "valid_from", "pk"):
        recorded.setdefault(st.participant_id, []).append(
            rules.StatusPeriod(st.status, st.valid_from, st.valid_to, st.scope))
    measures: dict[str, list[rules.Measure]] = {}
    for m in Measure.objects.order_by("participant_id", "valid_from", "pk"):
        measures.setdefault(m.participant_id, []).append(m.as_rule())
    policies: dict[str, list[rules.Policy]] = {}
    for policy in ParticipantPolicy.objects.order_by("participant_id", "valid_from"):
        policies.setdefault(policy.participant_id, []).append(policy.as_rule())
    admitted = dict(Participant.objects.values_list("code", "admitted_on"))
    statuses = {code: history for code in admitted
                if (history := rules.effective_history(recorded.get(code, []), admitted[code],
                                                       measures.get(code, [])))}
    fresh = Snapshot(
        stamp=stamp or "",
        participants={code: tuple(policies.get(code, ())) for code in admitted},
        statuses=statuses,
        measures=measures,
        admitted=admitted,
        authorities={a.id: {"id": a.id, "name": a.name, "participant": a.participant_id, "roles": a.roles}
                     for a in Authority.objects.all()},
        keys={k.kid: k for k in SigningKey.objects.select_related("authority")},
    )
    if stamp is not None:
        _snapshot = fresh
    return fresh


def status_history(code: str) -> list[rules.StatusPeriod]:
    return list(snapshot().statuses.get(code, []))


def status_on(code: str, day: dt.date) -> rules.StatusPeriod:
    """Status of a participant on a day (SPEC-07). An unknown code is a non-participant."""
    return snapshot().status_on(code, day)


def participant_policy(code: str, day: dt.date) -> rules.Policy:
    """The policy of a participant in force on `day`: its certificate validity (CERT-09) and confirmation
    deadline (IMP-02). A certificate is judged by the exporting participant's policy on its issue day."""
    snap = snapshot()
    if code not in snap.participants:
        raise NotFound(_("%(code)s is not a participant of the Kimberley Process") % {"code": repr(code)})
    return snap.policy_on(code, day)


def may_trade_status(status: str) -> bool:
    return status != "non_participant" and rules.may_trade(status)


def authority_summary(authority_id: str) -> dict[str, str]:
    a = snapshot().authorities.get(authority_id)
    if a is None:
        raise NotFound(_("no authority %(authority_id)s") % {"authority_id": repr(authority_id)})
    return {"id": a["id"], "name": a["name"], "participant": a["participant"]}


# --- actors and permissions --------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    role: str
    participant: str | None
    authority: str | None


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person with their grants, the anonymous caller, or the node itself.

    Every audit entry names one. `system` is the node operator at the shell (`kpcs` commands): it may do
    anything, as whoever holds the database and the keys can. The anonymous caller may do nothing.
    """

    label: str
    user_id: int | None = None
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    system: bool = False

    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    def participants_for(self, action: str) -> set[str] | None:
        """Participant codes this actor may perform `action` for; None means every participant."""
        if self.system:
            return None
        scopes = [(g, rules.role_scope(g.role, action)) for g in self.grants]
        if any(scope == rules.ALL for _, scope in scopes):
            return None
        return {g.participant for g, scope in scopes if scope == rules.OWN and g.participant}

    def may(self, action: str, participant: str | None = None) -> bool:
        if self.system:
            return True
        scope = self.participants_for(action)
        if scope is None:
            return True
        return participant in scope if participant else bool(scope)


SYSTEM = Actor("system", system=True)
ANONYMOUS = Actor("anonymous")


def actor_for_user(user: AbstractBaseUser, via: str = "") -> Actor:
    grants = tuple(Grant(m.role, m.participant_id, m.authority_id)
                   for m in Membership.objects.filter(user_id=user.pk))
    label = user.get_username() + (f" ({via})" if via else "")
    return Actor(label=label, user_id=user.pk, grants=grants)


def require(actor: Actor, action: str, participant: str | None = None) -> None:
    if not actor.may(action, participant):
        message = (_("you may not perform %(action)s for participant %(participant)s") if participant
                   else _("you may not perform %(action)s"))
        raise PermissionDenied(message % {"action": action, "participant": participant},
                               details={"action": action})


def authority_for(actor: Actor, role: str, participant: str) -> str:
    """The authority an officer acts through for `role` on behalf of `participant`."""
    for g in actor.grants:
        if g.role == role and g.participant == participant and g.authority:
            return g.authority
    raise PermissionDenied(_("you are not attached to an authority of %(participant)s as %(role)s")
                             % {"participant": participant, "role": role})


# --- operators ---------------------------------------------------------------------------------

def operator_snapshot(op: Operator) -> dict[str, Any]:
    return {"id": op.pk, "participant": op.participant_id, "name": op.name, "address": op.address,
            "kind": op.kind, "licence": op.licence, "valid_from": op.valid_from.isoformat(),
            "valid_until": op.valid_until.isoformat() if op.valid_until else None,
            "nationality": op.nationality}


def register_operator(actor: Actor, *, participant: str, name: str, address: str, kind: str, licence: str,
                      valid_from: dt.date, valid_until: dt.date | None = None,
                      nationality: str = "") -> Operator:
    """INT-08: register a licensed operator of the officer's own participant."""
    require(actor, "operator.write", participant)
    get_participant(participant)
    if kind not in rules.OPERATOR_KINDS:
        raise ValidationFailed(_("kind must be one of %(kinds)s")
                                 % {"kinds": ', '.join(rules.OPERATOR_KINDS)}, code="invalid_kind")
    if not name.strip() or not address.strip() or not licence.strip():
        raise ValidationFailed(_("name, address and licence are required (INT-08)"), rule="INT-08")
    if valid_until is not None and valid_until < valid_from:
        raise ValidationFailed(_("valid_until is before valid_from"), code="invalid_dates")
    try:
        with transaction.atomic():
            op = Operator.objects.create(participant_id=participant, name=name.strip(), address=address.strip(),
                                         kind=kind, licence=licence.strip(), valid_from=valid_from,
                                         valid_until=valid_until, nationality=nationality.strip())
            audit.record(actor=actor.label, action="operator.registered", object_type="operator",
                         object_id=str(op.pk), payload=operator_snapshot(op), participant=participant)
    except IntegrityError:
        raise Conflict(_("licence %(licence)s is already registered for %(participant)s")
                         % {"licence": repr(licence), "participant": participant},
                       code="duplicate_licence") from None
    return op


def visible_operators(actor: Actor, *, participant: str | None = None, kind: str | None = None,
                      valid_on: dt.date | None = None) -> QuerySet[Operator]:
    scope = actor.participants_for("operator.read")
    qs = Operator.objects.all()
    if scope is not None:
        qs = qs.filter(participant_id__in=scope)
    if participant:
        qs = qs.filter(participant_id=participant)
    if kind:
        qs = qs.filter(kind=kind)
    if valid_on:
        qs = qs.filter(valid_from__lte=valid_on).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=valid_on))
    return qs.order_by("participant_id", "name", "pk")


def get_operator(actor: Actor, pk: int) -> Operator:
    op = visible_operators(actor).filter(pk=pk).first()
    if op is None:
        raise NotFound(_("operator %(pk)s not found") % {"pk": pk})
    return op


def licensed_operator(participant: str, licence: str, kind: str, day: dt.date) -> dict[str, Any]:
    """Snapshot of a registered operator licensed as `kind` on `day`, else a refusal (INT-08)."""
    op = Operator.objects.filter(participant_id=participant, licence=licence).first()
    if op is None:
        raise ValidationFailed(_("no operator with licence %(licence)s is registered in %(participant)s")
                                 % {"licence": repr(licence), "participant": participant},
                               code="unknown_operator", rule="INT-08")
    if op.kind != kind:
        raise ValidationFailed(_("operator %(licence)s is registered as %(kind)s, not %(wanted)s")
                                 % {"licence": repr(licence), "kind": op.kind, "wanted": kind},
                               code="not_an_exporter" if kind == "exporter" else "wrong_operator_kind",
                               rule="INT-08")
    if not rules.licence_valid(op.valid_from, op.valid_until, day):
        raise ValidationFailed(_("the licence %(licence)s is not valid on %(day)s")
                                 % {"licence": repr(licence), "day": day.isoformat()},
                               code="licence_not_valid", rule="INT-08")
    return operator_snapshot(op)


# --- users and tokens --------------------------------------------------------------------------
# People are created and granted roles only by the node operator (`people.grant`, the system actor); the
# secretariat (`people.manage`) may switch accounts off and on, end tokens and send a reset link to the person.
# Nobody sets another person's password: the person sets it through a one-time link. Every change is audited
# with the object's tracked state after it (registry.selectors), so the log alone replays it.

def _audit_user(actor: Actor | str, action: str, user: Person, scope: str = "", **payload: Any) -> None:
    label = actor if isinstance(actor, str) else actor.label
    audit.record(actor=label, action=action, object_type="user", object_id=user.get_username(),
                 payload={**payload, "state": selectors.user_state(user)}, participant=scope)


def _audit_token(actor: Actor, action: str, token: ApiToken, **payload: Any) -> None:
    audit.record(actor=actor.label, action=action, object_type="api_token", object_id=str(token.pk),
                 payload={**payload, "state": selectors.api_token_state(token)})


def _person(email: str, *, lock: bool = False) -> Person:
    qs = User.objects.select_for_update() if lock else User.objects.all()
    user = qs.filter(username=email).first()
    if user is None:
        raise NotFound(_("no user %(email)s") % {"email": repr(email)})
    return user


@transaction.atomic
def create_user(email: str, password: str | None, role: str, participant: str | None = None,
                authority: str | None = None, *, actor: Actor) -> Membership:
    """Create the user if new and grant it `role`; an officer is scoped to a participant and authority.

    An existing user's password is never changed here (it would let whoever grants roles sign in as that
    person): passing one for an existing user is refused; the person resets it with a one-time link.
    """
    require(actor, "people.grant")
    if role not in rules.ROLES:
        raise ValidationFailed(_("role must be one of %(roles)s") % {"roles": ', '.join(rules.ROLES)},
                               code="invalid_role")
    if role in rules.CROSS_SCHEME_ROLES:
        participant, authority = None, None
    else:
        if not participant:
            raise ValidationFailed(_("role %(role)s needs --participant") % {"role": role}, code="participant_required")
        get_participant(participant)
        needed = rules.ROLE_NEEDS_AUTHORITY_ROLE.get(role)
        if role in rules.PARTICIPANT_ONLY_ROLES:
            authority = None
        candidates = Authority.objects.filter(participant_id=participant).order_by("id")
        if role in rules.PARTICIPANT_ONLY_ROLES:
            pass
        elif authority:
            found = candidates.filter(id=authority).first()
            if found is None:
                raise ValidationFailed(_("authority %(authority)s does not belong to %(participant)s")
                                         % {"authority": repr(authority), "participant": participant},
                                       code="invalid_authority")
            if needed and needed not in found.roles:
                raise ValidationFailed(_("authority %(authority)s does not hold the role %(needed)s")
                                         % {"authority": authority, "needed": needed},
                                       code="invalid_authority")
        else:
            found = next((a for a in candidates if not needed or needed in a.roles), None)
            if found is None:
                raise ValidationFailed(_("%(participant)s has no authority holding the role %(needed)s")
                                         % {"participant": participant, "needed": needed},
                                       code="invalid_authority")
            authority = found.id
    user = User.objects.select_for_update().filter(username=email).first()
    if user is None:
        if not password:
            raise ValidationFailed(_("a password is required for a new user"), code="password_required")
        user = User.objects.create_user(username=email, email=email, password=password)
        _audit_user(actor, "user.created", user, email=email)
    elif password:
        raise Conflict(_("%(email)s already exists and keeps their password; they set a new one with a reset "
                         "link (`kpcs user reset-password`)") % {"email": email}, code="password_not_changed")
    membership, new = Membership.objects.get_or_create(user=user, role=role, participant_id=participant,
                                                       authority_id=authority)
    if new:
        _audit_user(actor, "membership.granted", user, scope=participant or "", role=role,
                    participant=participant, authority=authority)
    return membership


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_token(email: str, name: str = "", *, days: int = rules.TOKEN_DEFAULT_DAYS, actor: Actor) -> str:
    """A bearer token valid `days` days (at most a year, rules.TOKEN_MAX_DAYS); returned once, only its hash kept."""
    user = _person(email, lock=True)
    if actor.user_id != user.pk:  # a token gives access: only its holder, or the node operator, makes one
        require(actor, "people.grant")
    if not user.is_active:
        raise Conflict(_("%(email)s is deactivated; reactivate the account first") % {"email": email},
                       code="user_inactive")
    rules.check_token_days(days)
    if len(name) > ApiToken._meta.get_field("name").max_length:  # type: ignore[operator]
        raise ValidationFailed(_("a token's name is at most 100 characters"), code="invalid_name")
    token = "kpcs_" + secrets.token_urlsafe(32)
    now = clock.now()
    t = ApiToken.objects.create(user=user, name=name, token_hash=_token_hash(token),
                                prefix=token[:rules.TOKEN_PREFIX_LENGTH], created_at=now,
                                expires_at=now + dt.timedelta(days=days))
    _audit_token(actor, "token.created", t, name=name)
    return token


def list_tokens(email: str, *, actor: Actor) -> list[ApiToken]:
    """A person's tokens, newest first: their own, or anyone's for the secretariat and the node operator."""
    user = _person(email)
    if actor.user_id != user.pk:
        require(actor, "people.manage")
    return list(ApiToken.objects.select_related("user").filter(user=user).order_by("-created_at", "-pk"))


def own_tokens(actor: Actor) -> QuerySet[ApiToken]:
    """The caller's own tokens, newest first; none for an actor without an account."""
    return ApiToken.objects.select_related("user").filter(user_id=actor.user_id or 0).order_by("-created_at", "-pk")


def _revoke(token: ApiToken, now: dt.datetime, actor: Actor, reason: str) -> None:
    token.revoked_at = now
    token.save(update_fields=["revoked_at"])
    _audit_token(actor, "token.revoked", token, reason=reason)


@transaction.atomic
def revoke_token(prefix: str, *, actor: Actor, own_only: bool = False, reason: str = "") -> ApiToken:
    """Revoke the token that `prefix` names (or the whole token, pasted): from now on it gets 401.

    A holder revokes their own tokens; the secretariat and the node operator anyone's. A prefix matching
    several live tokens is refused, naming how many, so a slip never ends the wrong machine's access.
    """
    text = rules.token_prefix_query(prefix)
    qs = ApiToken.objects.select_for_update().select_related("user")
    if len(text) > rules.TOKEN_PREFIX_LENGTH:
        qs = qs.filter(token_hash=_token_hash(text))
    else:
        qs = qs.filter(prefix__startswith=text)
    if own_only or not actor.may("people.manage"):
        holder = actor.user_id
        if holder is None:
            raise PermissionDenied(_("you may not revoke tokens"), details={"action": "people.manage"})
        qs = qs.filter(user_id=holder)
    matches = list(qs.order_by("pk"))
    live = [t for t in matches if t.revoked_at is None]
    if len(live) > 1:
        raise ValidationFailed(_("%(count)s tokens start with %(text)s; give more of the prefix")
                                 % {"count": len(live), "text": repr(text)},
                               code="ambiguous_prefix", details={"count": len(live)})
    if not live:
        if matches:
            raise Conflict(_("token %(token)s was already revoked at %(revoked_at)s")
                             % {"token": matches[-1], "revoked_at": _iso(matches[-1].revoked_at)},
                           code="already_revoked")
        raise NotFound(_("no token starts with %(text)s") % {"text": repr(text)})
    token = live[0]
    _revoke(token, clock.now(), actor, reason or "revoked by " + ("its holder" if actor.user_id == token.user_id
                                                                   else actor.label))
    return token


@transaction.atomic
def revoke_token_id(token_id: int, *, actor: Actor, reason: str = "") -> ApiToken:
    """Revoke one token by its id (the admin site's action)."""
    require(actor, "people.manage")
    token = ApiToken.objects.select_for_update().select_related("user").filter(pk=token_id).first()
    if token is None:
        raise NotFound(_("no token %(token_id)s") % {"token_id": token_id})
    if token.revoked_at is not None:
        raise Conflict(_("token %(token)s was already revoked at %(revoked_at)s")
                         % {"token": token, "revoked_at": _iso(token.revoked_at)}, code="already_revoked")
    _revoke(token, clock.now(), actor, reason or f"revoked by {actor.label}")
    return token


def _end_sessions(user_id: int, now: dt.datetime) -> int:
    """Delete every live session of a user. Sessions are decoded rather than tracked at sign-in: deactivation
    is rare, sessions last 8 hours, and decoding finds every session whatever cycled its key."""
    ended = [s.session_key for s in Session.objects.filter(expire_date__gt=now).iterator()
             if s.get_decoded().get(SESSION_KEY) == str(user_id)]
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)


@transaction.atomic
def deactivate_user(email: str, *, actor: Actor, reason: str = "") -> dict[str, int]:
    """Switch an account off: no sign-in, every session ended, every token revoked, in one audited change.

    The person's entry says how many sessions ended and which tokens went; each token gets its own
    `token.revoked` entry in the same transaction, so each object's history stays complete.
    """
    require(actor, "people.manage")
    user = _person(email, lock=True)
    if actor.user_id == user.pk:
        raise Conflict(_("an account does not deactivate itself: ask another admin or the node operator"),
                       code="own_account")
    if not user.is_active:
        raise Conflict(_("%(email)s is already deactivated") % {"email": email}, code="already_deactivated")
    now = clock.now()
    user.is_active = False
    user.save(update_fields=["is_active"])
    tokens = list(ApiToken.objects.select_for_update().select_related("user")
                  .filter(user=user, revoked_at__isnull=True).order_by("pk"))
    sessions = _end_sessions(user.pk, now)
    _audit_user(actor, "user.deactivated", user, reason=reason, sessions_ended=sessions,
                tokens_revoked=[t.prefix for t in tokens])
    for t in tokens:
        _revoke(t, now, actor, f"{email} deactivated")
    return {"sessions": sessions, "tokens": len(tokens)}


@transaction.atomic
def reactivate_user(email: str, *, actor: Actor, reason: str = "") -> None:
    """Let a person sign in again. Their tokens stay revoked: a machine gets a new token from the operator."""
    require(actor, "people.manage")
    user = _person(email, lock=True)
    if user.is_active:
        raise Conflict(_("%(email)s is active") % {"email": email}, code="already_active")
    user.is_active = True
    user.save(update_fields=["is_active"])
    _audit_user(actor, "user.reactivated", user, reason=reason)


_user_actors: dict[tuple[int, str], Actor] = {}


def actor_for_token(token: str) -> Actor | None:
    """The actor behind a bearer token. The token itself (revoked? expired? user active?) is checked on every
    call with one plain query; the holder's roles are cached per process until the registry stamp changes."""
    table, users = ApiToken._meta.db_table, User._meta.db_table
    now = clock.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.id, t.user_id, t.prefix, t.last_used_at, u.username FROM {table} t "
            f"JOIN {users} u ON u.id = t.user_id WHERE t.token_hash = %s AND t.revoked_at IS NULL "
            "AND t.expires_at > %s AND u.is_active = %s",
            [_token_hash(token), connection.ops.adapt_datetimefield_value(now), True])
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, user_id, prefix, last_used, _expires = row
    if isinstance(last_used, str):  # SQLite hands back text from a plain cursor
        last_used = dt.datetime.fromisoformat(last_used)
    if last_used is not None and last_used.tzinfo is None:
        last_used = last_used.replace(tzinfo=dt.UTC)
    if last_used is None or now - last_used > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
    stamp = _current_stamp() or ""
    key = (user_id, stamp)
    actor = _user_actors.get(key) if stamp else None
    if actor is None:
        actor = actor_for_user(User.objects.get(pk=user_id))
        if stamp:
            if len(_user_actors) > 10_000:
                _user_actors.clear()
            _user_actors[key] = actor
    return Actor(label=f"{actor.label} (token {prefix}…)", user_id=actor.user_id, grants=actor.grants)


def user_for_token(token: str) -> tuple[AbstractBaseUser, str] | None:
    now = clock.now()
    t = (ApiToken.objects.select_related("user")
         .filter(token_hash=_token_hash(token), revoked_at__isnull=True, expires_at__gt=now).first())
    if t is None or not t.user.is_active:
        return None
    if t.last_used_at is None or now - t.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=t.pk).update(last_used_at=now)
    return t.user, f"token {t.prefix}…"


# --- passwords: one-time reset links -------------------------------------------------------------
# Django's token generator makes the link: it is bound to the person (their id and password hash) and to the
# time it was made, so it works once (setting the password changes the hash) and for PASSWORD_RESET_TIMEOUT.

def _reset_link(user: Person, base_url: str) -> str:
    path = reverse("password_reset_confirm", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                                                     "token": default_token_generator.make_token(user)})
    return base_url.rstrip("/") + path


def _active_person(email: str) -> Person:
    user = _person(email, lock=True)
    if not user.is_active:
        raise Conflict(_("%(email)s is deactivated: no reset link for a deactivated account") % {"email": email},
                       code="user_inactive")
    return user


@transaction.atomic
def password_reset_link(email: str, *, base_url: str, actor: Actor) -> str:
    """A one-time link for the node operator to hand to the person. Whoever holds the link can set the
    password, so only the node operator (`people.grant`) sees one; the secretariat sends it by e-mail."""
    require(actor, "people.grant")
    user = _active_person(email)
    link = _reset_link(user, base_url)
    _audit_user(actor, "user.password_reset_requested", user, delivery="shown to the node operator")
    return link


def send_password_reset(email: str, *, base_url: str, actor: Actor) -> None:
    """E-mail a one-time link to the person's own address; the sender never sees it.

    The request is audited (and committed) before the mail leaves, so no link ever goes out unrecorded.
    """
    require(actor, "people.manage")
    with transaction.atomic():
        user = _active_person(email)
        link = _reset_link(user, base_url)
        _audit_user(actor, "user.password_reset_requested", user, delivery="e-mail")
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    send_mail(
        subject="Kimberley Process node: set your password",
        message=(f"Someone at the Kimberley Process secretariat ({actor.label}) sent you this link to set the "
                 f"password of your account {email}:\n\n{link}\n\nIt works once, for {hours} hours. If you did "
                 "not expect it, ignore this message; your password stays as it is.\n"),
        from_email=None, recipient_list=[user.email or email])


@transaction.atomic
def reset_password(user_id: int, token: str, password: str) -> Person:
    """The person sets their own password with the link's token. Checked here, under a lock, so the same
    link used twice at once still works only once."""
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None or not user.is_active or not default_token_generator.check_token(user, token):
        raise PermissionDenied(_("this link is invalid, has expired or was already used; ask for a new one"),
                               code="invalid_reset_link")
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), code="weak_password") from None
    user.set_password(password)
    user.save(update_fields=["password"])
    _audit_user(f"{user.get_username()} (reset link)", "user.password_changed", user, via="reset link")
    return user


@transaction.atomic
def change_own_password(user_id: int, current: str, password: str) -> Person:
    """A signed-in person replaces their own password, knowing the current one."""
    user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
    if user is None or not user.check_password(current):
        raise PermissionDenied(_("your current password did not match"), code="wrong_password")
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), code="weak_password") from None
    user.set_password(password)
    user.save(update_fields=["password"])
    _audit_user(user.get_username(), "user.password_changed", user, via="own password")
    return user


# --- signing keys ------------------------------------------------------------------------------

def _keys_dir() -> Path:
    path = config.data_dir() / "keys"
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _write_private_key(kid_hint: str, key: Ed25519PrivateKey) -> str:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = _keys_dir() / f"{kid_hint}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    return path.name


@lru_cache(maxsize=256)
def _load_private_key(filename: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key((_keys_dir() / filename).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{filename} is not an Ed25519 key")
    return key


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _in_use(record: SigningKey) -> bool:
    """A key signs only until it is retired or revoked; after that its `last_serial` bounds what it signed
    (its dates are judged separately, at the signing time)."""
    return record.last_serial is None and record.revoked_at is None


def _audit_key(actor: Actor, action: str, record: SigningKey, **extra: Any) -> None:
    audit.record(actor=actor.label, action=action, object_type="signing_key", object_id=record.kid,
                 payload={**extra, "state": selectors.signing_key_state(record)},
                 participant=record.authority.participant_id if record.authority else "")


def create_key(authority: str | None, *, valid_from: dt.datetime | None = None,
               valid_until: dt.datetime | None = None, actor: Actor) -> SigningKey:
    """A new Ed25519 key for an authority (or, with authority None, the node's trust-list key).

    A new node key is endorsed by the node key in use, if any, so that verifiers anchored on that key accept
    trust lists the new one signs. A node key made when none is usable (the first, or after a compromise)
    is endorsed by nobody: its anchor must be published again out of band.
    """
    require(actor, "keys.manage")
    if authority is not None and not Authority.objects.filter(id=authority).exists():
        raise NotFound(_("no authority %(authority)s") % {"authority": repr(authority)})
    now = clock.now()
    key = crypto.generate_private_key()
    owner = authority or "node"
    kid = f"{owner}#{crypto.thumbprint(key)[:16]}"
    jwk = crypto.public_jwk(key, kid)
    endorsement = ""
    if authority is None:
        current = _current_node_key(now)
        if current is not None:
            payload = rules.endorsement_payload(current.kid, current.public_jwk, kid, jwk, now)
            endorsement = crypto.sign(payload, _load_private_key(current.private_path), current.kid)
    filename = _write_private_key(kid.replace("#", "_"), key)
    with transaction.atomic():
        record = SigningKey.objects.create(
            kid=kid, purpose="authority" if authority else "node", authority_id=authority, public_jwk=jwk,
            private_path=filename, created_at=now, valid_from=valid_from or now, valid_until=valid_until,
            endorsement=endorsement)
        _audit_key(actor, "key.created", record, endorsed=bool(endorsement))
    return record


def _current_node_key(at: dt.datetime) -> SigningKey | None:
    usable = [k for k in SigningKey.objects.filter(purpose="node").order_by("valid_from")
              if rules.key_valid_at(k.valid_from, k.valid_until, k.revoked_at, at)]
    return usable[-1] if usable else None


def keys_in_use(authority: str | None) -> list[SigningKey]:
    """The keys an authority (or, with None, the node) may still sign with, locked for the caller's transaction."""
    qs = SigningKey.objects.select_for_update().filter(last_serial__isnull=True, revoked_at__isnull=True).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gt=clock.now()))
    qs = qs.filter(authority_id=authority) if authority else qs.filter(purpose="node")
    return list(qs.order_by("kid"))


def rotate_key(authority: str | None, *, actor: Actor, last_serials: dict[str, int] | None = None) -> SigningKey:
    """Start a new key and retire the ones in use: what they signed stays genuine up to `last_serials[kid]`.

    For an authority key the caller (certificates.services.rotate_signing_key) gives the highest serial each
    retiring key signed, read while issuing is locked; node keys sign no certificates and carry no bound.
    """
    require(actor, "keys.manage")
    now = clock.now()
    with transaction.atomic():
        retiring = keys_in_use(authority)
        if authority is not None and (last_serials is None or any(k.kid not in last_serials for k in retiring)):
            raise ValueError("retiring an authority key needs the highest serial it signed")
        new = create_key(authority, valid_from=now, actor=actor)
        for old in retiring:
            old.valid_until = now
            old.last_serial = last_serials[old.kid] if authority is not None and last_serials else None
            old.save(update_fields=["valid_until", "last_serial"])
            _audit_key(actor, "key.retired", old, replaced_by=new.kid)
    return new


def revoke_key(kid: str, reason: str, at: dt.datetime | None = None, *, actor: Actor,
               last_serial: int | None = None) -> SigningKey:
    """Revoke from `at` (default now). For an authority key `last_serial` is the highest serial it legitimately
    signed: a certificate claiming a higher one is not genuine whatever its signing time (the caller,
    certificates.services.revoke_signing_key, reads it while issuing is locked)."""
    require(actor, "keys.manage")
    if not reason.strip():
        raise ValidationFailed(_("say why the key is revoked"), code="reason_required")
    with transaction.atomic():
        record = SigningKey.objects.select_for_update().filter(kid=kid).order_by("kid").first()
        if record is None:
            raise NotFound(_("no key %(kid)s") % {"kid": repr(kid)})
        if record.revoked_at is not None:
            raise Conflict(_("key %(kid)s was already revoked at %(revoked_at)s")
                             % {"kid": kid, "revoked_at": record.revoked_at.isoformat()})
        if record.purpose == "authority" and last_serial is None:
            raise ValueError("revoking an authority key needs the highest serial it legitimately signed")
        record.revoked_at = at or clock.now()
        record.revocation_reason = reason.strip()
        if record.purpose == "authority":
            record.last_serial = last_serial if record.last_serial is None else min(record.last_serial,
                                                                                   last_serial or 0)
        record.save(update_fields=["revoked_at", "revocation_reason", "last_serial"])
        _audit_key(actor, "key.revoked", record, reason=record.revocation_reason)
    return record


def get_key(kid: str) -> SigningKey:
    record = SigningKey.objects.select_related("authority").filter(kid=kid).first()
    if record is None:
        raise NotFound(_("no key %(kid)s") % {"kid": repr(kid)})
    return record


def signing_key(authority: str | None, at: dt.datetime) -> tuple[str, Ed25519PrivateKey]:
    """The authority's (or the node's) key in use at `at`: the newest one neither retired nor revoked."""
    usable = [k for k in snapshot().keys.values()
              if (k.authority_id == authority if authority else k.purpose == "node") and _in_use(k)
              and rules.key_valid_at(k.valid_from, k.valid_until, k.revoked_at, at)]
    record = max(usable, key=lambda k: k.valid_from, default=None)
    if record is None:
        who = authority or "this node"
        raise Conflict(_("%(who)s has no valid signing key; create one with `kpcs keys create`") % {"who": who},
                       code="no_signing_key")
    return record.kid, _load_private_key(record.private_path)


def key_entry(record: SigningKey, now: dt.datetime) -> dict[str, Any]:
    return {
        "kid": record.kid,
        "authority": record.authority_id,
        "participant": record.authority.participant_id if record.authority else None,
        "purpose": record.purpose,
        "status": rules.key_status(record.valid_from, record.valid_until, record.revoked_at, now),
        "valid_from": _iso(record.valid_from),
        "valid_until": _iso(record.valid_until),
        "revoked_at": _iso(record.revoked_at),
        "last_serial": record.last_serial,
        "jwk": {**record.public_jwk, "kid": record.kid, "alg": crypto.ALG, "use": "sig"},
    }


def find_key(kid: str, snap: Snapshot | None = None) -> dict[str, Any] | None:
    record = (snap or snapshot()).keys.get(kid)
    return key_entry(record, clock.now()) if record else None


def list_keys(authority: str | None = None) -> list[dict[str, Any]]:
    now = clock.now()
    keys = sorted(snapshot().keys.values(), key=lambda k: (k.authority_id or "", k.valid_from, k.kid))
    return [key_entry(k, now) for k in keys if authority is None or k.authority_id == authority]


# --- the trust list ------------------------------------------------------------------------------

def trust_list_validity() -> dt.timedelta:
    return dt.timedelta(hours=settings.KPCS_TRUST_LIST_HOURS)


def anchor() -> dict[str, Any]:
    """The trust anchor to publish out of band: the node key in use, as its RFC 7638 thumbprint and JWK."""
    kid, _key = signing_key(None, clock.now())
    record = snapshot().keys[kid]
    jwk = {"kty": record.public_jwk["kty"], "crv": record.public_jwk["crv"], "x": record.public_jwk["x"]}
    return {"anchor": crypto.jwk_thumbprint(jwk), "kid": kid, "alg": crypto.ALG, "jwk": jwk}


def _trust_list_content(now: dt.datetime) -> dict[str, Any]:
    """Everything the list says, without its sequence and dates (those change with every issue)."""
    snap = snapshot()
    keys = list_keys()
    names = dict(Participant.objects.values_list("code", "name"))
    node_keys = sorted((k for k in snap.keys.values() if k.purpose == "node"), key=lambda k: (k.valid_from, k.kid))
    return {
        "type": rules.TRUST_LIST_TYPE,
        "version": rules.TRUST_LIST_VERSION,
        "keys": [e for e in keys if e["purpose"] == "authority"],
        "node_keys": [e for e in keys if e["purpose"] == "node"],
        "anchor_chain": [k.endorsement for k in node_keys if k.endorsement],
        "participants": [
            {"code": code, "name": names.get(code, ""),
             "statuses": [{"status": p.status, "scope": p.scope, "valid_from": p.valid_from.isoformat(),
                           "valid_to": p.valid_to.isoformat() if p.valid_to else None}
                          for p in snap.statuses.get(code, [])],
             # keys added by governance (issue 8): verifiers of earlier lists ignore them, and the statuses
             # above already carry what admission and measures mean for trade
             "admitted_on": admitted.isoformat() if (admitted := snap.admitted.get(code)) else None,
             "measures": [m.as_dict() for m in snap.measures.get(code, [])]}
            for code in sorted(snap.participants)],
    }


def trust_list(now: dt.datetime | None = None) -> dict[str, Any]:
    """The current signed trust list. A new issue (sequence + 1) is published when what the list says has
    changed, or when half its validity has passed; otherwise the latest issue is served as it was signed."""
    now = now or clock.now()
    content = _trust_list_content(now)
    digest = hashlib.sha256(crypto.canonical(content)).hexdigest()
    latest = TrustListIssue.objects.order_by("-sequence").first()
    if latest is not None and latest.content_hash == digest and now < latest.issued_at + trust_list_validity() / 2:
        return dict(json.loads(latest.document))
    sequence = latest.sequence + 1 if latest else 1
    body = {**content, "sequence": sequence, "issued_at": _iso(now), "next_update": _iso(now + trust_list_validity())}
    kid, key = signing_key(None, now)
    document = {"trust_list": body, "signature": crypto.sign(body, key, kid)}
    try:
        with transaction.atomic():
            TrustListIssue.objects.create(sequence=sequence, issued_at=now, next_update=now + trust_list_validity(),
                                          content_hash=digest, document=json.dumps(document, ensure_ascii=False))
            audit.record(actor=SYSTEM.label, action="trust_list.published", object_type="trust_list",
                         object_id=str(sequence), payload={"sequence": sequence, "content_hash": digest,
                                                           "signed_by": kid, "next_update": body["next_update"]})
    except IntegrityError:  # another process published this sequence a moment ago: serve that one
        winner = TrustListIssue.objects.order_by("-sequence").first()
        assert winner is not None
        return dict(json.loads(winner.document))
    return document


def ensure_node_key() -> None:
    if _current_node_key(clock.now()) is None:
        create_key(None, actor=SYSTEM)
