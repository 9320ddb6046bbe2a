"""Certificate use cases: issue, confirm, reject, cancel, expire, read and verify.

Each use case is one transaction: load, apply the rules, save, append to the audit log, and publish what
changed (`certificates.events`) to the apps that keep in step with certificates (statistics, custody), whose
handlers run in the same transaction. Certificates import neither of them for that; issuing still asks custody
directly to plan and record the export of named parcels, which must be checked before a certificate exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Max, Q, QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kpcs import clock, crypto, events
from kpcs.audit import selectors as audit_log
from kpcs.audit import services as audit
from kpcs.certificates import compact, rules, selectors
from kpcs.certificates import events as certificate_events
from kpcs.certificates.models import (
    Cancellation,
    Certificate,
    CertificateLine,
    CertificateOrigin,
    Discrepancy,
    ImportConfirmation,
    SerialCounter,
)
from kpcs.custody import services as custody
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.registry import services as registry
from kpcs.registry.models import SigningKey
from kpcs.registry.services import Actor


def quarter_label(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _parse_date(value: Any, field_name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(_("%(field)s must be a date YYYY-MM-DD") % {"field": field_name},
                               code="invalid_date",
                               details={"field": field_name}) from None


def _exporting_participant(actor: Actor, requested: str | None) -> str:
    scope = actor.participants_for("certificate.issue") or set()
    if requested:
        if requested not in scope:
            raise PermissionDenied(_("you may not issue certificates for %(requested)s") % {"requested": requested})
        return requested
    if len(scope) != 1:
        raise PermissionDenied(_("you are not an exporting officer of exactly one participant; name "
                                 "exporting_participant") if scope else _("you may not issue certificates"))
    return next(iter(scope))


def issue(actor: Actor, request: Mapping[str, Any], *, now: dt.datetime | None = None) -> Certificate:
    """Validate, number, sign and store a certificate for the officer's participant (CERT-02, EXP-01)."""
    registry.require(actor, "certificate.issue")
    requested = request.get("exporting_participant")
    exporting = _exporting_participant(actor, str(requested).strip().upper() if requested else None)
    authority_id = registry.authority_for(actor, "exporting_officer", exporting)
    fixed_time = now
    day = (now or clock.now()).date()

    importing = str(request.get("importing_participant") or "").strip().upper()
    if not importing:
        raise ValidationFailed(_("importing_participant is required"), code="invalid_importing_participant")
    rules.check_trade(exporting, registry.status_on(exporting, day).status, importing,
                      registry.status_on(importing, day).status, day)
    # CERT-10, EXP-06: under custody control the parcels say what is shipped; one cheap check otherwise
    plan: custody.ExportPlan | None = None
    if request.get("parcels") is not None or custody.custody_required(exporting, day):
        exporter = _exporter(request, exporting, day)
        plan = _from_custody(request, exporting, exporter["id"], day)
        lines = [rules.Line(ln.hs_code, Decimal(rules.from_centi(ln.carats_centi)),
                            Decimal(rules.from_centi(ln.usd_cents)), ln.parcels) for ln in plan.lines]
        _check_same_lines(request, lines)
        totals = rules.check_declared_totals(lines, request.get("totals"))
        origin = _check_same_origin(request, plan.origin)
    else:
        lines = rules.parse_lines(request.get("lines") or [])
        totals = rules.check_declared_totals(lines, request.get("totals"))
        origin = rules.parse_origin(request.get("origin"), request.get("origin_countries"))
    rules.check_origin_not_embargoed({c: registry.status_on(c, day).status for c in origin["countries"]}, day)
    importer = rules.check_party(request.get("importer"), "importer")
    if plan is None:
        exporter = _exporter(request, exporting, day)
    licence = exporter["licence"]
    # CERT-09: the longest validity is the exporting participant's policy in force on the issue day
    requested_expiry = _parse_date(request.get("expires_on"), "expires_on")
    expires_on = rules.expiry(day, requested_expiry, registry.participant_policy(exporting, day).validity_days)
    cert_type = request.get("type") or "standard"
    if cert_type not in rules.CERTIFICATE_TYPES:
        raise ValidationFailed(_("type must be one of %(types)s")
                                 % {"types": ', '.join(rules.CERTIFICATE_TYPES)}, code="invalid_type",
                               rule="CERT-14")
    registry.signing_key(authority_id, fixed_time or clock.now())  # refuse early when there is no key at all
    authority = registry.authority_summary(authority_id)
    exporter_public = {k: exporter[k] for k in ("name", "address", "licence")}

    with transaction.atomic():
        counter, _created = SerialCounter.objects.select_for_update().get_or_create(participant_id=exporting)
        # Signed at the time the number is taken: serials and signing times run in the same order, and the key
        # is the one in use now (a rotation or revocation holds this lock while it records the last serial).
        now = fixed_time or clock.now()
        if now.date() != day:  # midnight passed since the checks: judge the new day
            day = now.date()
            rules.check_trade(exporting, registry.status_on(exporting, day).status, importing,
                              registry.status_on(importing, day).status, day)
            rules.check_origin_not_embargoed({c: registry.status_on(c, day).status for c in origin["countries"]},
                                             day)
            exporter = registry.licensed_operator(exporting, licence, "exporter", day)
            if plan is not None:  # the same parcels, their licence and zones judged on the new day
                plan = custody.plan_export(exporter["id"], request.get("parcels"), day)
            expires_on = rules.expiry(day, requested_expiry,
                                      registry.participant_policy(exporting, day).validity_days)
        kid, private_key = registry.signing_key(authority_id, now)
        counter.last_serial += 1
        counter.save(update_fields=["last_serial"])
        number = rules.format_number(exporting, counter.last_serial)
        payload = rules.build_payload(
            number=number, cert_type=cert_type, exporting=exporting, importing=importing, authority=authority,
            issued_at=now, expires_on=expires_on, exporter=exporter_public, importer=importer, origin=origin,
            lines=lines, totals=totals)
        signed_bytes = crypto.canonical(payload)
        payload_hash = hashlib.sha256(signed_bytes).hexdigest()
        token = crypto.sign_bytes(signed_bytes, private_key, kid)
        # The QR code's form, signed now by the same key: a key that later leaves use never signs it afterwards.
        qr = compact.encode(payload, private_key, kid)
        cert = Certificate.objects.create(
            number=number, prefix=exporting, serial=counter.last_serial, type=cert_type, status="issued",
            issuing_authority_id=authority_id, exporting_participant_id=exporting,
            importing_participant_id=importing, exporter_id=exporter["id"], exporter_snapshot=exporter_public,
            importer=importer, origin_kind=origin["kind"], origin_countries=origin["countries"], issued_on=day,
            origin="mixed" if origin["kind"] == "mixed" else origin["countries"][0], issued_quarter=quarter_label(day),
            issued_at=now, expires_on=expires_on, total_carats_centi=rules.to_centi(totals.carats),
            total_value_cents=rules.to_centi(totals.value_usd), total_parcels=totals.parcels, kid=kid, jws=token, qr=qr,
            gem_carats_centi=sum(rules.to_centi(ln.carats) for ln in lines if ln.hs_code != "7102.21"),
            gem_value_cents=sum(rules.to_centi(ln.value_usd) for ln in lines if ln.hs_code != "7102.21"),
            payload_hash=payload_hash, issued_by=actor.label, from_custody=plan is not None,
            status_changed_at=now)
        cert.issued_lines = CertificateLine.objects.bulk_create([
            CertificateLine(certificate=cert, position=i, hs_code=ln.hs_code, carats_centi=rules.to_centi(ln.carats),
                            value_cents=rules.to_centi(ln.value_usd), parcels=ln.parcels)
            for i, ln in enumerate(lines, start=1)])
        if plan is not None:
            cert.issued_origins = CertificateOrigin.objects.bulk_create([
                CertificateOrigin(certificate=cert, country=c, carats_centi=carats)
                for c, carats in plan.by_country.items()])
            custody.record_export(actor, plan, certificate=number, importing=importing, now=now)
        audit.record(actor=actor.label, action="certificate.issued", object_type="certificate", object_id=number,
                     participant=exporting,
                     payload={"exporting_participant": exporting, "importing_participant": importing,
                              "authority": authority_id, "state": selectors.certificate_state(cert)})
        events.publish(certificate_events.CertificateIssued(
            **_event_facts(cert, before="", actor=actor.label, now=now, lines=cert.issued_lines)))
    return cert


