"""The data migration gives every operator registered before custody its one licence, kind mapped, once."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.apps import apps

from kpcs.custody.models import Licence

pytestmark = pytest.mark.django_db
migration = importlib.import_module("kpcs.custody.migrations.0002_licences_from_operators")


def test_existing_operators_get_their_licence(kp: Any, make_operator: Any) -> None:
    kinds = {"exporter": "exporting", "importer": "importing", "miner": "mining", "digger": "digging",
             "buyer": "buying", "dealer": "dealing", "agent": "agent", "courier": "courier"}
    ops = {kind: make_operator("NA", kind, f"NA-{kind}", valid_until=dt.date(2030, 1, 1)) for kind in kinds}
    Licence.objects.all().delete()  # as before custody existed
    migration.licences_from_operators(apps, None)
    migration.licences_from_operators(apps, None)  # run again: nothing twice
    got = {lic.operator_id: lic for lic in Licence.objects.all()}
    assert len(got) == len(kinds)
    for kind, op in ops.items():
        lic = got[op.pk]
        assert (lic.kind, lic.number, lic.participant_id, lic.valid_from, lic.valid_until) == (
            kinds[kind], op.licence, "NA", op.valid_from, dt.date(2030, 1, 1))
    migration.forget_migrated(apps, None)
    assert not Licence.objects.exists()


def test_the_migration_maps_every_operator_kind_as_custody_does() -> None:
    from kpcs.custody import rules
    from kpcs.registry.rules import OPERATOR_KINDS

    assert migration.KINDS == rules.OPERATOR_KIND_TO_LICENCE
    assert set(migration.KINDS) == set(OPERATOR_KINDS)
    assert set(migration.KINDS.values()) == set(rules.LICENCE_KINDS)
