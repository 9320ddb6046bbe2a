"""Measures on verification (issue 8, item 4): an import ban by origin and enhanced vigilance on a neighbour, in
the Côte d'Ivoire manner, for certificates dated before, during and after; online (API and /verify/) and offline."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from kpcs.certificates import services as certificates
from kpcs.errors import ValidationFailed
from kpcs.registry.models import Measure
from tests.conftest import certificate_request, code_of, path_of

pytestmark = pytest.mark.django_db
D = dt.date
BEFORE, DURING, AFTER = D(2030, 6, 1), D(2031, 6, 1), D(2032, 6, 1)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)


def issue(kp: Any, exporting: str, day: dt.date, **overrides: Any) -> Any:
    officer = kp.Actor(f"{exporting.lower()}-officer", grants=(kp.Grant("exporting_officer", exporting,
                                                                        f"{exporting}-KPA"),))
    req = certificate_request(exporter={"licence": f"{exporting}-EXP-1"}, **{"origin": exporting, **overrides})
    return certificates.issue(officer, req, now=at(day))


def check(cert: Any) -> dict[str, Any]:
    return certificates.public_verification(cert.number, code_of(cert), today=cert.issued_on + dt.timedelta(days=1))


@pytest.fixture
def traders(kp: Any, make_operator: Any) -> Any:
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    for code in ("GH", "GN"):
        kp.create_key(f"{code}-KPA", valid_from=since, actor=kp.SYSTEM)
    for code in ("BW", "GH", "GN"):
        make_operator(code, "exporter", f"{code}-EXP-1")
    return kp


@pytest.fixture
def chair(make_user: Any, api_as: Any) -> Any:
    make_user("chair@measures.kpcs", "kp_chair")
    return api_as("chair@measures.kpcs")


def decide(chair: Any, participant: str, kind: str, start: dt.date, until: dt.date) -> None:
    made = chair.post("/decisions", {"type": "measure", "participant": participant, "procedure": "plenary",
                                     "effective_on": start.isoformat(), "until": until.isoformat(),
                                     "text": f"{kind} on {participant}", "measure": {"kind": kind}})
    assert made.status_code == 201, made.content
    assert chair.post(f"/decisions/{made.json()['id']}/adoption", {}).status_code == 200


def test_the_seed_puts_the_ivorian_neighbours_under_enhanced_vigilance(traders: Any) -> None:
    seeded = set(Measure.objects.filter(kind="enhanced_vigilance").values_list("participant_id", flat=True))
    assert seeded == {"GH", "GN", "LR", "ML"}  # Burkina Faso is not in the registry
    assert traders.seed_reference_data()["measures"] == 0  # once
    held = {when: issue(traders, "GH", day) for when, day in
            (("before", D(2005, 6, 1)), ("during", D(2010, 6, 1)), ("after", D(2015, 6, 1)))}
    for when, cert in held.items():
        answer = check(cert)
        assert answer["usable"], answer["reasons"]  # a flag, not a refusal
        assert answer["vigilance"] is (when == "during")
        if when == "during":
            assert answer["measures"] == [{"kind": "enhanced_vigilance", "participant": "GH", "origin": True,
                                           "zones": [], "from": D(2005, 12, 15), "to": D(2014, 4, 29)}]
        else:
            assert answer["measures"] == []


def test_import_ban_by_origin_and_vigilance_on_a_neighbour(traders: Any, chair: Any, api_as: Any) -> None:
    # certificates held before the decisions (a node learns of a decision after the fact): from BW with goods
    # partly mined in SL (the banned origin), and from GN (its neighbour), dated before, during and after
    mixed = {"origin": "mixed", "origin_countries": ["BW", "SL"]}
    banned = {w: issue(traders, "BW", d, **mixed) for w, d in (("before", BEFORE), ("during", DURING),
                                                                 ("after", AFTER))}
    neighbour = {w: issue(traders, "GN", d) for w, d in (("before", BEFORE), ("during", DURING), ("after", AFTER))}
    assert check(banned["during"])["measures"] == []  # verified (and cached) before the measures exist
    decide(chair, "SL", "import_ban_by_origin", D(2031, 1, 1), D(2032, 1, 1))
    decide(chair, "GN", "enhanced_vigilance", D(2031, 1, 1), D(2032, 1, 1))

    for when in ("before", "during", "after"):
        ban, vigil = check(banned[when]), check(neighbour[when])
        if when == "during":
            assert ban["measures"] == [{"kind": "import_ban_by_origin", "participant": "SL", "origin": True,
                                        "zones": [], "from": D(2031, 1, 1), "to": D(2032, 1, 1)}]
            assert not ban["usable"] and any("SPEC-01" in r for r in ban["reasons"])
            assert ban["vigilance"] is False  # the ban names the origin, not the exporter
            assert vigil["vigilance"] is True and vigil["usable"]
            assert [m["kind"] for m in vigil["measures"]] == ["enhanced_vigilance"]
        else:
            assert (ban["measures"], ban["vigilance"], vigil["measures"], vigil["vigilance"]) == ([], False, [], False)
            assert ban["usable"] and vigil["usable"]
    with pytest.raises(ValidationFailed) as refused:
        issue(traders, "BW", DURING, **mixed)
    assert refused.value.rule == "SPEC-01"

    # the same over the API: GET with the holder's code, POST with the whole document
    public = api_as(None)
    got = public.get(path_of(neighbour["during"].number) + "/verification", code=code_of(neighbour["during"])).json()
    assert got["vigilance"] is True
    assert got["measures"] == [{"kind": "enhanced_vigilance", "participant": "GN", "origin": True, "zones": [],
                                "from": "2031-01-01", "to": "2032-01-01"}]
    posted = public.post("/verification", {"jws": banned["during"].jws}).json()
    assert posted["measures"][0] | {"from": None} == {"kind": "import_ban_by_origin", "participant": "SL",
                                                        "origin": True, "zones": [], "from": None,
                                                        "to": "2032-01-01"}
    assert posted["vigilance"] is False
    # a forgery learns nothing: no measures on a document that is not genuine
    forged = public.post("/verification", {"jws": neighbour["during"].jws[:-4] + "AAAA"}).json()
    assert forged["genuine"] is False and forged["measures"] == [] and forged["vigilance"] is False


def test_compliant_zones_are_shown_with_their_zones(traders: Any, chair: Any) -> None:
    cert = issue(traders, "BW", DURING)
    made = chair.post("/decisions", {"type": "measure", "participant": "BW", "procedure": "plenary",
                                     "effective_on": "2031-01-01", "text": "Compliant zones only",
                                     "measure": {"kind": "compliant_zones_only",
                                                 "zones": [{"name": "Jwaneng", "valid_from": "2031-03-01"},
                                                           {"name": "Orapa", "valid_from": "2031-09-01"}]}}).json()
    assert chair.post(f"/decisions/{made['id']}/adoption", {}).status_code == 200
    answer = check(cert)
    assert answer["usable"]  # zones are enforced when custody lands
    assert answer["measures"] == [{"kind": "compliant_zones_only", "participant": "BW", "origin": True,
                                   "zones": ["Jwaneng"], "from": D(2031, 1, 1), "to": None}]


def test_the_verify_page_shows_vigilance_and_measures(traders: Any, chair: Any, client: Any) -> None:
    cert = issue(traders, "GN", DURING)
    decide(chair, "GN", "enhanced_vigilance", D(2031, 1, 1), D(2032, 1, 1))
    page = client.get("/verify/", {"number": cert.number, "code": code_of(cert)}).content.decode()
    assert '<span class="badge warn">Enhanced vigilance</span>' in page
    assert "Measures in force" in page and "in force from 2031-01-01 until 2032-01-01" in page
    french = client.get("/verify/", {"number": cert.number, "code": code_of(cert)},
                        HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Vigilance renforcée" in french and "Mesures en vigueur" in french
    plain = issue(traders, "GN", AFTER)
    page = client.get("/verify/", {"number": plain.number, "code": code_of(plain)}).content.decode()
    assert "Enhanced vigilance" not in page and "Measures in force" not in page


def test_offline_verify_prints_the_measures_and_the_vigilance(traders: Any, chair: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kpcs.cli import app

    cert = issue(traders, "GN", DURING)
    decide(chair, "GN", "enhanced_vigilance", D(2031, 1, 1), D(2032, 1, 1))
    (tmp_path / "list.json").write_text(json.dumps(traders.trust_list()))
    (tmp_path / "cert.jws").write_text(cert.jws)
    result = CliRunner().invoke(app, ["certificate", "verify", str(tmp_path / "cert.jws"), "--trust-list",
                                      str(tmp_path / "list.json"), "--anchor", traders.anchor()["anchor"]])
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert f"measures in force on {DURING.isoformat()} (the issue date):" in text
    assert "GN (origin) enhanced_vigilance, from 2031-01-01 to 2032-01-01" in text
    assert "ENHANCED VIGILANCE: shipments from GN" in text
