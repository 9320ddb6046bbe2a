"""Registry rules: participant status over time, trade eligibility, licences and who may do what.

Plain functions over plain values; no database, no request.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import pycountry
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from kpcs import crypto
from kpcs.errors import ValidationFailed

PARTICIPANT_KINDS = ("state", "regional_organisation", "trading_entity")
STATUSES = ("active", "suspended", "self_suspended", "removed", "restricted", "embargoed", "applicant")
# A status as a refusal names it: the code itself in English, its word in the reader's language otherwise.
STATUS_WORDS = {
    "active": pgettext_lazy("participant status", "active"),
    "suspended": pgettext_lazy("participant status", "suspended"),
    "self_suspended": pgettext_lazy("participant status", "self_suspended"),
    "removed": pgettext_lazy("participant status", "removed"),
    "restricted": pgettext_lazy("participant status", "restricted"),
    "embargoed": pgettext_lazy("participant status", "embargoed"),
    "applicant": pgettext_lazy("participant status", "applicant"),
    "non_participant": pgettext_lazy("participant status", "non_participant"),
}
# A participant in one of these may neither export nor import (EXP-01, SPEC-02, SPEC-05, GOV-06).
NO_TRADE = frozenset({"suspended", "self_suspended", "removed", "applicant"})
# Exports from (and diamonds mined in) an embargoed participant are not accepted (SPEC-01).
NO_EXPORT = NO_TRADE | {"embargoed"}
AUTHORITY_ROLES = ("issue_export", "validate_export", "verify_import", "statistics")
OPERATOR_KINDS = ("exporter", "importer", "miner", "digger", "buyer", "dealer", "agent", "courier")
OBSERVER_CONSTITUENCIES = ("industry", "civil_society", "international", "non_participant_government")
ROLES = ("exporting_officer", "importing_officer", "statistics_officer", "kp_analyst", "wgs_analyst", "admin",
         "kp_chair", "delegate", "observer", "custody_officer")
# The authority role an officer's authority must hold for the officer's role.
ROLE_NEEDS_AUTHORITY_ROLE = {
    "exporting_officer": "issue_export",
    "importing_officer": "verify_import",
    "statistics_officer": "statistics",
}
CROSS_SCHEME_ROLES = frozenset({"kp_analyst", "wgs_analyst", "admin", "kp_chair", "observer"})
# Roles scoped to a participant but to none of its authorities: a delegate represents the participant itself; a
# custody officer works for its mining ministry (or the KP authority) on the participant's internal controls.
PARTICIPANT_ONLY_ROLES = frozenset({"delegate", "custody_officer"})
# The scheme started on 1 January 2003 (GOV-13): a participant admitted later is a non-participant before.
SCHEME_START = dt.date(2003, 1, 1)
# Structured measures (SPEC-01, SPEC-03, SPEC-04): what each does to standing, from its date.
MEASURE_KINDS = ("import_ban_by_origin", "compliant_zones_only", "enhanced_vigilance")
# The status a measure amounts to when judging trade: a ban refuses exports from and diamonds mined in its
# participant (as `embargoed`); compliant zones still trade (zones are enforced when custody lands);
# enhanced vigilance is a flag only.
MEASURE_STATUS = {"import_ban_by_origin": "embargoed", "compliant_zones_only": "restricted"}

_CODE = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class StatusPeriod:
    status: str
    valid_from: dt.date
    valid_to: dt.date | None  # exclusive; None = open-ended
    scope: str = ""


def status_word(status: str) -> str:
    """The participant status `status` in the active language (the code itself in English)."""
    return str(STATUS_WORDS.get(status, status))


def status_on(history: Iterable[StatusPeriod], day: dt.date) -> StatusPeriod | None:
    """The status period covering `day` (SPEC-07); None means plainly active.

    Where periods overlap, the most restrictive one wins (removed > suspended > … > restricted).
    """
    covering = [p for p in history if p.valid_from <= day and (p.valid_to is None or day < p.valid_to)]
    if not covering:
        return None
    return min(covering, key=lambda p: _SEVERITY.get(p.status, 99))


_SEVERITY = {s: i for i, s in enumerate(("removed", "suspended", "self_suspended", "applicant", "non_participant",
                                         "embargoed", "restricted", "active"))}


@dataclass(frozen=True)
class Zone:
    name: str
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None  # exclusive

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "valid_from": self.valid_from.isoformat() if self.valid_from else None,
                "valid_to": self.valid_to.isoformat() if self.valid_to else None}


@dataclass(frozen=True)
class Measure:
    """A structured measure on a participant (its exports, or diamonds mined in it), from its date."""

    kind: str
    valid_from: dt.date
    valid_to: dt.date | None  # exclusive
    zones: tuple[Zone, ...] = ()
    scope: str = ""

    def in_force(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def zones_on(self, day: dt.date) -> list[str]:
        return [z.name for z in self.zones if (z.valid_from is None or z.valid_from <= day)
                and (z.valid_to is None or day < z.valid_to)]

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "scope": self.scope, "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
                "zones": [z.as_dict() for z in self.zones]}


def measure_from_dict(data: dict) -> Measure:
    """Read a measure as the trust list (and the API) write it; raises KeyError, TypeError or ValueError."""
    def day(value: object) -> dt.date | None:
        return dt.date.fromisoformat(str(value)) if value else None

    kind = str(data["kind"])
    if kind not in MEASURE_KINDS:
        raise ValueError(f"unknown measure kind {kind!r}")
    start = day(data["valid_from"])
    if start is None:
        raise ValueError("a measure starts on a day")
    zones = tuple(Zone(str(z["name"]), day(z.get("valid_from")), day(z.get("valid_to")))
                  for z in data.get("zones") or [])
    return Measure(kind, start, day(data.get("valid_to")), zones, str(data.get("scope") or ""))


def live(period: StatusPeriod) -> bool:
    """A period closed at its own start was superseded (a corrected record): it never applied."""
    return period.valid_to is None or period.valid_to > period.valid_from


def effective_history(recorded: Iterable[StatusPeriod], admitted_on: dt.date | None,
                      measures: Iterable[Measure] = ()) -> list[StatusPeriod]:
    """The periods that judge a participant's standing: its recorded statuses, `non_participant` from the
    scheme's start until its admission (None: not admitted), and the status each measure amounts to.

    Written into the trust list's `statuses` as they are, so a verifier that knows nothing of admissions or
    measures still judges them as the node does.
    """
    out = [p for p in recorded if live(p)]
    if admitted_on is None:
        out.append(StatusPeriod("non_participant", SCHEME_START, None, "not admitted"))
    elif admitted_on > SCHEME_START:
        out.append(StatusPeriod("non_participant", SCHEME_START, admitted_on, "before admission"))
    for m in measures:
        status = MEASURE_STATUS.get(m.kind)
        if status and (m.valid_to is None or m.valid_to > m.valid_from):
            out.append(StatusPeriod(status, m.valid_from, m.valid_to, f"measure: {m.kind}"))
    return sorted(out, key=lambda p: (p.valid_from, p.status))


def plan_status_change(existing: Iterable[tuple[int, StatusPeriod]], new: StatusPeriod) -> list[tuple[int, dt.date]]:
    """How recording `new` closes the periods it overlaps: [(id, new valid_to)], never anything else.

    A period that began before the new one ends where it begins; one that begins on or inside it is
    superseded (closed at its own start: kept, but it never applied). Periods already closed before the new
    one begins, or beginning after it ends, are left alone.
    """
    closures = []
    for pk, old in existing:
        if not live(old):
            continue
        ends_before = old.valid_to is not None and old.valid_to <= new.valid_from
        starts_after = new.valid_to is not None and old.valid_from >= new.valid_to
        if ends_before or starts_after:
            continue
        closures.append((pk, old.valid_from if old.valid_from >= new.valid_from else new.valid_from))
    return closures


# --- per-participant policies (CERT-09, IMP-02) ----------------------------------------------------
# Date-effective like statuses (SPEC-07): each recorded policy applies from its day until the next one's.
DEFAULT_VALIDITY_DAYS = 60  # CERT-09: the EU's two months, the longest any participant allows
DEFAULT_CONFIRMATION_DAYS = 15  # IMP-02: the US rule, the scheme's default deadline
VALIDITY_DAYS_RANGE = (1, 365)  # CERT-09 sets no maximum; a certificate valid over a year is no control
CONFIRMATION_DAYS_RANGE = (1, 120)  # IMP-02 asks for an "expeditious" confirmation


@dataclass(frozen=True)
class Policy:
    """A participant's certificate validity (CERT-09) and confirmation deadline (IMP-02) from a day on."""

    valid_from: dt.date
    validity_days: int
    confirmation_days: int


