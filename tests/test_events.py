"""The node's domain events (issue 10 item 7): the bus (order, subclasses, one transaction) and what certificates
publish on it; a failing handler undoes the certificate's change."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import models, transaction

from kpcs import events
from kpcs.audit.models import AuditEntry
from kpcs.certificates import events as ce
from kpcs.certificates import services as certificates
from kpcs.certificates.models import Certificate, ImportConfirmation, SerialCounter
from kpcs.errors import ValidationFailed
from kpcs.statistics.models import TradeCell
from tests.conftest import certificate_request

Subscribe = Callable[[type, Callable[[Any], None]], None]


@pytest.fixture
def subscribed() -> Iterator[Subscribe]:
    """Subscribe for the length of one test."""
    added: list[tuple[type, Callable[[Any], None]]] = []

    def add(kind: type, handler: Callable[[Any], None]) -> None:
        events.subscribe(kind, handler)
        added.append((kind, handler))

    yield add
    for kind, handler in added:
        events.unsubscribe(kind, handler)


@dataclasses.dataclass(frozen=True)
class Happened:
    what: str


@dataclasses.dataclass(frozen=True)
class HappenedHere(Happened):
    where: str


def test_handlers_run_in_the_order_they_subscribed_also_for_a_base_type(db: Any, subscribed: Subscribe) -> None:
    seen: list[str] = []
    subscribed(HappenedHere, lambda e: seen.append(f"here 1 {e.what}"))
    subscribed(Happened, lambda e: seen.append(f"any {e.what}"))
    subscribed(HappenedHere, lambda e: seen.append(f"here 2 {e.where}"))
    with transaction.atomic():
        events.publish(HappenedHere("a", "b"))
        events.publish(Happened("c"))
    assert seen == ["here 1 a", "any a", "here 2 b", "any c"]


def test_subscribing_twice_runs_the_handler_once(db: Any, subscribed: Subscribe) -> None:
    seen: list[str] = []

    def handler(e: Happened) -> None:
        seen.append(e.what)

    subscribed(Happened, handler)
    subscribed(Happened, handler)  # a second ready(): still one subscription
    with transaction.atomic():
        events.publish(Happened("once"))
    assert seen == ["once"]


@pytest.mark.django_db(transaction=True)
def test_publishing_outside_a_transaction_is_refused(subscribed: Subscribe) -> None:
    seen: list[str] = []
    subscribed(Happened, lambda e: seen.append(e.what))
    with pytest.raises(RuntimeError, match="outside a transaction"):
        events.publish(Happened("loose"))
    assert seen == []


def test_statistics_then_custody_handle_the_certificates_events(db: Any) -> None:
    """Subscribed by their apps' ready(), in INSTALLED_APPS order; certificates name neither."""
    from kpcs.custody import handlers as custody
    from kpcs.statistics import handlers as statistics

    assert events.handlers_for(ce.CertificateIssued) == [statistics.on_issued]
    assert events.handlers_for(ce.CertificateConfirmed) == [statistics.on_confirmed, custody.on_confirmed]
    assert events.handlers_for(ce.CertificateCancelled) == [statistics.on_not_exported, custody.on_not_used]
    assert events.handlers_for(ce.CertificateExpired) == [statistics.on_not_exported, custody.on_not_used]
    assert events.handlers_for(ce.CertificateRejected) == [custody.on_not_used]  # a rejected shipment left
    assert events.handlers_for(ce.CertificateSignerRevoked) == [statistics.on_signer_revoked]


# --- a handler's exception undoes the use case --------------------------------------------------------

def _refuse(event: Any) -> None:
    raise ValidationFailed("refused by a handler", code="handler_refused")


def test_a_failing_handler_leaves_the_certificate_unissued(bw_officer: Any, subscribed: Subscribe) -> None:
    subscribed(ce.CertificateIssued, _refuse)  # after statistics' handler, which has counted the export
    with pytest.raises(ValidationFailed) as exc:
        certificates.issue(bw_officer, certificate_request())
    assert exc.value.code == "handler_refused"
    assert not Certificate.objects.exists()
    assert not TradeCell.objects.exclude(carats_centi=0).exists()
    assert not SerialCounter.objects.filter(last_serial__gt=0).exists()
    assert not AuditEntry.objects.filter(action="certificate.issued").exists()
    events.unsubscribe(ce.CertificateIssued, _refuse)
    cert = certificates.issue(bw_officer, certificate_request())
    assert cert.serial == 1 and TradeCell.objects.filter(flow="export").exclude(carats_centi=0).count() == 2


def test_a_failing_handler_leaves_the_certificate_unconfirmed(issued: Any, eu_officer: Any,
                                                             subscribed: Subscribe) -> None:
    subscribed(ce.CertificateConfirmed, _refuse)
    with pytest.raises(ValidationFailed):
        certificates.confirm(eu_officer, issued.number, {"parcels": 4, "carats": "1650.40", "seals_intact": True})
    assert Certificate.objects.get(pk=issued.pk).status == "issued"
    assert not ImportConfirmation.objects.exists()
    assert not TradeCell.objects.filter(flow="import").exclude(carats_centi=0).exists()
    assert not AuditEntry.objects.filter(action="certificate.confirmed").exists()


