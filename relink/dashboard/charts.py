"""Charts drawn on the server as SVG (no script, nothing third-party): the geometry here,
the markup in ``templates/dashboard/_charts.html``. Every chart has a title and a
description, and the page shows its figures in a table beside it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from relink.sessions.report import STEPS, GroupFigures, OutreachReport

# Distinguishable on white, also by their dash patterns (not only by colour).
PALETTE = (
    ("#2f4fc4", ""),
    ("#17663a", "6 3"),
    ("#8a4b00", "2 3"),
    ("#a1271c", "8 3 2 3"),
    ("#5b3aa6", "4 4"),
    ("#006d77", "1 2"),
    ("#1d2330", "10 4"),
)
WIDTH = 640
LINE_HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56
BAR_ROW = 28
BAR_LABEL = 220


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    dash: str
    points: str  # "x,y x,y …" for a polyline
    last_x: float
    last_y: float


@dataclass(frozen=True)
class Tick:
    at: float
    text: str
    anchor: str = "middle"


@dataclass
class LineChart:
    title: str
    description: str
    width: int = WIDTH
    height: int = LINE_HEIGHT
    series: list[Series] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = LINE_HEIGHT - BOTTOM


@dataclass(frozen=True)
class Bar:
    label: str
    y: float
    length: float
    value: str


@dataclass
class BarChart:
    title: str
    description: str
    width: int = WIDTH
    height: int = 0
    bars: list[Bar] = field(default_factory=list)
    bar_left: int = BAR_LABEL
    bar_height: int = BAR_ROW - 8


def line_chart(
    title: str,
    description: str,
    starts: list[dt.date],
    series: list[tuple[str, list[int]]],
) -> LineChart:
    """One line per series over the buckets ``starts`` (counts, from zero up)."""
    chart = LineChart(title, description)
    top = max([max(values, default=0) for _, values in series], default=0) or 1
    span_x = chart.plot_right - chart.plot_left
    span_y = chart.plot_bottom - chart.plot_top
    steps = max(len(starts) - 1, 1)

    def x_of(index: int) -> float:
        return round(chart.plot_left + span_x * index / steps, 1)

    def y_of(value: int) -> float:
        return round(chart.plot_bottom - span_y * value / top, 1)

    for number, (label, values) in enumerate(series):
        color, dash = PALETTE[number % len(PALETTE)]
        points = [(x_of(i), y_of(v)) for i, v in enumerate(values)]
        chart.series.append(
            Series(
                label,
                color,
                dash,
                " ".join(f"{x},{y}" for x, y in points),
                points[-1][0] if points else chart.plot_left,
                points[-1][1] if points else chart.plot_bottom,
            )
        )
    chart.y_ticks = [Tick(y_of(0), "0"), Tick(y_of(top), f"{top:,}")]
    if starts:
        shown = sorted({0, len(starts) // 2, len(starts) - 1})
        last = len(starts) - 1
        chart.x_ticks = [
            Tick(
                x_of(i),
                starts[i].isoformat(),
                "start" if i == 0 else "end" if i == last else "middle",
            )
            for i in shown
        ]
    return chart


def bar_chart(title: str, description: str, rows: list[tuple[str, float, str]]) -> BarChart:
    """Horizontal bars of shares (0 to 1), each with its label and value in words."""
    chart = BarChart(title, description, height=max(len(rows), 1) * BAR_ROW + 8)
    span = chart.width - chart.bar_left - 64
    chart.bars = [
        Bar(label, 4 + index * BAR_ROW, round(span * max(0.0, min(share, 1.0)), 1), value)
        for index, (label, share, value) in enumerate(rows)
    ]
    return chart


@dataclass
class OutreachCharts:
    funnel: LineChart
    by_institution: BarChart
    by_reason: BarChart


def outreach_charts(report: OutreachReport) -> OutreachCharts:
    starts = [point.start for point in report.funnel]
    grain = {"day": "day", "week": "week", "month": "month"}[report.period.grain]
    funnel = line_chart(
        "Funnel over time",
        f"Requests created each {grain} from {report.period.first_day} to "
        f"{report.period.last_day}, and how many reached each step; "
        "the table beside the chart has every figure.",
        starts,
        [(name, [point.counts[kind] for point in report.funnel]) for kind, name in STEPS],
    )

    def bars(title: str, groups: list[GroupFigures]) -> BarChart:
        return bar_chart(
            title,
            "Share of the period's requests that were repaired; the table beside it has the "
            "counts and the median time to repair.",
            [(g.name, g.repair_rate, percent(g.repair_rate)) for g in groups],
        )

    return OutreachCharts(
        funnel,
        bars("Repair rate by institution", report.by_institution),
        bars("Repair rate by reason", report.by_reason),
    )


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"