DEFAULT_POLICY = Policy(SCHEME_START, DEFAULT_VALIDITY_DAYS, DEFAULT_CONFIRMATION_DAYS)


def policy_on(history: Iterable[Policy], day: dt.date) -> Policy:
    """The policy in force on `day`: the latest one that began on or before it (CERT-09, IMP-02, SPEC-07).

    Before the first recorded policy (or with none) the scheme's defaults apply (60 and 15 days)."""
    in_force = [p for p in history if p.valid_from <= day]
    return max(in_force, key=lambda p: p.valid_from) if in_force else DEFAULT_POLICY


def check_policy(validity_days: int, confirmation_days: int) -> None:
    """Bounds of a participant's policy: validity 1..365 days (CERT-09), confirmation 1..120 days (IMP-02)."""
    low, high = VALIDITY_DAYS_RANGE
    if not low <= validity_days <= high:
        raise ValidationFailed(_("a certificate is valid for %(low)s to %(high)s days, not %(days)s (CERT-09)")
                               % {"low": low, "high": high, "days": validity_days},
                               code="invalid_validity_days", rule="CERT-09")
    low, high = CONFIRMATION_DAYS_RANGE
    if not low <= confirmation_days <= high:
        raise ValidationFailed(_("an import is confirmed within %(low)s to %(high)s days, not %(days)s (IMP-02)")
                               % {"low": low, "high": high, "days": confirmation_days},
                               code="invalid_confirmation_days", rule="IMP-02")


