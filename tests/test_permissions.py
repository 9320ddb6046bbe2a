"""Who may do what over the API: a table of every operation × role × own/other participant.

The operations are read from the OpenAPI document, so a new route without a row in MATRIX fails this test.
Each cell is the status code the caller gets; for lists, `sees`/`blind` say whether the target is listed.
A refused call (and any read) must change nothing; a call that may change its target gets a fresh one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pycountry
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from kpcs import clock
from kpcs.audit.models import AuditEntry
from kpcs.certificates import services as certificates
from kpcs.certificates.models import Certificate
from kpcs.custody import epcis
from kpcs.custody import services as custody
from kpcs.custody.models import CustodyEvent, Licence, Parcel, Site
from kpcs.governance import admission
from kpcs.governance import services as governance
from kpcs.governance.models import Application, Decision, Position, WorkingGroupMember
from kpcs.monitoring import services as monitoring
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
from kpcs.registry import rules
from kpcs.registry.models import ApiToken, Operator, Participant
from kpcs.statistics.models import AnnualReport, CustomsFigure, Figure
from tests.conftest import PASSWORD, Api, certificate_request, code_of, path_of

pytestmark = pytest.mark.django_db

PREFIX = "/api/v1"
PUBLIC = "public"
AUTHENTICATED = "authenticated"

# Who calls: label -> (email, role, participant, authority). Own participant is BW (or EU); ZA is "other".
ROLES: dict[str, tuple[str, str, str | None, str | None] | None] = {
    "anon": None,
    "bw_exp": ("bw.exp@perm.kpcs", "exporting_officer", "BW", None),
    "bw_imp": ("bw.imp@perm.kpcs", "importing_officer", "BW", None),
    "eu_exp": ("eu.exp@perm.kpcs", "exporting_officer", "EU", "EU-BE-ANTWERP"),
    "eu_imp": ("eu.imp@perm.kpcs", "importing_officer", "EU", "EU-BE-ANTWERP"),
    "bw_stats": ("bw.stats@perm.kpcs", "statistics_officer", "BW", None),
    "za_imp": ("za.imp@perm.kpcs", "importing_officer", "ZA", None),
    "analyst": ("analyst@perm.kpcs", "kp_analyst", None, None),
    "wgs": ("wgs@perm.kpcs", "wgs_analyst", None, None),
    "admin": ("admin@perm.kpcs", "admin", None, None),
    "chair": ("chair@perm.kpcs", "kp_chair", None, None),
    "bw_del": ("bw.del@perm.kpcs", "delegate", "BW", None),
    "observer": ("observer@perm.kpcs", "observer", None, None),
    "bw_cust": ("bw.cust@perm.kpcs", "custody_officer", "BW", None),
}
HEADER = tuple(ROLES)


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # as in the OpenAPI document, without the /api/v1 prefix
    permission: str
    target: str | None  # which object the call is about (see World.path_for / World.body_for)
    cells: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.target}]" if self.target else "")


def row(method: str, path: str, permission: str, target: str | None, cells: str) -> Row:
    parsed = tuple(cells.split())
    assert len(parsed) == len(HEADER), f"{method} {path}: {len(parsed)} cells for {len(HEADER)} roles"
    assert all(c in ("sees", "blind") or c.isdigit() for c in parsed), cells
    return Row(method, path, permission, target, parsed)


# Targets: bw_eu = certificate BW→EU, za_na = certificate ZA→NA; bw_op / za_op = an operator of BW / ZA;
# bw / eu / za on a POST = the participant named in the body, on a statistics GET = the participant queried;
# bw_open / za_open = an open finding of BW / ZA, bw_asked / za_asked = one awaiting the answer to its
# questionnaire, bw_closed = a closed one (see FINDINGS).
MATRIX: tuple[Row, ...] = (
    #    anon  bw_exp bw_imp eu_exp eu_imp bw_stats za_imp analyst wgs   admin chair bw_del observer bw_cust
    row("GET", "/participants", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/participants/{code}", PUBLIC, "BW",
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/authorities", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/observers", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/trust-list", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/trust-list/anchor", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("POST", "/verification", PUBLIC, "bw_eu",
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/me", AUTHENTICATED, None,
        "401   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    # the caller's own tokens: own_token = a fresh token of the caller, other_token = one of somebody else
    row("GET", "/me/tokens", AUTHENTICATED, None,
        "401   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("POST", "/me/tokens/{prefix}/revocation", AUTHENTICATED, "own_token",
        "401   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("POST", "/me/tokens/{prefix}/revocation", AUTHENTICATED, "other_token",
        "401   404    404    404    404    404      404    404     404   404   404   404   404   404"),
    row("GET", "/operators", "operator.read", "bw_op",
        "401   sees   sees   blind  blind  sees     blind  sees    403   sees   403   403   403   sees"),
    row("GET", "/operators", "operator.read", "za_op",
        "401   blind  blind  blind  blind  blind    sees   sees    403   sees   403   403   403   blind"),
    row("GET", "/operators/{operator_id}", "operator.read", "bw_op",
        "401   200    200    404    404    200      404    200     403   200   403   403   403   200"),
    row("GET", "/operators/{operator_id}", "operator.read", "za_op",
        "401   404    404    404    404    404      200    200     403   200   403   403   403   404"),
    row("POST", "/operators", "operator.write", "bw",
        "401   201    201    403    403    403      403    403     403   403   403   403   403   403"),
    row("POST", "/operators", "operator.write", "za",
        "401   403    403    403    403    403      201    403     403   403   403   403   403   403"),
    row("POST", "/certificates", "certificate.issue", "bw",
        "401   201    403    403    403    403      403    403     403   403   403   403   403   403"),
    row("POST", "/certificates", "certificate.issue", "eu",
        "401   403    403    201    403    403      403    403     403   403   403   403   403   403"),
    row("POST", "/certificates", "certificate.issue", "za",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   403"),
    row("GET", "/certificates", "certificate.read", "bw_eu",
        "401   sees   sees   sees   sees   sees     blind  sees    403   403   403   403   403   403"),
    row("GET", "/certificates", "certificate.read", "za_na",
        "401   blind  blind  blind  blind  blind    sees   sees    403   403   403   403   403   403"),
    row("GET", "/certificates/{number}", "certificate.read", "bw_eu",
        "401   200    200    200    200    200      404    200     403   403   403   403   403   403"),
    row("GET", "/certificates/{number}", "certificate.read", "za_na",
        "401   404    404    404    404    404      200    200     403   403   403   403   403   403"),
    row("GET", "/certificates/{number}/trace", "certificate.read", "bw_eu",
        "401   200    200    200    200    200      404    200     403   403   403   403   403   403"),
    row("GET", "/certificates/{number}/trace", "certificate.read", "za_na",
        "401   404    404    404    404    404      200    200     403   403   403   403   403   403"),
    row("GET", "/certificates/{number}/verification", PUBLIC, "bw_eu",
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/certificates/{number}/verification", PUBLIC, "za_na",
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("POST", "/certificates/{number}/confirmation", "certificate.confirm", "bw_eu",
        "401   403    403    403    200    403      404    403     403   403   403   403   403   403"),
    row("POST", "/certificates/{number}/confirmation", "certificate.confirm", "za_na",
        "401   404    404    404    404    404      403    403     403   403   403   403   403   403"),
    row("POST", "/certificates/{number}/rejection", "certificate.reject", "bw_eu",
        "401   403    403    403    200    403      404    403     403   403   403   403   403   403"),
    row("POST", "/certificates/{number}/rejection", "certificate.reject", "za_na",
        "401   404    404    404    404    404      403    403     403   403   403   403   403   403"),
    row("POST", "/certificates/{number}/cancellation", "certificate.cancel", "bw_eu",
        "401   200    403    403    403    403      404    403     403   403   403   403   403   403"),
    row("POST", "/certificates/{number}/cancellation", "certificate.cancel", "za_na",
        "401   404    404    404    404    404      403    403     403   403   403   403   403   403"),
    row("GET", "/audit", "audit.read", None,
        "401   403    403    403    403    403      403    200     403   200   403   403   403   403"),
    row("GET", "/audit/verification", "audit.read", None,
        "401   403    403    403    403    403      403    200     403   200   403   403   403   403"),
    row("GET", "/audit/checkpoint", "audit.read", None,
        "401   403    403    403    403    403      403    200     403   200   403   403   403   403"),
    # statistics (STAT-01..11): bw_stats reads and submits for BW only; admin reads no statistics
    row("GET", "/statistics/trade", "statistics.read", "bw",
        "401   403    403    403    403    200      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/trade", "statistics.read", "za",
        "401   403    403    403    403    403      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/reconciliation", "statistics.read", "bw",
        "401   403    403    403    403    200      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/reconciliation", "statistics.read", "za",
        "401   403    403    403    403    403      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/production", "statistics.read", "bw",
        "401   403    403    403    403    200      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/production", "statistics.read", "za",
        "401   403    403    403    403    403      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/compliance", "statistics.read", "bw",
        "401   403    403    403    403    200      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/compliance", "statistics.read", "za",
        "401   403    403    403    403    403      403    200     200   403   403   403   403   403"),
    # customs figures loaded for the customs cross-check (issue 10): read like the participant's statistics
    row("GET", "/statistics/customs", "statistics.read", "bw",
        "401   403    403    403    403    200      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/customs", "statistics.read", "za",
        "401   403    403    403    403    403      403    200     200   403   403   403   403   403"),
    row("GET", "/statistics/non-reporting", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("POST", "/statistics/production", "statistics.submit", "bw",
        "401   403    403    403    403    201      403    403     403   403   403   403   403   403"),
    row("POST", "/statistics/production", "statistics.submit", "za",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   403"),
    row("POST", "/statistics/annual-reports", "statistics.submit", "bw",
        "401   403    403    403    403    201      403    403     403   403   403   403   403   403"),
    row("POST", "/statistics/annual-reports", "statistics.submit", "za",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   403"),
    # findings: another participant's finding does not exist for a statistics officer (404)
    row("GET", "/findings", "finding.read", "bw_open",
        "401   403    403    403    403    sees     403    sees    sees  403   403   403   403   403"),
    row("GET", "/findings", "finding.read", "za_open",
        "401   403    403    403    403    blind    403    sees    sees  403   403   403   403   403"),
    row("GET", "/findings/{finding_id}", "finding.read", "bw_open",
        "401   403    403    403    403    200      403    200     200   403   403   403   403   403"),
    row("GET", "/findings/{finding_id}", "finding.read", "za_open",
        "401   403    403    403    403    404      403    200     200   403   403   403   403   403"),
    row("POST", "/findings/scan", "finding.manage", None,
        "401   403    403    403    403    403      403    403     202   403   403   403   403   403"),
    row("GET", "/findings/scans/{scan_id}", "finding.manage", "scan",
        "401   403    403    403    403    403      403    403     200   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/clarification-request", "finding.manage", "bw_open",
        "401   403    403    403    403    403      403    403     200   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/clarification-request", "finding.manage", "za_open",
        "401   403    403    403    403    404      403    403     200   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/clarification-request", "finding.manage", "bw_asked",
        "401   403    403    403    403    403      403    403     409   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/answer", "finding.answer", "bw_asked",
        "401   403    403    403    403    200      403    403     403   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/answer", "finding.answer", "za_asked",
        "401   403    403    403    403    404      403    403     403   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/answer", "finding.answer", "bw_open",
        "401   403    403    403    403    409      403    403     403   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/closure", "finding.manage", "bw_asked",
        "401   403    403    403    403    403      403    403     200   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/closure", "finding.manage", "za_open",
        "401   403    403    403    403    404      403    403     200   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/closure", "finding.manage", "bw_closed",
        "401   403    403    403    403    403      403    403     409   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/escalation", "finding.manage", "bw_open",
        "401   403    403    403    403    403      403    403     200   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/escalation", "finding.manage", "za_asked",
        "401   403    403    403    403    404      403    403     200   403   403   403   403   403"),
    row("POST", "/findings/{finding_id}/escalation", "finding.manage", "bw_closed",
        "401   403    403    403    403    403      403    403     409   403   403   403   403   403"),
    # an escalated finding becomes a review mission: the WGS reads findings and manages reviews; the secretariat
    # and the Chair manage reviews but read no findings
    row("POST", "/findings/{finding_id}/review-mission", "review.manage", "bw_escalated",
        "401   403    403    403    403    403      403    403     201   403   403   403   403   403"),
    # peer review (MON-02..MON-08): the reviewed participant's statistics officers and delegate read its reviews;
    # the Chair, the WGS (for the Working Group on Monitoring) and the secretariat run the cycle; observers read
    # only what the public reads (see REVIEWS for the targets)
    row("GET", "/reviews", "review.read", "bw_planned",
        "401   403    403    403    403    sees     403    sees    sees  sees   sees  sees   403   403"),
    row("GET", "/reviews", "review.read", "za_planned",
        "401   403    403    403    403    blind    403    sees    sees  sees   sees  blind  403   403"),
    row("GET", "/reviews/published", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/reviews/{review_id}", "review.read", "bw_planned",
        "401   403    403    403    403    200      403    200     200   200   200   200   403   403"),
    row("GET", "/reviews/{review_id}", "review.read", "za_planned",
        "401   403    403    403    403    404      403    200     200   200   200   404   403   403"),
    row("POST", "/reviews", "review.manage", "bw",
        "401   403    403    403    403    403      403    403     201   201   201   403   403   403"),
    row("POST", "/reviews/{review_id}/team", "review.manage", "bw_planned",
        "401   403    403    403    403    403      403    403     201   201   201   403   403   403"),
    row("POST", "/reviews/{review_id}/team", "review.manage", "za_planned",
        "401   403    403    403    403    404      403    403     201   201   201   404   403   403"),
    row("POST", "/reviews/{review_id}/visit", "review.manage", "bw_planned",
        "401   403    403    403    403    403      403    403     200   200   200   403   403   403"),
    row("POST", "/reviews/{review_id}/visit", "review.manage", "bw_published",
        "401   403    403    403    403    403      403    403     409   409   409   403   403   403"),
    row("POST", "/reviews/{review_id}/report", "review.manage", "bw_visited",
        "401   403    403    403    403    403      403    403     200   200   200   403   403   403"),
    row("POST", "/reviews/{review_id}/publication", "review.manage", "bw_submitted",
        "401   403    403    403    403    403      403    403     200   200   200   403   403   403"),
    row("POST", "/reviews/{review_id}/closure", "review.manage", "bw_published",
        "401   403    403    403    403    403      403    403     200   200   200   403   403   403"),
    row("POST", "/reviews/{review_id}/closure", "review.manage", "bw_open_rec",
        "401   403    403    403    403    403      403    403     409   409   409   403   403   403"),
    row("POST", "/reviews/{review_id}/recommendations", "review.manage", "bw_submitted",
        "401   403    403    403    403    403      403    403     201   201   201   403   403   403"),
    row("POST", "/reviews/{review_id}/recommendations/{recommendation_id}/follow-up", "review.manage",
        "bw_open_rec", "401   403    403    403    403    403      403    403     200   200   200   403   403   403"),
    row("POST", "/reviews/{review_id}/recommendations/{recommendation_id}/closure", "review.manage",
        "bw_open_rec", "401   403    403    403    403    403      403    403     200   200   200   403   403   403"),
    row("POST", "/reviews/{review_id}/recommendations/{recommendation_id}/closure", "review.manage",
        "za_planned", "401   403    403    403    403    404      403    403     404   404   404   404   403   403"),
    # MON-04: only the reviewed participant's delegate comments, while the report is with it; another
    # participant's review does not exist for it (404); before the report and once it is posted: 409
    row("POST", "/reviews/{review_id}/comments", "review.comment", "bw_submitted",
        "401   403    403    403    403    403      403    403     403   403   403   201   403   403"),
    row("POST", "/reviews/{review_id}/comments", "review.comment", "za_submitted",
        "401   403    403    403    403    404      403    403     403   403   403   404   403   403"),
    row("POST", "/reviews/{review_id}/comments", "review.comment", "bw_visited",
        "401   403    403    403    403    403      403    403     403   403   403   409   403   403"),
    row("POST", "/reviews/{review_id}/comments", "review.comment", "bw_published",
        "401   403    403    403    403    403      403    403     403   403   403   409   403   403"),
    # governance (issue 8): decisions are public once adopted; proposed = a plenary decision open to positions,
    # objected = one a ZA delegate objects to, adopted = one already adopted
    row("GET", "/decisions", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/decisions/{decision_id}", PUBLIC, "adopted",
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/chairs", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/meetings", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("GET", "/participants/{code}/history", PUBLIC, "BW",
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    row("POST", "/decisions", "decision.propose", None,
        "401   403    403    403    403    403      403    403     403   403   201   403   403   403"),
    row("POST", "/decisions/{decision_id}/positions", "decision.position", "proposed",
        "401   403    403    403    403    403      403    403     403   403   403   201   201   403"),
    row("POST", "/decisions/{decision_id}/positions", "decision.position", "adopted",
        "401   403    403    403    403    403      403    403     403   403   403   409   409   403"),
    row("POST", "/decisions/{decision_id}/adoption", "decision.adopt", "proposed",
        "401   403    403    403    403    403      403    403     403   403   200   403   403   403"),
    row("POST", "/decisions/{decision_id}/adoption", "decision.adopt", "objected",
        "401   403    403    403    403    403      403    403     403   403   409   403   403   403"),
    row("GET", "/working-groups", PUBLIC, None,
        "200   200    200    200    200    200      200    200     200   200   200   200   200   200"),
    # admission (GOV-05): received = a fresh application, circulated = one circulated to all participants
    row("GET", "/applications", "decision.read", None,
        "401   403    403    403    403    403      403    403     403   403   200   200   200   403"),
    row("POST", "/applications", "decision.propose", None,
        "401   403    403    403    403    403      403    403     403   403   201   403   403   403"),
    row("POST", "/applications/{application_id}/circulation", "decision.propose", "received",
        "401   403    403    403    403    403      403    403     403   403   200   403   403   403"),
    row("POST", "/applications/{application_id}/recommendation", "decision.propose", "circulated",
        "401   403    403    403    403    403      403    403     403   403   200   403   403   403"),
    # working groups: monitoring = the group a member is added to; wg_member = an open membership (statistics)
    row("POST", "/working-groups/{code}/members", "working_group.manage", "monitoring",
        "401   403    403    403    403    403      403    403     403   403   201   403   403   403"),
    row("POST", "/working-groups/{code}/members/{member_id}/end", "working_group.manage", "wg_member",
        "401   403    403    403    403    403      403    403     403   403   200   403   403   403"),
    # custody (issue 9): bw_x / za_x = a licence, site, event or parcel of BW / ZA; a custody officer registers
    # and records for its own participant (another's operator, site or parcel is a 404), exporting officers of
    # the participant and the KP analyst read
    row("GET", "/custody/licences", "custody.read", "bw_lic",
        "401   sees   403    blind  403    403      403    sees    403   403   403   403   403   sees"),
    row("GET", "/custody/licences", "custody.read", "za_lic",
        "401   blind  403    blind  403    403      403    sees    403   403   403   403   403   blind"),
    row("POST", "/custody/licences", "custody.register", "bw",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   201"),
    row("POST", "/custody/licences", "custody.register", "za",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   404"),
    row("GET", "/custody/sites", "custody.read", "bw_site",
        "401   sees   403    blind  403    403      403    sees    403   403   403   403   403   sees"),
    row("GET", "/custody/sites", "custody.read", "za_site",
        "401   blind  403    blind  403    403      403    sees    403   403   403   403   403   blind"),
    row("POST", "/custody/sites", "custody.register", "bw",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   201"),
    row("POST", "/custody/sites", "custody.register", "za",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   404"),
    row("GET", "/custody/sites/{site_id}/trace", "custody.read", "bw_site",
        "401   200    403    404    403    403      403    200     403   403   403   403   403   200"),
    row("GET", "/custody/sites/{site_id}/trace", "custody.read", "za_site",
        "401   404    403    404    403    403      403    200     403   403   403   403   403   404"),
    row("POST", "/custody/events", "custody.record", "bw",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   201"),
    row("POST", "/custody/events", "custody.record", "za",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   404"),
    row("GET", "/custody/events", "custody.read", "bw_ev",
        "401   sees   403    blind  403    403      403    sees    403   403   403   403   403   sees"),
    row("GET", "/custody/events", "custody.read", "za_ev",
        "401   blind  403    blind  403    403      403    sees    403   403   403   403   403   blind"),
    row("GET", "/custody/events/{event_id}", "custody.read", "bw_ev",
        "401   200    403    404    403    403      403    200     403   403   403   403   403   200"),
    row("GET", "/custody/events/{event_id}", "custody.read", "za_ev",
        "401   404    403    404    403    403      403    200     403   403   403   403   403   404"),
    row("GET", "/parcels", "custody.read", "bw_parcel",
        "401   sees   403    blind  403    403      403    sees    403   403   403   403   403   sees"),
    row("GET", "/parcels", "custody.read", "za_parcel",
        "401   blind  403    blind  403    403      403    sees    403   403   403   403   403   blind"),
    row("GET", "/parcels/{parcel_id}", "custody.read", "bw_parcel",
        "401   200    403    404    403    403      403    200     403   403   403   403   403   200"),
    row("GET", "/parcels/{parcel_id}", "custody.read", "za_parcel",
        "401   404    403    404    403    403      403    200     403   403   403   403   403   404"),
    row("GET", "/parcels/{parcel_id}/trace", "custody.read", "bw_parcel",
        "401   200    403    404    403    403      403    200     403   403   403   403   403   200"),
    row("GET", "/parcels/{parcel_id}/trace", "custody.read", "za_parcel",
        "401   404    403    404    403    403      403    200     403   403   403   403   403   404"),
    row("GET", "/custody/operators/{operator_id}/ledger", "custody.read", "bw_miner",
        "401   200    403    404    403    403      403    200     403   403   403   403   403   200"),
    row("GET", "/custody/operators/{operator_id}/ledger", "custody.read", "za_miner",
        "401   404    403    404    403    403      403    200     403   403   403   403   403   404"),
    # EPCIS 2.0 (issue 9 item 6): the export lists the events the caller reads; an import records like events
    row("GET", "/custody/epcis", "custody.read", "bw_ev",
        "401   sees   403    blind  403    403      403    sees    403   403   403   403   403   sees"),
    row("GET", "/custody/epcis", "custody.read", "za_ev",
        "401   blind  403    blind  403    403      403    sees    403   403   403   403   403   blind"),
    row("POST", "/custody/epcis", "custody.record", "bw",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   201"),
    row("POST", "/custody/epcis", "custody.record", "za",
        "401   403    403    403    403    403      403    403     403   403   403   403   403   404"),
)

ERROR_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 409: "invalid_transition"}
# Conflicts other than invalid_transition, by (target, last path segment): a review with a recommendation still
# open does not close; a comment comes only once the report is with the participant and before it is posted.
OTHER_409 = {("bw_open_rec", "closure"): "recommendations_open", ("bw_visited", "comments"): "no_report",
             ("bw_published", "comments"): "comments_closed"}
NEW_STATUS = {"confirmation": "confirmed", "rejection": "rejected", "cancellation": "cancelled"}
# Finding targets: (participant, status it is in before the call); the workflow step each action makes.
FINDINGS = {"bw_open": ("BW", "open"), "za_open": ("ZA", "open"), "bw_asked": ("BW", "clarification_requested"),
            "za_asked": ("ZA", "clarification_requested"), "bw_closed": ("BW", "closed"),
            "bw_escalated": ("BW", "escalated")}
FINDING_STEP = {"clarification-request": "clarification_requested", "answer": "answered", "closure": "closed",
                "escalation": "escalated", "review-mission": "escalated"}
# Review targets: (participant, status before the call); bw_open_rec is published with one open recommendation
# (the {recommendation_id} of its rows). The step each review action makes:
REVIEWS = {"bw_planned": ("BW", "planned"), "za_planned": ("ZA", "planned"), "bw_visited": ("BW", "visited"),
           "bw_submitted": ("BW", "report_submitted"), "bw_published": ("BW", "report_published"),
           "bw_open_rec": ("BW", "report_published"), "za_submitted": ("ZA", "report_submitted")}
REVIEW_STEP = {"visit": "visited", "report": "report_submitted", "publication": "report_published",
               "closure": "closed"}
# Query strings of the statistics reads about one participant ({code}: the target).
QUERIES = {"/statistics/trade": "participant={code}&period={year}",
           "/statistics/reconciliation": "participant={code}&period={year}",
           "/statistics/production": "participant={code}", "/statistics/compliance": "participant={code}",
           "/statistics/customs": "participant={code}"}
# Every table a call may write to: a refused call or a read must leave their counts as they were.
WRITTEN = (Certificate, Operator, Figure, CustomsFigure, AnnualReport, Finding, FindingEvent, Questionnaire, Review,
           ReviewTeamMember, Recommendation, FollowUp, ReviewComment, Decision, Position, Application,
           WorkingGroupMember, Scan, AuditEntry, Licence, Site, CustodyEvent, Parcel)
CUSTODY_LISTS = {"/custody/licences": "lic", "/custody/sites": "site", "/custody/events": "ev", "/parcels": "parcel"}
DECISIONS = ("proposed", "objected", "adopted")
APPLICATIONS = ("received", "circulated")
BYSTANDER = "bystander@perm.kpcs"  # holds tokens nobody else may revoke


def openapi_operations() -> dict[tuple[str, str], dict[str, Any]]:
    resp = Client().get(f"{PREFIX}/openapi.json")
    assert resp.status_code == 200
    ops = {}
    for path, methods in resp.json()["paths"].items():
        assert path.startswith(PREFIX), path
        for method, op in methods.items():
            if method in ("get", "post", "put", "patch", "delete"):
                ops[(method.upper(), path.removeprefix(PREFIX))] = op
    return ops


# --- the OpenAPI document ------------------------------------------------------------------------

def test_every_operation_has_rows_in_the_matrix(db: Any) -> None:
    """A new route fails here until MATRIX says who may call it (and World knows how to call it)."""
    documented = openapi_operations()
    tabled = {(r.method, r.path): r.permission for r in MATRIX}
    missing = sorted(f"{m} {p}" for m, p in set(documented) - set(tabled))
    assert not missing, "operations without a row in MATRIX:\n  " + "\n  ".join(missing)
    gone = sorted(f"{m} {p}" for m, p in set(tabled) - set(documented))
    assert not gone, "rows in MATRIX for operations that no longer exist:\n  " + "\n  ".join(gone)
    differ = sorted(f"{m} {p}: declares {op.get('x-kpcs-permission')!r}, MATRIX says {tabled[(m, p)]!r}"
                    for (m, p), op in documented.items() if op.get("x-kpcs-permission") != tabled[(m, p)])
    assert not differ, "\n".join(differ)


def test_every_role_has_a_column() -> None:
    assert {spec[1] for spec in ROLES.values() if spec} == set(rules.ROLES)


def test_every_operation_declares_its_permission(db: Any) -> None:
    known = set(rules.PERMISSIONS) | {PUBLIC, AUTHENTICATED}
    for key, op in openapi_operations().items():
        assert "x-kpcs-permission" in op, f"{key} declares no x-kpcs-permission"
        declared = op["x-kpcs-permission"]
        assert declared in known, f"{key}: unknown permission {declared!r}"
        # Public operations take no credentials; every other one requires them.
        assert bool(op.get("security")) == (declared != PUBLIC), key


def test_matrix_rows_agree_with_the_declared_permission() -> None:
    """A public row is 200 for everyone; any other row answers 401 to an anonymous caller."""
    for r in MATRIX:
        if r.permission == PUBLIC:
            assert set(r.cells) == {"200"}, r.id
        else:
            assert r.cells[0] == "401", r.id


# --- the matrix ------------------------------------------------------------------------------------

class World:
    """Users with tokens for every role, operators of BW, EU and ZA, certificates BW→EU and ZA→NA, findings
    of BW and ZA."""

    def __init__(self, kp: Any) -> None:
        users = get_user_model().objects
        self.clients: dict[str, Api] = {}
        for label, spec in ROLES.items():
            if spec is None:
                self.clients[label] = Api(None)
                continue
            email, role, participant, authority = spec
            user = users.create(username=email, email=email)
            user.set_unusable_password()
            user.save()
            kp.create_user(email, None, role, participant, authority, actor=kp.SYSTEM)
            self.clients[label] = Api(kp.create_token(email, actor=kp.SYSTEM))
        self.operators = {}
        for code in ("BW", "EU", "ZA"):
            self.operators[code.lower() + "_op"] = kp.register_operator(
                kp.SYSTEM, participant=code, name=f"{code} exporter", address=f"1 Road, {code}", kind="exporter",
                licence=f"{code}-EXP-1", valid_from=dt.date(2000, 1, 1))
        self.issuers = {
            "bw_eu": kp.Actor("bw-issuer", grants=(kp.Grant("exporting_officer", "BW", "BW-KPA"),)),
            "za_na": kp.Actor("za-issuer", grants=(kp.Grant("exporting_officer", "ZA", "ZA-KPA"),)),
        }
        self.wgs = kp.Actor("wgs-fixture", grants=(kp.Grant("wgs_analyst", None, None),))
        kp.trust_list()  # published once here; reading it later changes nothing
        self.kp = kp
        kp.create_user(BYSTANDER, PASSWORD, "kp_analyst", actor=kp.SYSTEM)
        self.custody: dict[str, int] = {}  # bw_miner, bw_lic, bw_site, bw_ev, bw_parcel and the same for za
        for code in ("BW", "ZA"):
            miner = kp.register_operator(kp.SYSTEM, participant=code, name=f"{code} mine", address=f"Pit, {code}",
                                         kind="miner", licence=f"{code}-MIN-1", valid_from=dt.date(2000, 1, 1))
            site = custody.register_site(kp.SYSTEM, name=f"{code} mine", kind="industrial_mine", region="South",
                                         holder=miner.pk)
            event = custody.record_event(kp.SYSTEM, self.production_body(site.pk)).event
            prefix = code.lower()
            self.custody.update({f"{prefix}_miner": miner.pk, f"{prefix}_site": site.pk, f"{prefix}_ev": event.pk,
                                 f"{prefix}_lic": Licence.objects.get(operator=miner).pk,
                                 f"{prefix}_parcel": event.outputs.get().pk})
        self.shared: dict[str, str] = {}
        self.recommendations: dict[str, str] = {}  # review id -> its open recommendation's id
        self.seq = 0
        self.shared: dict[str, str] = {}
        self.recommendations: dict[str, str] = {}  # review id -> its open recommendation's id
        self.seq = 0

    def certificate(self, target: str) -> str:
        if target == "bw_eu":
            req = certificate_request()
        else:
            req = certificate_request(importing_participant="NA", exporter={"licence": "ZA-EXP-1"}, origin="ZA")
        return str(certificates.issue(self.issuers[target], req).number)

    def ensure_certificate(self, target: str, fresh: bool = False) -> str:
        """The certificate a row is about; a fresh one (still issued) for every call that may change it."""
        if fresh or target not in self.shared:
            self.shared[target] = self.certificate(target)
        return self.shared[target]

    def finding(self, target: str) -> str:
        """A finding as the analysis records it, then taken through the workflow to the target's status."""
        code, status = FINDINGS[target]
        self.seq += 1
        now = clock.now()
        found = Finding.objects.create(
            fingerprint=f"volume-spike|{code}|2025|perm-{self.seq}", rule="volume-spike", participant=code,
            period="2025", severity="medium", summary=f"{code} exports of 2025, 300,000.00 ct, are 30.0× the median "
            "of the previous 3 years (10,000.00 ct).", evidence={"carats": "300000.00", "median": "10000.00"},
            first_seen=now, last_seen=now)
        FindingEvent.objects.create(finding=found, to_status="open", by="test", at=now, note="found by the analysis")
        if status == "clarification_requested":
            monitoring.request_clarification(self.wgs, found.pk, ["Where were these diamonds mined?"])
        elif status == "closed":
            monitoring.close(self.wgs, found.pk, "explained by the stock records")
        elif status == "escalated":
            monitoring.escalate(self.wgs, found.pk, "a pattern across years")
        assert Finding.objects.get(pk=found.pk).status == status
        return str(found.pk)

    def ensure_finding(self, target: str, fresh: bool = False) -> str:
        """The finding a row is about; a fresh one (in the target's status) for every call that may move it."""
        if fresh or target not in self.shared:
            self.shared[target] = self.finding(target)
        return self.shared[target]

    def review(self, target: str) -> str:
        """A review of the target's participant taken through the cycle to the target's status."""
        code, status = REVIEWS[target]
        day = clock.today() - dt.timedelta(days=30)
        r = monitoring.create_review(self.wgs, kind="visit", participant=code, mandate=f"Review of {code}",
                                     starts_on=day, ends_on=day + dt.timedelta(days=4))
        monitoring.add_team_member(self.wgs, r.pk, name="Lead", constituency="government", participant="AO",
                                   is_leader=True)
        steps = [lambda: monitoring.record_visit(self.wgs, r.pk),
                 lambda: monitoring.submit_report(self.wgs, r.pk, text="restricted full text"),
                 lambda: monitoring.publish_report(self.wgs, r.pk, public_summary="public summary")]
        for step in steps[:rules_index(status)]:
            step()
        if target == "bw_open_rec" or code == "ZA":
            x = monitoring.add_recommendation(self.wgs, r.pk, text="Install scales", owner=code,
                                              due_on=clock.today()) if status != "planned" else None
            self.recommendations[str(r.pk)] = str(x.pk) if x else "999999"
        assert Review.objects.get(pk=r.pk).status == status
        return str(r.pk)

    def ensure_review(self, target: str, fresh: bool = False) -> str:
        if fresh or target not in self.shared:
            self.shared[target] = self.review(target)
        return self.shared[target]

    def decision(self, target: str) -> str:
        """A plenary decision about ZA that changes nothing on adoption, in the state the target names."""
        d = governance.propose(self.kp.SYSTEM, type="administrative", participant="ZA", effective_on=clock.today(),
                               text="Administrative decision on the matrix", procedure="plenary")
        if target == "objected":
            governance.take_position(self.kp.SYSTEM, d.pk, "object", participant="ZA")
        elif target == "adopted":
            governance.adopt(self.kp.SYSTEM, d.pk)
        return str(d.pk)

    def ensure_decision(self, target: str, fresh: bool = False) -> str:
        if fresh or target not in self.shared:
            self.shared[target] = self.decision(target)
        return self.shared[target]

    def applicant_code(self) -> str:
        """An ISO 3166-1 code nobody in the registry holds yet: one per application."""
        taken = set(Participant.objects.values_list("code", flat=True))
        return next(c.alpha_2 for c in pycountry.countries if c.alpha_2 not in taken)

    def application(self, target: str) -> str:
        """An application received today, circulated when the target says so."""
        made = admission.submit(self.kp.SYSTEM, code=self.applicant_code(), name="Applicant",
                                applied_on=clock.today())
        if target == "circulated":
            admission.circulate(self.kp.SYSTEM, made.pk)
        return str(made.pk)

    def fresh_member_code(self) -> str:
        """A participant in no working group yet: one per membership the matrix adds, so none overlaps."""
        taken = set(WorkingGroupMember.objects.exclude(participant=None).values_list("participant_id", flat=True))
        return str(Participant.objects.exclude(code__in=taken).order_by("code").values_list("code", flat=True)[0])

    def member(self) -> str:
        """An open membership of the Working Group on Statistics since a month ago."""
        governance.seed_working_groups()
        made = admission.add_member(self.kp.SYSTEM, "statistics", participant=self.fresh_member_code(),
                                    valid_from=clock.today() - dt.timedelta(days=30))
        return str(made.pk)

    def token_prefix(self, target: str, role: str) -> str:
        """A fresh token (the caller's own, or a bystander's), so that revoking it leaves the caller's own."""
        spec = ROLES[role]
        email = spec[0] if spec and target == "own_token" else BYSTANDER
        return str(self.kp.create_token(email, actor=self.kp.SYSTEM))[:12]

    @staticmethod
    def production_body(site: int) -> dict[str, Any]:
        return {"type": "production", "site": site, "occurred_at": "2025-06-01T10:00:00Z",
                "produced": [{"carats": "10.00", "value_usd": "900.00", "hs_code": "7102.31"}]}

    def path_for(self, r: Row, fresh: bool, role: str = "anon") -> str:
        if r.target in self.custody:
            path = re.sub(r"\{(site|event|parcel|operator)_id\}", str(self.custody[r.target]), r.path)
            return path + ("?from=2025-01-01&to=2025-12-31" if path.endswith("/ledger") else "")
        if r.target in ("own_token", "other_token"):
            return r.path.replace("{prefix}", self.token_prefix(r.target, role))
        if r.target in ("bw_eu", "za_na"):
            number = self.ensure_certificate(r.target, fresh)
            path = r.path.replace("/certificates/{number}", path_of(number))
            if path.endswith("/verification") and r.method == "GET":  # the holder's code, printed on it
                path += "?code=" + code_of(Certificate.objects.get(number=number))
            return path
        if r.target in FINDINGS:
            return r.path.replace("{finding_id}", self.ensure_finding(r.target, fresh))
        if r.target == "scan":  # a scan asked for by the Working Group on Statistics, queued
            return r.path.replace("{scan_id}", str(monitoring.start_scan(self.kp.SYSTEM).pk))
        if r.target in REVIEWS:
            review = self.ensure_review(r.target, fresh)
            path = r.path.replace("{review_id}", review)
            if "{recommendation_id}" in path:
                path = path.replace("{recommendation_id}", self.recommendations[review])
            return path
        if r.target in DECISIONS:
            return r.path.replace("{decision_id}", self.ensure_decision(r.target, fresh))
        if r.target in APPLICATIONS:  # a fresh one for every call: each may move it a step
            return r.path.replace("{application_id}", self.application(r.target))
        if "{member_id}" in r.path:  # a fresh one for every call: each may end it
            return r.path.replace("{code}", "statistics").replace("{member_id}", self.member())
        if r.method == "GET" and r.path in QUERIES:
            return r.path + "?" + QUERIES[r.path].format(code=str(r.target).upper(), year=clock.today().year)
        if "{operator_id}" in r.path:
            return r.path.replace("{operator_id}", str(self.operators[str(r.target)].pk))
        if "{code}" in r.path:
            return r.path.replace("{code}", str(r.target))
        assert "{" not in r.path, f"no way to fill in {r.path}: add it to World.path_for"
        return r.path

    def body_for(self, r: Row) -> dict[str, Any]:
        self.seq += 1
        if r.path == "/operators":
            code = str(r.target).upper()
            return {"participant": code, "name": f"New {code} Ltd", "address": "2 Road", "kind": "exporter",
                    "licence": f"{code}-NEW-{self.seq}", "valid_from": "2020-01-01"}
        if r.path == "/certificates":
            importing = {"bw": "EU", "eu": "BW", "za": "NA"}[str(r.target)]
            code = str(r.target).upper()
            return certificate_request(exporting_participant=code, importing_participant=importing,
                                       exporter={"licence": f"{code}-EXP-1"})
        if r.path.endswith("/confirmation"):
            return {"received_on": clock.today().isoformat(), "parcels": 4, "carats": "1650.40",
                    "seals_intact": True}
        if r.path.endswith("/rejection"):
            return {"reason": "seals cut", "discrepancy": {"kind": "seals_broken"}}
        if r.path.endswith("/cancellation"):
            return {"reason": "withdrawn"}
        if r.path == "/verification":
            return {"jws": Certificate.objects.get(number=self.ensure_certificate(str(r.target))).jws}
        if r.path == "/statistics/production":
            return {"participant": str(r.target).upper(), "period": f"{clock.today().year}-H1",
                    "carats": "1000.00", "usd": "50000.00"}
        if r.path == "/statistics/annual-reports":
            return {"participant": str(r.target).upper(), "year": clock.today().year - 1}
        if r.path == "/findings/scan":
            return {}
        if r.path.endswith("/clarification-request"):
            return {"questions": ["Where were these diamonds mined?", "Show the stock records."]}
        if r.path.endswith("/answer"):
            return {"answers": ["Artisanal production not yet recorded"]}
        if r.path == "/reviews":
            return {"kind": "visit", "participant": str(r.target).upper(), "mandate": "Review at its invitation",
                    "starts_on": "2026-01-05", "ends_on": "2026-01-09"}
        if r.path.endswith("/team"):
            return {"name": f"Member {self.seq}", "constituency": "industry", "organisation": "WDC"}
        if r.path.endswith("/visit"):
            return {}
        if r.path.endswith("/report"):
            return {"text": "restricted full text"}
        if r.path.endswith("/publication"):
            return {"public_summary": "public summary"}
        if r.path.endswith("/recommendations"):
            return {"text": "Publish production by mine", "owner": "BW", "due_on": "2027-06-30"}
        if r.path.endswith("/follow-up"):
            return {"note": "work started", "status": "in_progress"}
        if r.path.endswith("/review-mission"):
            return {"mandate": "Assess the exports (MON-11)", "starts_on": "2026-06-01", "ends_on": "2026-06-05"}
        if r.path == "/reviews/{review_id}/closure":
            return {}
        if r.path.endswith(("/closure", "/escalation")):
            return {"note": "the stock records explain it"}
        if r.path.endswith("/comments"):
            return {"text": "Scales were ordered in May; the border post has them since September."}
        if r.path.endswith("/revocation"):
            return {}
        if r.path == "/decisions":
            return {"type": "notice", "effective_on": clock.today().isoformat(), "procedure": "plenary",
                    "text": f"Notice {self.seq}"}
        if r.path.endswith("/positions"):
            return {"position": "support", "comment": "agreed"}
        if r.path.endswith("/adoption"):
            return {}
        if r.path == "/applications":
            return {"code": self.applicant_code(), "name": f"Applicant {self.seq}",
                    "applied_on": clock.today().isoformat()}
        if r.path.endswith("/circulation"):
            return {}
        if r.path == "/working-groups/{code}/members":
            governance.seed_working_groups()
            return {"participant": self.fresh_member_code(), "role": "member", "from": clock.today().isoformat()}
        if r.path.endswith("/members/{member_id}/end"):
            return {"on": clock.today().isoformat()}
        if r.path.endswith("/recommendation"):
            return {"recommend": True, "text": "meets the minimum requirements"}
        if r.path == "/custody/licences":
            return {"operator": self.custody[f"{r.target}_miner"], "kind": "mining",
                    "number": f"{str(r.target).upper()}-LIC-{self.seq}", "valid_from": "2020-01-01"}
        if r.path == "/custody/sites":
            return {"name": f"Site {self.seq}", "kind": "industrial_mine", "region": "North",
                    "holder": self.custody[f"{r.target}_miner"]}
        if r.path == "/custody/events":
            return self.production_body(self.custody[f"{r.target}_site"])
        if r.path == "/custody/epcis":  # one production at the participant's mine
            code = str(r.target).upper()
            lot = f"urn:kpcs:parcel:XX:{self.seq}"
            return {"@context": epcis.CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
                    "creationDate": "2025-06-01T10:00:00Z", "epcisBody": {"eventList": [
                        {"type": "ObjectEvent", "action": "ADD", "eventTime": "2025-06-01T10:00:00Z",
                         "eventTimeZoneOffset": "+00:00", "bizLocation": {"id": epcis.site_uri(code, f"{code} mine")},
                         "quantityList": [{"epcClass": lot, "quantity": 10, "uom": "CTM"}],
                         "kpcs:outputs": [{"parcel": lot, "valueUSD": "900.00", "hsCode": "7102.31"}]}]}}
        raise AssertionError(f"no body for {r.id}: add it to World.body_for")

    def listed(self, r: Row, items: list[dict[str, Any]]) -> bool:
        if r.path == "/operators":
            return self.operators[str(r.target)].pk in {i["id"] for i in items}
        if r.path == "/certificates":
            return self.ensure_certificate(str(r.target)) in {i["number"] for i in items}
        if r.path == "/findings":
            return int(self.ensure_finding(str(r.target))) in {i["id"] for i in items}
        if r.path == "/reviews":
            return int(self.ensure_review(str(r.target))) in {i["id"] for i in items}
        if r.path == "/custody/epcis":
            uri = epcis.event_uri(str(r.target)[:2].upper(), self.custody[str(r.target)])
            return uri in {i["eventID"] for i in items}
        if r.path in CUSTODY_LISTS:
            return self.custody[str(r.target)] in {i["id"] for i in items}
        raise AssertionError(f"no list check for {r.id}")


