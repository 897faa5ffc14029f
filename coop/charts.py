"""Small SVG charts for Markdown artifacts: completion and on-time rates as horizontal bars.

Hand-written rather than matplotlib (tens of MB and a font cache for one bar chart in a Prefect artifact); the
dashboard's interactive charts are ECharts (`coop/web/static`). Prefect's UI renders a Markdown image as an `<img>`
with the given `src`, so the SVG travels inside the artifact as a `data:` URI — nothing to host, nothing fetched.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH = 760
LABEL_WIDTH = 260
ROW = 34
TOP = 56
MAX_ROWS = 40
COMPLETION = "#2e7d32"
ON_TIME = "#1565c0"
FONT = "'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif"


@dataclass(frozen=True)
class RateBar:
    """One group's row: completion and on-time rates (None: nothing was owed yet) and how many were owed."""

    label: str
    completion: float | None
    on_time: float | None
    expected: int


def _text(x: float, y: float, text: str, *, size: int = 13, anchor: str = "start", fill: str = "#1f2329") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{escape(text)}</text>'
    )


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def rates_svg(title: str, bars: Sequence[RateBar]) -> str:
    """A horizontal bar chart: per group a completion bar over an on-time bar, 0–100 %, with the figures."""
    shown = list(bars[:MAX_ROWS])
    plot = WIDTH - LABEL_WIDTH - 220  # the figures get their own column on the right
    height = TOP + ROW * max(1, len(shown)) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        _text(16, 24, title, size=16),
        f'<rect x="{LABEL_WIDTH}" y="34" width="12" height="10" fill="{COMPLETION}"/>',
        _text(LABEL_WIDTH + 16, 43, "完成率", size=12),
        f'<rect x="{LABEL_WIDTH + 70}" y="34" width="12" height="10" fill="{ON_TIME}"/>',
        _text(LABEL_WIDTH + 86, 43, "按时率", size=12),
    ]
    for tick in range(0, 101, 25):
        x = LABEL_WIDTH + plot * tick / 100
        bottom = TOP + ROW * max(1, len(shown))
        parts.append(f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#e5e6eb"/>')
        parts.append(_text(x, bottom + 16, f"{tick}%", size=11, anchor="middle", fill="#646a73"))
    if not shown:
        parts.append(_text(LABEL_WIDTH, TOP + 20, "没有任务", fill="#646a73"))
    for i, bar in enumerate(shown):
        y = TOP + ROW * i
        parts.append(_text(LABEL_WIDTH - 8, y + 21, _short(bar.label), anchor="end"))
        if bar.completion is None:
            parts.append(_text(LABEL_WIDTH + 4, y + 21, "尚无应完成的任务", size=12, fill="#8f959e"))
            continue
        for offset, value, colour in ((4, bar.completion, COMPLETION), (17, bar.on_time or 0.0, ON_TIME)):
            width = max(0.0, min(1.0, value)) * plot
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + offset}" width="{width:.1f}" height="11" fill="{colour}"/>')
        figures = f"{_pct(bar.completion)} / {_pct(bar.on_time)}（应完成 {bar.expected}）"
        parts.append(_text(LABEL_WIDTH + plot + 10, y + 21, figures, size=11))
    parts.append("</svg>")
    return "".join(parts)


def data_uri(svg: str) -> str:
    """The SVG as a `data:` URI a Markdown image can point at (base64: no character the Markdown parser reads)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def rates_chart_markdown(title: str, bars: Sequence[RateBar]) -> str:
    """`## title` and the chart as an embedded image; a note when only the first `MAX_ROWS` groups are drawn."""
    lines = [f"## {title}", "", f"![{title}]({data_uri(rates_svg(title, bars))})", ""]
    if len(bars) > MAX_ROWS:
        lines += [f"图中只画出前 {MAX_ROWS} 组，共 {len(bars)} 组，全部数字见上表。", ""]
    return "\n".join(lines)
