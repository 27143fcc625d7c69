"""What the benchmarks share: fresh databases, runtimes, figures, a Relink server in its
own process, and a small HTTP load generator.

Figures: every benchmark prints one line per figure (the figure, its floor measured in
the same run, and the ratio floor-relative: 1.0 means "as fast as the floor"); with
``--json`` it prints one JSON object per figure instead, which ``python -m bench``
collects into ``bench/results.md``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
import structlog
from sqlalchemy.engine import make_url

from relink.config import Settings
from relink.db import make_engine
from relink.kit.logs import configure_logging
from relink.models import Base
from relink.runtime import Runtime

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/relink_bench_{pid}"
BENCH_SECRET_KEY = "bench-secret-key-bench-secret-key"
HOST = "127.0.0.1"


# -- databases ---------------------------------------------------------------------------


def postgres_url(suffix: str = "") -> str:
    """The URL of this process's benchmark database (``RELINK_BENCH_POSTGRES_URL`` wins;
    ``{pid}`` in it becomes the process id, so concurrent runs do not share a database)."""
    parsed = make_url(os.environ.get("RELINK_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    # The name as written: a URL built with SQLAlchemy has its braces percent-encoded.
    name = (parsed.database or "relink_bench").replace("{pid}", str(os.getpid()))
    if suffix:
        name = f"{name}_{suffix}"
    return parsed.set(database=name).render_as_string(hide_password=False)


def _admin_dsn(url: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


def postgres_reachable() -> bool:
    import psycopg

    try:
        with psycopg.connect(_admin_dsn(postgres_url()), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def postgres_version() -> str | None:
    import psycopg

    try:
        with psycopg.connect(_admin_dsn(postgres_url()), connect_timeout=3) as connection:
            row = connection.execute("SHOW server_version").fetchone()
    except psycopg.OperationalError:
        return None
    return str(row[0]) if row else None


def create_schema(url: str) -> None:
    """The tables as the models define them (the migrations' result, much faster),
    stamped at the migrations' head so ``relink serve`` and ``relink worker`` accept it."""
    from alembic import command

    from relink.migrate import alembic_config

    engine = make_engine(url)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    command.stamp(alembic_config(url), "head")


@contextmanager
def database(engine: str, *, suffix: str = "") -> Iterator[str]:
    """A fresh database of the engine with the schema; dropped afterwards."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="relink-bench-") as folder:
            url = f"sqlite:///{folder}/bench.db"
            create_schema(url)
            yield url
        return
    if engine != "postgresql":
        raise ValueError(f"unknown engine {engine!r}")
    import psycopg

    url = postgres_url(suffix)
    admin, name = _admin_dsn(url), make_url(url).database
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        create_schema(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_settings(url: str, var_dir: Path, **updates: Any) -> Settings:
    settings = Settings(
        env="test",
        database_url=url,
        secret_key=BENCH_SECRET_KEY,
        var_dir=var_dir,
        in_process_worker=False,
        _env_file=None,
    )
    return settings.model_copy(update=updates) if updates else settings


def make_runtime(url: str, var_dir: Path, **updates: Any) -> Runtime:
    return Runtime.from_settings(bench_settings(url, var_dir, **updates))


def log_to_file(path: Path) -> TextIO:
    """Relink's production log format (JSON lines), written to ``path`` instead of stdout,
    so the work of logging stays in the measured path and stdout keeps only figures."""
    configure_logging(json_lines=True)
    handle = path.open("a", encoding="utf-8")
    structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=handle))
    return handle


# -- figures ---------------------------------------------------------------------------


@dataclass
class Figure:
    """One printed figure: the real path, its floor in the same run, and their ratio."""

    benchmark: str  # the budget row: "email delivery", "session create API", ...
    variant: str  # the engine or case in brackets
    n: int
    unit: str
    value: float
    floor: float | None
    ratio: float | None
    # Latencies in milliseconds and anything else the budget checks (p99_ms, peak_rss_mb…).
    metrics: dict[str, Any] = field(default_factory=dict)
    runs: list[float] = field(default_factory=list)
    line: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def emit(figures: Sequence[Figure], *, as_json: bool) -> None:
    for figure in figures:
        print(figure.to_json() if as_json else figure.line, flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def p50_p99(replies: Sequence[Reply]) -> tuple[float, float]:
    """The median and 99th-percentile latency of ``replies``, in milliseconds."""
    values = [reply.latency for reply in replies]
    return ms(percentile(values, 0.50)), ms(percentile(values, 0.99))


def ms(seconds: float) -> float:
    return seconds * 1000.0


# -- a Relink server in its own process -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def relink_command() -> list[str]:
    script = Path(sys.executable).parent / "relink"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from relink.cli import main; main()"]


@dataclass
class RunningServer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@contextmanager
def relink_server(url: str, var_dir: Path, **environment: str) -> Iterator[RunningServer]:
    """``relink serve --no-worker`` on a free port over ``url``, with the bench hello route
    (``RELINK_BENCH_HELLO=1``) for the floor; stopped with SIGTERM afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "RELINK_ENV": "development",
        "RELINK_DATABASE_URL": url,
        "RELINK_SECRET_KEY": BENCH_SECRET_KEY,
        "RELINK_VAR_DIR": str(var_dir),
        "RELINK_PUBLIC_URL": f"http://{HOST}:{port}",
        "RELINK_BENCH_HELLO": "1",
        **environment,
    }
    log = var_dir / "server.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*relink_command(), "serve", "--no-worker", "--host", HOST, "--port", str(port)],
            cwd=var_dir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(port, process, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: RunningServer, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"relink serve exited early:\n{server_log_tail(server)}")
        try:
            if httpx.get(server.url + "/bench/hello", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"relink serve did not answer in {timeout:.0f} s:\n{server_log_tail(server)}")


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def signed_in(url: str, email: str, password: str, *, timeout: float = 60) -> httpx.Client:
    """An httpx client of the dashboard at ``url``, signed in as ``email``."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=timeout)
    found = _CSRF.search(client.get("/login").text)
    if found is None:
        raise SystemExit("the sign-in page has no CSRF token")
    answer = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": found.group(1)}
    )
    if answer.status_code != 303:
        raise SystemExit(f"signing in as {email} failed: {answer.status_code}")
    return client


def server_log_tail(server: RunningServer, lines: int = 30) -> str:
    try:
        text = server.log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- HTTP load -------------------------------------------------------------------------------
#
# A deliberately small HTTP/1.1 keep-alive client on asyncio streams (uvloop when present):
# requests are pre-built bytes and responses are read by Content-Length, so the load
# generator spends a few microseconds per request and leaves the CPU to the server.


def http_request(
    method: str,
    path: str,
    *,
    port: int,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Reply:
    status: int
    body: bytes
    latency: float


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        return cls(reader, writer)

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length is None:
            raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _run(coroutine: Any) -> Any:
    """Run the load generator with this process's garbage collector paused: a full
    collection of the client's own heap (thousands of pending requests) would otherwise
    delay sends and show up as server latency."""
    gc.collect()
    gc.disable()
    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
            return asyncio.run(coroutine)
        return uvloop.run(coroutine)
    finally:
        gc.enable()


def closed_loop(
    port: int, requests: Sequence[bytes], concurrency: int
) -> tuple[list[Reply], float]:
    """Send ``requests`` over ``concurrency`` keep-alive connections, each client sending its
    next request as soon as the previous answer arrived. Returns the replies (in request
    order) and the wall time of the whole run."""

    async def run() -> tuple[list[Reply], float]:
        replies: list[Reply | None] = [None] * len(requests)
        connections = [await Connection.open(port) for _ in range(concurrency)]
        position = 0

        async def client(connection: Connection) -> None:
            nonlocal position
            while position < len(requests):
                index = position
                position += 1
                started = time.perf_counter()
                status, body = await connection.exchange(requests[index])
                replies[index] = Reply(status, body, time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in connections))
        elapsed = time.perf_counter() - started
        for connection in connections:
            connection.close()
        return [reply for reply in replies if reply is not None], elapsed

    result: tuple[list[Reply], float] = _run(run())
    return result


def open_loop(
    port: int, requests: Sequence[bytes], rate: float, *, max_connections: int = 256
) -> tuple[list[Reply], float]:
    """Send request ``i`` at ``start + i / rate`` whether or not earlier ones were answered
    (open loop), on a pool of keep-alive connections that grows when all are busy (up to
    ``max_connections``; beyond that a request waits for a free one). Latency counts from
    the scheduled send time, so a stalled server cannot hide its queue (no coordinated
    omission). Returns the replies and the achieved rate (requests / time to the last
    answer)."""

    async def run() -> tuple[list[Reply], float]:
        idle: asyncio.Queue[Connection] = asyncio.Queue()
        opened = 0
        replies: list[Reply | None] = [None] * len(requests)
        for _ in range(8):
            idle.put_nowait(await Connection.open(port))
            opened += 1
        # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
        start = time.perf_counter() + 0.05

        async def one(index: int) -> None:
            nonlocal opened
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if idle.empty() and opened < max_connections:
                opened += 1
                connection = await Connection.open(port)
            else:
                connection = await idle.get()
            status, body = await connection.exchange(requests[index])
            replies[index] = Reply(status, body, time.perf_counter() - scheduled)
            idle.put_nowait(connection)

        await asyncio.gather(*(one(i) for i in range(len(requests))))
        elapsed = time.perf_counter() - start
        while not idle.empty():
            idle.get_nowait().close()
        return [reply for reply in replies if reply is not None], len(requests) / elapsed

    result: tuple[list[Reply], float] = _run(run())
    return result


def check_replies(replies: Sequence[Reply], expected: int, what: str) -> None:
    """Stop the benchmark if any answer was not ``expected``: figures of errors are no
    figures."""
    wrong = [reply for reply in replies if reply.status != expected]
    if wrong:
        first = wrong[0]
        raise SystemExit(
            f"{what}: {len(wrong)} of {len(replies)} answers were not {expected}; first was "
            f"{first.status}: {first.body[:500].decode('utf-8', 'replace')}"
        )
