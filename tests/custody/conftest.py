"""A small custody world in Botswana: a mine and an alluvial area, licensed diggers, a dealer, an exporter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from kpcs.custody import services
from kpcs.registry.models import Operator

DAY = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)
WARRANTY = ("The diamonds herein invoiced have been purchased from legitimate sources not involved in funding "
            "conflict. The seller hereby guarantees that these diamonds are conflict free.")


@dataclass
class World:
    officer: Any
    za_officer: Any
    mine_op: Operator
    digger: Operator
    dealer: Operator
    exporter: Operator
    za_dealer: Operator
    mine: Any
    alluvial: Any

    def produce(self, *carats: str, site: Any = None, when: dt.datetime = DAY, value: str = "100.00") -> Any:
        site = site or self.mine
        req = {"type": "production", "site": site.pk, "occurred_at": when.isoformat(),
               "produced": [{"carats": c, "value_usd": value, "hs_code": "7102.31"} for c in carats]}
        return services.record_event(self.officer, req).event

    def transfer(self, parcels: list[int], seller: Operator, buyer: Operator, when: dt.datetime = DAY,
                 actor: Any = None, **extra: Any) -> Any:
        req = {"type": "transfer", "parcels": parcels, "seller": seller.pk, "buyer": buyer.pk,
               "occurred_at": when.isoformat(), "invoice": "INV-1", "warranty": WARRANTY, **extra}
        return services.record_event(actor or self.officer, req).event

    def event(self, **req: Any) -> Any:
        req.setdefault("occurred_at", DAY.isoformat())
        return services.record_event(self.officer, req).event


def outputs(event: Any) -> list[Any]:
    return list(event.outputs.order_by("pk"))


@pytest.fixture
def world(kp: Any, make_user: Any, make_operator: Any) -> World:
    since = dt.date(2020, 1, 1)
    mine_op = make_operator("BW", "miner", "BW-MIN-1", valid_from=since)
    digger = make_operator("BW", "digger", "BW-DIG-1", valid_from=since)
    dealer = make_operator("BW", "dealer", "BW-DEA-1", valid_from=since)
    exporter = make_operator("BW", "exporter", "BW-EXP-9", valid_from=since)
    za_dealer = make_operator("ZA", "dealer", "ZA-DEA-1", valid_from=since)
    officer = make_user("custody@bw.test", "custody_officer", "BW")
    za_officer = make_user("custody@za.test", "custody_officer", "ZA")
    mine = services.register_site(officer, name="Jwaneng", kind="industrial_mine", region="Southern", holder=mine_op.pk)
    alluvial = services.register_site(officer, name="Lerala river", kind="alluvial_area", region="Central",
                                      holder=digger.pk)
    return World(officer, za_officer, mine_op, digger, dealer, exporter, za_dealer, mine, alluvial)