def _exporter(request: Mapping[str, Any], exporting: str, day: dt.date) -> dict[str, Any]:
    exporter_ref = request.get("exporter") or {}
    licence = str(exporter_ref.get("licence", "")).strip() if isinstance(exporter_ref, Mapping) else ""
    if not licence:
        raise ValidationFailed(_("exporter.licence is required (CERT-02, INT-08)"), code="invalid_exporter",
                               rule="INT-08")
    return registry.licensed_operator(exporting, licence, "exporter", day)


def _from_custody(request: Mapping[str, Any], exporting: str, exporter: int, day: dt.date) -> custody.ExportPlan:
    """The parcels of the exporter named on the certificate, checked by custody (EXP-06, SPEC-03/04)."""
    if not request.get("parcels"):
        raise ValidationFailed(_("%(participant)s runs custody control on %(day)s: name the parcels in custody "
                                 "this certificate covers (parcels, EXP-06)")
                               % {"participant": exporting, "day": day.isoformat()},
                               code="parcels_required", rule="EXP-06")
    return custody.plan_export(exporter, request.get("parcels"), day)


def _check_same_lines(request: Mapping[str, Any], lines: list[rules.Line]) -> None:
    """Lines given beside parcels must be the parcels' own (CERT-02): the parcels decide."""
    if not request.get("lines"):
        return
    given = rules.parse_lines(request.get("lines") or [])
    if sorted(ln.as_payload().items() for ln in given) != sorted(ln.as_payload().items() for ln in lines):
        raise ValidationFailed(_("the lines given differ from those of the parcels named: leave lines out, they "
                                 "are taken from the parcels (CERT-02, EXP-06)"),
                               code="lines_conflict", rule="EXP-06",
                               details={"from_parcels": [ln.as_payload() for ln in lines]})


