"""``python -m bench`` (``make bench``): run every benchmark and write ``bench/results.md``.

Each benchmark runs in its own process with its default sizes and ``--repeat 3`` (every
figure is the median of three runs, its floor measured in the same run); the figures are
collected as JSON and checked against the budgets of spec 60 ("Performance budgets").
``results.md`` describes the machine, then has a table per budget row (figure, floor,
ratio, budget, met or not) and, for every budget not met, the measured gap and a note
for the profile that explains it. Notes survive re-runs: put them in
``bench/notes.json`` as ``{"<benchmark> [<variant>] <check>": "<note>"}``.

    python -m bench                         # everything, full size (minutes; a quiet machine)
    python -m bench --smoke                 # everything on tiny data (prints; writes nothing)
    python -m bench --only email_delivery,hosted_landing --output /tmp/results.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import Figure, postgres_reachable, postgres_version

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.md"
NOTES = HERE / "notes.json"
TIMEOUT_SECONDS = 3 * 3600


# -- budgets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One budget: ``measure(figure)`` compared with ``limit`` (``at_least`` or below)."""

    name: str
    measure: Callable[[Figure], float | None]
    limit: float
    at_least: bool
    unit: str = ""
    applies: Callable[[Figure], bool] = lambda figure: True
    # A yes/no budget ("uses an index"): measured 1 is yes.
    boolean: bool = False

    def describe(self) -> str:
        if self.boolean:
            return self.name
        return f"{self.name} {'≥' if self.at_least else '<'} {_number(self.limit)}{self.unit}"

    def show(self, value: float | None) -> str:
        if value is None:
            return "—"
        if self.boolean:
            return "yes" if value else "no"
        if not self.unit and abs(value) < 1:
            return f"{value:.3f}"  # a ratio: 0.299 is not 0.30
        return f"{_number(value)}{self.unit}"

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value < self.limit

    def gap(self, value: float) -> str:
        if self.at_least:
            short = self.limit - value
            factor = self.limit / value if value else float("inf")
            if self.boolean:
                return "no"
            return f"{_number(short)}{self.unit} short ({factor:.1f}× needed)"
        over = value - self.limit
        factor = value / self.limit if self.limit else float("inf")
        return f"{_number(over)}{self.unit} over ({factor:.1f}× the budget)"


def _metric(name: str) -> Callable[[Figure], float | None]:
    def read(figure: Figure) -> float | None:
        value = figure.metrics.get(name)
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        return float(value) if isinstance(value, int | float) else None

    return read


def _value(figure: Figure) -> float:
    return figure.value


def _ratio(figure: Figure) -> float | None:
    return figure.ratio


@dataclass(frozen=True)
class Benchmark:
    name: str  # the budget row of spec 60
    module: str
    checks: tuple[Check, ...]
    needs_postgres: bool = False
    # Extra command-line arguments, full size and smoke.
    arguments: tuple[str, ...] = ()
    smoke_arguments: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