def test_a_failing_handler_leaves_the_certificate_uncancelled_and_unexpired(bw_officer: Any, kp: Any,
                                                                           subscribed: Subscribe) -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = certificates.issue(bw_officer, certificate_request(), now=when)
    subscribed(ce.CertificateCancelled, _refuse)
    subscribed(ce.CertificateExpired, _refuse)
    with pytest.raises(ValidationFailed):
        certificates.cancel(bw_officer, cert.number, {"reason": "postponed"}, now=when)
    with pytest.raises(ValidationFailed):
        certificates.expire_due(dt.date(2024, 6, 1), actor=kp.SYSTEM)
    assert Certificate.objects.get(pk=cert.pk).status == "issued"
    assert sum(TradeCell.objects.filter(flow="export").values_list("carats_centi", flat=True)) == 165040


# --- what certificates publish ---------------------------------------------------------------------------

def _plain(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    if dataclasses.is_dataclass(value):
        return all(_plain(getattr(value, f.name)) for f in dataclasses.fields(value))
    return value is None or isinstance(value, str | int | bool | dt.date) and not isinstance(value, models.Model)


def test_certificates_publish_what_changed_as_plain_values(bw_officer: Any, eu_officer: Any, kp: Any,
                                                          subscribed: Subscribe) -> None:
    seen: list[ce.CertificateEvent] = []
    subscribed(ce.CertificateEvent, seen.append)
    when = dt.datetime(2024, 12, 20, 9, tzinfo=dt.UTC)
    confirmed, rejected, cancelled, lapsed = (certificates.issue(bw_officer, certificate_request(), now=when)
                                              for _ in range(4))
    certificates.confirm(eu_officer, confirmed.number, {"parcels": 4, "carats": "1650.00", "seals_intact": True,
                                                        "received_on": "2025-01-02"}, now=when + dt.timedelta(days=13))
    certificates.reject(eu_officer, rejected.number, {"reason": "seal", "discrepancy": {"kind": "seals_broken"}},
                        now=when)
    certificates.cancel(bw_officer, cancelled.number, {"reason": "postponed"}, now=when)
    certificates.expire_due(dt.date(2025, 6, 1), actor=kp.SYSTEM)
    assert all(_plain(e) for e in seen)
    assert [(type(e).__name__, e.number, e.status_before, e.status_after) for e in seen] == [
        ("CertificateIssued", confirmed.number, "", "issued"),
        ("CertificateIssued", rejected.number, "", "issued"),
        ("CertificateIssued", cancelled.number, "", "issued"),
        ("CertificateIssued", lapsed.number, "", "issued"),
        ("CertificateConfirmed", confirmed.number, "issued", "confirmed"),
        ("CertificateRejected", rejected.number, "issued", "rejected"),
        ("CertificateCancelled", cancelled.number, "issued", "cancelled"),
        ("CertificateExpired", lapsed.number, "issued", "expired")]
    issued = seen[0]
    assert (issued.exporting, issued.importing, issued.origin, issued.issued_quarter, issued.from_custody) == (
        "BW", "EU", "BW", "2024-Q4", False)
    assert issued.lines == (ce.Line(1, "7102.31", 125040, 187560000, 3), ce.Line(2, "7102.21", 40000, 1200000, 1))
    assert (issued.total_carats_centi, issued.total_value_cents, issued.total_parcels) == (165040, 188760000, 4)
    assert issued.importer_name == "Y BV" and issued.actor == bw_officer.label and issued.at == when
    confirmation = seen[4]
    assert isinstance(confirmation, ce.CertificateConfirmed)
    assert (confirmation.received_on, confirmation.received_quarter, confirmation.parcels_found,
            confirmation.carats_found_centi, confirmation.seals_intact, confirmation.with_differences) == (
        dt.date(2025, 1, 2), "2025-Q1", 4, 165000, True, True)
    assert isinstance(seen[5], ce.CertificateRejected) and seen[5].discrepancy == "seals_broken"
    assert isinstance(seen[7], ce.CertificateExpired) and seen[7].as_of == dt.date(2025, 6, 1)
    assert seen[7].actor == kp.SYSTEM.label
    with pytest.raises(dataclasses.FrozenInstanceError):
        issued.number = "changed"  # type: ignore[misc]


def test_a_revoked_signer_is_published_and_leaves_the_statistics(bw_officer: Any, eu_officer: Any, kp: Any,
                                                                 subscribed: Subscribe) -> None:
    from kpcs.statistics import services as statistics

    seen: list[ce.CertificateEvent] = []
    subscribed(ce.CertificateSignerRevoked, seen.append)
    when = dt.datetime(2024, 12, 20, 9, tzinfo=dt.UTC)
    cert = certificates.issue(bw_officer, certificate_request(), now=when)
    certificates.confirm(eu_officer, cert.number, {"parcels": 4, "carats": "1650.40", "seals_intact": True,
                                                   "received_on": "2025-01-02"}, now=when + dt.timedelta(days=13))
    assert {f.flow for f in statistics.derived_facts()} == {"export", "import"}
    certificates.revoke_signing_key(cert.kid, "lost", when - dt.timedelta(days=1), actor=kp.SYSTEM)
    [revoked] = seen
    assert (revoked.number, revoked.kid, revoked.status_before, revoked.status_after, revoked.signer_revoked,
            revoked.received_quarter) == (cert.number, cert.kid, "confirmed", "confirmed", True, "2025-Q1")
    assert statistics.derived_facts() == [] and statistics.check_trade_cells() == 0
