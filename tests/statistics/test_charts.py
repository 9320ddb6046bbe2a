"""The server-drawn charts are pure functions returning accessible SVG: a title, a description, axis values,
each value readable, text escaped, no script."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from kpcs.statistics import charts

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_bar_chart_is_an_accessible_image_with_its_values() -> None:
    svg = charts.bar_chart("Carats by year", "Production of BW", ["2023", "2024"],
                           [charts.Series("Production", [Decimal("1200000"), Decimal("2500000.50")]),
                            charts.Series("Exports", [Decimal("900000"), None])], "carats", ident="t")
    root = parse(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "t-t t-d"
    assert root.find(f"{NS}title").text == "Carats by year"  # type: ignore[union-attr]
    assert root.find(f"{NS}desc").text == "Production of BW"  # type: ignore[union-attr]
    labels = texts(root)
    assert {"2023", "2024", "1.2M", "2.5M", "900k", "carats", "Production", "Exports"} <= set(labels)
    assert len(root.findall(f"{NS}rect")) >= 3  # three bars (the missing value draws none) plus the legend
    assert "<script" not in svg and "javascript" not in svg.lower()


def test_line_chart_breaks_where_a_value_is_missing() -> None:
    svg = charts.line_chart("US$ per carat", "d", ["2021", "2022", "2023", "2024"],
                            [charts.Series("Exports", [Decimal("150"), Decimal("160"), None, Decimal("170")])],
                            "US$/ct")
    root = parse(svg)
    assert len(root.findall(f"{NS}circle")) == 3
    assert len(root.findall(f"{NS}polyline")) == 1  # 2021–2022 joined; 2024 alone
    assert {"150", "160", "170", "US$/ct"} <= set(texts(root))


def test_text_is_escaped_and_an_empty_chart_still_draws() -> None:
    svg = charts.bar_chart("<b>&", "x < y", [], [], "u")
    root = parse(svg)
    assert root.find(f"{NS}title").text == "<b>&"  # type: ignore[union-attr]
    assert "<b>" not in svg


def test_numbers() -> None:
    assert charts.compact(1234567) == "1.2M" and charts.compact(45300) == "45.3k" and charts.compact(12.5) == "12.5"
    assert charts.compact(0) == "0" and charts.compact(Decimal("2000000000")) == "2G"
    assert charts.nice_max(0) == 1 and charts.nice_max(7) == 10 and charts.nice_max(2400000) == 2500000
    assert charts.nice_max(0.3) == 0.5
    assert charts.price(Decimal("1875600.00"), Decimal("1250.40")) == Decimal("1500.00")
    assert charts.price(10, 0) is None and charts.price(None, 5) is None