BENCHMARKS = (
    Benchmark(
        "bulk request",
        "bench.bulk_request",
        (
            # Speed round two: the floor is the database's own INSERT … SELECT of the
            # same rows, and the ratio is the budget (absolute rates are the machine's).
            Check("ratio", _ratio, 0.5, True),
            Check("peak RSS", _metric("peak_rss_mb"), 300, False, " MB"),
        ),
        notes=(
            "The real path is `relink request-relink` over the live copy of the demo book "
            "(its own process, start-up included); the floor writes the same sessions, "
            "timeline entries and outbox rows for the same accounts by one server-side "
            "`INSERT … SELECT` each. Constant memory as N grows is checked by running "
            "`python -m bench.bulk_request --accounts N` at two sizes and comparing the "
            "peak RSS.",
        ),
    ),
    Benchmark("email delivery", "bench.email_delivery", (Check("ratio", _ratio, 0.8, True),)),
    Benchmark(
        "session create API",
        "bench.session_create",
        (
            Check("ratio", _ratio, 0.6, True),
            Check("open-loop p99", _metric("open_p99_ms"), 50, False, " ms"),
        ),
        needs_postgres=True,
        notes=(
            "The floor is the work's own: the statements one real create issued, issued again "
            "by plain psycopg in one transaction per request in the same server "
            "(relink/web/bench_floor.py). The ratio is closed-loop throughput at 32 clients; "
            "the p99 is open-loop at 200 requests/s.",
        ),
    ),
    Benchmark(
        "hosted landing",
        "bench.hosted_landing",
        (Check("p99", _metric("p99_ms"), 25, False, " ms"),),
    ),
    Benchmark(
        "web during drain",
        "bench.web_during_drain",
        (
            Check("p99", _metric("p99_ms"), 100, False, " ms"),
            Check("load inside the drain", _metric("drain_covered_load"), 1, True, boolean=True),
        ),
        needs_postgres=True,
        notes=(
            "Hosted landings at 60 requests/s (open loop) while one `relink worker` drains "
            "3,000 relink emails on the same machine and database; the floor is the same "
            "landings with no worker running.",
        ),
    ),
    Benchmark(
        "eligibility filter",
        "bench.eligibility_filter",
        (
            Check("time", _value, 200, False, " ms"),
            Check("uses an index", _metric("uses_index"), 1, True, boolean=True),
        ),
        needs_postgres=True,
        notes=(
            "The test-mode case is the demo book: there, eligible also requires a confirmed "
            "team member's email, so only a handful of accounts qualify.",
        ),
    ),
    Benchmark(
        "outreach report",
        "bench.outreach_report",
        (Check("time", _value, 200, False, " ms"),),
        needs_postgres=True,
        notes=(
            "The whole page through `relink serve` as a signed-in owner, over a year of "
            "history of the demo book (one email request per account, its timeline as the "
            "flow writes it), rolled up by the worker's scan; floor: the same page of a "
            "platform with no history.",
        ),
    ),
    Benchmark(
        "automatic relink",
        "bench.automatic_relink",
        (
            Check(
                "time",
                _value,
                200,
                False,
                " ms",
                applies=lambda f: "per_batch_ms" not in f.metrics,
            ),
            Check(
                "time a batch",
                _metric("per_batch_ms"),
                200,
                False,
                " ms",
                applies=lambda f: "per_batch_ms" in f.metrics,
            ),
            Check(
                "uses an index",
                _metric("uses_index"),
                1,
                True,
                boolean=True,
                applies=lambda f: "uses_index" in f.metrics,
            ),
        ),
        needs_postgres=True,
        notes=(
            "The scan's steps over the demo book's live copy with the policy on, a batch of "
            "1,000 each, rolled back so every run meets the same rows; floor: the first "
            "1,000 account ids of the scope. `start pass, none new` is one whole pass of "
            "step 2 once every eligible account has its episode (what each minute costs).",
        ),
    ),
    Benchmark(
        "csv export",
        "bench.csv_export",
        (Check("server memory growth", _metric("peak_rss_growth_mb"), 50, False, " MB"),),
        needs_postgres=True,
        notes=(
            "`GET /accounts/export.csv` of the whole demo book through `relink serve`, "
            "signed in as its owner; memory is the server's peak resident set before and "
            "after the exports. Floor: PostgreSQL's own `COPY … TO STDOUT (FORMAT csv)` of "
            "the scope's plain account columns.",
        ),
    ),
    Benchmark(
        "cli start-up",
        "bench.cli_startup",
        (Check("interpreter time", _value, 0.3, False, " s"),),
        notes=(
            "The console script's user + system CPU time (rusage) for `relink --help` and for "
            "`relink request-relink --dry-run` over the demo book; floor `python -c pass`.",
        ),
    ),
    Benchmark(
        "scale out",
        "bench.scale_out",
        (
            Check("nothing lost", _metric("nothing_lost"), 1, True, boolean=True),
            Check("outbox left", _metric("outbox_left"), 1, False, " rows"),
        ),
        needs_postgres=True,
        notes=(
            "2 `relink serve --no-worker` + 2 `relink worker` on one PostgreSQL: a bulk request "
            "of 20,000 accounts and 2,000 API session creates through both web processes, "
            "2,000 webhook events to two endpoints; one worker is SIGKILLed halfway and a new "
            "one started. Every email and webhook must arrive (counted by Message-ID and "
            "event id); a replay after the kill repeats a Message-ID (see docs/decisions.md).",
        ),
    ),
)


