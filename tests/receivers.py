"""A real HTTP(S) server that records webhook deliveries, and a stand-in DNS, for tests."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


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
    # Bodies to answer with, in order; b"ok" or b"nope" once exhausted.
    bodies: list[bytes] = field(default_factory=list)
    # The most requests it was ever answering at the same time.
    most_in_flight: int = 0
    # The TLS server names (SNI) clients asked for, for an HTTPS receiver.
    server_names: list[str | None] = field(default_factory=list)
    port: int = 0


@contextmanager
def webhook_receiver(
    *,
    delay: float = 0.0,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: ssl.SSLContext | None = None,
    url_host: str | None = None,
    gate: threading.Event | None = None,
) -> Iterator[Receiver]:
    """A receiver on ``host`` (a free port unless given); ``delay`` seconds per request
    makes batches take time. With ``tls`` it speaks HTTPS with that server context.
    ``url_host`` is the name its ``url`` uses instead of the address. With ``gate``,
    every request waits until the gate is set (a stuck endpoint, released by the test)."""
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
            if gate is not None:
                gate.wait(120)
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
                answer = receiver.bodies.pop(0) if receiver.bodies else None
            if answer is None:
                answer = b"ok" if status < 300 else b"nope"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    receiver.port = int(server.server_address[1])
    if tls is not None:

        def remember_name(sock: Any, server_name: str | None, context: Any) -> None:
            receiver.server_names.append(server_name)

        tls.sni_callback = remember_name
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    receiver.url = f"{scheme}://{url_host or host}:{receiver.port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FakeDns:
    """Answers for made-up host names in place of the system resolver (other names go
    to the real one). ``answers[name]`` is the list of successive answers, the last one
    repeating; ``lookups`` counts the questions per name."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: Counter[str] = field(default_factory=Counter)


def install_fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    dns = FakeDns()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in dns.answers:
            return real(host, port, *args, **kwargs)
        answers = dns.answers[name]
        answer = answers[min(dns.lookups[name], len(answers) - 1)]
        dns.lookups[name] += 1
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, int(port or 0)),
            )
            for address in answer
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return dns
