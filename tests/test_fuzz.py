"""Bad input never gets a 5xx: every operation of the OpenAPI document, fed random bodies and parameters
(BRIEF §7). Hypothesis generates the junk; each answer must be a JSON error or a success, never a trace."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=20)
    | st.sampled_from(["BW", "EU", "7102.31", "1250.40", "-1", "2025-Q1", "2025-13-40", "mixed", "", "0"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["importing_participant", "exporter", "importer", "origin", "lines", "hs_code", "carats",
                         "value_usd", "parcels", "totals", "reason", "discrepancy", "kind", "found", "received_on",
                         "seals_intact", "participant", "period", "usd", "questions", "answers", "note", "year",
                         "licence", "name", "address", "valid_from", "valid_until", "expires_on", "type",
                         "parcels", "seller", "buyer", "produced", "into", "invoice", "warranty", "occurred_at",
                         "site", "operator", "holder", "region", "number"])
        | st.text(max_size=8),
        inner, max_size=6),
    max_leaves=12)
PATH_VALUE = st.sampled_from(["BW 0000001", "BW0000001", "1", "0", "-5", "99999999999999999999", "ZZ", "%00",
                              "a" * 300, "EU 00000001", "../etc", "BW%200000001"])
# Valid bodies per operation; the fuzzer breaks one field at a time so the junk reaches the rules behind
# the schema checks, not only the schema checks.
TEMPLATES: dict[str, dict[str, Any]] = {
    "/api/v1/certificates": {"importing_participant": "EU", "exporter": {"licence": "BW-EXP-1"},
                             "importer": {"name": "Y BV", "address": "Antwerp"}, "origin": "BW",
                             "lines": [{"hs_code": "7102.31", "carats": "10.00", "value_usd": "900.00",
                                        "parcels": 1}]},
    "confirmation": {"received_on": "2026-01-02", "parcels": 1, "carats": "10.00", "seals_intact": True},
    "rejection": {"reason": "seal", "discrepancy": {"kind": "content_mismatch", "found": {"carats": "9.00"}}},
    "cancellation": {"reason": "postponed"},
    "/api/v1/operators": {"participant": "BW", "name": "X", "address": "Y", "kind": "exporter", "licence": "L-9",
                          "valid_from": "2025-01-01"},
    "/api/v1/statistics/production": {"participant": "BW", "period": "2025-H1", "carats": "1.00", "usd": "1.00"},
    "/api/v1/statistics/annual-reports": {"participant": "BW", "year": 2025},
    "clarification-request": {"questions": ["Why?"]},
    "answer": {"answers": ["Because."]},
    "closure": {"note": "explained"},
    "escalation": {"note": "unexplained"},
    "/api/v1/findings/scan": {"period": "2025"},
    "/api/v1/custody/events": {"type": "transfer", "parcels": [1], "seller": 1, "buyer": 2, "invoice": "INV-1",
                               "warranty": "conflict free", "occurred_at": "2025-01-01T10:00:00Z"},
    "/api/v1/custody/licences": {"operator": 1, "kind": "mining", "number": "M-1", "valid_from": "2025-01-01"},
    "/api/v1/custody/sites": {"name": "Pit", "kind": "alluvial_area", "region": "North", "holder": 1},
}


def template_for(path: str) -> dict[str, Any] | None:
    return TEMPLATES.get(path) or TEMPLATES.get(path.rsplit("/", 1)[-1])


QUERY = st.dictionaries(st.sampled_from(["participant", "period", "status", "limit", "offset", "on", "kind",
                                         "overdue", "side", "rule", "severity", "as_of", "valid_on", "from", "to",
                                         "operator", "parcel", "site"]),
                        st.text(max_size=12) | st.sampled_from(["-1", "999999", "2025-Q1", "BW", "true"]),
                        max_size=4)


@pytest.fixture
def operations(kp: Any) -> list[tuple[str, str]]:
    doc = Client().get("/api/v1/openapi.json").json()
    return [(method.upper(), path) for path, ops in doc["paths"].items() for method in ops]


@pytest.fixture
def clients(make_user: Any, token_for: Any, bw_officer: Any) -> list[Client]:
    make_user("fuzz.wgs@test.kpcs", "wgs_analyst")
    make_user("fuzz.stats@test.kpcs", "statistics_officer", "BW")
    make_user("fuzz.custody@test.kpcs", "custody_officer", "BW")
    return [Client(headers={"Authorization": f"Bearer {token_for(email)}"})
            for email in ("bw@test.kpcs", "fuzz.wgs@test.kpcs", "fuzz.stats@test.kpcs",
                          "fuzz.custody@test.kpcs")] + [Client()]


def test_no_operation_answers_5xx_to_junk(operations: list[tuple[str, str]], clients: list[Client]) -> None:
    """Every operation gets its own share of junk (a dozen cases each), so a new route is never left out."""
    seen: set[str] = set()

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.sampled_from(clients), JSON, PATH_VALUE, QUERY, st.booleans(), st.integers(0, 20))
    def probe(op: tuple[str, str], client: Client, body: Any, value: str, query: dict[str, str], mutate: bool,
              pick: int) -> None:
        method, template = op
        path = "/api/v1" + re.sub(r"\{[^}]+\}", value.replace(" ", "%20"), template)
        valid = template_for(path)
        if mutate and valid:
            key = sorted(valid)[pick % len(valid)]
            body = {**valid, key: body}
        if method == "GET":
            resp = client.get(path, query)
        else:
            resp = client.generic(method, path, json.dumps(body), content_type="application/json")
        assert resp.status_code < 500, (method, path, body, resp.content[:300])
        if resp.status_code >= 400 and path.startswith("/api/"):
            assert "error" in resp.json(), (method, path, resp.content[:300])
        seen.add(template)

    for op in operations:
        probe(op)
    assert seen == {template for _, template in operations}