def _check_same_origin(request: Mapping[str, Any], derived: dict[str, Any]) -> dict[str, Any]:
    """An origin given beside parcels must be theirs: one country, or mixed with their countries (CERT-10)."""
    if not request.get("origin") and not request.get("origin_countries"):
        return derived
    given = rules.parse_origin(request.get("origin"), request.get("origin_countries"))
    same = given["kind"] == derived["kind"] and (
        given["countries"] == derived["countries"] or (given["kind"] == "mixed" and not given["countries"]))
    if not same:
        raise ValidationFailed(_("the origin given (%(given)s) differs from that of the parcels named (%(derived)s) "
                                 "(CERT-10)")
                               % {"given": ", ".join(given["countries"]) or given["kind"],
                                  "derived": ", ".join(derived["countries"])},
                               code="origin_conflict", rule="CERT-10", details={"from_parcels": derived})
    return derived


# --- keys: retiring and revoking bound what a key signed ------------------------------------------

def _highest_serial(kid: str, before: dt.datetime | None = None) -> int:
    qs = Certificate.objects.filter(kid=kid)
    if before is not None:
        qs = qs.filter(issued_at__lt=before)
    return qs.aggregate(m=Max("serial"))["m"] or 0


def _lock_issuing(authority: str | None) -> None:
    """Hold the serial counter of the authority's participant: no certificate is being numbered meanwhile."""
    if authority is not None:
        participant = registry.authority_summary(authority)["participant"]
        SerialCounter.objects.select_for_update().get_or_create(participant_id=participant)


def rotate_signing_key(authority: str | None, *, actor: Actor) -> SigningKey:
    """A new key for the authority (or the node); the keys it replaces keep signing nothing, and what they
    signed stays genuine up to the highest serial each signed, recorded now."""
    registry.require(actor, "keys.manage")
    if authority is not None:
        registry.authority_summary(authority)  # 404 for an unknown authority
    with transaction.atomic():
        _lock_issuing(authority)
        serials = ({k.kid: _highest_serial(k.kid) for k in registry.keys_in_use(authority)}
                   if authority is not None else None)
        return registry.rotate_key(authority, actor=actor, last_serials=serials)


def revoke_signing_key(kid: str, reason: str, at: dt.datetime | None = None, *, actor: Actor,
                       last_serial: int | None = None) -> SigningKey:
    """Revoke a key from `at` (default now), after a compromise or loss.

    For an authority key, the highest serial it legitimately signed is recorded: by default the highest it
    signed before `at`; `last_serial` may lower it. Certificates it signed with a higher serial are marked,
    cannot be confirmed (IMP-08) and leave the trade statistics, in the same transaction.
    """
    registry.require(actor, "keys.manage")
    record = registry.get_key(kid)
    when = at or clock.now()
    with transaction.atomic():
        _lock_issuing(record.authority_id)
        bound = None
        if record.purpose == "authority":
            bound = _highest_serial(kid, before=when)
            if last_serial is not None:
                if last_serial < 0 or last_serial > bound:
                    raise ValidationFailed(_("the last legitimate serial must be between 0 and %(bound)s, the "
                                             "highest this key signed before %(when)s")
                                             % {"bound": bound, "when": when.isoformat()}, code="invalid_serial")
                bound = last_serial
        revoked = registry.revoke_key(kid, reason, when, actor=actor, last_serial=bound)
        if revoked.last_serial is not None:
            for cert in Certificate.objects.select_for_update().filter(kid=kid, serial__gt=revoked.last_serial,
                                                                       signer_revoked=False).order_by("serial"):
                _mark_signer_revoked(cert, actor, kid)
    return revoked


def _mark_signer_revoked(cert: Certificate, actor: Actor, kid: str) -> None:
    """Not genuine any more: marked on every read, and published, so that statistics take it out of the trade
    it was counted in (STAT-01)."""
    Certificate.objects.filter(pk=cert.pk).update(signer_revoked=True)
    cert.signer_revoked = True
    audit.record(actor=actor.label, action="certificate.signer_revoked", object_type="certificate",
                 object_id=cert.number, participant=cert.exporting_participant_id,
                 payload={"kid": kid, "state": selectors.certificate_state(cert)})
    received = (ImportConfirmation.objects.filter(certificate=cert).values_list("received_quarter", flat=True)
                .first() if cert.status == "confirmed" else None)
    events.publish(certificate_events.CertificateSignerRevoked(
        **_event_facts(cert, before=cert.status, actor=actor.label, now=clock.now()), kid=kid,
        received_quarter=received))


