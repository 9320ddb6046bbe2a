"""Certificate rules (CERT, EXP, IMP): plain functions over plain values, no database, no request."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from kpcs import crypto
from kpcs.certificates import compact
from kpcs.errors import Conflict, ValidationFailed
from kpcs.registry import rules as registry_rules

TITLE = "Kimberley Process Certificate"  # CERT-02 item 1
STATEMENT = ("The rough diamonds in this shipment have been handled in accordance with the provisions of the "
             "Kimberley Process Certification Scheme for rough diamonds")  # CERT-02 item 2
HS_IN_SCOPE = registry_rules.HS_IN_SCOPE  # DEF-05, FIX-04: the node's one list, beside its one HS function
CERTIFICATE_TYPES = ("standard", "technical")  # CERT-14
STATUSES = ("issued", "confirmed", "rejected", "cancelled", "expired")
# A status as a sentence names it: the code itself in English (it reads as a past participle), its word otherwise.
STATUS_WORDS = {
    "issued": pgettext_lazy("certificate status", "issued"),
    "confirmed": pgettext_lazy("certificate status", "confirmed"),
    "rejected": pgettext_lazy("certificate status", "rejected"),
    "cancelled": pgettext_lazy("certificate status", "cancelled"),
    "expired": pgettext_lazy("certificate status", "expired"),
}
TERMINAL = frozenset({"confirmed", "rejected", "cancelled", "expired"})
TRANSITIONS = {("issued", "confirm"): "confirmed", ("issued", "reject"): "rejected",
               ("issued", "cancel"): "cancelled", ("issued", "expire"): "expired"}
DISCREPANCY_KINDS = ("seals_broken", "content_mismatch", "expired", "unknown_signer", "other")  # IMP-08
SERIAL_DIGITS = {"EU": 8}  # CERT-07: EU numbers carry 8 digits; others use 7 (FIX-03)
MAX_CARATS = Decimal("1000000000")  # a billion carats: far above any shipment, below column limits
MAX_USD = Decimal("100000000000")


def status_word(status: str) -> str:
    """The certificate status `status` in the active language (the code itself in English)."""
    return str(STATUS_WORDS.get(status, status))


# --- quantities -------------------------------------------------------------------------------

def parse_amount(value: Any, field_name: str, *, maximum: Decimal, allow_zero: bool = False) -> Decimal:
    """A positive decimal with at most 2 places, given as a string (BRIEF §4: never floats)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationFailed(_('%(field)s must be a decimal string such as "12.50"')
                                 % {"field": field_name}, code="invalid_quantity",
                               rule="CERT-02", details={"field": field_name})
    text = str(value).strip()
    if not re.fullmatch(r"\d+(\.\d{1,2})?", text):
        raise ValidationFailed(_("%(field)s %(text)s is not a non-negative decimal with at most 2 places")
                                 % {"field": field_name, "text": repr(text)},
                               code="invalid_quantity", rule="CERT-02", details={"field": field_name})
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        raise ValidationFailed(_("%(field)s is malformed") % {"field": field_name},
                               code="invalid_quantity") from None
    if amount == 0 and not allow_zero:
        raise ValidationFailed(_("%(field)s must be greater than zero (CERT-02)") % {"field": field_name},
                               code="invalid_quantity",
                               rule="CERT-02", details={"field": field_name})
    if amount > maximum:
        raise ValidationFailed(_("%(field)s %(text)s exceeds the largest accepted value %(maximum)s")
                                 % {"field": field_name, "text": text, "maximum": maximum},
                               code="invalid_quantity", rule="CERT-02", details={"field": field_name})
    return amount.quantize(Decimal("0.01"))


