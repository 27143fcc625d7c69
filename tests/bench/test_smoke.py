"""Every benchmark runs end to end on tiny data (``--smoke``) and prints its figure lines.

The figures themselves are not judged here (they are benchmarks, not timed assertions):
these tests keep the benchmarks runnable as the code they measure changes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import postgres_url

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[\d,]+(?:\.\d+)?"


def engines() -> list[str]:
    return ["postgresql", "sqlite"] if postgres_url() is not None else ["sqlite"]


def smoke(module: str, *arguments: str) -> list[str]:
    """Run ``python -m <module> --smoke`` and return its output lines (it must succeed)."""
    env = dict(os.environ)
    url = postgres_url()
    if url is not None:
        # The test suite's PostgreSQL, in a database of the benchmark's own.
        env["RELINK_BENCH_POSTGRES_URL"] = (
            make_url(url)
            .set(database="relink_bench_smoke_{pid}")
            .render_as_string(hide_password=False)
        )
    result = subprocess.run(
        [sys.executable, "-m", module, "--smoke", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


def figure_lines(lines: list[str], pattern: str) -> list[str]:
    """The variant of every line matching ``pattern`` (its first group)."""
    return [m.group(1) for line in lines if (m := re.match(pattern, line))]


def test_email_delivery_smoke_run_prints_a_figure_per_engine() -> None:
    lines = smoke("bench.email_delivery", "--engines", ",".join(engines()))
    pattern = (
        rf"^email delivery \[(\w+)\] N=30: {NUMBER} emails/s \| floor {NUMBER} emails/s "
        rf"\| ratio {NUMBER}$"
    )
    assert figure_lines(lines, pattern) == engines(), lines


def test_session_create_smoke_run_prints_rate_ratio_and_open_loop_latencies() -> None:
    if postgres_url() is None:
        pytest.skip("the session create floor is plain psycopg (PostgreSQL, required under CI)")
    lines = smoke("bench.session_create")
    pattern = (
        rf"^session create API \[(\w+)\] N=64 c=32: {NUMBER} req/s \| floor \(the same "
        rf"\d+ statements by psycopg\) {NUMBER} req/s \| ratio {NUMBER} \| open loop at "
        rf"{NUMBER} req/s: p50 {NUMBER} ms p99 {NUMBER} ms \(floor p99 {NUMBER} ms\)$"
    )
    assert figure_lines(lines, pattern) == ["postgresql"], lines


def test_hosted_landing_smoke_run_prints_latencies_at_the_fixed_rate() -> None:
    engine = engines()[0]
    lines = smoke("bench.hosted_landing", "--engines", engine)
    pattern = (
        rf"^hosted landing \[(\w+)\] N=100 at 200 req/s: p50 {NUMBER} ms p99 {NUMBER} ms "
        rf"\| floor p50 {NUMBER} ms p99 {NUMBER} ms \| ratio {NUMBER} \| answered {NUMBER} req/s$"
    )
    assert figure_lines(lines, pattern) == [engine], lines


def test_web_during_drain_smoke_run_prints_landing_latencies_inside_a_drain() -> None:
    if postgres_url() is None:
        pytest.skip("the web-during-drain benchmark runs on PostgreSQL")
    lines = smoke("bench.web_during_drain")
    pattern = (
        rf"^web during drain \[(\w+)\] 30 landings at 60 req/s while 300 emails drain: "
        rf"p50 {NUMBER} ms p99 {NUMBER} ms \| no drain: p50 {NUMBER} ms p99 {NUMBER} ms \| "
        rf"drain {NUMBER} emails/s \| load inside the drain: (?:yes|NO)$"
    )
    assert figure_lines(lines, pattern) == ["postgresql"], lines


def test_eligibility_filter_smoke_run_prints_its_figures_and_the_query_plan() -> None:
    if postgres_url() is None:
        pytest.skip("the eligibility filter benchmark runs on PostgreSQL")
    lines = smoke("bench.eligibility_filter")
    pattern = (
        rf"^eligibility filter \[(\w+ page \w+)\] N=10,000: {NUMBER} ms \| floor {NUMBER} ms "
        rf"\| ratio {NUMBER} \| \d+ eligible on the page \| index on accounts: (?:yes|NO) "
    )
    assert figure_lines(lines, pattern) == [
        "test page query",
        "test page data",
        "live page query",
        "live page data",
    ], lines
    plan = [line.strip() for line in lines if line.startswith("    ")]
    assert any(line.startswith("Execution Time:") for line in plan), lines
    assert any(" on accounts" in line for line in plan), lines


def test_cli_startup_smoke_run_prints_a_figure_per_command() -> None:
    lines = smoke("bench.cli_startup")
    assert figure_lines(lines, rf"cli start-up \[([a-z ]+)\]: {NUMBER} s of interpreter") == [
        "help",
        "dry run",
    ]


def test_outreach_report_smoke_run_prints_both_periods_with_the_history_on_the_page() -> None:
    if postgres_url() is None:
        pytest.skip("the outreach report benchmark runs on PostgreSQL")
    lines = smoke("bench.outreach_report")
    pattern = (
        rf"^outreach report \[([\w ]+)\] N=3,000: {NUMBER} ms \| floor {NUMBER} ms "
        rf"\| ratio {NUMBER} \| p99 {NUMBER} ms \| ({NUMBER}) requests on the page "
    )
    found = [m for line in lines if (m := re.match(pattern, line))]
    assert [m.group(1) for m in found] == ["30 days by day", "year by week"], lines
    # A year holds (nearly) every account's request; 30 days about a twelfth of them.
    month, year = (int(m.group(2).replace(",", "")) for m in found)
    assert 2_900 <= year <= 3_000 and 0 < month < year / 6, lines


def test_automatic_relink_smoke_run_prints_each_step_and_the_plans() -> None:
    if postgres_url() is None:
        pytest.skip("the automatic relink benchmark runs on PostgreSQL")
    lines = smoke("bench.automatic_relink")
    pattern = (
        rf"^automatic relink \[([\w ,]+)\] N=10,000: {NUMBER} ms \| floor {NUMBER} ms "
        rf"\| ratio {NUMBER} \| ({NUMBER}) episodes, ({NUMBER}) requested"
    )
    found = [m for line in lines if (m := re.match(pattern, line))]
    assert [m.group(1) for m in found] == [
        "start batch",
        "start pass, none new",
        "request batch",
        "remind batch",
    ], lines
    # The live copy's eligible accounts each got an episode; one batch was requested.
    assert all(int(m.group(2).replace(",", "")) > 1_000 for m in found), lines
    assert {m.group(3) for m in found} == {"1,000"}, lines
    plan = [line.strip() for line in lines if line.startswith("    ")]
    assert sum(line.startswith("Execution Time:") for line in plan) == 2, lines


def test_csv_export_smoke_run_prints_its_rate_and_the_servers_memory() -> None:
    if postgres_url() is None:
        pytest.skip("the CSV export benchmark runs on PostgreSQL")
    lines = smoke("bench.csv_export")
    pattern = (
        rf"^csv export \[(\w+)\] N=10,000: {NUMBER} rows/s \| floor {NUMBER} rows/s "
        rf"\| ratio {NUMBER} \| 10,000 rows \| server peak RSS {NUMBER} MB before, "
        rf"{NUMBER} MB after \(\+{NUMBER} MB\)$"
    )
    assert figure_lines(lines, pattern) == ["postgresql"], lines