def may_trade(status: str) -> bool:
    """EXP-01: trade only with participants in good standing on the day."""
    return status not in NO_TRADE


def may_export(status: str) -> bool:
    return status not in NO_EXPORT


@lru_cache(maxsize=1024)
def is_country_code(code: str) -> bool:
    """ISO 3166-1 alpha-2 (origin may be any country, participant or not)."""
    return bool(_CODE.match(code)) and pycountry.countries.get(alpha_2=code) is not None


def is_participant_code(code: str) -> bool:
    return code == "EU" or is_country_code(code)


def licence_valid(valid_from: dt.date, valid_until: dt.date | None, day: dt.date) -> bool:
    return valid_from <= day and (valid_until is None or day <= valid_until)


# --- HS codes: the node's one reading of them (DEF-05, FIX-04; data/hs-codes.csv) ----------------------------
# Every app reads an HS code through `normalise_hs`: certificates' lines, custody's parcels, the statistics exchange
# format and customs files. docs/decisions.md, "Boundaries between apps (issue 10 item 7)".

HS_IN_SCOPE = ("7102.10", "7102.21", "7102.31")  # rough diamonds (DEF-05, FIX-04)
# "Otherwise worked" diamonds: outside the KP's definition of rough diamonds (DEF-05) and its statistics (STAT-02);
# customs tables carry them beside the rough ones.
HS_WORKED = ("7102.29", "7102.39")
# The forms `normalise_hs` accepts, as an API's input pattern: 7102.31, 710231, 7102 31, 7102 31 00, 7102.31.00.
HS_PATTERN = r"^7102[ .]?(" + "|".join(code[5:] for code in HS_IN_SCOPE) + r")([ .]?00)?$"


@lru_cache(maxsize=256)
def _subheading(text: str) -> str:
    """7102.31, 7102 31, 710231, 7102 31 00 or 7102.31.00 -> 7102.31 (the 8-digit KP form ends in 00); anything
    else unchanged."""
    digits = re.sub(r"[\s.]", "", text)
    if len(digits) == 8 and digits.endswith("00"):
        digits = digits[:6]
    return f"{digits[:4]}.{digits[4:]}" if len(digits) == 6 and digits.isdigit() else text


