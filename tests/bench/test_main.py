"""``python -m bench`` turns the benchmarks' figures into ``bench/results.md``."""

from __future__ import annotations

import json

from bench.__main__ import BENCHMARKS, Outcome, render_results
from bench._common import Figure

MACHINE = [("CPU", "Test CPU"), ("Cores", "2")]


def benchmark(name: str) -> object:
    return next(b for b in BENCHMARKS if b.name == name)


def session_create(ratio: float, p99: float) -> Figure:
    return Figure(
        benchmark="session create API",
        variant="postgresql",
        n=3000,
        unit="req/s",
        value=500.0,
        floor=1000.0,
        ratio=ratio,
        metrics={"p50_ms": 10.0, "p99_ms": 90.0, "open_p99_ms": p99},
    )


def report(*figures: Figure, notes: dict[str, str] | None = None) -> str:
    outcome = Outcome(benchmark("session create API"), list(figures))  # type: ignore[arg-type]
    return render_results([outcome], MACHINE, notes or {}, smoke=False)


def test_results_describe_the_machine() -> None:
    assert "- CPU: Test CPU\n- Cores: 2" in report(session_create(0.5, 20.5))


def test_results_mark_a_budget_met_when_the_figure_is_within_it() -> None:
    text = report(session_create(0.7, 20.5))
    assert "| ratio ≥ 0.60 | 0.700 | met |" in text
    assert "| open-loop p99 < 50 ms | 20.5 ms | met |" in text
    assert text.rstrip().endswith("## Budgets not met\n\nNone.")


def test_results_list_the_gap_of_a_budget_not_met_with_a_note_field() -> None:
    text = report(session_create(0.7, 80.5))
    assert "| open-loop p99 < 50 ms | 80.5 ms | **not met** |" in text
    assert (
        "- **session create API [postgresql] open-loop p99**: 30.5 ms over (1.6× the budget)."
        in text
    )
    assert "_(profile: add what explains the gap here)_" in text


def test_results_take_the_note_of_a_gap_from_the_notes_file() -> None:
    notes = {"session create API [postgresql] ratio": "argon2 on every request"}
    text = report(session_create(0.15, 20.0), notes=notes)
    assert "ratio**: 0.45 short (4.0× needed). Note: argon2 on every request" in text


def test_results_show_why_a_benchmark_did_not_run() -> None:
    outcome = Outcome(benchmark("eligibility filter"), error="PostgreSQL is not reachable")  # type: ignore[arg-type]
    text = render_results([outcome], MACHINE, {}, smoke=False)
    assert "## eligibility filter\n\nNot run: PostgreSQL is not reachable" in text


def test_a_figure_printed_as_json_reads_back_as_the_same_figure() -> None:
    figure = session_create(0.5, 20.5)
    assert Figure(**json.loads(figure.to_json())) == figure
