"""Server-drawn SVG bar charts: geometry in plain Python, markup in ``insights/_chart.html``.

No script and no inline style (the site's CSP allows neither): every colour is a CSS class from
``static/scss/humphrey.scss``. A chart is decoration for sighted readers; the table beside it
carries the same figures for everyone, so the SVG is labelled as an image that points to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 480
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 28
MAX_X_LABELS = 6


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # modifier of app-chart__bar, e.g. "answered"
    values: Sequence[float | None]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    table_id: str  # the id of the table with the same figures
    bars: list[Bar]
    y_ticks: list[Tick]
    x_labels: list[XLabel]
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars


def nice_step(maximum: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most ``ticks`` steps up to ``maximum``."""
    if maximum <= 0:
        return 1.0
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * power >= raw:
            return multiple * power
    return 10 * power  # pragma: no cover - the loop always returns


def _format(value: float, unit: str) -> str:
    if value == int(value):
        text = f"{int(value):,}"
    elif abs(value) >= 10:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}{unit}"


def bar_chart(
    *,
    chart_id: str,
    title: str,
    table_id: str,
    labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    unit: str = "",
) -> Chart:
    """Bars for each label: stacked (one column, series on top of each other) or side by side.

    ``None`` values draw nothing (no data that day); zeros draw nothing either, but keep their slot.
    """
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)} labels")
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    if stacked:
        peak = max((sum(v or 0 for v in column) for column in zip(*(s.values for s in series), strict=True)), default=0)
    else:
        peak = max((v or 0 for s in series for v in s.values), default=0)
    step = nice_step(peak)
    top_value = step * max(1, math.ceil(peak / step)) if peak > 0 else step
    scale = plot_height / top_value
    baseline = TOP + plot_height
    slot = plot_width / max(1, len(labels))
    gap = min(4.0, slot * 0.2)
    bars: list[Bar] = []
    for i, label in enumerate(labels):
        x0 = LEFT + i * slot + gap / 2
        usable = slot - gap
        if stacked:
            y = baseline
            for s in series:
                value = s.values[i] or 0
                if value <= 0:
                    continue
                height = value * scale
                y -= height
                bars.append(Bar(x0, y, usable, height, s.css, f"{label}: {s.name} {_format(value, unit)}"))
        else:
            width = usable / max(1, len(series))
            for j, s in enumerate(series):
                value = s.values[i]
                if value is None or value <= 0:
                    continue
                height = value * scale
                bars.append(
                    Bar(
                        x0 + j * width,
                        baseline - height,
                        width,
                        height,
                        s.css,
                        f"{label}: {s.name} {_format(value, unit)}",
                    )
                )
    y_ticks = [Tick(baseline - k * step * scale, _format(k * step, unit)) for k in range(round(top_value / step) + 1)]
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    x_labels = [XLabel(LEFT + (i + 0.5) * slot, label) for i, label in enumerate(labels) if i % every == 0]
    rounded = [Bar(round(b.x, 1), round(b.y, 1), round(b.width, 1), round(b.height, 1), b.css, b.title) for b in bars]
    return Chart(
        chart_id=chart_id,
        title=title,
        table_id=table_id,
        bars=rounded,
        y_ticks=[Tick(round(t.y, 1), t.label) for t in y_ticks],
        x_labels=[XLabel(round(x.x, 1), x.label) for x in x_labels],
        legend=[(s.name, s.css) for s in series],
    )