def rules_index(status: str) -> int:
    """How many steps of the review cycle lead to `status`."""
    return ("planned", "visited", "report_submitted", "report_published").index(status)


@pytest.fixture
def world(kp: Any) -> World:
    return World(kp)


READ_ONLY_POSTS = {"/verification"}  # a body to check, nothing to change


def snapshot() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in WRITTEN)


def _call(world: World, r: Row, role: str) -> tuple[str, str]:
    """Make the call as `role`; return (outcome, problem with side effects or the error body)."""
    client = world.clients[role]
    mutates = r.method == "POST" and r.path not in READ_ONLY_POSTS
    path = world.path_for(r, fresh=mutates, role=role)
    before = snapshot()
    if r.method == "GET":
        listing = r.path in ("/certificates", "/operators", "/findings", "/reviews", *CUSTODY_LISTS)
        resp = client.get(path, limit=500) if listing else client.get(path)
    else:
        resp = client.post(path, world.body_for(r))
    status = resp.status_code
    problems = []
    if status >= 400:
        error = resp.json().get("error", {})
        other = OTHER_409.get((str(r.target), r.path.rsplit("/", 1)[-1]))
        wanted = (other or ERROR_CODES[409]) if status == 409 else ERROR_CODES.get(status)
        if error.get("code") != wanted:
            problems.append(f"error body {error}")
    outcome = str(status)
    if status == 200 and r.cells[HEADER.index(role)] in ("sees", "blind"):
        body = resp.json()
        items = body["items"] if "items" in body else body["epcisBody"]["eventList"]  # an EPCIS document
        outcome = "sees" if world.listed(r, items) else "blind"
    changed = snapshot() != before
    if changed and (not mutates or status >= 400):
        problems.append("a read changed the database" if not mutates else "a refused call changed the database")
    action = r.path.rsplit("/", 1)[-1]
    if mutates and r.target in ("bw_eu", "za_na"):
        stored = Certificate.objects.get(number=world.shared[r.target]).status
        expected = NEW_STATUS[action] if status == 200 else "issued"
        if stored != expected:
            problems.append(f"certificate is {stored}, expected {expected}")
    elif mutates and r.target in FINDINGS:
        stored = Finding.objects.get(pk=world.shared[r.target]).status
        expected = FINDING_STEP[action] if status == 200 else FINDINGS[r.target][1]
        if stored != expected:
            problems.append(f"finding is {stored}, expected {expected}")
    elif mutates and r.target in REVIEWS and r.path.startswith("/reviews/{review_id}/") and action in REVIEW_STEP \
            and "{recommendation_id}" not in r.path:
        stored = Review.objects.get(pk=world.shared[r.target]).status
        expected = REVIEW_STEP[action] if status == 200 else REVIEWS[r.target][1]
        if stored != expected:
            problems.append(f"review is {stored}, expected {expected}")
    elif mutates and r.target in ("own_token", "other_token"):
        revoked = ApiToken.objects.get(prefix=path.split("/")[3]).revoked_at is not None
        if revoked != (status == 200):
            problems.append(f"token {'revoked' if revoked else 'not revoked'} after {status}")
    elif mutates and status < 300 and not changed:
        problems.append(f"{status} but nothing was stored")
    return outcome, "; ".join(problems)


