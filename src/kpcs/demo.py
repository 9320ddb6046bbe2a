"""Demo data for `kpcs demo`: officers, operators, keys and a few certificates in every state.

Idempotent: running it twice adds nothing twice. The demo password is printed; never use it in production.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from rich.console import Console
from rich.progress import track

from kpcs import clock
from kpcs.certificates import services as certificates
from kpcs.certificates.models import Certificate
from kpcs.registry import services as registry
from kpcs.registry.models import Authority, Operator, SigningKey

PASSWORD = "kpcs-demo-password"
DEMO_DOMAIN = "@demo.kpcs"
DEMO_MARK = "node.demo_loaded"
DEMO_PARTICIPANTS = ["BW", "EU", "ZA", "NA", "CA", "AE", "IN", "RU", "US", "AO", "GB", "IL"]
EU_AUTHORITY = "EU-BE-ANTWERP"
# The Plenary's policy decision: a certificate the UAE issues awaits confirmation of receipt for 30 days before it
# is overdue (IMP-02; the exporting participant's deadline), instead of the scheme's 15.
POLICY_PARTICIPANT, POLICY_CONFIRMATION_DAYS = "AE", 30
# An application in progress (GOV-05): illustrative, South Sudan has not applied to the scheme.
APPLICANT = ("SS", "South Sudan")
# Who sits where (GOV-02): (group, chair, participants, observer organisations). The Committee on Participation
# and Chairmanship is chaired by the year's KP Chair (the chair named here when chairs.csv has none), its
# Vice-Chair sitting as vice-chair.
GROUPS: list[tuple[str, str, list[str], list[str]]] = [
    ("statistics", "CA", ["BW", "EU", "IN", "RU", "ZA"], ["World Diamond Council"]),
    ("monitoring", "EU", ["AO", "BW", "RU", "US", "ZA"], ["Kimberley Process Civil Society Coalition"]),
    ("diamond_experts", "IN", ["AE", "EU", "IL", "ZA"], ["World Diamond Council"]),
    ("artisanal_alluvial", "SL", ["AO", "CD", "GN", "LR"], ["Kimberley Process Civil Society Coalition",
                                                           "African Diamond Producers Association"]),
    ("participation_chairmanship", "BW", ["BW", "EU", "RU", "US", "ZA"], ["World Diamond Council"]),
]
# `kpcs demo` is the node operator at work: the system actor, named so its entries are told apart in the log.
DEMO = registry.Actor("kpcs demo", system=True)


def _officer_email(code: str) -> str:
    return f"{code.lower()}.officer@demo.kpcs"


def _ensure_keys(since: dt.datetime) -> None:
    """A key for every exporting authority, except an applicant's (GOV-05: it cannot trade, EXP-01), so a second
    run does not key the demo's applicant."""
    has_key = set(SigningKey.objects.values_list("authority_id", flat=True))
    today = clock.today()
    todo = [a for a in Authority.objects.order_by("id") if "issue_export" in a.roles and a.id not in has_key
            and registry.status_on(a.participant_id, today).status != "applicant"]
    for a in track(todo, description="signing keys", disable=not todo):
        registry.create_key(a.id, valid_from=since, actor=DEMO)


def _grant(email: str, role: str, participant: str | None = None, authority: str | None = None) -> None:
    """A demo account gets the published password when it is made; an existing one keeps its own."""
    new = not get_user_model().objects.filter(username=email).exists()
    registry.create_user(email, PASSWORD if new else None, role, participant, authority, actor=DEMO)


def foreign_accounts() -> list[str]:
    """Accounts this demo did not make. Their presence means a real node: no published password goes there."""
    return list(get_user_model().objects.exclude(username__endswith=DEMO_DOMAIN)
                .order_by("username").values_list("username", flat=True))


def foreign_data() -> list[str]:
    """What makes this a real node rather than a demo one: accounts the demo did not make, or, on a node the
    demo never loaded, any data beyond the reference data `kpcs init` loads (operators, authority keys,
    certificates, statistics)."""
    from kpcs.audit import services as audit
    from kpcs.statistics.models import Batch

    accounts = foreign_accounts()
    found = [f"accounts the demo did not make ({', '.join(accounts[:3])}"
             + (f" and {len(accounts) - 3} more)" if len(accounts) > 3 else ")")] if accounts else []
    if not audit.recorded(DEMO_MARK):
        for label, model in (("operators", Operator), ("certificates", Certificate), ("statistics", Batch)):
            if model.objects.exists():
                found.append(label)
        if SigningKey.objects.filter(purpose="authority").exists():
            found.append("authority keys")
    return found