# -- running ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    benchmark: Benchmark
    figures: list[Figure] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def _run_module(module: str, arguments: list[str]) -> str:
    child = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(
            f"{module} exited with {child.returncode}:\n{child.stderr.strip()[-3000:]}"
        )
    return child.stdout


def run_benchmark(benchmark: Benchmark, *, smoke: bool, repeat: int, postgres: bool) -> Outcome:
    outcome = Outcome(benchmark)
    started = time.perf_counter()
    engines = ["postgresql", "sqlite"] if postgres else ["sqlite"]
    try:
        arguments = ["--json", *(("--smoke",) if smoke else ("--repeat", str(repeat)))]
        if benchmark.module in ("bench.email_delivery", "bench.bulk_request"):
            arguments += ["--engines", ",".join(engines)]
        elif not benchmark.needs_postgres:
            arguments += ["--engines", engines[0]]
        output = _run_module(benchmark.module, arguments)
        outcome.figures = [
            Figure(**json.loads(line)) for line in output.splitlines() if line.startswith("{")
        ]
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as error:
        outcome.error = str(error)
    outcome.seconds = time.perf_counter() - started
    return outcome


# -- the report ------------------------------------------------------------------------------


def _number(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _read(path: Path, default: str = "?") -> str:
    try:
        return path.read_text()
    except OSError:
        return default


def machine() -> list[tuple[str, str]]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read(Path("/proc/cpuinfo"), "").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    memory = next(
        (
            f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
            for line in _read(Path("/proc/meminfo"), "").splitlines()
            if line.startswith("MemTotal:")
        ),
        "?",
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        ("Date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", cpu),
        ("Cores", str(os.cpu_count())),
        ("Memory", memory),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("PostgreSQL", postgres_version() or "not reachable"),
        ("SQLite", sqlite3.sqlite_version),
        ("Load average at start (1, 5, 15 min)", load),
    ]


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{_number(value)} {unit}".strip()


def render_results(
    outcomes: list[Outcome],
    machine_lines: list[tuple[str, str]],
    notes: dict[str, str],
    *,
    smoke: bool,
) -> str:
    out = ["# Benchmark results", ""]
    out.append(
        "Written by `python -m bench` (`make bench`). Every figure is the median of "
        f"{'one smoke run (tiny data: not a measurement)' if smoke else 'three runs'}; the "
        "floor is the bare minimum the machine does for the same work, measured in the same "
        "run, and the ratio says how close the real path comes to it (1.00 = as fast as the "
        "floor). Machines are noisy: compare ratios. Budgets: spec 60 "
        '"Performance budgets".'
    )
    out += ["", "## Machine", ""]
    out += [f"- {name}: {value}" for name, value in machine_lines]
    gaps: list[str] = []
    for outcome in outcomes:
        benchmark = outcome.benchmark
        out += ["", f"## {benchmark.name}", ""]
        if outcome.error is not None:
            out += ["Not run: " + outcome.error.splitlines()[0], "", "```", outcome.error, "```"]
            continue
        out.append("| variant | N | figure | floor | ratio | budget | measured | met |")
        out.append("|---|---|---|---|---|---|---|---|")
        for figure in outcome.figures:
            first = True
            for check in benchmark.checks:
                if not check.applies(figure):
                    continue
                value = check.measure(figure)
                key = f"{benchmark.name} [{figure.variant}] {check.name}"
                if value is None:
                    met = "not measured"
                elif check.met(value):
                    met = "met"
                else:
                    met = "**not met**"
                    note = notes.get(key, "_(profile: add what explains the gap here)_")
                    gaps.append(f"- **{key}**: {check.gap(value)}. Note: {note}")
                shown = (
                    f"{figure.variant} | {figure.n:,} | {_format(figure.value, figure.unit)} "
                    f"| {_format(figure.floor, figure.unit)} "
                    f"| {'—' if figure.ratio is None else f'{figure.ratio:.3f}'}"
                    if first
                    else " | | | |"
                )
                out.append(f"| {shown} | {check.describe()} | {check.show(value)} | {met} |")
                first = False
        extra = _figure_details(outcome.figures)
        if extra:
            out += ["", *extra]
        out += ["", *(f"{note}" for note in benchmark.notes)] if benchmark.notes else []
        out.append(f"\nRun time: {outcome.seconds:,.0f} s.")
    out += ["", "## Budgets not met", ""]
    out += gaps or ["None."]
    return "\n".join(out).rstrip() + "\n"


def _figure_details(figures: list[Figure]) -> list[str]:
    lines: list[str] = []
    for figure in figures:
        latency = {k: v for k, v in figure.metrics.items() if k.endswith("_ms")}
        if latency:
            lines.append(
                f"- {figure.variant}: "
                + ", ".join(
                    f"{k.removesuffix('_ms').replace('_', ' ')} {v:.1f} ms"
                    for k, v in latency.items()
                )
            )
        answered = figure.metrics.get("answered_rate")
        if isinstance(answered, int | float):
            lines.append(
                f"- {figure.variant}: sent at {figure.metrics.get('rate', 0):,.0f} req/s, "
                f"answered at {answered:,.0f} req/s"
            )
        if "replayed_emails" in figure.metrics:
            m = figure.metrics
            lines.append(
                f"- {figure.variant}: emails {m['unique_emails']:,}/{m['expected_emails']:,} "
                f"arrived, {m['replayed_emails']:,} replayed; webhook deliveries "
                f"{m['unique_webhooks']:,}/{m['expected_webhooks']:,} arrived, "
                f"{m['replayed_webhooks']:,} replayed; worker killed after "
                f"{m['killed_after_emails']:,} emails"
            )
        plan = figure.metrics.get("plan")
        if isinstance(plan, str) and figure.variant.endswith("page query"):
            lines += [
                "",
                f"EXPLAIN (ANALYZE, BUFFERS) of the {figure.variant}:",
                "",
                "```",
                plan,
                "```",
                "",
            ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="tiny data; writes nothing unless --output"
    )
    parser.add_argument(
        "--only", help="comma-separated modules, e.g. email_delivery,hosted_landing"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, help=f"where to write (default {RESULTS.name})")
    args = parser.parse_args(argv)
    chosen: tuple[Benchmark, ...] = BENCHMARKS
    if args.only:
        wanted = {f"bench.{name.strip()}" for name in args.only.split(",") if name.strip()}
        chosen = tuple(b for b in BENCHMARKS if b.module in wanted)
        unknown = wanted - {b.module for b in chosen}
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    output = args.output or (None if args.smoke else RESULTS)
    machine_lines = machine()
    postgres = postgres_reachable()
    outcomes = []
    for benchmark in chosen:
        if benchmark.needs_postgres and not postgres:
            outcome = Outcome(benchmark, error="PostgreSQL is not reachable")
        else:
            print(f"== {benchmark.name} ({benchmark.module})", flush=True)
            outcome = run_benchmark(
                benchmark, smoke=args.smoke, repeat=args.repeat, postgres=postgres
            )
        for figure in outcome.figures:
            print(figure.line.splitlines()[0], flush=True)
        if outcome.error:
            print(f"{benchmark.name}: failed: {outcome.error.splitlines()[0]}", file=sys.stderr)
        outcomes.append(outcome)
    notes: dict[str, str] = json.loads(NOTES.read_text()) if NOTES.exists() else {}
    report = render_results(outcomes, machine_lines, notes, smoke=args.smoke)
    if output is not None:
        output.write_text(report)
        print(f"wrote {output}", flush=True)
    return 1 if any(outcome.error for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