def _event_facts(cert: Certificate, *, before: str, actor: str, now: dt.datetime,
                 lines: list[CertificateLine] | None = None) -> dict[str, Any]:
    """What every certificate event carries: the certificate as plain values (certificates.events)."""
    if lines is None:
        lines = list(CertificateLine.objects.filter(certificate_id=cert.pk).order_by("position"))
    return {"number": cert.number, "exporting": cert.exporting_participant_id,
            "importing": cert.importing_participant_id, "origin": cert.origin,
            "origin_countries": tuple(cert.origin_countries), "issued_on": cert.issued_on,
            "issued_quarter": cert.issued_quarter, "expires_on": cert.expires_on,
            "total_carats_centi": cert.total_carats_centi, "total_value_cents": cert.total_value_cents,
            "total_parcels": cert.total_parcels,
            "lines": tuple(certificate_events.Line(ln.position, ln.hs_code, ln.carats_centi, ln.value_cents,
                                                   ln.parcels) for ln in lines),
            "from_custody": cert.from_custody, "exporter": cert.exporter_id,
            "importer_name": str((cert.importer or {}).get("name", "")), "signer_revoked": cert.signer_revoked,
            "status_before": before, "status_after": cert.status, "at": now, "actor": actor}


# --- reading -----------------------------------------------------------------------------------

def visible(actor: Actor) -> QuerySet[Certificate]:
    """Certificates whose commercial details the actor may read: own participant's, either side."""
    registry.require(actor, "certificate.read")
    scope = actor.participants_for("certificate.read")
    qs = Certificate.objects.all()
    if scope is not None:
        qs = qs.filter(Q(exporting_participant_id__in=scope) | Q(importing_participant_id__in=scope))
    return qs


def search(actor: Actor, *, status: str | None = None, side: str | None = None, participant: str | None = None,
           overdue: bool | None = None, today: dt.date | None = None) -> QuerySet[Certificate]:
    today = today or clock.today()
    qs = visible(actor)
    if side == "export" and participant:
        qs = qs.filter(exporting_participant_id=participant)
    elif side == "import" and participant:
        qs = qs.filter(importing_participant_id=participant)
    elif participant:
        qs = qs.filter(Q(exporting_participant_id=participant) | Q(importing_participant_id=participant))
    if status == "expired":
        qs = qs.filter(Q(status="expired") | Q(status="issued", expires_on__lt=today))
    elif status == "issued":
        qs = qs.filter(status="issued", expires_on__gte=today)
    elif status == "awaiting_confirmation":
        qs = qs.filter(status="issued")
    elif status:
        qs = qs.filter(status=status)
    if overdue is not None:  # IMP-02: the exporting participant's deadline in force on the issue day
        snap = registry.snapshot()
        ids = [pk for pk, issued_on, exporting in qs.filter(status="issued").values_list(
               "pk", "issued_on", "exporting_participant_id")
               if rules.is_overdue("issued", issued_on, today, snap.policy_on(exporting, issued_on).confirmation_days)]
        qs = qs.filter(pk__in=ids) if overdue else qs.exclude(pk__in=ids)
    return qs.order_by("-issued_at", "-pk")


def get(actor: Actor, number: str) -> Certificate:
    number = rules.normalise_number(number)
    cert = visible(actor).filter(number=number).first()
    if cert is None:
        # Same answer whether it does not exist or belongs to someone else: no existence oracle.
        raise NotFound(_("certificate %(number)s not found") % {"number": number})
    return cert


HISTORY_ACTIONS = ("certificate.issued", "certificate.confirmed", "certificate.rejected", "certificate.cancelled",
                   "certificate.expired", "certificate.signer_revoked")


def history(actor: Actor, number: str) -> list[dict[str, Any]]:
    """What happened to a certificate the actor may read, oldest first, from the audit log: action, who, when.
    The figures found on confirmation or rejection are on the certificate itself (`to_dict`)."""
    cert = get(actor, number)
    return [{"action": e["action"], "actor": e["actor"], "at": e["at"], "seq": e["seq"]}
            for e in audit_log.history("certificate", cert.number) if e["action"] in HISTORY_ACTIONS]

