"""Charts drawn on the server as SVG (no script, nothing third-party): the geometry here,
the markup in ``templates/dashboard/_charts.html``. Every chart has a title and a
description, and the page shows its figures in a table beside it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from babel.numbers import format_decimal, format_percent

from relink.dashboard.wording import words_for
from relink.kit.dates import format_day
from relink.kit.i18n import gettext_for
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
    locale: str = "en",
) -> LineChart:
    """One line per series over the buckets ``starts`` (counts, from zero up); the axes'
    dates and numbers as ``locale`` writes them."""
    chart = LineChart(title, description)
    top = max([max(values, default=0) for _, values in series], default=0) or 1
    span_x = chart.plot_right - chart.plot_left
    span_y = chart.plot_bottom - chart.plot_top
    steps = max(len(starts) - 1, 1)

    def x_of(index: int) -> float:
        return round(chart.plot_left + span_x * index / steps, 1)

    def y_of(value: int) -> float:
        return round(chart.plot_bottom - span_y * value / top, 1)

    for index, (label, values) in enumerate(series):
        color, dash = PALETTE[index % len(PALETTE)]
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
    chart.y_ticks = [Tick(y_of(0), number(0, locale)), Tick(y_of(top), number(top, locale))]
    if starts:
        shown = sorted({0, len(starts) // 2, len(starts) - 1})
        last = len(starts) - 1
        chart.x_ticks = [
            Tick(
                x_of(i),
                format_day(starts[i], locale=locale, time_zone=None),
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


def outreach_charts(report: OutreachReport, locale: str = "en") -> OutreachCharts:
    """The report's charts, worded in ``locale`` (the steps' and reasons' names too)."""
    _ = gettext_for(locale).gettext
    words = words_for(locale)
    first = format_day(report.period.first_day, locale=locale, time_zone=None)
    last = format_day(report.period.last_day, locale=locale, time_zone=None)
    description = {
        "day": _(
            "Requests created each day from %(first)s to %(last)s, and how many reached "
            "each step; the table beside the chart has every figure."
        ),
        "week": _(
            "Requests created each week from %(first)s to %(last)s, and how many reached "
            "each step; the table beside the chart has every figure."
        ),
        "month": _(
            "Requests created each month from %(first)s to %(last)s, and how many reached "
            "each step; the table beside the chart has every figure."
        ),
    }[report.period.grain] % {"first": first, "last": last}
    funnel = line_chart(
        _("Funnel over time"),
        description,
        [point.start for point in report.funnel],
        [
            (words.report_steps.get(kind, name), [point.counts[kind] for point in report.funnel])
            for kind, name in STEPS
        ],
        locale,
    )

    def bars(title: str, groups: list[GroupFigures]) -> BarChart:
        return bar_chart(
            title,
            _(
                "Share of the period's requests that were repaired; the table beside it has "
                "the counts and the median time to repair."
            ),
            [(g.name, g.repair_rate, percent(g.repair_rate, locale)) for g in groups],
        )

    return OutreachCharts(
        funnel,
        bars(_("Repair rate by institution"), report.by_institution),
        bars(_("Repair rate by reason"), report.by_reason),
    )


def percent(share: float, locale: str = "en") -> str:
    """``0.42`` → "42%" ("42 %" in German)."""
    return format_percent(share, locale=locale)


def number(value: float, locale: str = "en", decimals: int = 0) -> str:
    """A count as ``locale`` writes it: 1,234 (English), 1.234 (German)."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=locale)
