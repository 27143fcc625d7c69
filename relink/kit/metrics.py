"""Prometheus metrics (``GET /metrics``). Counters live per process; the outbox gauges are
read from the database at scrape time, so any web process reports the whole queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "relink_http_requests_total",
    "HTTP requests answered.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "relink_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
    registry=REGISTRY,
)
EMAILS = Counter("relink_emails_total", "Relink emails by result.", ["result"], registry=REGISTRY)
WEBHOOK_ATTEMPTS = Counter(
    "relink_webhook_attempts_total",
    "Webhook delivery attempts by result.",
    ["result"],
    registry=REGISTRY,
)
SCANS = Counter("relink_scans_total", "Scheduled scans run.", ["scan"], registry=REGISTRY)

OutboxStats = Callable[[], list[tuple[str, str, int, float]]]


class OutboxCollector(Collector):
    """Depth and age of the outbox by kind and status, queried when scraped."""

    def __init__(self, stats: OutboxStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "relink_outbox_depth", "Outbox rows by kind and status.", labels=["kind", "status"]
        )
        age = GaugeMetricFamily(
            "relink_outbox_oldest_age_seconds",
            "Age of the oldest pending row by kind.",
            labels=["kind"],
        )
        for kind, status, count, oldest_age in self.stats():
            depth.add_metric([kind, status], count)
            if status == "pending":
                age.add_metric([kind], oldest_age)
        yield depth
        yield age


def render(outbox: OutboxStats) -> bytes:
    """The process's counters plus the outbox gauges read from this app's database."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(OutboxCollector(outbox))
    return generate_latest(REGISTRY) + generate_latest(scrape)
