"""The SVG rate chart of the audit-report artifact: well-formed, proportional, hostile names kept as text."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

from coop.charts import MAX_ROWS, RateBar, data_uri, rates_chart_markdown, rates_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_proportional_to_the_rates() -> None:
    root = ET.fromstring(rates_svg("按部门", [RateBar("渝北区/团区委", 0.5, 0.25, 4), RateBar("长寿区", 1.0, 1.0, 2)]))
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("height") == "11"]
    widths = [float(r.get("width", "0")) for r in bars]
    full = widths[2]
    assert full > 200 and widths == [full / 2, full / 4, full, full]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "渝北区/团区委" in texts and "50.0% / 25.0%（应完成 4）" in texts and "100.0% / 100.0%（应完成 2）" in texts


def test_hostile_names_stay_text_and_nothing_owed_is_said() -> None:
    hostile = '工程<script>alert(1)</script>&"'
    svg = rates_svg("按工程", [RateBar(hostile, None, None, 0)])
    root = ET.fromstring(svg)  # well-formed: the name is escaped, not markup
    assert "<script>" not in svg and not list(root.iter(f"{SVG}script"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "工程<script>alert(1…" in texts and "尚无应完成的任务" in texts
    assert "没有任务" in rates_svg("空", [])


def test_markdown_embeds_the_chart_as_a_data_uri() -> None:
    bars = [RateBar(f"部门{i}", i / 50, 0.0, 1) for i in range(MAX_ROWS + 5)]
    markdown = rates_chart_markdown("按部门的完成率与按时率（图）", bars)
    match = re.search(r"!\[按部门的完成率与按时率（图）\]\((data:image/svg\+xml;base64,[A-Za-z0-9+/=]+)\)", markdown)
    assert match is not None and match.group(1) == data_uri(rates_svg("按部门的完成率与按时率（图）", bars))
    svg = base64.b64decode(match.group(1).split(",", 1)[1]).decode()
    assert "部门0" in svg and f"部门{MAX_ROWS - 1}" in svg and f"部门{MAX_ROWS}<" not in svg
    assert f"共 {MAX_ROWS + 5} 组" in markdown