def parse_count(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 1_000_000:
        raise ValidationFailed(_("%(field)s must be a whole number of at least 1") % {"field": field_name},
                               code="invalid_quantity",
                               rule="CERT-02", details={"field": field_name})
    return value


def to_centi(amount: Decimal) -> int:
    return int(amount * 100)


def from_centi(value: int) -> str:
    return str((Decimal(value) / 100).quantize(Decimal("0.01")))


@dataclass(frozen=True)
class Line:
    hs_code: str
    carats: Decimal
    value_usd: Decimal
    parcels: int

    def as_payload(self) -> dict[str, Any]:
        return {"hs_code": self.hs_code, "carats": str(self.carats), "value_usd": str(self.value_usd),
                "parcels": self.parcels}


@dataclass(frozen=True)
class Totals:
    carats: Decimal
    value_usd: Decimal
    parcels: int

    def as_payload(self) -> dict[str, Any]:
        return {"carats": str(self.carats), "value_usd": str(self.value_usd), "parcels": self.parcels}


def parse_lines(raw: Sequence[Mapping[str, Any]]) -> list[Line]:
    if not raw:
        raise ValidationFailed(_("a certificate needs at least one line (CERT-02)"), code="no_lines", rule="CERT-02")
    if len(raw) > 100:
        raise ValidationFailed(_("a certificate has at most 100 lines"), code="too_many_lines")
    lines = []
    for i, item in enumerate(raw):
        where = f"lines[{i}]"
        lines.append(Line(
            hs_code=registry_rules.normalise_hs(item.get("hs_code", "")),
            carats=parse_amount(item.get("carats"), f"{where}.carats", maximum=MAX_CARATS),
            value_usd=parse_amount(item.get("value_usd"), f"{where}.value_usd", maximum=MAX_USD),
            parcels=parse_count(item.get("parcels"), f"{where}.parcels"),
        ))
    return lines


def totals_of(lines: Sequence[Line]) -> Totals:
    return Totals(sum((ln.carats for ln in lines), Decimal("0.00")),
                  sum((ln.value_usd for ln in lines), Decimal("0.00")), sum(ln.parcels for ln in lines))


def check_declared_totals(lines: Sequence[Line], declared: Mapping[str, Any] | None) -> Totals:
    """CERT-02: totals must equal the sum of the lines. Declared totals are optional but must add up."""
    totals = totals_of(lines)
    if totals.carats > MAX_CARATS or totals.value_usd > MAX_USD:
        raise ValidationFailed(_("the shipment's totals exceed the largest accepted value"), code="invalid_quantity",
                               rule="CERT-02")
    if declared:
        wrong: dict[str, dict[str, Any]] = {}
        if "carats" in declared and parse_amount(declared["carats"], "totals.carats",
                                                 maximum=MAX_CARATS) != totals.carats:
            wrong["carats"] = {"declared": str(declared["carats"]), "sum_of_lines": str(totals.carats)}
        if "value_usd" in declared and parse_amount(declared["value_usd"], "totals.value_usd",
                                                    maximum=MAX_USD) != totals.value_usd:
            wrong["value_usd"] = {"declared": str(declared["value_usd"]), "sum_of_lines": str(totals.value_usd)}
        if "parcels" in declared and parse_count(declared["parcels"], "totals.parcels") != totals.parcels:
            wrong["parcels"] = {"declared": declared["parcels"], "sum_of_lines": totals.parcels}
        if wrong:
            raise ValidationFailed(_("declared totals do not add up to the sum of the lines (CERT-02)"),
                                   code="totals_mismatch", rule="CERT-02", details=wrong)
    return totals


# --- origin, parties, dates ---------------------------------------------------------------------

def parse_origin(origin: Any, origin_countries: Sequence[str] | None) -> dict[str, Any]:
    """CERT-10: a single country of origin, or "mixed" with an optional list of mining countries."""
    if not isinstance(origin, str) or not origin.strip():
        raise ValidationFailed(_('origin is required: a country code or "mixed" (CERT-02, CERT-10)'),
                               code="invalid_origin", rule="CERT-10")
    value = origin.strip()
    if value.lower() == "mixed":
        countries = sorted({c.strip().upper() for c in (origin_countries or [])})
        bad = [c for c in countries if not registry_rules.is_country_code(c)]
        if bad:
            raise ValidationFailed(_("origin_countries holds codes that are not ISO 3166-1 alpha-2: %(bad)s")
                                     % {"bad": bad},
                                   code="invalid_origin", rule="CERT-10")
        return {"kind": "mixed", "countries": countries}
    code = value.upper()
    if not registry_rules.is_country_code(code):
        raise ValidationFailed(_('origin %(value)s is not an ISO 3166-1 alpha-2 country code or "mixed"')
                                 % {"value": repr(value)},
                               code="invalid_origin", rule="CERT-10")
    if origin_countries:
        raise ValidationFailed(_('origin_countries is only for origin "mixed"'), code="invalid_origin",
                               rule="CERT-10")
    return {"kind": "single", "countries": [code]}


MAX_NAME, MAX_ADDRESS = 200, 500


def check_party(party: Mapping[str, Any] | None, role: str) -> dict[str, str]:
    """CERT-02 item 10: exporter and importer are identified by name and address."""
    who = {"exporter": pgettext("party", "exporter"), "importer": pgettext("party", "importer")}.get(role, role)
    if not party or not str(party.get("name", "")).strip() or not str(party.get("address", "")).strip():
        raise ValidationFailed(_("the %(role)s needs a name and an address (CERT-02)") % {"role": who},
                               code=f"invalid_{role}", rule="CERT-02")
    name, address = str(party["name"]).strip(), str(party["address"]).strip()
    if len(name) > MAX_NAME or len(address) > MAX_ADDRESS:
        raise ValidationFailed(_("the %(role)s's name is limited to %(name_max)s characters and its address to "
                                 "%(address_max)s")
                               % {"role": who, "name_max": MAX_NAME, "address_max": MAX_ADDRESS},
                               code=f"invalid_{role}", rule="CERT-02")
    return {"name": name, "address": address}


def expiry(issued_on: dt.date, requested: dt.date | None, validity_days: int) -> dt.date:
    """CERT-09: an expiry date after issue, within the participant's validity policy."""
    latest = issued_on + dt.timedelta(days=validity_days)
    if requested is None:
        return latest
    if requested <= issued_on:
        raise ValidationFailed(_("expires_on must be after the date of issue (CERT-09)"), code="invalid_expiry",
                               rule="CERT-09")
    if requested > latest:
        raise ValidationFailed(_("expires_on may be at most %(validity_days)s days after issue (%(latest)s) "
                                 "under the participant's validity policy (CERT-09)")
                                 % {"validity_days": validity_days, "latest": latest.isoformat()},
                               code="invalid_expiry",
                               rule="CERT-09", details={"latest": latest.isoformat()})
    return requested


def check_trade(exporting: str, exporting_status: str, importing: str, importing_status: str,
                day: dt.date) -> None:
    """EXP-01, SPEC-07: both sides must be participants in good standing on the day of issue."""
    if exporting_status == "non_participant" or not registry_rules.may_export(exporting_status):
        raise ValidationFailed(_("%(participant)s may not export on %(day)s: status %(status)s (EXP-01, SPEC-07)")
                                 % {"participant": exporting, "day": day.isoformat(),
                                    "status": registry_rules.status_word(exporting_status)},
                               code="participant_not_active", rule="EXP-01",
                               details={"participant": exporting, "status": exporting_status})
    if importing == exporting:
        raise ValidationFailed(_("a KP certificate is for a shipment to another participant (DEF-06)"),
                               code="same_participant", rule="DEF-06")
    if importing_status == "non_participant":
        raise ValidationFailed(_("%(participant)s is not a participant: no trade with non-participants (EXP-01)")
                                 % {"participant": repr(importing)},
                               code="non_participant", rule="EXP-01", details={"participant": importing})
    if not registry_rules.may_trade(importing_status):
        raise ValidationFailed(_("%(participant)s may not import on %(day)s: status %(status)s (EXP-01, SPEC-07)")
                                 % {"participant": importing, "day": day.isoformat(),
                                    "status": registry_rules.status_word(importing_status)},
                               code="participant_not_active", rule="EXP-01",
                               details={"participant": importing, "status": importing_status})


def check_origin_not_embargoed(origin_statuses: Mapping[str, str], day: dt.date) -> None:
    """SPEC-01: diamonds mined in a participant under embargo, removal or suspension are refused."""
    blocked = {c: s for c, s in origin_statuses.items() if s != "non_participant"
               and not registry_rules.may_export(s)}
    if blocked:
        origins = ", ".join(f"{c} ({registry_rules.status_word(s)})" for c, s in sorted(blocked.items()))
        raise ValidationFailed(
            _("origin under an active embargo or suspension on %(day)s: %(origins)s (SPEC-01)")
            % {"day": day.isoformat(), "origins": origins},
            code="origin_embargoed", rule="SPEC-01", details={"origins": blocked})


# --- numbering ---------------------------------------------------------------------------------

def format_number(prefix: str, serial: int) -> str:
    """CERT-02 item 5, CERT-07: participant prefix, a space, a zero-padded gap-free serial."""
    return f"{prefix} {serial:0{SERIAL_DIGITS.get(prefix, 7)}d}"


def serial_of(number: Any, prefix: Any) -> int | None:
    """The serial of a certificate number written in its canonical form with the given prefix, else None."""
    if not isinstance(number, str) or not isinstance(prefix, str):
        return None
    m = re.fullmatch(r"([A-Z]{2}) (\d{7,8})", number)
    if not m or m.group(1) != prefix or format_number(prefix, int(m.group(2))) != number:
        return None
    return int(m.group(2))


def normalise_number(text: str) -> str:
    """Accept `BW 0000001`, `BW0000001`, `bw-0000001` and return the canonical form."""
    m = re.fullmatch(r"\s*([A-Za-z]{2})[\s\-_+]*(\d{1,12})\s*", text or "")
    if not m:
        return (text or "").strip()
    return format_number(m.group(1).upper(), int(m.group(2)))


# --- lifecycle ---------------------------------------------------------------------------------

def next_status(status: str, action: str) -> str:
    """The certificate lifecycle; terminal states are final (409 otherwise)."""
    new = TRANSITIONS.get((status, action))
    if new is None:
        done = {"confirm": "confirmed", "reject": "rejected", "cancel": "cancelled", "expire": "expired"}
        raise Conflict(_("a certificate that is %(status)s cannot be %(done)s")
                         % {"status": status_word(status), "done": status_word(done.get(action, action))},
                       code="invalid_transition",
                       details={"status": status, "action": action})
    return new


def effective_status(status: str, expires_on: dt.date, today: dt.date) -> str:
    return "expired" if status == "issued" and today > expires_on else status


def is_overdue(status: str, issued_on: dt.date, today: dt.date, confirmation_days: int) -> bool:
    """IMP-02: an import confirmation is overdue once the participant's deadline has passed."""
    return status == "issued" and (today - issued_on).days > confirmation_days


def confirmation_differences(totals: Totals, parcels: int, carats: Decimal) -> dict[str, Any]:
    """IMP-02, IMP-08: what the importing authority found beside what was declared; kept, never hidden."""
    diff: dict[str, Any] = {}
    if parcels != totals.parcels:
        diff["parcels"] = {"declared": totals.parcels, "found": parcels}
    if carats != totals.carats:
        diff["carats"] = {"declared": str(totals.carats), "found": str(carats)}
    return diff


def check_receipt(issued_on: dt.date, expires_on: dt.date, received_on: dt.date, today: dt.date,
                  seals_intact: bool) -> None:
    if received_on < issued_on:
        raise ValidationFailed(_("received_on is before the certificate was issued"), code="invalid_date")
    if received_on > today:
        raise ValidationFailed(_("received_on is in the future"), code="invalid_date")
    if received_on > expires_on:
        raise ValidationFailed(_("the certificate expired on %(expires_on)s before the shipment was received; "
                                 'reject it with discrepancy "expired" (CERT-09)')
                                 % {"expires_on": expires_on.isoformat()},
                               code="certificate_expired", rule="CERT-09")
    if not seals_intact:
        raise ValidationFailed(_("seals are broken: the shipment cannot be confirmed; reject it with "
                                 'discrepancy "seals_broken" (IMP-05, IMP-08)'), code="seals_broken", rule="IMP-05")


# --- the signed document -----------------------------------------------------------------------

def iso_z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def build_payload(*, number: str, cert_type: str, exporting: str, importing: str, authority: Mapping[str, str],
                  issued_at: dt.datetime, expires_on: dt.date, exporter: Mapping[str, Any],
                  importer: Mapping[str, str], origin: Mapping[str, Any], lines: Sequence[Line],
                  totals: Totals) -> dict[str, Any]:
    """Every Annex I minimum element (CERT-02) plus the import-confirmation part (CERT-04)."""
    return {
        "kpcs": 1,
        "title": TITLE,
        "statement": STATEMENT,
        "language": "en",
        "number": number,
        "type": cert_type,
        "exporting_participant": exporting,
        "importing_participant": importing,
        "issuing_authority": dict(authority),
        "validation": {"authority": authority["id"], "validated_at": iso_z(issued_at)},
        "issued_on": issued_at.date().isoformat(),
        "issued_at": iso_z(issued_at),
        "expires_on": expires_on.isoformat(),
        "exporter": dict(exporter),
        "importer": dict(importer),
        "origin": dict(origin),
        "lines": [ln.as_payload() for ln in lines],
        "totals": totals.as_payload(),
        "import_confirmation_part": {
            "country_of_destination": importing,
            "importer": dict(importer),
            "carats": str(totals.carats),
            "value_usd": str(totals.value_usd),
            "hs_codes": sorted({ln.hs_code for ln in lines}),
            "date_of_receipt": None,
            "authenticated_by": None,
        },
    }


# --- the verification code ------------------------------------------------------------------------
# Printed beside the number, it proves that whoever asks about a certificate holds it: public verification
# answers nothing without it, so sequential numbers cannot be walked to read the trade (INT-15). It is derived
# from the signature, which nobody can predict without the authority's key: 50 bits in Crockford base32.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10  # 10 characters × 5 bits = 50 bits


def verification_code(signature: bytes) -> str:
    """XXXXX-XXXXX from the certificate's Ed25519 signature; offline verifiers recompute it from the JWS."""
    digest = hashlib.sha256(b"kpcs verification code\x00" + signature).digest()
    bits = int.from_bytes(digest[:8], "big") >> (64 - 5 * CODE_LENGTH)
    chars = [CODE_ALPHABET[(bits >> (5 * (CODE_LENGTH - 1 - i))) & 31] for i in range(CODE_LENGTH)]
    return "".join(chars[:5]) + "-" + "".join(chars[5:])


def normalise_code(text: str) -> str | None:
    """As typed (spaces, dashes, lower case, O for 0, I or L for 1) to the printed form, or None if it cannot be
    a code."""
    cleaned = re.sub(r"[\s\-]", "", text or "").upper().translate(str.maketrans("OIL", "011"))
    if len(cleaned) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    return cleaned[:5] + "-" + cleaned[5:]


def code_matches(given: str, expected: str) -> bool:
    normalised = normalise_code(given)
    return normalised is not None and hmac.compare_digest(normalised, expected)


@dataclass
class Verification:
    """Outcome of checking a signed certificate against a trust list (online or offline)."""

    genuine: bool = False
    reasons: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    kid: str | None = None
    signature_valid: bool = False
    key_valid_at_signing: bool = False
    # the payload's canonical JSON, exactly as the JWS signs it (its SHA-256 is what the node stored at issue)
    signed_bytes: bytes = b""
    signature: bytes = b""  # what the verification code is derived from (the JWS's; empty for the QR form)
    form: str = "jws"  # or "qr": the compact form of the QR code (compact.py)


def _parse_dt(value: Any) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def verify_signed(token: str, find_key: Callable[[str], Mapping[str, Any] | None]) -> Verification:
    """Check the signature, that the key belongs to the named issuing authority and was valid at signing.

    `token` is the JWS, or the QR code's compact form (`KP1:…`, see compact.py): both get the same checks.
    `find_key(kid)` returns a trust-list entry (kid, authority, jwk, valid_from, valid_until, revoked_at).
    """
    if token.lstrip().startswith(compact.PREFIX):
        return verify_compact(token, find_key)
    out = Verification()
    try:
        parsed = crypto.parse(token)
    except crypto.BadSignature as exc:
        out.reasons.append(str(exc))
        return out
    out.payload, out.signed_bytes, out.signature = parsed.payload, parsed.body, parsed.signature
    kid = parsed.header.get("kid")

    def check(jwk: dict[str, Any]) -> None:
        crypto.verify(parsed, jwk)

    return _check_signer(out, kid, check, find_key)


def verify_compact(text: str, find_key: Callable[[str], Mapping[str, Any] | None]) -> Verification:
    """verify_signed for the QR code's `KP1:` form: the same checks, the same answer.

    `signed_bytes` is the payload's canonical JSON, the bytes the JWS of the same certificate signs (so a node
    compares it with the hash it stored at issue); `signature` stays empty: the verification code is derived
    from the JWS signature, which the QR code does not carry (it is printed on the document instead).
    """
    out = Verification(form="qr")
    try:
        # Base45 never ends in a space, so surrounding whitespace (a newline from a file) is not part of it.
        decoded = compact.decode(text.strip())
        signed_bytes = crypto.canonical_plain(decoded.payload)  # decode() let through nothing but plain JSON
    except (crypto.BadSignature, ValueError) as exc:
        out.reasons.append(str(exc))
        return out
    out.payload, out.signed_bytes = decoded.payload, signed_bytes

    def check(jwk: dict[str, Any]) -> None:
        crypto.verify_bytes(decoded.signing_input, decoded.signature, jwk)

    return _check_signer(out, decoded.kid, check, find_key)


def _check_signer(out: Verification, kid: Any, check_signature: Callable[[dict[str, Any]], None],
                  find_key: Callable[[str], Mapping[str, Any] | None]) -> Verification:
    """What a signed certificate must show in either form: a listed authority key whose signature verifies, that
    belongs to the issuing authority and its participant, valid at the signing time and not past its last
    serial."""
    payload = out.payload
    out.kid = kid if isinstance(kid, str) else None
    entry = find_key(kid) if isinstance(kid, str) else None
    if entry is None or not isinstance(entry.get("jwk"), dict):
        out.reasons.append(_("unknown signer: key %(kid)s is not in the trust list") % {"kid": repr(kid)})
        return out
    if entry.get("purpose", "authority") != "authority" or not entry.get("authority"):
        out.reasons.append(_("key %(kid)s is not an authority's key: only an issuing authority signs certificates")
                             % {"kid": kid})
        return out
    try:
        check_signature(entry["jwk"])
    except crypto.BadSignature as exc:
        out.reasons.append(str(exc))
        return out
    out.signature_valid = True
    authority = payload.get("issuing_authority", {})
    if not isinstance(authority, dict) or entry.get("authority") != authority.get("id"):
        out.reasons.append(_("key %(kid)s does not belong to the issuing authority named in the certificate")
                             % {"kid": kid})
        return out
    if entry.get("participant") and entry.get("participant") != payload.get("exporting_participant"):
        out.reasons.append(_("the issuing authority does not belong to the exporting participant"))
        return out
    try:
        signed_at = _parse_dt(payload.get("issued_at"))
        valid_from = _parse_dt(entry.get("valid_from"))
    except ValueError:
        signed_at = valid_from = None
    if signed_at is None or valid_from is None:
        out.reasons.append(_("the certificate or key carries no valid signing time"))
        return out
    serial = serial_of(payload.get("number"), payload.get("exporting_participant"))
    if serial is None:
        out.reasons.append(_("the certificate number is not a serial of the exporting participant (CERT-07)"))
        return out
    out.key_valid_at_signing = registry_rules.key_valid_at(
        valid_from, _parse_dt(entry.get("valid_until")), _parse_dt(entry.get("revoked_at")), signed_at)
    if not out.key_valid_at_signing:
        out.reasons.append(_("key %(kid)s was not valid (expired, retired or revoked) when the certificate was "
                             "signed") % {"kid": kid})
        return out
    last_serial = entry.get("last_serial")
    if last_serial is not None and serial > last_serial:
        # The signing time is written by the signer: a stolen key can back-date it. The serial cannot be
        # back-dated: numbers run in order, and the key's last legitimate one is recorded when it leaves use.
        out.key_valid_at_signing = False
        out.reasons.append(_("key %(kid)s signed serials only up to %(last_serial)s before it was %(left)s: "
                             "serial %(serial)s is not genuine, whatever signing time it claims")
                             % {"kid": kid, "last_serial": last_serial, "serial": serial,
                                "left": pgettext("signing key", "revoked") if entry.get("revoked_at")
                                else pgettext("signing key", "retired")})
        return out
    out.genuine = True
    return out


def standing_at_issue(payload: Mapping[str, Any], status_on: Callable[[str, dt.date], str]) -> list[str]:
    """Why the certificate could not have been issued on its issue date, judged exactly as at issue: both sides
    participants in good standing (EXP-01, SPEC-07), no origin under embargo (SPEC-01). Empty when none."""
    try:
        day = dt.date.fromisoformat(str(payload.get("issued_on")))
        exporting, importing = str(payload["exporting_participant"]), str(payload["importing_participant"])
        countries = [str(c) for c in payload["origin"]["countries"]]
    except (KeyError, TypeError, ValueError):
        return ["the certificate does not say who traded, when, or from where"]
    reasons = []
    try:
        check_trade(exporting, status_on(exporting, day), importing, status_on(importing, day), day)
    except ValidationFailed as exc:
        reasons.append(exc.message)
    try:
        check_origin_not_embargoed({c: status_on(c, day) for c in countries}, day)
    except ValidationFailed as exc:
        reasons.append(exc.message)
    return reasons


# --- measures on verification (issue 8) ----------------------------------------------------------

def measures_at_issue(payload: Mapping[str, Any],
                      measures_on: Callable[[str, dt.date], Sequence[registry_rules.Measure]],
                      ) -> tuple[list[dict[str, Any]], bool]:
    """The measures in force on the certificate's issue date for its exporting participant and its countries of
    origin, and whether enhanced vigilance applies to the exporting participant that day (SPEC-03, SPEC-04).

    Each measure: {kind, participant (whom it names), origin (that participant is a country of origin of the
    goods), zones (the compliant zones in force that day, for compliant_zones_only), from, to (exclusive, None
    when open)}. The online answer and `kpcs certificate verify` both read this, so they say the same."""
    try:
        day = dt.date.fromisoformat(str(payload.get("issued_on")))
        exporting = str(payload["exporting_participant"])
        origin = payload.get("origin") or {}
        countries = sorted({str(c) for c in (origin.get("countries") or [])} if isinstance(origin, Mapping)
                           else set())
    except (KeyError, TypeError, ValueError, AttributeError):
        return [], False
    found: list[dict[str, Any]] = []
    vigilance = False
    for code in [exporting, *(c for c in countries if c != exporting)]:
        for m in measures_on(code, day):
            found.append({"kind": m.kind, "participant": code, "origin": code in countries,
                          "zones": m.zones_on(day) if m.kind == "compliant_zones_only" else [],
                          "from": m.valid_from, "to": m.valid_to})
            vigilance = vigilance or (m.kind == "enhanced_vigilance" and code == exporting)
    return found, vigilance


def measure_line(m: Mapping[str, Any]) -> str:
    """One measure as `kpcs certificate verify` prints it (plain English, as the trust list names kinds)."""
    to = m["to"].isoformat() if m.get("to") else "open"
    zones = f" (compliant zones: {', '.join(m['zones']) or 'none yet'})" if m["kind"] == "compliant_zones_only" else ""
    return (f"{m['participant']}{' (origin)' if m['origin'] else ''} {m['kind']}{zones}, "
            f"from {m['from'].isoformat()} to {to}")
