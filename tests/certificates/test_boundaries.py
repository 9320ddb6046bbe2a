"""Certificates publish events and leave statistics to handle them (issue 10 item 7): no module of the
certificates app imports kpcs.statistics, at the top or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import kpcs.certificates

APP = Path(kpcs.certificates.__file__).parent


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module an `import` or `from … import` names, with the names taken from a package."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def test_the_scan_sees_every_form_of_import() -> None:
    found = imported_modules(ast.parse("import kpcs.statistics.services\nfrom kpcs import statistics\n"
                                       "def f():\n    from kpcs.statistics.models import TradeCell\n"))
    assert {"kpcs.statistics.services", "kpcs.statistics", "kpcs.statistics.models"} <= found


def test_certificates_never_import_statistics() -> None:
    modules = sorted(APP.glob("*.py"))
    assert APP / "services.py" in modules
    offending = {path.name: sorted(m for m in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
                                   if m == "kpcs.statistics" or m.startswith("kpcs.statistics."))
                 for path in modules}
    assert {name: found for name, found in offending.items() if found} == {}
