"""What the benchmarks share: each run's PostgreSQL database is its own."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url

from bench._common import postgres_url


def test_pid_in_a_url_sqlalchemy_rendered_still_names_this_processs_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # make_url(...).set(database="x_{pid}") renders the braces percent-encoded.
    rendered = (
        make_url("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        .set(database="relink_bench_smoke_{pid}")
        .render_as_string(hide_password=False)
    )
    monkeypatch.setenv("RELINK_BENCH_POSTGRES_URL", rendered)

    assert make_url(postgres_url()).database == f"relink_bench_smoke_{os.getpid()}"
    assert make_url(postgres_url("replay")).database == f"relink_bench_smoke_{os.getpid()}_replay"