def normalise_hs(code: object, in_scope: tuple[str, ...] = HS_IN_SCOPE) -> str:
    """The HS subheading of `code` in the form 7102.31; anything but one of `in_scope` (default: the rough-diamond
    codes) is refused naming DEF-05."""
    hs = _subheading(str(code))
    if hs not in in_scope:
        raise ValidationFailed(_("HS code %(code)s is not a rough-diamond code; use one of %(codes)s")
                               % {"code": repr(code), "codes": ", ".join(in_scope)},
                               code="hs_out_of_scope", rule="DEF-05")
    return hs


# --- permissions -------------------------------------------------------------------------------
# Each action names the roles that may perform it and how far: OWN = for the participant the role is scoped
# to, ALL = for every participant. Reading across participants never implies writing for them: a write with
# ALL scope must be listed in WRITES_ACROSS_PARTICIPANTS, with the reason (tests check this).
OWN, ALL = "own", "all"
PERMISSIONS: dict[str, dict[str, str]] = {
    "operator.read": {"exporting_officer": OWN, "importing_officer": OWN, "statistics_officer": OWN,
                      "custody_officer": OWN, "kp_analyst": ALL, "admin": ALL},
    "operator.write": {"exporting_officer": OWN, "importing_officer": OWN},  # INT-08: licensed by each participant
    "certificate.issue": {"exporting_officer": OWN},
    "certificate.cancel": {"exporting_officer": OWN},
    "certificate.confirm": {"importing_officer": OWN},
    "certificate.reject": {"importing_officer": OWN},
    "certificate.read": {"exporting_officer": OWN, "importing_officer": OWN, "statistics_officer": OWN,
                         "kp_analyst": ALL},
    "audit.read": {"kp_analyst": ALL, "admin": ALL},
    # statistics and monitoring (STAT, MON-09): the Working Group on Statistics is `wgs_analyst`
    "statistics.read": {"statistics_officer": OWN, "kp_analyst": ALL, "wgs_analyst": ALL},
    "statistics.submit": {"statistics_officer": OWN},
    "statistics.import": {"wgs_analyst": ALL, "admin": ALL},
    "finding.read": {"statistics_officer": OWN, "kp_analyst": ALL, "wgs_analyst": ALL},
    "finding.manage": {"wgs_analyst": ALL},
    "finding.answer": {"statistics_officer": OWN},
    # people: the secretariat may switch accounts off and send reset links, never give access (no role grants,
    # no passwords); granting roles and creating accounts is for the node operator (the system actor, `kpcs`).
    "people.manage": {"admin": ALL},
    "people.grant": {},
    # the node operator's own work (system actor only): keys, scheduled expiry, rebuilding derived data
    "keys.manage": {},
    "certificate.expire": {},
    "statistics.rebuild": {},
    # peer review (MON-02..MON-08): review visits and missions, their reports and recommendations. The Chair
    # organises visits and missions and appoints their teams (MON-03, GOV-02: the Chair presides over the working
    # groups); the Working Group on Monitoring has no role of its own yet and is still represented by
    # `wgs_analyst` (which escalates findings into missions, MON-11); the secretariat posts reports (GOV-09). The
    # reviewed participant reads its own reviews: its delegate, who comments on the report before it is posted
    # (MON-04), and its statistics officers. Observers read only the published summaries, as the public does.
    "review.read": {"statistics_officer": OWN, "kp_analyst": ALL, "wgs_analyst": ALL, "admin": ALL,
                    "kp_chair": ALL, "delegate": OWN},
    "review.manage": {"wgs_analyst": ALL, "admin": ALL, "kp_chair": ALL},
    "review.comment": {"delegate": OWN},
    # governance (GOV-02, GOV-03, GOV-05): the Chair proposes and adopts; delegates take the positions that
    # count, for their own participant; observers comment (never a block); all three read proposed decisions
    # (the public reads adopted ones). Recording a status or a measure outside a decision is the node
    # operator's (the seed).
    "decision.propose": {"kp_chair": ALL},
    "decision.adopt": {"kp_chair": ALL},
    "decision.position": {"delegate": OWN, "observer": ALL},
    "decision.read": {"kp_chair": ALL, "delegate": ALL, "observer": ALL},
    "working_group.manage": {"kp_chair": ALL},
    "participant_status.record": {},
    # a participant's certificate validity and confirmation deadline (CERT-09, IMP-02): the node operator, or
    # an adopted decision (which needs decision.adopt)
    "participant_policy.record": {},
    # internal controls (INT-06..INT-12): the participant's custody officers register sites and licences and
    # record custody events of its operators; its exporting officers read them (to check a shipment against the
    # records, BRIEF §2), as does the KP analyst for every participant.
    "custody.register": {"custody_officer": OWN},
    "custody.record": {"custody_officer": OWN},
    "custody.read": {"custody_officer": OWN, "exporting_officer": OWN, "kp_analyst": ALL},
    # whether a participant runs custody control from a day (its certificates from custody): the node operator
    "custody.control": {},
}
# Writes that legitimately span participants, and why.
WRITES_ACROSS_PARTICIPANTS = {
    ("statistics.import", "wgs_analyst"): "a statistics file carries the figures of many participants (STAT-06)",
    ("statistics.import", "admin"): "the secretariat loads the scheme's published statistics",
    ("finding.manage", "wgs_analyst"): "the Working Group on Statistics follows up every participant (MON-09)",
    ("people.manage", "admin"): "the secretariat deactivates accounts and sends reset links; it grants nothing",
    ("review.manage", "wgs_analyst"): "reviews of every participant, for the Working Group on Monitoring (MON-08), "
                                      "which it still stands for",
    ("review.manage", "admin"): "the secretariat supports review visits and posts their reports (MON-04, GOV-09)",
    ("review.manage", "kp_chair"): "the Chair sets up review visits and missions of any participant and their "
                                   "teams (MON-03)",
    ("decision.propose", "kp_chair"): "the Chair puts the scheme's decisions about any participant to it (GOV-03)",
    ("decision.adopt", "kp_chair"): "the Chair declares consensus (or its absence) on any decision (GOV-03)",
    ("working_group.manage", "kp_chair"): "the Chair presides the working groups and committees (GOV-02) and "
                                          "records which participants and observers sit on them",
    ("decision.position", "observer"): "observers comment on any decision; their comments never block (GOV-04)",
}


