"""The bulk request benchmark runs end to end on tiny data (its figures are not judged here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import postgres_url

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"^bulk request \[(?P<engine>\w+)\] N=300 \([\d,]+ requested\): [\d,]+ accounts/s \| "
    r"floor \(INSERT … SELECT\) [\d,]+ accounts/s \| ratio [\d.]+ \| peak RSS \d+ MB$"
)


def test_bulk_request_benchmark_smoke_run_prints_a_figure_per_engine() -> None:
    engines = ["sqlite"] + (["postgresql"] if postgres_url() is not None else [])
    result = subprocess.run(
        [sys.executable, "-m", "bench.bulk_request", "--smoke", "--engines", ",".join(engines)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    matches = [LINE.match(line) for line in result.stdout.strip().splitlines()]
    assert [m.group("engine") if m else None for m in matches] == engines, result.stdout
