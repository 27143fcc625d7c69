"""A real HTTP server that records webhook deliveries, for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: str
    # time.monotonic() when the request arrived.
    arrived_at: float = 0.0


@dataclass
class Receiver:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    # Status codes to answer with, in order; 200 once exhausted.
    answers: list[int] = field(default_factory=list)
    # The most requests it was ever answering at the same time.
    most_in_flight: int = 0


@contextmanager
def webhook_receiver(*, delay: float = 0.0) -> Iterator[Receiver]:
    """A receiver on a free port; ``delay`` seconds per request makes batches take time."""
    receiver = Receiver(url="")
    lock = threading.Lock()
    in_flight = 0

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            nonlocal in_flight
            arrived_at = time.monotonic()
            with lock:
                in_flight += 1
                receiver.most_in_flight = max(receiver.most_in_flight, in_flight)
            if delay:
                time.sleep(delay)
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            with lock:
                in_flight -= 1
                receiver.deliveries.append(
                    Delivery(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        arrived_at,
                    )
                )
                status = receiver.answers.pop(0) if receiver.answers else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