def role_may(role: str, action: str) -> bool:
    return role in PERMISSIONS.get(action, {})


def role_scope(role: str, action: str) -> str | None:
    """OWN, ALL, or None when the role may not perform the action at all."""
    return PERMISSIONS.get(action, {}).get(role)


def key_valid_at(valid_from: dt.datetime, valid_until: dt.datetime | None, revoked_at: dt.datetime | None,
                 at: dt.datetime) -> bool:
    """A key is judged at the certificate's signing time: revocation counts only from its own time."""
    if at < valid_from:
        return False
    if valid_until is not None and at >= valid_until:
        return False
    return revoked_at is None or at < revoked_at


def key_status(valid_from: dt.datetime, valid_until: dt.datetime | None, revoked_at: dt.datetime | None,
               now: dt.datetime) -> str:
    if revoked_at is not None and revoked_at <= now:
        return "revoked"
    if valid_until is not None and valid_until <= now:
        return "retired"
    if valid_from > now:
        return "pending"
    return "active"


# --- the trust list ------------------------------------------------------------------------------
# The node signs one document listing every authority key and every participant's status history. Its signer
# is the trust anchor, published out of band as the RFC 7638 thumbprint of the node key. When the node key is
# rotated, the old key signs an endorsement of the new one; a verifier anchored on an old key follows those
# endorsements, one link per rotation, to the key that signed the list.
TRUST_LIST_TYPE = "kpcs-trust-list"
TRUST_LIST_VERSION = 2
ENDORSEMENT_TYPE = "kpcs-node-key-endorsement"


class UntrustedList(crypto.BadSignature):
    """The trust list is malformed, altered, or not signed by the anchor (or a key the anchor endorsed)."""


