"""A small HTTPS server that requires a client certificate, as a bank's mutual-TLS API does.

Certificates come from ``trustme``: one CA issues the server's certificate and the
clients' ones, and the server accepts only clients that CA issued.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme


@dataclass
class MutualTlsServer:
    url: str
    # The DNS name of the client certificate presented, one per request.
    client_names: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def _dns_name(peer: dict[str, Any]) -> str:
    for kind, value in peer.get("subjectAltName", ()):
        if kind == "DNS":
            return str(value)
    return ""


@contextmanager
def mutual_tls_server(
    ca: trustme.CA, *, host: str = "localhost", body: dict[str, Any] | None = None
) -> Iterator[MutualTlsServer]:
    """Serve ``body`` as JSON on every GET/POST to clients presenting a certificate of ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    answer = json.dumps(body or {"status": "active"}).encode()
    state: MutualTlsServer

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            assert isinstance(self.connection, ssl.SSLSocket)
            peer = self.connection.getpeercert()
            state.client_names.append(_dns_name(peer or {}))
            state.paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[Any, Any]:
            sock, address = super().get_request()
            return context.wrap_socket(sock, server_side=True), address

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client without a certificate fails its handshake: that is the point

    server = Server(("127.0.0.1", 0), Handler)
    state = MutualTlsServer(url=f"https://{host}:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
