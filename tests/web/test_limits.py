"""Request bodies are refused at their limit before any part of Relink reads them."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from relink.api.router import MAX_BODY_BYTES
from tests.conftest import RunningServer

HUNDRED_MB = 100 * 1024 * 1024


def _connect(server: RunningServer) -> socket.socket:
    address = urlsplit(server.url)
    sock = socket.create_connection((address.hostname, address.port))
    # Not a timed assertion: on failure the server waits for the rest of the body, and the
    # test would otherwise wait with it for ever.
    sock.settimeout(30)
    return sock


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the answer, read until the server closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _request_head(path: str, framing: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: relink.test\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers",
        "/login",
        "/link/not-a-token/credentials",
        "/accounts/request-relink",
        "/settings",
    ],
)
def test_a_body_declared_over_the_limit_is_refused_before_a_byte_of_it_is_read(
    server: RunningServer, path: str
) -> None:
    # No key, no session, no CSRF token: the refusal comes before any of them is looked at,
    # and while the 100 MB are still unsent.
    with _connect(server) as sock:
        sock.sendall(_request_head(path, f"Content-Length: {HUNDRED_MB}"))
        status, body = _answer(sock)
    if path.startswith("/v1/"):
        assert status == 400
        error = json.loads(body)["error"]
        assert error["type"] == "invalid_request_error"
        assert str(MAX_BODY_BYTES) in error["message"]
    else:
        assert status == 413


def test_a_chunked_body_is_read_no_further_than_the_limit(server: RunningServer) -> None:
    # One byte over the limit, and the body never ends: the answer can only come from
    # reading stopping at the limit.
    with _connect(server) as sock:
        sock.sendall(_request_head("/v1/customers", "Transfer-Encoding: chunked"))
        left = MAX_BODY_BYTES + 1
        while left:
            chunk = b"x" * min(left, 65536)
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            left -= len(chunk)
        status, body = _answer(sock)
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


def test_a_chunked_body_within_the_limit_reaches_the_api(server: RunningServer) -> None:
    form = b"email=chunked%40example.com"
    with _connect(server) as sock:
        sock.sendall(_request_head("/v1/customers", "Transfer-Encoding: chunked"))
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(form), form))
        status, body = _answer(sock)
    # Read in full and handed on: the API then asks for a key.
    assert status == 401
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