@dataclass(frozen=True)
class TrustList:
    """A trust list that verified against an anchor: what an offline verifier needs, as plain values."""

    sequence: int
    issued_at: dt.datetime
    next_update: dt.datetime
    signer_kid: str
    signer_thumbprint: str
    keys: dict[str, dict]  # kid -> key entry of an authority key
    statuses: dict[str, list[StatusPeriod]]  # participant code -> its status history
    # participant code -> its measures (a key of lists issued since governance; older lists carry none)
    measures: dict[str, list[Measure]] = field(default_factory=dict)

    def measures_on(self, code: str, day: dt.date) -> list[Measure]:
        return [m for m in self.measures.get(code, []) if m.in_force(day)]

    def status_on(self, code: str, day: dt.date) -> str:
        """As the node judges it (SPEC-07): an unknown code is a non-participant; no period is plainly active."""
        if code not in self.statuses:
            return "non_participant"
        period = status_on(self.statuses[code], day)
        return period.status if period else "active"

    def is_stale(self, now: dt.datetime) -> bool:
        return now >= self.next_update


def _parse_time(value: object, what: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UntrustedList(f"the trust list's {what} is not an ISO date-time") from None
    if parsed.tzinfo is None:
        raise UntrustedList(f"the trust list's {what} carries no time zone")
    return parsed


def endorsement_payload(previous_kid: str, previous_jwk: dict, next_kid: str, next_jwk: dict,
                        at: dt.datetime) -> dict:
    """What an outgoing node key signs to hand trust to its successor."""
    def public(jwk: dict) -> dict:
        return {"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"]}

    return {"type": ENDORSEMENT_TYPE, "at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "previous": {"kid": previous_kid, "jwk": public(previous_jwk)},
            "next": {"kid": next_kid, "jwk": public(next_jwk)}}


def follow_endorsements(links: list, anchor: str, goal: str) -> list[str]:
    """The thumbprints from `anchor` to `goal`, each link signed by the key before it; raise if there is no path.

    Every link is checked on its own: signed by the key whose thumbprint the chain has reached, naming the next.
    """
    by_previous: dict[str, tuple[str, str]] = {}
    for token in links:
        if not isinstance(token, str):
            raise UntrustedList("an endorsement in the anchor chain is not a JWS")
        try:
            _header, payload = crypto.unverified_parts(token)
            previous, following = payload["previous"], payload["next"]
            if payload.get("type") != ENDORSEMENT_TYPE:
                continue
            previous_tp = crypto.jwk_thumbprint(previous["jwk"])
            crypto.verify(token, previous["jwk"])
            by_previous[previous_tp] = (crypto.jwk_thumbprint(following["jwk"]), str(following.get("kid")))
        except (crypto.BadSignature, KeyError, TypeError) as exc:
            raise UntrustedList(f"an endorsement in the anchor chain does not verify: {exc}") from None
    path, current = [anchor], anchor
    while current != goal:
        step = by_previous.get(current)
        if step is None or step[0] in path:
            raise UntrustedList(f"the trust list is signed by key {goal[:16]}…, which the anchor {anchor[:16]}… did "
                                "not endorse (directly or through later node keys)")
        current = step[0]
        path.append(current)
    return path