def test_access_matrix(world: World) -> None:
    """Every cell of MATRIX; a failure lists every wrong cell, not only the first."""
    wrong = []
    for r in MATRIX:
        for role, expected in zip(HEADER, r.cells, strict=True):
            outcome, problem = _call(world, r, role)
            if outcome != expected or problem:
                wrong.append(f"{r.id} as {role}: expected {expected}, got {outcome}"
                             + (f" ({problem})" if problem else ""))
    assert not wrong, f"{len(wrong)} cell(s) differ from MATRIX:\n  " + "\n  ".join(wrong)


# --- other ways in -----------------------------------------------------------------------------

def test_a_deactivated_user_token_is_refused(world: World) -> None:
    client = world.clients["eu_imp"]
    assert client.get("/me").status_code == 200
    get_user_model().objects.filter(username="eu.imp@perm.kpcs").update(is_active=False)
    assert client.get("/me").status_code == 401
    assert client.get("/certificates").status_code == 401


def test_session_callers_need_the_csrf_token_to_change_anything(world: World) -> None:
    number = world.certificate("bw_eu")
    user = get_user_model().objects.get(username="eu.imp@perm.kpcs")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    me = browser.get(f"{PREFIX}/me")
    assert me.status_code == 200 and me.json()["actor"].startswith("eu.imp@perm.kpcs")
    assert browser.get(f"{PREFIX}{path_of(number)}").status_code == 200
    body = {"received_on": clock.today().isoformat(), "parcels": 4, "carats": "1650.40", "seals_intact": True}
    url = f"{PREFIX}{path_of(number)}/confirmation"
    refused = browser.post(url, body, content_type="application/json")
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "forbidden"
    assert Certificate.objects.get(number=number).status == "issued"
    browser.get("/login/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    done = browser.post(url, body, content_type="application/json", headers={"X-CSRFToken": token})
    assert done.status_code == 200, done.content
    assert Certificate.objects.get(number=number).status == "confirmed"

