"""Replaying the Republic of Congo, Venezuela and the Central African Republic as decisions through the API:
certificates dated before, during and after, for exports and imports, verified online and offline."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kpcs.certificates import services as certificates
from kpcs.errors import ValidationFailed
from kpcs.registry.models import ParticipantStatus
from tests.conftest import certificate_request

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
D = dt.date

# (participant, its partner, dates before / during / after, whether "after" still flags a measure)
CASES = {
    "CG": (D(2004, 1, 15), D(2005, 6, 1), D(2008, 1, 15)),
    "VE": (D(2008, 3, 1), D(2012, 6, 1), D(2017, 1, 15)),
    "CF": (D(2013, 3, 1), D(2014, 6, 1), D(2016, 1, 15)),
}


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)


def officer(kp: Any, code: str) -> Any:
    return kp.Actor(f"{code.lower()}-officer", grants=(kp.Grant("exporting_officer", code, f"{code}-KPA"),))


def issue(kp: Any, exporting: str, importing: str, day: dt.date) -> Any:
    req = certificate_request(importing_participant=importing, exporter={"licence": f"{exporting}-EXP-1"},
                              origin=exporting)
    return certificates.issue(officer(kp, exporting), req, now=at(day))


def decide(chair: Any, body: dict[str, Any]) -> None:
    made = chair.post("/decisions", {"procedure": "plenary", "text": body["type"], **body})
    assert made.status_code == 201, made.content
    adopted = chair.post(f"/decisions/{made.json()['id']}/adoption", {})
    assert adopted.status_code == 200, adopted.content


def test_replay(kp: Any, make_user: Any, make_operator: Any, api_as: Any, tmp_path: Path) -> None:
    ParticipantStatus.objects.filter(participant_id__in=CASES).delete()  # start from no history: replay it
    kp.bump_registry_version()
    for code in (*CASES, "BW"):
        make_operator(code, "exporter", f"{code}-EXP-1")
    # Certificates dated before, during and after each case, issued while nothing was on record yet (as a
    # node that learns of a decision later would hold them), for exports from and imports into each participant.
    held = {(code, when, side): issue(kp, *((code, "BW") if side == "export" else ("BW", code)), day)
            for code, days in CASES.items() for when, day in zip(("before", "during", "after"), days, strict=True)
            for side in ("export", "import")}

    make_user("chair@replay.kpcs", "kp_chair")
    chair = api_as("chair@replay.kpcs")
    decide(chair, {"type": "removal", "participant": "CG", "effective_on": "2004-07-09"})
    decide(chair, {"type": "readmission", "participant": "CG", "effective_on": "2007-11-08"})
    decide(chair, {"type": "self_suspension", "participant": "VE", "effective_on": "2008-06-01"})
    decide(chair, {"type": "readmission", "participant": "VE", "effective_on": "2016-11-17"})
    decide(chair, {"type": "suspension", "participant": "CF", "effective_on": "2013-05-23"})
    decide(chair, {"type": "readmission", "participant": "CF", "effective_on": "2015-07-17",
                   "text": "Resumption of exports from compliant zones"})
    decide(chair, {"type": "measure", "participant": "CF", "effective_on": "2015-07-17", "until": "2024-11-15",
                   "measure": {"kind": "compliant_zones_only", "scope": "exports",
                               "zones": [{"name": "Berberati", "valid_from": "2016-01-01"}]}})

    public = api_as(None)
    assert public.get("/participants/CG", on="2005-06-01").json()["status"] == "removed"
    assert public.get("/participants/CF", on="2016-01-15").json()["status"] == "restricted"
    assert len(public.get("/participants/CF/history").json()["statuses"]) == 2

    # issuing now, on each date: refused during, accepted before and after (EXP-01), both ways
    for code, days in CASES.items():
        for when, day in zip(("before", "during", "after"), days, strict=True):
            for exporting, importing in ((code, "BW"), ("BW", code)):
                if when == "during":
                    with pytest.raises(ValidationFailed) as refused:
                        issue(kp, exporting, importing, day)
                    assert refused.value.rule == "EXP-01"
                else:
                    assert issue(kp, exporting, importing, day).status == "issued"

    document = kp.trust_list()
    trust_list = tmp_path / "trust-list.json"
    trust_list.write_text(json.dumps(document))
    anchor = kp.anchor()["anchor"]
    from kpcs.cli import app

    runner = CliRunner()
    for (code, when, side), cert in held.items():
        # online: the holder's code, judged on the day after issue (not yet expired)
        answer = certificates.public_verification(cert.number, certificates.rules.verification_code(
            certificates.crypto.signature_bytes(cert.jws)), today=cert.issued_on + dt.timedelta(days=1))
        assert answer["genuine"]
        assert answer["usable"] == (when != "during"), (code, when, side, answer["reasons"])
        # offline: the same verdict from the trust list and its anchor
        jws = tmp_path / f"{code}-{when}-{side}.jws"
        jws.write_text(cert.jws)
        result = runner.invoke(app, ["certificate", "verify", str(jws), "--trust-list", str(trust_list),
                                     "--anchor", anchor])
        assert result.exit_code == (1 if when == "during" else 0), (code, when, side, result.output)
        if when == "during":
            assert "NOT ACCEPTABLE" in result.output
        if code == "CF" and when == "after" and side == "export":  # measures of the exporter and the origin
            assert "compliant_zones_only (compliant zones: Berberati)" in " ".join(result.output.split())