def to_dict(cert: Certificate, today: dt.date | None = None) -> dict[str, Any]:
    today = today or clock.today()
    # IMP-02: judged by the exporting participant's deadline in force on the issue day
    confirmation_days = registry.participant_policy(cert.exporting_participant_id, cert.issued_on).confirmation_days
    status = rules.effective_status(cert.status, cert.expires_on, today)
    lines = cert.issued_lines if cert.issued_lines is not None else cert.lines.all()
    data: dict[str, Any] = {
        "number": cert.number,
        "type": cert.type,
        "status": status,
        "exporting_participant": cert.exporting_participant_id,
        "importing_participant": cert.importing_participant_id,
        "issuing_authority": cert.issuing_authority_id,
        "issued_on": cert.issued_on,
        "issued_at": cert.issued_at,
        "expires_on": cert.expires_on,
        "exporter": cert.exporter_snapshot,
        "importer": cert.importer,
        "origin": "mixed" if cert.origin_kind == "mixed" else cert.origin_countries[0],
        "origin_countries": cert.origin_countries,
        # CERT-10: each country's carats, for a certificate issued from custody (empty otherwise)
        "origins": [{"country": o.country, "carats": rules.from_centi(o.carats_centi)} for o in
                    (cert.issued_origins if cert.issued_origins is not None
                     else cert.origins.all() if cert.from_custody else [])],
        "from_custody": cert.from_custody,
        "lines": [{"hs_code": ln.hs_code, "carats": rules.from_centi(ln.carats_centi),
                   "value_usd": rules.from_centi(ln.value_cents), "parcels": ln.parcels}
                  for ln in lines],
        "totals": {"carats": rules.from_centi(cert.total_carats_centi),
                   "value_usd": rules.from_centi(cert.total_value_cents), "parcels": cert.total_parcels},
        "awaiting_confirmation": cert.status == "issued",
        "overdue": rules.is_overdue(cert.status, cert.issued_on, today, confirmation_days),
        "confirmation_due_on": cert.issued_on + dt.timedelta(days=confirmation_days),
        "kid": cert.kid,
        "jws": cert.jws,
        "verification_code": rules.verification_code(crypto.signature_bytes(cert.jws)),
        "qr": cert.qr,
        "signer_revoked": cert.signer_revoked,
        "confirmation": None,
        "rejection": None,
        "cancellation": None,
    }
    if cert.status == "confirmed":
        c = cert.confirmation
        data["confirmation"] = {"received_on": c.received_on, "parcels": c.parcels,
                                "carats": rules.from_centi(c.carats_centi), "seals_intact": c.seals_intact,
                                "differences": c.differences, "authority": c.authority_id,
                                "confirmed_by": c.confirmed_by, "confirmed_at": c.confirmed_at}
    elif cert.status == "rejected":
        d = cert.discrepancy
        data["rejection"] = {"kind": d.kind, "declared": d.declared, "found": d.found, "reason": d.reason,
                             "authority": d.authority_id, "recorded_by": d.recorded_by,
                             "recorded_at": d.recorded_at}
    elif cert.status == "cancelled":
        x = cert.cancellation
        data["cancellation"] = {"reason": x.reason, "cancelled_by": x.cancelled_by, "cancelled_at": x.cancelled_at}
    return data


def trace(actor: Actor, number: str) -> dict[str, Any]:
    """Where the goods of a certificate the actor may read were mined (CERT-10): its parcels in custody, their
    origins per country and site, and the path back to the sites. Another participant's certificate is 404;
    other participants' custody events on the path are named but withheld."""
    cert = get(actor, number)
    return custody.certificate_trace(cert.number, actor.participants_for("certificate.read"))


def certificate_pdf(actor: Actor, number: str, today: dt.date | None = None) -> tuple[str, bytes]:
    """The printable certificate (CERT-02, CERT-04) for whoever may read it (`get`): a file name and the PDF.

    Drawn from the signed payload this node stored at issue, so the paper states what the QR code carries."""
    from kpcs.certificates import pdf  # fpdf2 and segno are loaded only by those who print

    cert = get(actor, number)
    _header, payload = crypto.unverified_parts(cert.jws)
    return f"{cert.number.replace(' ', '-')}.pdf", pdf.render(to_dict(cert, today), payload)


# --- lifecycle ---------------------------------------------------------------------------------

def _transition(number: str, action: str, now: dt.datetime) -> tuple[Certificate, str]:
    """Exactly once in the database: UPDATE … WHERE status = 'issued'; 0 rows means someone else won (409).
    Returns the certificate in its new status and the status it left."""
    cert = Certificate.objects.get(number=number)
    before = cert.status
    new = rules.next_status(before, action)
    won = Certificate.objects.filter(pk=cert.pk, status=before).update(status=new, status_changed_at=now)
    if not won:
        cert.refresh_from_db(fields=["status"])
        rules.next_status(cert.status, action)  # raises the 409 that names the state that won
    cert.status = new
    return cert, before


def _check_genuine(cert: Certificate) -> None:
    """IMP-05: only a certificate validated by the exporting authority is accepted. One whose key was revoked
    for it, or whose stored signed document no longer verifies, is refused: reject it as unknown_signer."""
    reasons = ["its signing key was revoked before this serial"] if cert.signer_revoked else []
    if not reasons:
        result = verify_token(cert.jws)
        reasons = result.reasons if not result.genuine else []
        if result.genuine and hashlib.sha256(crypto.signed_payload(cert.jws)).hexdigest() != cert.payload_hash:
            reasons = ["the stored signed document does not match this certificate"]
    if reasons:
        raise ValidationFailed(_("certificate %(number)s is not genuine: %(reasons)s; it cannot be confirmed: "
                                 'reject it with discrepancy "unknown_signer" (IMP-08)')
                                 % {"number": cert.number, "reasons": '; '.join(reasons)},
                               code="unknown_signer", rule="IMP-08", details={"reasons": reasons})


def _for_importer(actor: Actor, number: str, action: str) -> tuple[Certificate, str]:
    cert = get(actor, number)
    registry.require(actor, action, cert.importing_participant_id)
    return cert, registry.authority_for(actor, "importing_officer", cert.importing_participant_id)


