"""The NextGenPSD2 reference as a contract: validate an httpx exchange with openapi-core.

The document is the Berlin Group's NextGenPSD2 XS2A Framework 1.3.16 (AIS subset),
vendored in tests/reference/nextgenpsd2 (see its README). `validate_response(response)`
checks one answer (errors included) against the operation its request hit;
`validate_request(request)` checks what a client sent. `server` is the ASPSP's XS2A
root as the client calls it (e.g. `https://bank.test/psd2`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

REFERENCE = Path(__file__).parents[2] / "reference" / "nextgenpsd2" / "psd2-ais.openapi.yaml"


@functools.cache
def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(REFERENCE.read_text())
    return loaded


@functools.cache
def contract(server: str) -> OpenAPI:
    document = dict(_document())
    document["servers"] = [{"url": server.rstrip("/")}]
    return OpenAPI.from_dict(document)


@dataclass
class _Request:
    request: httpx.Request
    # openapi-core's Request protocol declares `parameters` a settable attribute.
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(self.request.url.query.decode())),
            header=Headers(dict(self.request.headers)),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self.request.url.scheme}://{self.request.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None

    @property
    def content_type(self) -> str:
        return str(self.request.headers.get("content-type", ""))


@dataclass
class _Response:
    response: httpx.Response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def content_type(self) -> str:
        return str(self.response.headers.get("content-type", ""))

    @property
    def headers(self) -> Headers:
        return Headers(dict(self.response.headers))

    @property
    def data(self) -> bytes | None:
        return self.response.content or None


def validate_request(request: httpx.Request, server: str) -> None:
    contract(server).validate_request(_Request(request))


def validate_response(response: httpx.Response, server: str) -> None:
    """Raises openapi-core's error when the answer breaks the document."""
    validate_exchange(response.request, response, server)


def validate_exchange(request: httpx.Request, response: httpx.Response, server: str) -> None:
    """The answer to `request` (a transport's answer need not know its request yet)."""
    response.read()
    contract(server).validate_response(_Request(request), _Response(response))


def checking_hook(server: str) -> Any:
    """An httpx response hook validating every answer under `server`/v1/."""

    def check(response: httpx.Response) -> None:
        if str(response.request.url).startswith(server.rstrip("/") + "/v1/"):
            validate_response(response, server)

    return check
