"""Sending one webhook request to an address the SSRF guard checked.

The request goes to the checked IP address itself (the first one that accepts a
connection), never to a fresh DNS answer; ``Host`` and the TLS server name (SNI and the
certificate check) stay the URL's host, so virtual hosts and certificates work as if the
name had been resolved by the client.

Only a short excerpt of the receiver's answer is kept, for the attempt log that everyone
on the team can read: at most :data:`READ_LIMIT_BYTES` are read, and at most
:data:`EXCERPT_CHARS` characters are stored, with control and format characters and
runs of white space each turned into one space. The excerpt is kept for every answer,
2xx or not: what a failing receiver says ("no matching signature") is what its developer
needs, and the SSRF guard keeps internal services out of reach unless the operator opts in.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import httpx

from relink.webhooks.urls import WebhookTarget

READ_LIMIT_BYTES = 1024
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Answer:
    status_code: int
    excerpt: str | None


def sanitised_excerpt(raw: bytes) -> str | None:
    """What of an answer's body the attempt log keeps (None when nothing is left)."""
    text = raw.decode("utf-8", errors="replace")
    visible = "".join(" " if unicodedata.category(char)[0] in ("C", "Z") else char for char in text)
    return " ".join(visible.split())[:EXCERPT_CHARS] or None


def _read_start(response: httpx.Response) -> bytes:
    start = b""
    for chunk in response.iter_bytes(chunk_size=READ_LIMIT_BYTES):
        start += chunk
        if len(start) >= READ_LIMIT_BYTES:
            break
    return start[:READ_LIMIT_BYTES]


def post_to_target(
    target: WebhookTarget, content: bytes, headers: dict[str, str], *, timeout: float
) -> Answer:
    """POST ``content`` to the target's checked addresses in turn until one connects."""
    url = target.url
    extensions = {"sni_hostname": url.raw_host.decode("ascii")}
    pinned_headers = {**headers, "Host": url.netloc.decode("ascii")}
    failure: httpx.ConnectError | None = None
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for address in target.addresses:
            request = client.build_request(
                "POST",
                url.copy_with(host=str(address)),
                content=content,
                headers=pinned_headers,
                extensions=extensions,
            )
            try:
                response = client.send(request, stream=True)
            except httpx.ConnectError as error:
                failure = error
                continue
            try:
                return Answer(response.status_code, sanitised_excerpt(_read_start(response)))
            finally:
                response.close()
    assert failure is not None  # a target has at least one address
    raise failure