def confirm(actor: Actor, number: str, body: Mapping[str, Any], *, now: dt.datetime | None = None) -> Certificate:
    """IMP-02: the importing participant confirms receipt, stating parcels and carats found."""
    now = now or clock.now()
    cert, authority_id = _for_importer(actor, number, "certificate.confirm")
    received_on = _parse_date(body.get("received_on"), "received_on") or now.date()
    parcels = rules.parse_count(body.get("parcels"), "parcels")
    carats = rules.parse_amount(body.get("carats"), "carats", maximum=rules.MAX_CARATS)
    seals_intact = body.get("seals_intact")
    if not isinstance(seals_intact, bool):
        raise ValidationFailed(_("seals_intact must be true or false"), code="invalid_seals")
    if cert.status == "issued":
        _check_genuine(cert)
        rules.check_receipt(cert.issued_on, cert.expires_on, received_on, now.date(), seals_intact)
    totals = rules.Totals(Decimal(rules.from_centi(cert.total_carats_centi)),
                          Decimal(rules.from_centi(cert.total_value_cents)), cert.total_parcels)
    differences = rules.confirmation_differences(totals, parcels, carats)
    with transaction.atomic():
        cert, before = _transition(cert.number, "confirm", now)
        confirmation = ImportConfirmation.objects.create(
            certificate=cert, received_on=received_on, received_quarter=quarter_label(received_on), parcels=parcels,
            carats_centi=rules.to_centi(carats),
            seals_intact=seals_intact, differences=differences, authority_id=authority_id,
            confirmed_by=actor.label, confirmed_at=now)
        audit.record(actor=actor.label, action="certificate.confirmed", object_type="certificate",
                     object_id=cert.number, participant=cert.importing_participant_id,
                     payload={"received_on": received_on.isoformat(), "seals_intact": seals_intact,
                              "authority": authority_id, "with_differences": bool(differences),
                              "record_hash": audit.record_hash(selectors.confirmation_record(confirmation)),
                              "state": selectors.certificate_state(cert)})
        # statistics count the import; custody brings the goods into the importer's stock (CERT-10, IMP-02)
        events.publish(certificate_events.CertificateConfirmed(
            **_event_facts(cert, before=before, actor=actor.label, now=now), received_on=received_on,
            received_quarter=confirmation.received_quarter, parcels_found=parcels,
            carats_found_centi=confirmation.carats_centi, seals_intact=seals_intact,
            with_differences=bool(differences)))
    return cert


def reject(actor: Actor, number: str, body: Mapping[str, Any], *, now: dt.datetime | None = None) -> Certificate:
    """IMP-08: the importing authority refuses the shipment and records what it found."""
    now = now or clock.now()
    cert, authority_id = _for_importer(actor, number, "certificate.reject")
    reason = str(body.get("reason") or "").strip()
    if not reason:
        raise ValidationFailed(_("reason is required"), code="reason_required")
    discrepancy = body.get("discrepancy") or {}
    if not isinstance(discrepancy, Mapping):
        raise ValidationFailed(_("discrepancy must be an object"), code="invalid_discrepancy")
    kind = discrepancy.get("kind")
    if kind not in rules.DISCREPANCY_KINDS:
        raise ValidationFailed(_("discrepancy.kind must be one of %(kinds)s (IMP-08)")
                                 % {"kinds": ', '.join(rules.DISCREPANCY_KINDS)},
                               code="invalid_discrepancy", rule="IMP-08")
    declared = {"carats": rules.from_centi(cert.total_carats_centi),
                "value_usd": rules.from_centi(cert.total_value_cents), "parcels": cert.total_parcels}
    found: dict[str, Any] = {}
    raw_found = discrepancy.get("found") or {}
    if not isinstance(raw_found, Mapping):
        raise ValidationFailed(_("discrepancy.found must be an object"), code="invalid_discrepancy")
    if "carats" in raw_found:
        found["carats"] = str(rules.parse_amount(raw_found["carats"], "discrepancy.found.carats",
                                                 maximum=rules.MAX_CARATS, allow_zero=True))
    if "value_usd" in raw_found:
        found["value_usd"] = str(rules.parse_amount(raw_found["value_usd"], "discrepancy.found.value_usd",
                                                    maximum=rules.MAX_USD, allow_zero=True))
    if "parcels" in raw_found:
        p = raw_found["parcels"]
        if isinstance(p, bool) or not isinstance(p, int) or p < 0:
            raise ValidationFailed(_("discrepancy.found.parcels must be a whole number"), code="invalid_discrepancy")
        found["parcels"] = p
    if kind == "content_mismatch":
        if not found:
            raise ValidationFailed(_("a content mismatch needs the figures found (carats, parcels or "
                                     "value_usd) beside those declared (IMP-08)"),
                                   code="invalid_discrepancy", rule="IMP-08")
        if all(str(found[k]) == str(declared[k]) for k in found):
            raise ValidationFailed(_("the figures found equal those declared: that is not a mismatch"),
                                   code="invalid_discrepancy", rule="IMP-08")
    with transaction.atomic():
        cert, before = _transition(cert.number, "reject", now)
        discrepancy = Discrepancy.objects.create(certificate=cert, kind=kind, declared=declared, found=found,
                                                 reason=reason, authority_id=authority_id, recorded_by=actor.label,
                                                 recorded_at=now)
        audit.record(actor=actor.label, action="certificate.rejected", object_type="certificate",
                     object_id=cert.number, participant=cert.importing_participant_id,
                     payload={"kind": kind, "authority": authority_id,
                              "record_hash": audit.record_hash(selectors.discrepancy_record(discrepancy)),
                              "state": selectors.certificate_state(cert)})
        events.publish(certificate_events.CertificateRejected(
            **_event_facts(cert, before=before, actor=actor.label, now=now), discrepancy=kind))
    return cert


