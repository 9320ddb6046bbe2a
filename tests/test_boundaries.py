"""Boundaries between apps (issue 10 item 7; docs/decisions.md, "Boundaries between apps (issue 10 item 7)").

An AST scan of src/kpcs, every import counted wherever it sits (module level or inside a function):

* statistics and monitoring read certificates only through `kpcs.certificates.selectors` (and handle the events it
  publishes, `kpcs.certificates.events`), never its models, services or rules (nor its tables by name:
  `apps.get_model`, `import_module`);
* statistics never imports monitoring; monitoring reads statistics only through `statistics.selectors` and the pure
  `statistics.rules`;
* no app's module imports another app's `models`, except the registry's (the participants, operators and
  authorities every app's rows point to), nor another app's pages (what pages share is in `kpcs.web`);
* the node has one function that reads HS codes (`registry.rules.normalise_hs`) and one list of the codes in scope.

The scanner is tested on made-up modules first, so that a rule that could never fire does not pass unnoticed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "kpcs"
APPS = frozenset(p.name for p in SRC.iterdir() if (p / "apps.py").exists())
SHARED_MODELS = frozenset({"registry"})  # whose models other apps may import (foreign keys to participants…)
# What certificates publishes to other apps: its reads, and the events of its changes (handled by statistics in the
# certificate's transaction; branch events).
CERTIFICATES_PUBLISHED = frozenset({"selectors", "events"})
HS_FUNCTION = re.compile(r"(?i)^_?(normali[sz]e_?hs|hs_?normali[sz]e|hs|parse_hs|clean_hs|hs_code)$")
HS_HOME = ("registry/rules.py", "normalise_hs")


@dataclass(frozen=True)
class Imported:
    where: str  # path under src/kpcs and line
    app: str  # the importing module's app
    target: str  # the dotted name imported: kpcs.<app>[.<module>[.<name>]]

    @property
    def target_app(self) -> str | None:
        parts = self.target.split(".")
        return parts[1] if len(parts) > 1 and parts[0] == "kpcs" and parts[1] in APPS else None

    @property
    def target_module(self) -> str | None:
        """The module of the app imported (None: the app's package itself, which reaches every module)."""
        parts = self.target.split(".")
        return parts[2] if len(parts) > 2 else None


def _package(rel: Path) -> list[str]:
    """The package a module under src/kpcs belongs to, for relative imports."""
    return ["kpcs", *rel.parts[:-1]]


def imports_of(source: str, rel: Path) -> Iterator[Imported]:
    """Every name a module imports from kpcs, as a dotted path; calls that import or look up models by name count."""
    app = rel.parts[0] if rel.parts[0] in APPS else ""
    for node in ast.walk(ast.parse(source)):
        where = f"{rel}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Imported(where, app, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package(rel)[: len(_package(rel)) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                yield Imported(where, app, f"{base}.{alias.name}")
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name in ("import_module", "__import__") and args:
                yield Imported(where, app, args[0])
            elif name == "get_model" and args:
                label = args[0].split(".")[0]
                yield Imported(where, app, f"kpcs.{'statistics' if label == 'kp_statistics' else label}.models")


def modules() -> Iterator[tuple[Path, str]]:
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if "migrations" in rel.parts:  # historical models, frozen with their migration
            continue
        yield rel, path.read_text(encoding="utf-8")


def violations(found: Iterator[Imported]) -> list[str]:
    out = []
    for i in found:
        to, module = i.target_app, i.target_module
        if not i.app or to is None or to == i.app:
            continue
        if i.app in ("statistics", "monitoring") and to == "certificates" and module not in CERTIFICATES_PUBLISHED:
            out.append(f"{i.where}: {i.app} reads certificates through certificates.selectors (and its events) only, "
                       f"not {i.target}")
        elif i.app == "statistics" and to == "monitoring":
            out.append(f"{i.where}: statistics never imports monitoring ({i.target})")
        elif i.app == "monitoring" and to == "statistics" and module not in ("selectors", "rules"):
            out.append(f"{i.where}: monitoring reads statistics through statistics.selectors and statistics.rules "
                       f"only, not {i.target}")
        elif module == "models" and to not in SHARED_MODELS:
            out.append(f"{i.where}: {i.app} imports another app's models ({i.target})")
        elif module is not None and (module == "views" or module.endswith("_views")) and to != "web":
            out.append(f"{i.where}: {i.app}'s pages use another app's pages ({i.target}); shared helpers are in "
                       "kpcs.web")
    return out


def hs_functions(source: str, rel: Path) -> list[str]:
    return [f"{rel}:{node.lineno} {node.name}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and HS_FUNCTION.match(node.name)]


def hs_lists(source: str, rel: Path) -> list[str]:
    """Literal tuples, lists or sets naming every code in scope: a second copy of the list. (Not the values of an
    unpacking, `A, B, C = "7102.31", "7102.21", "7102.10"`: names for single codes.)"""
    in_scope = {"7102.10", "7102.21", "7102.31"}
    tree = ast.parse(source)
    unpacked = {id(n.value) for n in ast.walk(tree)
                if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Tuple)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and id(node) not in unpacked:
            values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            if in_scope <= values:
                out.append(f"{rel}:{node.lineno}")
    return out


# --- the scanner finds what it must ----------------------------------------------------------------------------

@pytest.mark.parametrize(("rel", "source"), [
    ("statistics/services.py", "from kpcs.certificates.models import Certificate"),
    ("statistics/services.py", "from kpcs.certificates import models"),
    ("statistics/services.py", "from kpcs.certificates import selectors, services"),
    ("statistics/published.py", "import kpcs.certificates.models as m"),
    ("statistics/views.py", "from kpcs import certificates"),
    ("monitoring/services.py", "def scan():\n    from kpcs.certificates.models import Certificate\n"),
    ("monitoring/services.py", "from kpcs.certificates.rules import HS_IN_SCOPE"),
    ("monitoring/services.py", "from django.apps import apps\nC = apps.get_model('certificates', 'Certificate')"),
    ("monitoring/services.py", "import importlib\nm = importlib.import_module('kpcs.certificates.models')"),
    ("statistics/rules.py", "from kpcs.monitoring.rules import Fact"),
    ("statistics/selectors.py", "from kpcs.monitoring import rules"),
    ("statistics/services.py", "def f():\n    from kpcs.monitoring import services\n"),
    ("monitoring/services.py", "from kpcs.statistics import services as statistics"),
    ("monitoring/views.py", "from kpcs.statistics.views import error_page"),
    ("monitoring/services.py", "from kpcs.statistics.models import Figure"),
    ("governance/services.py", "from kpcs.monitoring.models import Finding"),
    ("custody/services.py", "from kpcs.certificates.models import Certificate"),
    ("certificates/services.py", "from kpcs.statistics.models import TradeCell"),
    ("statistics/api.py", "from ..monitoring import rules"),
    ("governance/views.py", "from kpcs.statistics.views import error_page, parse_year"),
    ("custody/views.py", "from kpcs.certificates.pdf_views import certificate_pdf"),
])
def test_the_scan_finds_a_forbidden_import(rel: str, source: str) -> None:
    assert violations(imports_of(source, Path(rel)))


@pytest.mark.parametrize(("rel", "source"), [
    ("statistics/services.py", "from kpcs.certificates import selectors as certificates"),
    ("statistics/selectors.py", "from kpcs.certificates.selectors import EXPORTED"),
    ("statistics/handlers.py", "from kpcs.certificates import events as certificate_events"),
    ("monitoring/services.py", "from kpcs.statistics import selectors, rules"),
    ("monitoring/rules.py", "from kpcs.statistics.rules import Fact, YearlyView"),
    ("monitoring/models.py", "from kpcs.registry.models import Participant"),
    ("statistics/services.py", "from kpcs.statistics.models import Figure\nfrom . import rules"),
    ("cli/statistics.py", "from kpcs.monitoring import services"),  # the command line is an edge, not an app
    ("demo.py", "from kpcs.certificates.models import Certificate"),
    ("monitoring/views.py", "from kpcs.web.pages import error_page, parse_participant"),
])
def test_the_scan_lets_the_allowed_imports_through(rel: str, source: str) -> None:
    assert violations(imports_of(source, Path(rel))) == []


def test_the_scan_finds_a_second_hs_function_and_a_second_list() -> None:
    source = ('def normalize_hs(code):\n    return code\n\n'
              'def _hs(text):\n    return text\n\nCODES = ("7102.10", "7102.21", "7102.31")\n'
              'GEM, INDUSTRIAL, UNSORTED = "7102.31", "7102.21", "7102.10"\n'
              'OK = set(["7102.31", "7102.21", "7102.10"])\n')
    assert len(hs_functions(source, Path("statistics/rules.py"))) == 2
    assert hs_lists(source, Path("statistics/rules.py")) == ["statistics/rules.py:7", "statistics/rules.py:9"]


# --- the node as it is --------------------------------------------------------------------------------------------

def test_the_apps_are_where_the_scan_looks() -> None:
    assert {"certificates", "statistics", "monitoring", "registry", "custody"} <= APPS


def test_no_app_crosses_a_boundary() -> None:
    found = [v for rel, source in modules() for v in violations(imports_of(source, rel))]
    assert found == []


def test_statistics_and_monitoring_read_certificates_through_its_selectors() -> None:
    """Not vacuous: both apps do read certificates, and only through the selectors."""
    reads = {(i.app, i.target_module) for rel, source in modules() for i in imports_of(source, rel)
             if i.app in ("statistics", "monitoring") and i.target_app == "certificates"}
    assert {("statistics", "selectors"), ("monitoring", "selectors")} <= reads <= {
        ("statistics", "selectors"), ("monitoring", "selectors"), ("statistics", "events"), ("monitoring", "events")}


def test_one_hs_function_and_one_list_of_codes_in_scope() -> None:
    functions = [f for rel, source in modules() for f in hs_functions(source, rel)]
    assert len(functions) == 1 and functions[0].startswith(HS_HOME[0]) and functions[0].endswith(HS_HOME[1])
    lists = [x for rel, source in modules() for x in hs_lists(source, rel)]
    assert len(lists) == 1 and lists[0].startswith(HS_HOME[0])
