"""Fixtures for the registry's people tests: what the audit log was asked to record."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every audit entry written during the test, with the payload its hash was made from."""
    from kpcs.audit import rules as audit_rules
    from kpcs.audit import services as audit

    entries: list[dict[str, Any]] = []
    real = audit.record

    def spy(**kwargs: Any) -> Any:
        entry = real(**kwargs)
        assert entry.payload_hash == audit_rules.payload_hash(kwargs.get("payload"))
        entries.append(kwargs)
        return entry

    monkeypatch.setattr(audit, "record", spy)
    return entries


def of(entries: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["action"] == action]