def cancel(actor: Actor, number: str, body: Mapping[str, Any], *, now: dt.datetime | None = None) -> Certificate:
    """The issuing participant withdraws an unused certificate."""
    now = now or clock.now()
    cert = get(actor, number)
    registry.require(actor, "certificate.cancel", cert.exporting_participant_id)
    if rules.effective_status(cert.status, cert.expires_on, now.date()) == "expired":
        raise Conflict(_("certificate %(number)s expired on %(expires_on)s: an expired certificate is not "
                         "cancelled (CERT-09)")
                         % {"number": cert.number, "expires_on": cert.expires_on.isoformat()},
                       code="invalid_transition",
                       details={"status": "expired", "action": "cancel"})
    reason = str(body.get("reason") or "").strip()
    if not reason:
        raise ValidationFailed(_("reason is required"), code="reason_required")
    with transaction.atomic():
        cert, before = _transition(cert.number, "cancel", now)
        cancellation = Cancellation.objects.create(certificate=cert, reason=reason, cancelled_by=actor.label,
                                                   cancelled_at=now)
        audit.record(actor=actor.label, action="certificate.cancelled", object_type="certificate",
                     object_id=cert.number, participant=cert.exporting_participant_id,
                     payload={"record_hash": audit.record_hash(selectors.cancellation_record(cancellation)),
                              "state": selectors.certificate_state(cert)})
        # a cancelled certificate never left the country: out of the exports, its parcels back in stock
        events.publish(certificate_events.CertificateCancelled(
            **_event_facts(cert, before=before, actor=actor.label, now=now)))
    return cert


def expire_due(today: dt.date | None = None, *, actor: Actor) -> list[str]:
    """Mark as expired every certificate past its expiry date that was never confirmed (CERT-09)."""
    registry.require(actor, "certificate.expire")
    today = today or clock.today()
    now = clock.now()
    done = []
    for number in Certificate.objects.filter(status="issued", expires_on__lt=today).values_list("number", flat=True):
        with transaction.atomic():
            won = Certificate.objects.filter(number=number, status="issued").update(status="expired",
                                                                                    status_changed_at=now)
            if won:
                cert = Certificate.objects.get(number=number)
                audit.record(actor=actor.label, action="certificate.expired", object_type="certificate",
                             object_id=number, participant=number[:2],
                             payload={"as_of": today.isoformat(), "state": selectors.certificate_state(cert)})
                # never used: never exported, its parcels back in stock
                events.publish(certificate_events.CertificateExpired(
                    **_event_facts(cert, before="issued", actor=actor.label, now=now), as_of=today))
                done.append(number)
    return done


# --- verification ------------------------------------------------------------------------------

def verify_token(token: str, snap: registry.Snapshot | None = None) -> rules.Verification:
    """Check a signed certificate against this node's own trust list."""
    snap = snap or registry.snapshot()
    return rules.verify_signed(token, lambda kid: registry.find_key(kid, snap))


_verified: dict[tuple[bytes, str, str | None], rules.Verification] = {}
VERIFIED_CACHE = 4096  # entries per process, a few kB each


def _verify_stored(token: str, snap: registry.Snapshot) -> rules.Verification:
    """verify_token for a document this node holds, remembered per process: the same bytes checked against the
    same registry (keys and their bounds, by the registry's version stamp) always give the same verdict. Public
    verification asks about the same recent certificates again and again. Its reasons are in the reader's
    language, so the language is part of the key."""
    key = (hashlib.sha256(token.encode()).digest(), snap.stamp, get_language())
    result = _verified.get(key) if snap.stamp else None
    if result is None:
        result = verify_token(token, snap)
        if snap.stamp:
            if len(_verified) >= VERIFIED_CACHE:
                _verified.clear()
            _verified[key] = result
    return result


_NO_CODE = rules.verification_code(b"no such certificate")  # compared against when the number is unknown
# Parsed instead of a certificate when the number is unknown: a signed document of a certificate's size.
_STAND_IN = crypto.sign({"stand_in": "x" * 1500}, crypto.generate_private_key(), "stand-in")


class Stored(NamedTuple):
    """What verification reads of a stored certificate."""

    number: str
    status: str
    expires_on: dt.date
    jws: str
    payload_hash: str
    signer_revoked: bool


