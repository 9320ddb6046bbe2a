"""Hostile input meets declared limits: oversized bodies (413), out-of-range paging and dates (422), strict JSON
types, and an OpenAPI document that declares the patterns, enums and lengths the server enforces."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import assert_error, certificate_request, path_of

pytestmark = pytest.mark.django_db

LISTS = ("/participants", "/authorities", "/operators", "/certificates", "/findings", "/audit", "/reviews",
         "/reviews/published")


@pytest.fixture
def bw(api_as: Any, bw_officer: Any) -> Any:
    return api_as("bw@test.kpcs")


@pytest.fixture
def analyst(api_as: Any, make_user: Any) -> Any:
    make_user("analyst@test.kpcs", "kp_analyst")
    return api_as("analyst@test.kpcs")


@pytest.fixture
def openapi(kp: Any) -> dict[str, Any]:
    return dict(Client().get("/api/v1/openapi.json").json())


# --- bodies over the limit ----------------------------------------------------------------------------

def test_a_body_over_the_limit_is_413_before_anything_reads_it(bw: Any, issued: Any) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"reason": "x" * limit})
    for client in (bw.client, Client()):  # with a token or without: refused before authentication
        resp = client.post("/api/v1" + path_of(issued.number) + "/cancellation", body,
                           content_type="application/json", headers=bw._headers() if client is bw.client else {})
        error = assert_error(resp, 413, "body_too_large")
        assert str(limit) in error["message"]
    # Just under the limit the request is read and judged on its content.
    fits = json.dumps({"reason": "x" * (limit - 20)})
    resp = bw.client.post("/api/v1" + path_of(issued.number) + "/cancellation", fits,
                          content_type="application/json", headers=bw._headers())
    assert_error(resp, 422, "reason_required")


def _asgi_post(path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """POST through the ASGI application with a streamed body and no Content-Length (chunked transfer)."""
    from kpcs.asgi import application

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected until the response is sent
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
             "client": ("127.0.0.1", 1234), "server": ("testserver", 80)}
    asyncio.run(application(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.django_db(transaction=True)
def test_a_body_over_the_limit_without_content_length_is_413(kp: Any, token_for: Any, make_operator: Any,
                                                             make_user: Any) -> None:
    make_operator("BW", "exporter", "BW-EXP-1")
    make_user("bw@test.kpcs", "exporting_officer", "BW")
    token = token_for("bw@test.kpcs")
    chunk = b" " * 65536
    chunks = [b'{"reason": "x"'] + [chunk] * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // len(chunk) + 1) + [b"}"]
    status, body = _asgi_post("/api/v1/certificates/BW%200000001/cancellation", chunks,
                              [(b"authorization", f"Bearer {token}".encode())])
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == "body_too_large"


def test_method_not_allowed_is_json_with_allow(bw: Any) -> None:
    resp = bw.client.put("/api/v1/operators", "{}", content_type="application/json", headers=bw._headers())
    error = assert_error(resp, 405, "method_not_allowed")
    assert "GET" in resp["Allow"] and "POST" in resp["Allow"] and "PUT" in error["message"]


# --- paging and dates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", LISTS)
def test_paging_out_of_range_is_422_on_every_list(analyst: Any, path: str) -> None:
    for params in ({"offset": 2**63}, {"offset": 10**9 + 1}, {"offset": -1}, {"limit": 0}, {"limit": 501},
                   {"limit": "1e3"}):
        assert_error(analyst.get(path, **params), 422, "invalid_request")
    assert analyst.get(path, limit=500, offset=10**9).status_code == 200


def test_dates_out_of_range_are_422(analyst: Any, api_as: Any) -> None:
    anonymous = api_as(None)
    for as_of in ("0001-01-01", "9999-12-31", "1989-12-31", "2101-01-01", "0", "2025-02-30", "20250101"):
        error = assert_error(anonymous.get("/statistics/non-reporting", as_of=as_of), 422, "invalid_request")
        assert "as_of" in error["message"]
        assert_error(anonymous.get("/participants", on=as_of), 422, "invalid_request")
        assert_error(analyst.get("/statistics/compliance", participant="BW", as_of=as_of), 422, "invalid_request")
    for as_of in ("1990-01-01", "2100-12-31"):
        assert anonymous.get("/statistics/non-reporting", as_of=as_of).status_code == 200
        assert analyst.get("/statistics/compliance", participant="BW", as_of=as_of).status_code == 200


# --- strict JSON bodies and refusals that keep their rule ----------------------------------------------

def test_body_types_are_taken_as_sent(bw: Any, api_as: Any, eu_officer: Any, issued: Any) -> None:
    eu = api_as("eu@test.kpcs")
    path = path_of(issued.number) + "/confirmation"
    good = {"received_on": issued.issued_on.isoformat(), "parcels": 4, "carats": "1650.40", "seals_intact": True}
    for broken in ({"parcels": "4"}, {"parcels": True}, {"seals_intact": "yes"}, {"seals_intact": 1},
                   {"received_on": 20260101}):
        assert_error(eu.post(path, {**good, **broken}), 422, "invalid_request")
    # 4.0 is an integer in JSON Schema, and so here.
    assert eu.post(path, {**good, "parcels": 4.0}).status_code == 200


def test_a_body_is_a_json_object(api_as: Any, make_user: Any) -> None:
    make_user("wgs@test.kpcs", "wgs_analyst")
    wgs = api_as("wgs@test.kpcs")
    for body in ([None, None], [], "x", 5, None):
        resp = wgs.client.generic("POST", "/api/v1/findings/scan", json.dumps(body), content_type="application/json",
                                  headers=wgs._headers())
        assert_error(resp, 422, "invalid_request")
    assert_error(wgs.client.generic("POST", "/api/v1/findings/scan", "{", content_type="application/json",
                                    headers=wgs._headers()), 400, "bad_request")
    assert wgs.post("/findings/scan", {}).status_code == 202


def test_declared_constraints_answer_with_the_services_rule(bw: Any, make_operator: Any) -> None:
    name = {"name": "N" * 201, "address": "Antwerp"}
    assert_error(bw.post("/certificates", certificate_request(importer=name)), 422, "invalid_importer", "CERT-02")
    address = {"name": "Y BV", "address": "A" * 501}
    assert_error(bw.post("/certificates", certificate_request(importer=address)), 422, "invalid_importer", "CERT-02")
    error = assert_error(bw.post("/certificates", certificate_request(
        lines=[{"hs_code": "7102.31", "carats": "1.234", "value_usd": "1.00", "parcels": 1}])),
        422, "invalid_quantity", "CERT-02")
    assert error["details"]["field"] == "lines.0.carats"
    operator = {"participant": "BW", "name": "N" * 201, "address": "Gaborone", "kind": "exporter", "licence": "L-9",
                "valid_from": "2025-01-01"}
    assert_error(bw.post("/operators", operator), 422, "invalid", "INT-08")  # not a database error on PostgreSQL
    assert_error(bw.post("/operators", {**operator, "name": "X", "licence": "L" * 65}), 422, "invalid", "INT-08")
    assert bw.post("/operators", {**operator, "name": "N" * 200}).status_code == 201


# --- the OpenAPI document -----------------------------------------------------------------------------

def _schema(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    return dict(doc["components"]["schemas"][ref.rsplit("/", 1)[-1]])


def _param(doc: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    op = doc["paths"]["/api/v1" + path]["get"]
    return dict(next(p for p in op["parameters"] if p["name"] == name)["schema"])


def _variants(schema: dict[str, Any]) -> dict[str, Any]:
    """The non-null alternative of an optional field."""
    return next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)


def test_every_operation_declares_the_shared_errors(openapi: dict[str, Any]) -> None:
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            assert {"413", "414", "422", "429"} <= set(map(str, op["responses"])), (method, path)


def test_every_list_declares_its_paging_bounds(openapi: dict[str, Any]) -> None:
    for path in LISTS:
        assert {k: _param(openapi, path, "limit")[k] for k in ("minimum", "maximum")} == {"minimum": 1,
                                                                                           "maximum": 500}
        assert {k: _param(openapi, path, "offset")[k] for k in ("minimum", "maximum")} == {"minimum": 0,
                                                                                            "maximum": 10**9}


def test_the_document_declares_what_the_services_enforce(openapi: dict[str, Any]) -> None:
    from kpcs.certificates import rules as certificate_rules
    from kpcs.monitoring import rules as monitoring_rules
    from kpcs.registry import rules as registry_rules

    schemas = openapi["components"]["schemas"]
    line, party = schemas["LineIn"]["properties"], schemas["PartyIn"]["properties"]
    assert line["carats"]["pattern"] == line["value_usd"]["pattern"] == r"^[0-9]+(\.[0-9]{1,2})?$"
    assert line["parcels"]["minimum"] == 1 and "7102" in line["hs_code"]["pattern"]
    assert (party["name"]["maxLength"], party["address"]["maxLength"]) == (certificate_rules.MAX_NAME,
                                                                           certificate_rules.MAX_ADDRESS)
    cert = schemas["CertificateIn"]["properties"]
    assert cert["importing_participant"]["pattern"] == "^[A-Za-z]{2}$"
    assert cert["lines"]["minItems"] == 1
    for body in ("CancellationIn", "RejectionIn"):
        reason = schemas[body]["properties"]["reason"]
        assert reason["minLength"] == 1 and reason["pattern"] == r"\S"
    kinds = schemas["DiscrepancyIn"]["properties"]["kind"]["enum"]
    assert tuple(kinds) == certificate_rules.DISCREPANCY_KINDS
    assert tuple(schemas["OperatorIn"]["properties"]["kind"]["enum"]) == registry_rules.OPERATOR_KINDS
    assert tuple(_variants(_param(openapi, "/findings", "rule"))["enum"]) == monitoring_rules.RULES
    assert tuple(_variants(_param(openapi, "/findings", "severity"))["enum"]) == monitoring_rules.SEVERITIES
    period = _param(openapi, "/statistics/trade", "period")["pattern"]
    assert period == schemas["ProductionIn"]["properties"]["period"]["pattern"]
    day = _variants(_param(openapi, "/statistics/non-reporting", "as_of"))
    assert day["format"] == "date" and day["pattern"].startswith("^(199")


def test_no_two_schemas_share_a_name_in_the_document() -> None:
    """The document names its schemas by class name: two apps' classes of one name would silently become one, and
    an operation would be documented with another's answer (it happened to VerificationOut)."""
    import importlib

    from ninja import Schema
    from pydantic import BaseModel

    seen: dict[str, str] = {}
    for app in ("registry", "certificates", "statistics", "monitoring", "audit", "governance", "custody"):
        module = importlib.import_module(f"kpcs.{app}.api")
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__ \
                    and value is not Schema:
                assert name not in seen, f"{name} is defined in {seen.get(name)} and in {module.__name__}"
                seen[name] = module.__name__
