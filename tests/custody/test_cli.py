"""`kpcs custody import` (all or nothing, a bad line named) and `kpcs trace --parcel`, in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kpcs.cli import app
from kpcs.custody import rules
from kpcs.custody.models import CustodyEvent, Parcel
from tests.custody.conftest import WARRANTY, World

pytestmark = pytest.mark.django_db


def kpcs(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    result.text = " ".join((result.stdout + result.stderr).split())
    return result


def lines(world: World, bad_buyer: bool = False) -> list[dict[str, Any]]:
    return [
        {"type": "production", "site": world.alluvial.pk, "occurred_at": "2025-03-03T08:00:00Z",
         "produced": [{"carats": "4.00", "value_usd": "400.00", "hs_code": "7102.31"},
                      {"carats": "6.00", "value_usd": "600.00", "hs_code": "7102.31"}]},
        {"type": "transfer", "parcels": ["@1.2"], "seller": world.digger.pk,
         "buyer": world.digger.pk if bad_buyer else world.dealer.pk, "invoice": "B-17", "warranty": WARRANTY,
         "occurred_at": "2025-03-03T12:00:00Z"},
        {"type": "split", "parcels": ["@2"], "into": [{"carats": "1.00"}, {"carats": "5.00"}],
         "occurred_at": "2025-03-03T13:00:00Z"},
    ]


def test_import_json_lines_then_trace(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kpcs.cli import common

    monkeypatch.setattr(common.out, "width", 250)  # the console's width was read at import (COLUMNS differs per run)
    path = tmp_path / "day.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in lines(world)) + "\n")
    result = kpcs("custody", "import", str(path), "--user", "custody@bw.test")
    assert result.exit_code == 0, result.text
    assert "recorded 3 custody events" in result.text
    piece = Parcel.objects.filter(created_by__type="split").order_by("pk").first()
    assert piece is not None and piece.carats_centi == 100
    traced = kpcs("trace", "--parcel", str(piece.pk), "--format", "json")
    assert traced.exit_code == 0, traced.text
    doc = json.loads(traced.stdout)
    assert doc["origins"][0]["carats"] == "1.00" and doc["origins"][0]["site"]["name"] == "Lerala river"
    assert [s["type"] for s in doc["path"]] == ["split", "transfer", "production"]
    table = kpcs("trace", "--parcel", str(piece.pk))
    assert table.exit_code == 0 and "Lerala river" in table.text and "BW-DIG-1" in table.text


def test_a_bad_line_is_named_and_nothing_is_kept(world: World, tmp_path: Path) -> None:
    path = tmp_path / "day.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in lines(world, bad_buyer=True)) + "\n")
    result = kpcs("custody", "import", str(path))
    assert result.exit_code == 1
    assert "line 2" in result.text and "INT-08" in result.text and "nothing was imported" in result.text
    assert not CustodyEvent.objects.exists() and not Parcel.objects.exists()


def test_import_csv(world: World, tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text("type,occurred_at,site,parcels,seller,buyer,carats,value_usd,hs_code,invoice,warranty,reason\n"
                    f"production,2025-03-03T08:00:00Z,{world.mine.pk},,,,12.50,900.00,7102.21,,,\n"
                    f"transfer,2025-03-03T09:00:00Z,,@2,{world.mine_op.pk},{world.dealer.pk},2.50,,,I-1,"
                    f"\"{WARRANTY}\",\n"
                    "loss,2025-03-03T10:00:00Z,,@3,,,,,,,,fell in the river\n")
    result = kpcs("custody", "import", str(path))
    assert result.exit_code == 0, result.text
    assert list(CustodyEvent.objects.order_by("pk").values_list("type", flat=True)) == [
        "production", "split", "transfer", "loss"]
    assert Parcel.objects.get(status="held").carats_centi == 1000


def test_unreadable_files_are_refused_naming_the_line() -> None:
    with pytest.raises(rules.LineError) as exc:
        rules.read_events(b'{"type": "loss"}\n[1]\n')
    assert exc.value.line == 2
    with pytest.raises(rules.LineError):
        rules.read_events(b"type,colour\nloss,red\n", "x.csv")
    with pytest.raises(rules.LineError) as exc:
        rules.resolve_refs({"parcels": ["@9"]}, 3, {1: [5]})
    assert exc.value.line == 3
    assert rules.resolve_refs({"parcels": ["@1", 7, "@2.2"]}, 3, {1: [5, 6], 2: [8, 9]})["parcels"] == [5, 6, 7, 9]


def test_import_is_bulk_by_default_and_one_by_one_on_request(world: World, tmp_path: Path) -> None:
    from kpcs.audit.models import AuditEntry
    from kpcs.custody.models import CustodyBatch

    path = tmp_path / "day.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in lines(world)) + "\n")
    assert kpcs("custody", "import", str(path)).exit_code == 0
    batch = CustodyBatch.objects.get()
    assert (batch.events, batch.filename) == (3, "day.jsonl")
    assert AuditEntry.objects.filter(action="custody.imported", object_id=str(batch.pk)).count() == 1
    assert not AuditEntry.objects.filter(object_type="custody_event").exists()
    second = tmp_path / "again.jsonl"
    second.write_text("\n".join(json.dumps(e) for e in lines(world)) + "\n")
    result = kpcs("custody", "import", str(second), "--one-by-one")
    assert result.exit_code == 0 and "recorded 3 custody events" in result.text
    assert CustodyBatch.objects.count() == 1
    assert AuditEntry.objects.filter(object_type="custody_event").count() == 3
