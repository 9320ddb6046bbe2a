"""Domain errors raised by services and turned into JSON errors by the API and messages by the CLI.

Every refusal names the scheme rule it enforces (e.g. EXP-01) so an officer knows why.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 422
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, rule: str | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.rule = rule
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        details = self.details
        if self.rule:
            details = {"rule": self.rule, **(details if isinstance(details, dict) else
                                            ({"items": details} if details is not None else {}))}
        return {"error": {"code": self.code, "message": self.message, "details": details}}


class ValidationFailed(DomainError):
    """The request is well-formed but breaks a rule of the scheme (422)."""


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The object is not in a state that allows the action (e.g. already confirmed): 409."""

    status = 409
    code = "conflict"