def _answer(cert: Stored | None, result: rules.Verification, today: dt.date,
            snap: registry.Snapshot) -> dict[str, Any]:
    """The public answer: genuine? usable? why not? No exporter, importer, value or weight is disclosed."""
    payload = result.payload
    reasons = list(result.reasons)
    genuine = result.genuine
    if cert is not None:
        # A genuine JWS carries the canonical payload bytes, so their hash is the one stored at issue.
        if genuine and (payload.get("number") != cert.number
                        or hashlib.sha256(result.signed_bytes).hexdigest() != cert.payload_hash):
            genuine = False
            reasons.append(_("the signed document does not match the certificate this node issued under that "
                             "number"))
        if cert.signer_revoked and genuine:
            genuine = False
            reasons.append(_("its signing key was revoked before this serial"))
    if genuine:
        reasons.extend(rules.standing_at_issue(payload, lambda c, d: snap.status_on(c, d).status))
    exporting_code = str(payload.get("exporting_participant") or "")
    importing_code = str(payload.get("importing_participant") or "")
    exporting = snap.status_on(exporting_code, today)
    importing = snap.status_on(importing_code, today)
    if cert is not None and genuine:
        status = rules.effective_status(cert.status, cert.expires_on, today)
        if status != "issued":
            reasons.append(_("the certificate is %(status)s") % {"status": rules.status_word(status)})
    else:
        status = "unknown"
        if genuine:
            reasons.append(_("this node holds no record of the certificate: its status is unknown here"))
    if genuine and (not registry.may_trade_status(exporting.status) or not registry.may_trade_status(importing.status)):
        reasons.append(_("a participant is not in good standing today"))
    authority = payload.get("issuing_authority")
    # Measures from the registry snapshot (its stamp changes when one is recorded); said only of a genuine
    # document, so a forgery learns nothing it did not write itself.
    measures, vigilance = rules.measures_at_issue(payload, snap.measures_on) if genuine else ([], False)
    return {
        "number": str(payload.get("number") or (cert.number if cert else "")),
        "genuine": genuine,
        "usable": genuine and status == "issued" and not reasons,
        "status": status,
        "signature_valid": result.signature_valid,
        "kid": result.kid or "",
        "key_valid_at_signing": result.key_valid_at_signing,
        "issuing_authority": str(authority.get("id", "")) if isinstance(authority, dict) else "",
        "exporting_participant": {"code": exporting_code, "status": exporting.status},
        "importing_participant": {"code": importing_code, "status": importing.status},
        "issued_on": _safe_date(payload.get("issued_on")),
        "expires_on": _safe_date(payload.get("expires_on")),
        "reasons": reasons,
        "measures": measures,
        "vigilance": vigilance,
    }


def _stored(number: str) -> Stored | None:
    """The few columns verification reads, by number: the hot path of public verification, so one plain query
    rather than the ORM's compiler and model instances."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(Stored._fields)} FROM {Certificate._meta.db_table} WHERE number = %s",
                       [number])
        row = cursor.fetchone()
    if row is None:
        return None
    number, status, expires_on, jws, payload_hash, signer_revoked = row
    if not isinstance(expires_on, dt.date):  # SQLite hands back text from a plain cursor
        expires_on = dt.date.fromisoformat(str(expires_on))
    return Stored(number, status, expires_on, jws, payload_hash, bool(signer_revoked))


def _safe_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def public_verification(number: str, code: str | None, today: dt.date | None = None) -> dict[str, Any]:
    """Whether a certificate is genuine and usable, for whoever holds it: its number and verification code.

    Without the code nothing is said, not even whether the number exists (INT-15: sequential numbers must not
    let anyone read a participant's trade day by day). A wrong code and an unknown number get the same answer.
    """
    if not code or not code.strip():
        raise ValidationFailed(_("a verification code is required: it is printed on the certificate beside its "
                                 "number"),
                               code="verification_code_required")
    if rules.normalise_code(code) is None:
        raise ValidationFailed(_("%(code)s is not a verification code: 10 letters and digits, printed as "
                                 "XXXXX-XXXXX") % {"code": repr(code)},
                               code="invalid_verification_code")
    today = today or clock.today()
    cert = _stored(rules.normalise_number(number))
    # The code is checked before the signature, and an unknown number takes the same steps with a stand-in
    # document: the answer's time says no more than its words whether the number exists.
    try:
        signature = crypto.signature_bytes(cert.jws if cert is not None else _STAND_IN)
    except crypto.BadSignature:
        signature = b""
    expected = rules.verification_code(signature) if cert is not None and signature else _NO_CODE
    if not rules.code_matches(code, expected) or cert is None:
        raise NotFound(_("no certificate has this number and verification code"), code="verification_failed")
    snap = registry.snapshot()
    return _answer(cert, _verify_stored(cert.jws, snap), today, snap)


def verify_presented(token: str, today: dt.date | None = None) -> dict[str, Any]:
    """A whole signed certificate presented (a scanner reads it from the document): checked against this node's
    keys; its status is looked up only when the signature is genuine, so a forgery learns nothing."""
    today = today or clock.today()
    snap = registry.snapshot()
    result = verify_token(token, snap)
    cert = _stored(str(result.payload.get("number"))) if result.genuine else None
    return _answer(cert, result, today, snap)
