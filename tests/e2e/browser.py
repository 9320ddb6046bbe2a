"""Headless Chromium for the browser tests: Debian's own binary through Playwright, never a downloaded browser.

`KPCS_BROWSER` names the binary (default: `chromium` on the PATH). Without one the browser tests are skipped,
unless `KPCS_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs Debian's chromium), where they fail.
Screenshots go to `KPCS_SCREENSHOTS` (default `artifacts/screenshots/` in the repository).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).with_name("vendor") / "axe-4.14.1.min.js"
PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 900}
# Chromium as root in a container, on a machine with no way out: no sandbox, no GPU, no calls home.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    return shutil.which(os.environ.get("KPCS_BROWSER", "chromium"))


def screenshots_dir() -> Path:
    path = Path(os.environ.get("KPCS_SCREENSHOTS", ROOT / "artifacts" / "screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        message = "no chromium on the PATH: apt-get install chromium (or set KPCS_BROWSER)"
        if os.environ.get("KPCS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def new_page(browser: Any, base_url: str, *, phone: bool = False, language: str = "en",
             javascript: bool = True, storage_state: dict[str, Any] | None = None) -> Any:
    """A fresh context (its own cookies) with the browser's language set, as a person's browser would send it;
    `javascript=False` for a browser with scripts off (the pages work without them); `storage_state` carries a
    signed-in session over from another context (`context.storage_state()`)."""
    context = browser.new_context(base_url=base_url, viewport=PHONE if phone else DESKTOP, locale=language,
                                  extra_http_headers={"Accept-Language": language}, java_script_enabled=javascript,
                                  storage_state=storage_state)
    context.set_default_timeout(15_000)
    return context.new_page()


def shoot(page: Any, name: str) -> Path:
    path = screenshots_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_accessibility_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A and AA rules)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [json.dumps(v) for v in result]


def page_weight(page: Any, path: str) -> int:
    """Bytes of the page and what it loads (stylesheets, scripts), images excepted: the 500 KB budget."""
    sizes: list[int] = []

    def count(response: Any) -> None:
        if response.request.resource_type != "image":
            body = response.body() if response.ok else b""
            sizes.append(len(body))

    page.on("response", count)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.remove_listener("response", count)
    return sum(sizes)