def _mark_as_demo() -> None:
    """Recorded once, before anything else: a node holding it is a demo node, which the demo may top up."""
    from django.db import transaction

    from kpcs.audit import services as audit

    if not audit.recorded(DEMO_MARK):
        with transaction.atomic():
            audit.record(actor=DEMO.label, action=DEMO_MARK, object_type="node", object_id="demo",
                         payload={"password_published": True})


def _ensure_users() -> list[tuple[str, str]]:
    accounts = [("admin@demo.kpcs", "admin: the secretariat (people, tokens and registry at /admin/, the audit "
                                    "log; no commercial details; not a Django superuser)"),
                ("analyst@demo.kpcs", "kp_analyst: reads every participant")]
    _grant("admin@demo.kpcs", "admin")
    _grant("analyst@demo.kpcs", "kp_analyst")
    _grant("chair@demo.kpcs", "kp_chair")
    _grant("bw.delegate@demo.kpcs", "delegate", "BW")
    _grant("za.delegate@demo.kpcs", "delegate", "ZA")
    _grant("observer@demo.kpcs", "observer")
    accounts += [("chair@demo.kpcs", "kp_chair: proposes and adopts decisions, runs reviews, working-group "
                                     "members and applications"),
                 ("bw.delegate@demo.kpcs", "delegate of BW: positions on decisions, reads applications and BW's "
                                           "reviews"),
                 ("za.delegate@demo.kpcs", "delegate of ZA: positions on decisions, comments on ZA's review report"),
                 ("observer@demo.kpcs", "observer: comments on decisions (never a block), reads applications")]
    for code in DEMO_PARTICIPANTS:
        email = _officer_email(code)
        authority = EU_AUTHORITY if code == "EU" else None
        _grant(email, "exporting_officer", code, authority)
        _grant(email, "importing_officer", code, authority)
        _grant(email, "statistics_officer", code, authority)
        accounts.append((email, f"exporting, importing and statistics officer of {code}"))
    return accounts


def _ensure_operators(actor: registry.Actor) -> None:
    start = dt.date(2025, 1, 1)
    for code in DEMO_PARTICIPANTS:
        name = registry.get_participant(code).name
        for kind, suffix, label in (("exporter", "EXP", "Rough Exports"), ("importer", "IMP", "Diamond Imports")):
            licence = f"{code}-{suffix}-0001"
            if not Operator.objects.filter(participant_id=code, licence=licence).exists():
                registry.register_operator(actor, participant=code, name=f"{name} {label} Ltd",
                                           address=f"1 Diamond Street, {name}", kind=kind, licence=licence,
                                           valid_from=start, valid_until=dt.date(2030, 12, 31))


