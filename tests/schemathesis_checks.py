"""A schemathesis check for this API, loaded by `schemathesis.toml` (CLI) and by tests/test_schemathesis.py.

`positive_data_acceptance` is configured to accept a 422 (schemathesis.toml): a request can conform to the
OpenAPI document and still break a rule of the scheme that no schema can express (an unknown licence, a future
year, an importing participant under suspension). This check takes back the rest of what that allowance would
let through: a conforming request refused by *input validation* (code `invalid_request`) means the document
declares less than the server enforces, and fails. A refusal of conforming data must name its reason, with the
service's own code (and scheme rule where there is one).
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def refusals_name_their_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request refused with 422 must be refused by a named rule, not as invalid input."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        error = {"code": None, "message": "(not the JSON error format)"}
    if error.get("code") in ("invalid_request", None):
        raise AssertionError("A request the OpenAPI document declares valid was refused as invalid input; "
                             f"declare the constraint in the schema. The server said: {error.get('message')}")
    return None