def check_trust_list(document: object, anchor: str, *, min_sequence: int | None = None) -> TrustList:
    """Verify a trust list offline against a trust anchor (the RFC 7638 thumbprint of the node key).

    The key that signed the list must be the anchor itself or one the anchor endorsed through the list's
    anchor chain; the `kid` it carries counts for nothing. Raises UntrustedList, whatever is wrong with it.
    """
    try:
        return _check_trust_list(document, anchor, min_sequence)
    except UntrustedList:
        raise
    except (crypto.BadSignature, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UntrustedList(f"not a valid kpcs trust list: {exc}") from None


def _check_trust_list(document: object, anchor: str, min_sequence: int | None) -> TrustList:
    if not isinstance(document, dict):
        raise UntrustedList("not a kpcs trust list: expected {\"trust_list\": …, \"signature\": …}")
    body, signature = document.get("trust_list"), document.get("signature")
    if not isinstance(body, dict) or not isinstance(signature, str):
        raise UntrustedList("not a kpcs trust list: expected {\"trust_list\": …, \"signature\": …}")
    if body.get("type") != TRUST_LIST_TYPE or body.get("version") != TRUST_LIST_VERSION:
        raise UntrustedList(f"not a kpcs trust list of version {TRUST_LIST_VERSION}")
    header, _payload = crypto.unverified_parts(signature)
    kid = header.get("kid")
    signer = next((k for k in body.get("node_keys") or [] if isinstance(k, dict) and k.get("kid") == kid), None)
    if signer is None or not isinstance(signer.get("jwk"), dict):
        raise UntrustedList(f"the trust list is signed by {kid!r}, a key it does not carry")
    signed = crypto.verify(signature, signer["jwk"])
    if signed != body:
        raise UntrustedList("the trust list body differs from what was signed")
    thumb = crypto.jwk_thumbprint(signer["jwk"])
    if thumb != anchor:
        follow_endorsements(list(body.get("anchor_chain") or []), anchor, thumb)
    sequence = body.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise UntrustedList("the trust list carries no sequence number")
    if min_sequence is not None and sequence < min_sequence:
        raise UntrustedList(f"the trust list is issue {sequence}, older than issue {min_sequence} already seen: "
                            "a list is never replaced by an older one")
    statuses: dict[str, list[StatusPeriod]] = {}
    measures: dict[str, list[Measure]] = {}
    for p in body.get("participants") or []:
        try:
            measures[str(p["code"])] = [measure_from_dict(m) for m in p.get("measures") or []]
            statuses[str(p["code"])] = [
                StatusPeriod(str(s["status"]), dt.date.fromisoformat(s["valid_from"]),
                             dt.date.fromisoformat(s["valid_to"]) if s.get("valid_to") else None, str(s["scope"]))
                for s in p["statuses"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise UntrustedList(f"participant entry of the trust list is malformed: {exc}") from None
    keys = {k["kid"]: k for k in body.get("keys") or []
            if isinstance(k, dict) and isinstance(k.get("kid"), str) and isinstance(k.get("jwk"), dict)}
    return TrustList(sequence=sequence, issued_at=_parse_time(body.get("issued_at"), "issued_at"),
                     next_update=_parse_time(body.get("next_update"), "next_update"), signer_kid=str(kid),
                     signer_thumbprint=thumb, keys=keys, statuses=statuses,
                     measures=measures)


def anchor_of(document: object) -> str:
    """The thumbprint in an anchor file: a bare public JWK, or {"jwk": …} as GET /trust-list/anchor serves it."""
    jwk = document.get("jwk") if isinstance(document, dict) and "jwk" in document else document
    if not isinstance(jwk, dict):
        raise UntrustedList("the anchor file holds no JWK")
    return crypto.jwk_thumbprint(jwk)


# --- API tokens ----------------------------------------------------------------------------------
# A token is a bearer secret that lives in a machine's configuration, where it is copied, backed up and
# forgotten. 90 days by default; never more than a year, so a leaked or forgotten token dies on its own within
# one KP reporting cycle and every integration is renewed, by someone who still answers for it, at least yearly.
TOKEN_DEFAULT_DAYS = 90
TOKEN_MAX_DAYS = 365
TOKEN_PREFIX_LENGTH = 12  # "kpcs_" and 7 characters of the secret, stored in clear to name the token
TOKEN_MIN_MATCH = 8  # "kpcs_" is common to every token: a revocation names at least 3 characters more
TOKEN_MIN_DAYS = 1


def check_token_days(days: int) -> None:
    if not TOKEN_MIN_DAYS <= days <= TOKEN_MAX_DAYS:
        raise ValidationFailed(_("a token lasts %(min_days)s to %(max_days)s days, not %(days)s")
                                 % {"min_days": TOKEN_MIN_DAYS, "max_days": TOKEN_MAX_DAYS, "days": days},
                               code="invalid_token_days")


def token_status(expires_at: dt.datetime, revoked_at: dt.datetime | None, now: dt.datetime) -> str:
    """`revoked` wins over `expired`: it says someone acted."""
    if revoked_at is not None and revoked_at <= now:
        return "revoked"
    return "expired" if expires_at <= now else "active"


def token_prefix_query(value: str) -> str:
    """What a person types to name a token: its prefix as listed (maybe with the ellipsis), or the whole token."""
    text = value.strip().removesuffix("…").removesuffix("...").strip()
    if len(text) < TOKEN_MIN_MATCH or not text.isprintable():
        raise ValidationFailed(_("name a token by at least its first %(min_chars)s characters (as `kpcs "
                                 "token list` shows them), not %(value)s")
                                 % {"min_chars": TOKEN_MIN_MATCH, "value": repr(value)}, code="prefix_too_short")
    return text