def _request(importing: str, exporting: str, origin: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    name = registry.get_participant(importing).name
    return {"importing_participant": importing, "exporter": {"licence": f"{exporting}-EXP-0001"},
            "importer": {"name": f"{name} Diamond Imports Ltd", "address": f"1 Diamond Street, {name}"},
            "origin": origin, "lines": lines}


def _ensure_certificates(now: dt.datetime) -> None:
    if Certificate.objects.exists():
        return
    actors = {code: registry.actor_for_user(get_user_model().objects.get(username=_officer_email(code)), "demo")
              for code in DEMO_PARTICIPANTS}
    line = {"hs_code": "7102.31", "carats": "1250.40", "value_usd": "250080.00", "parcels": 3}
    plan = [  # (days ago, exporter, importer, origin, lines, then)
        (40, "BW", "EU", "BW", [line, {"hs_code": "7102.21", "carats": "400.00", "value_usd": "12000.00",
                                       "parcels": 1}], "confirm"),
        (30, "BW", "EU", "BW", [line], "open"),
        (20, "ZA", "AE", "ZA", [line], "confirm"),
        (12, "EU", "IN", "mixed", [line], "open"),
        (8, "NA", "EU", "NA", [line], "reject"),
        (5, "CA", "US", "CA", [line], "cancel"),
        (2, "RU", "AE", "RU", [line], "open"),
        (1, "AE", "IN", "mixed", [line], "open"),
    ]
    for days, exp, imp, origin, lines, then in track(plan, description="certificates"):
        at = now - dt.timedelta(days=days)
        req = _request(imp, exp, origin, lines)
        if origin == "mixed":
            req["origin_countries"] = ["BW", "CA", "NA", "ZA"]
        cert = certificates.issue(actors[exp], req, now=at)
        total = sum(int(str(ln["parcels"])) for ln in lines)
        carats = sum(Decimal(str(ln["carats"])) for ln in lines)
        later = at + dt.timedelta(days=3)
        if then == "confirm":
            certificates.confirm(actors[imp], cert.number, {"received_on": later.date().isoformat(),
                                                            "parcels": total, "carats": str(carats),
                                                            "seals_intact": True}, now=later)
        elif then == "reject":
            certificates.reject(actors[imp], cert.number, {
                "reason": "seal on parcel 2 broken on arrival",
                "discrepancy": {"kind": "seals_broken", "found": {"parcels": total}}}, now=later)
        elif then == "cancel":
            certificates.cancel(actors[exp], cert.number, {"reason": "shipment postponed"}, now=later)


def _ensure_statistics(today: dt.date) -> int:
    """A modest generated history (30 participants, the 10 years before this one, anomalies planted) and customs
    values generated from it, analysed together with the demo certificates of this year."""
    from kpcs.monitoring import services as monitoring
    from kpcs.statistics import generate
    from kpcs.statistics import services as statistics
    from kpcs.statistics.models import CustomsFigure, Figure

    node = DEMO
    if not Figure.objects.exists() or not CustomsFigure.objects.exists():
        rows, doc = generate.generate(30, 10, seed=2026, end_year=today.year - 1)
        if not Figure.objects.exists():
            statistics.import_rows(rows, actor=node, source="imported", filename=f"demo statistics (seed 2026, "
                                                                                  f"{len(rows)} rows)")
        # Customs values generated from the same figures (the real HS 7102 file describes real participants'
        # real trade, which these generated figures are not): the customs cross-check finds the planted
        # divergence. The real file stays for `kpcs stats import-customs`.
        if not CustomsFigure.objects.exists():
            statistics.import_customs_rows(generate.customs_rows(doc), actor=node,
                                           filename="demo customs HS 7102 (generated from the demo statistics, "
                                                    "seed 2026)")
    return len(monitoring.scan(node, as_of=today))


def _ensure_review(today: dt.date) -> None:
    """A review visit to Russia in the form of the 2018 one (MON-07): led by Angola with Botswana, the EU, the UAE
    and South Africa, observers from industry and civil society; its report submitted and published on time,
    one recommendation implemented and closed, one still open (so the review stays open)."""
    from kpcs.monitoring import services as monitoring
    from kpcs.monitoring.models import Review

    if Review.objects.exists():
        return
    end = today - dt.timedelta(days=60)
    r = monitoring.create_review(DEMO, kind="visit", participant="RU", starts_on=end - dt.timedelta(days=5),
                                 ends_on=end, mandate="Review visit at the invitation of the Russian Federation: "
                                 "the implementation of the KPCS minimum requirements, from mining through "
                                 "export control to the statistics reported.")
    team = [("Head of the Angolan KP authority", "government", "AO", "", True),
            ("Botswana KP expert", "government", "BW", "", False),
            ("European Union KP expert", "government", "EU", "", False),
            ("UAE KP office expert", "government", "AE", "", False),
            ("South African Diamond and Precious Metals Regulator expert", "government", "ZA", "", False),
            ("World Diamond Council representative", "industry", None, "World Diamond Council", False),
            ("Civil Society Coalition representative", "civil_society", None, "KP Civil Society Coalition", False)]
    for name, constituency, participant, organisation, leader in team:
        monitoring.add_team_member(DEMO, r.pk, name=name, constituency=constituency, participant=participant,
                                   organisation=organisation, is_leader=leader)
    monitoring.record_visit(DEMO, r.pk)
    monitoring.submit_report(DEMO, r.pk, on=end + dt.timedelta(days=20), text=(
        "Restricted report. The team visited the mining areas, the state repository and the export office. "
        "Export control is effective; the weighing records of one regional office were kept on paper only."))
    first = monitoring.add_recommendation(DEMO, r.pk, owner="RU", due_on=end + dt.timedelta(days=45),
                                          text="Keep the weighing records of every regional office in the "
                                               "electronic register.")
    monitoring.add_recommendation(DEMO, r.pk, owner="RU", due_on=today + dt.timedelta(days=120),
                                  text="Publish production statistics by mining area.")
    monitoring.publish_report(DEMO, r.pk, on=end + dt.timedelta(days=38), public_summary=(
        "The review team found that the Russian Federation meets the KPCS minimum requirements and made two "
        "recommendations: electronic weighing records in every regional office, and production statistics by "
        "mining area."))
    monitoring.follow_up(DEMO, r.pk, first.pk, status="implemented",
                         note="The regional office now records weighings in the electronic register.")
    monitoring.close_recommendation(DEMO, r.pk, first.pk, note="Implementation confirmed in the annual report.")


def _ensure_review_with_comment(today: dt.date) -> None:
    """A second review visit, to South Africa, whose report reached the participant five days ago and is not yet
    posted: South Africa's delegate has commented on it (MON-04: comments only while `report_submitted`). Skipped
    when South Africa already has a review."""
    from kpcs.monitoring import services as monitoring
    from kpcs.monitoring.models import Review

    if Review.objects.filter(participant_id="ZA").exists():
        return
    end = today - dt.timedelta(days=19)
    r = monitoring.create_review(DEMO, kind="visit", participant="ZA", starts_on=end - dt.timedelta(days=4),
                                 ends_on=end, mandate="Review visit at the invitation of South Africa: the "
                                 "internal controls from the mines to the Diamond Exchange and Export Centre.")
    team = [("Namibian Diamond Commissioner", "government", "NA", "", True),
            ("Canadian KP office expert", "government", "CA", "", False),
            ("Indian KP authority expert", "government", "IN", "", False),
            ("World Diamond Council representative", "industry", None, "World Diamond Council", False),
            ("Civil Society Coalition representative", "civil_society", None, "KP Civil Society Coalition", False)]
    for name, constituency, participant, organisation, leader in team:
        monitoring.add_team_member(DEMO, r.pk, name=name, constituency=constituency, participant=participant,
                                   organisation=organisation, is_leader=leader)
    monitoring.record_visit(DEMO, r.pk)
    monitoring.submit_report(DEMO, r.pk, on=today - dt.timedelta(days=5), text=(
        "Restricted report. The team visited two mines, the State Diamond Trader and the Diamond Exchange and "
        "Export Centre. Controls are effective; the tender records of one exporter were reconciled by hand."))
    monitoring.add_recommendation(DEMO, r.pk, owner="ZA", due_on=today + dt.timedelta(days=90),
                                  text="Reconcile the tender records of every exporter in the electronic register.")
    delegate = registry.actor_for_user(get_user_model().objects.get(username=f"za.delegate{DEMO_DOMAIN}"), "demo")
    monitoring.comment_on_report(delegate, r.pk, text=(
        "South Africa thanks the team. The exporter concerned moved its tender records into the electronic "
        "register last month; the regulator will confirm it in the annual report."))


def _plenary_dates(today: dt.date) -> tuple[dt.date, dt.date]:
    """Last November's Plenary: this year's in December, else last year's."""
    year = today.year if today.month == 12 else today.year - 1
    return dt.date(year, 11, 10), dt.date(year, 11, 13)


def _ensure_governance(now: dt.datetime) -> None:
    """A year of governance, through the governance services: the chairs from chairs.csv; last November's
    Plenary hosted by the Chair with three decisions adopted by consensus (an administrative decision the
    delegates supported, an observer commenting; a notice; an administrative decision giving the UAE a 30-day
    confirmation deadline from 1 December, CERT-09/IMP-02); a written procedure in progress, its deadline in two
    weeks, Botswana's support recorded. Skipped when the node already holds meetings or decisions.

    No measure is lifted here: the seed already ends Côte d'Ivoire's embargo and the enhanced vigilance on its
    neighbours on 2014-04-29 (status-history.csv, measures.csv)."""
    from kpcs.governance import services as governance
    from kpcs.governance.models import Decision, Meeting

    governance.seed_chairs()
    if Meeting.objects.exists() or Decision.objects.exists():
        return
    delegate = {code: registry.actor_for_user(get_user_model().objects.get(username=f"{code.lower()}.delegate"
                                                                                    f"{DEMO_DOMAIN}"), "demo")
                for code in ("BW", "ZA")}
    observer = registry.actor_for_user(get_user_model().objects.get(username=f"observer{DEMO_DOMAIN}"), "demo")
    starts, ends = _plenary_dates(now.date())
    host = governance.chair_on(starts)[0]
    place = registry.get_participant(host).name if host else ""
    plenary = governance.add_meeting(DEMO, kind="plenary", year=starts.year, host=host, place=place,
                                     starts_on=starts, ends_on=ends)
    opened = dt.datetime.combine(starts, dt.time(9), tzinfo=dt.UTC)
    closing = dt.datetime.combine(ends, dt.time(16), tzinfo=dt.UTC)
    budget = governance.propose(
        DEMO, type="administrative", participant=None, effective_on=dt.date(starts.year + 1, 1, 1),
        procedure="plenary", meeting=plenary.pk, now=opened,
        text="Administrative decision on the KP Administrative Support Mechanism: the budget and work plan for "
             f"{starts.year + 1} are approved, and participants contribute according to the agreed scale.")
    governance.take_position(delegate["BW"], budget.pk, "support", now=opened + dt.timedelta(hours=2))
    governance.take_position(delegate["ZA"], budget.pk, "support", "With the scale reviewed next year.",
                             now=opened + dt.timedelta(hours=3))
    governance.take_position(observer, budget.pk, "comment", "Civil society asks for the work plan to be "
                             "published.", now=opened + dt.timedelta(hours=4))
    governance.adopt(DEMO, budget.pk, now=closing)
    notice = governance.propose(
        DEMO, type="notice", participant=None, effective_on=ends, procedure="plenary", meeting=plenary.pk,
        now=closing - dt.timedelta(hours=1),
        text=f"Final communiqué of the Plenary of {starts.year}: the Plenary welcomed the annual reports of the "
             "participants, the review visits of the year and the reports of the working groups.")
    governance.adopt(DEMO, notice.pk, now=closing)
    policy = governance.propose(
        DEMO, type="administrative", participant=POLICY_PARTICIPANT, effective_on=dt.date(starts.year, 12, 1),
        procedure="plenary", meeting=plenary.pk, policy={"confirmation_days": POLICY_CONFIRMATION_DAYS},
        now=opened + dt.timedelta(days=1),
        text="Administrative decision at the request of the United Arab Emirates: from 1 December a certificate "
             f"it issues awaits the importing authority's confirmation of receipt for {POLICY_CONFIRMATION_DAYS} "
             "days before it is overdue (IMP-02), the time its shipments to distant partners take.")
    governance.take_position(delegate["BW"], policy.pk, "support", now=opened + dt.timedelta(days=1, hours=2))
    governance.adopt(DEMO, policy.pk, now=closing)
    written = governance.propose(
        DEMO, type="administrative", participant=None, effective_on=dt.date(now.year + 1, 1, 1),
        procedure="written", deadline=now.date() + dt.timedelta(days=14), now=now,
        text="Administrative decision on electronic statistics: from next year participants submit their quarterly "
             "trade statistics in the exchange format, by the deadlines of the statistics guidelines.")
    governance.take_position(delegate["BW"], written.pk, "support", now=now)


def _registered(code: str) -> bool:
    from kpcs.errors import NotFound

    try:
        registry.get_participant(code)
    except NotFound:
        return False
    return True


def _ensure_application(now: dt.datetime) -> None:
    """An application in progress (GOV-05): received three weeks ago, circulated to all participants within the
    month, awaiting the participation committee's recommendation. Skipped when the node holds an application or
    the applicant is already in the registry."""
    from kpcs.governance import admission
    from kpcs.governance.models import Application

    code, name = APPLICANT
    if Application.objects.exists() or _registered(code):
        return
    application = admission.submit(DEMO, code=code, name=name, applied_on=now.date() - dt.timedelta(days=21))
    admission.circulate(DEMO, application.pk, now=now - dt.timedelta(days=12))


def _ensure_groups(today: dt.date) -> None:
    """Members of the five working groups and committees since 1 January (GOV-02): participants and observer
    organisations, a chair each. Skipped when any group has a member."""
    from kpcs.governance import admission
    from kpcs.governance import services as governance
    from kpcs.governance.models import WorkingGroupMember

    if WorkingGroupMember.objects.exists():
        return
    governance.seed_working_groups()
    governance.seed_chairs()
    since = dt.date(today.year, 1, 1)
    kp_chair, vice = governance.chair_on(today)
    for group, chair, members, observers in GROUPS:
        roles = {code: "member" for code in members}
        if group == "participation_chairmanship":
            roles |= {code: role for code, role in ((kp_chair or chair, "chair"), (vice, "vice_chair")) if code}
        else:
            roles[chair] = "chair"
        for code, role in sorted(roles.items(), key=lambda kv: (kv[1] != "chair", kv[1] != "vice_chair", kv[0])):
            admission.add_member(DEMO, group, participant=code, role=role, valid_from=since)
        for name in observers:
            admission.add_member(DEMO, group, observer=name, valid_from=since)


# The custody story (issue 9 item 8, INT-06..INT-12, CERT-10): who holds what, (participant, kind, licence, name).
CUSTODY_OPERATORS = [("BW", "miner", "BW-MIN-0001", "Orapa Mining Company (Pty) Ltd"),
                     ("BW", "digger", "BW-DIG-0001", "Motloutse Licensed Diggers Cooperative"),
                     ("BW", "dealer", "BW-DEA-0001", "Serowe Diamond Buyers (Pty) Ltd"),
                     ("ZA", "miner", "ZA-MIN-0001", "Venetia Mining (Pty) Ltd")]
CUSTODY_PARTICIPANTS = ("BW", "ZA", "EU")
CUSTODY_STORY_DAYS = 10  # the story starts this many days ago; custody control from the day before
INVOICE_WARRANTY = ("The diamonds herein invoiced have been purchased from legitimate sources not involved in "
                    "funding conflict and in compliance with United Nations resolutions. The seller hereby "
                    "guarantees that these diamonds are conflict free, based on personal knowledge and/or written "
                    "guarantees provided by the supplier of these diamonds.")


def _custody_officer(code: str) -> registry.Actor:
    return registry.actor_for_user(get_user_model().objects.get(username=f"{code.lower()}.custody{DEMO_DOMAIN}"),
                                   "demo")


def _officer(code: str) -> registry.Actor:
    return registry.actor_for_user(get_user_model().objects.get(username=_officer_email(code)), "demo")


def _custody_operator(code: str, licence: str) -> Operator:
    return Operator.objects.get(participant_id=code, licence=licence)


def _produce(officer: registry.Actor, site: int, at: dt.datetime, lots: list[tuple[str, str]]) -> list[int]:
    from kpcs.custody import services as custody

    return custody.record_event(officer, {
        "type": "production", "site": site, "occurred_at": at.isoformat(),
        "produced": [{"carats": c, "value_usd": v, "hs_code": "7102.31"} for c, v in lots]}).outputs()


def _sell(officer: registry.Actor, parcels: list[int], seller: Operator, buyer: Operator, at: dt.datetime,
          invoice: str) -> list[int]:
    """A sale with its invoice and the System of Warranties statement (INT-11)."""
    from kpcs.custody import services as custody

    return custody.record_event(officer, {
        "type": "transfer", "parcels": parcels, "seller": seller.pk, "buyer": buyer.pk,
        "occurred_at": at.isoformat(), "invoice": invoice, "warranty": INVOICE_WARRANTY}).outputs()


def _confirm(officer: registry.Actor, cert: Certificate, at: dt.datetime) -> None:
    certificates.confirm(officer, cert.number, {
        "received_on": at.date().isoformat(), "parcels": cert.total_parcels,
        "carats": f"{Decimal(cert.total_carats_centi) / 100:.2f}", "seals_intact": True}, now=at)


def _demo_re_export() -> str | None:
    """The number of the demo's EU re-export from custody, if the node holds it."""
    from kpcs.custody.models import CustodyEvent

    found = CustodyEvent.objects.filter(type="export", participant_id="EU").order_by("pk").first()
    return found.certificate if found else None


def _ensure_custody(now: dt.datetime) -> str | None:
    """A chain of custody from the mines of two producers to a re-export (issue 9 item 8, INT-06..INT-12,
    CERT-10, IMP-02): Botswana's industrial mine and licensed artisanal diggers on an alluvial area (INT-07), the
    diggers' buyer, the exporter; South Africa's mine and exporter; a BW certificate mixing mine and alluvial
    goods and a ZA one into the EU, confirmed by the EU's importing officer (the importer's parcels); a sale to
    the EU exporter, a merge, and a re-export to Switzerland whose trace goes back to both countries' sites.

    Custody control runs for BW, ZA and the EU from the day before the story until yesterday: the story is
    recorded under it, and from today certificates can again be issued from lines (the walkthrough, the
    end-to-end tests and the benchmarks issue BW and ZA certificates from lines after `kpcs demo`).
    Skipped when the node holds any custody control or site. Returns the re-export's number."""
    from kpcs.custody import services as custody
    from kpcs.custody.models import CustodyControl, Site

    if CustodyControl.objects.exists() or Site.objects.exists():
        return _demo_re_export()
    start = (now - dt.timedelta(days=CUSTODY_STORY_DAYS)).replace(hour=9, minute=0, second=0, microsecond=0)
    for code in CUSTODY_PARTICIPANTS:
        custody.set_control(DEMO, code, start.date() - dt.timedelta(days=1), True)
    for code, kind, licence, name in CUSTODY_OPERATORS:
        if not Operator.objects.filter(participant_id=code, licence=licence).exists():
            place = registry.get_participant(code).name
            registry.register_operator(DEMO, participant=code, name=name, address=f"1 Mine Road, {place}",
                                       kind=kind, licence=licence, valid_from=dt.date(2025, 1, 1),
                                       valid_until=dt.date(2030, 12, 31))
    bw, za, eu = (_custody_officer(code) for code in CUSTODY_PARTICIPANTS)
    miner, digger, dealer = (_custody_operator("BW", lic) for lic in ("BW-MIN-0001", "BW-DIG-0001", "BW-DEA-0001"))
    bw_exporter, za_exporter = _custody_operator("BW", "BW-EXP-0001"), _custody_operator("ZA", "ZA-EXP-0001")
    za_miner = _custody_operator("ZA", "ZA-MIN-0001")
    eu_importer, eu_exporter = _custody_operator("EU", "EU-IMP-0001"), _custody_operator("EU", "EU-EXP-0001")
    orapa = custody.register_site(bw, name="Orapa", kind="industrial_mine", region="Central", holder=miner.pk)
    river = custody.register_site(bw, name="Motloutse river", kind="alluvial_area", region="Central",
                                  holder=digger.pk)
    venetia = custody.register_site(za, name="Venetia", kind="industrial_mine", region="Limpopo", holder=za_miner.pk)

    def day(n: int) -> dt.datetime:
        return start + dt.timedelta(days=n)

    # Botswana: the mine's run of mine; the diggers' finds bought by the dealer, who sells two on (INT-09)
    [mined] = _produce(bw, orapa.pk, day(0), [("310.50", "62100.00")])
    found = _produce(bw, river.pk, day(0), [("12.40", "1860.00"), ("8.75", "1312.50"), ("5.20", "780.00")])
    bought = _sell(bw, found, digger, dealer, day(1), "SDB-2026-0117")
    from_mine = _sell(bw, [mined], miner, bw_exporter, day(1), "OMC-2026-0042")
    from_dealer = _sell(bw, bought[:2], dealer, bw_exporter, day(2), "SDB-2026-0121")
    # South Africa: the mine sells to the exporter
    za_parcels = _sell(za, _produce(za, venetia.pk, day(0), [("145.80", "43740.00")]), za_miner, za_exporter,
                       day(1), "VM-2026-0311")
    # Into the EU under certificates from parcels (CERT-10, EXP-06), confirmed on arrival (IMP-02)
    eu_name = registry.get_participant("EU").name
    importer = {"name": eu_importer.name, "address": f"1 Diamond Street, {eu_name}"}
    bw_cert = certificates.issue(_officer("BW"), {"importing_participant": "EU", "exporter": {"licence": "BW-EXP-0001"},
                                                 "importer": importer, "parcels": from_mine + from_dealer},
                                 now=day(3))
    za_cert = certificates.issue(_officer("ZA"), {"importing_participant": "EU", "exporter": {"licence": "ZA-EXP-0001"},
                                                 "importer": importer, "parcels": za_parcels}, now=day(3))
    _confirm(_officer("EU"), bw_cert, day(5))
    _confirm(_officer("EU"), za_cert, day(5))
    # In the EU: the importer sells to the exporter, who merges the parcels and re-exports them to Switzerland
    from kpcs.custody.models import Parcel

    in_eu = list(Parcel.objects.filter(holder=eu_importer, status="held").order_by("pk").values_list("pk", flat=True))
    to_exporter = _sell(eu, in_eu, eu_importer, eu_exporter, day(6), "ANT-2026-0907")
    [merged] = custody.record_event(eu, {"type": "merge", "parcels": to_exporter,
                                         "occurred_at": day(7).isoformat()}).outputs()
    re_export = certificates.issue(_officer("EU"), {
        "importing_participant": "CH", "exporter": {"licence": "EU-EXP-0001"},
        "importer": {"name": "Genève Diamants SA", "address": "12 rue du Rhône, Geneva"}, "parcels": [merged]},
        now=day(8))
    # From today certificates may again be issued from lines (see the docstring)
    for code in CUSTODY_PARTICIPANTS:
        custody.set_control(DEMO, code, now.date(), False)
    return re_export.number


def load(out: Console, base_url: str = "http://127.0.0.1:8000") -> None:
    _mark_as_demo()
    now = clock.now()
    _ensure_keys(now - dt.timedelta(days=365))
    accounts = _ensure_users()
    _ensure_operators(DEMO)
    _ensure_certificates(now)
    findings = _ensure_statistics(now.date())
    _ensure_review(now.date())
    _ensure_review_with_comment(now.date())
    _ensure_governance(now)
    _ensure_application(now)
    _ensure_groups(now.date())
    for code in CUSTODY_PARTICIPANTS:
        _grant(f"{code.lower()}.custody{DEMO_DOMAIN}", "custody_officer", code)
        accounts.append((f"{code.lower()}.custody{DEMO_DOMAIN}", f"custody_officer of {code}: sites, licences and "
                                                                 "custody events"))
    re_export = _ensure_custody(now)
    _grant("wgs@demo.kpcs", "wgs_analyst")
    accounts.append(("wgs@demo.kpcs", "wgs_analyst: Working Group on Statistics, runs the findings workflow"))
    out.print("\n[bold]Demo data loaded.[/bold] Accounts (password for all: "
              f"[bold]{PASSWORD}[/bold]):", highlight=False)
    for email, what in accounts:
        out.print(f"  {email:28} {what}", highlight=False)
    out.print(f"\nSign in at {base_url}/login/ , or make an API token:\n"
              "  kpcs token create bw.officer@demo.kpcs\n"
              f"  curl -H 'Authorization: Bearer <token>' {base_url}/api/v1/certificates\n"
              "Exporters and importers registered: licence <CODE>-EXP-0001 and <CODE>-IMP-0001 for "
              + ", ".join(DEMO_PARTICIPANTS), highlight=False)
    out.print("Peer review: a review visit to RU with its team, published report and recommendations (one closed, one "
              "open), and one to ZA whose report awaits publication with South Africa's comment, at "
              f"{base_url}/reviews/ (sign in as wgs@demo.kpcs, chair@demo.kpcs or za.delegate@demo.kpcs) and "
              f"{base_url}/reviews/published.", highlight=False)
    out.print(f"Governance: last November's Plenary with three adopted decisions (one gives the UAE's "
              f"certificates a {POLICY_CONFIRMATION_DAYS}-day confirmation deadline, "
              f"{base_url}/participants/{POLICY_PARTICIPANT})"
              f" and a written procedure in progress at {base_url}/governance/decisions (sign in as "
              "chair@demo.kpcs, bw.delegate@demo.kpcs or observer@demo.kpcs to see proposals and take positions); "
              f"the five working groups with their members at {base_url}/governance/working-groups; South Sudan's "
              f"application (illustrative), circulated and awaiting the committee, at {base_url}/governance/"
              "applications (the Chair, delegates and observers).", highlight=False)
    out.print(f"Statistics: 10 years of generated figures for 30 participants, with customs HS 7102 values "
              f"generated from them (GET /api/v1/statistics/customs); {findings} finding(s) from the anomaly analysis "
              "(kpcs analyse, GET /api/v1/findings; the customs cross-check: rule customs-mirror-discrepancy).",
              highlight=False)
    if re_export:
        out.print(f"Custody: BW's Orapa mine and Motloutse river diggers and ZA's Venetia mine, through dealers and "
                  f"exporters into the EU, re-exported to CH as certificate {re_export}; see {base_url}/custody/ "
                  "(sign in as bw.custody@demo.kpcs, za.custody@demo.kpcs or eu.custody@demo.kpcs) and trace it "
                  f"back to the mines: kpcs trace --certificate '{re_export}'", highlight=False, soft_wrap=True)
