"""Helpers for tests that need the sandbox bank (Relink's too).

- `BankProcess`: the bank in a separate process (`python -m relink.sandbox_bank`) on a
  free port, reached over real HTTP.
- `authorize_in_bank`: walk the bank's OAuth pages with an httpx client, as a holder
  would with a browser (posting the forms the pages render), and return the URL the
  bank sends the holder back to.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import uvicorn
from starlette.types import ASGIApp

from relink.sandbox_bank.app import TlsFiles
from relink.sandbox_bank.store import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

# How long a test server or bank process may take to listen before the test fails. Generous:
# on a loaded machine (parallel test processes, coverage) start-up takes many seconds, and a
# wait that gives up early fails a test for the machine's speed, not for Relink.
STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: ASGIApp, *, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app over real HTTP from a thread; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class BankProcess:
    """Runs the bank in its own process: `with BankProcess(tmp_path / "bank.db") as bank:`."""

    def __init__(
        self,
        database_path: Path,
        *,
        port: int | None = None,
        tls: TlsFiles | None = None,
        pages_port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.pages_port = pages_port
        self.database_url = f"sqlite:///{database_path}"
        self.tls = tls
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.pages_url = f"{'https' if tls else 'http'}://127.0.0.1:{pages_port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BankProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = STARTUP_SECONDS) -> None:
        command = [
            sys.executable,
            "-m",
            "relink.sandbox_bank",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url,
        ]
        if self.tls is not None:
            command += ["--tls-cert", self.tls.cert, "--tls-key", self.tls.key]
            if self.tls.client_ca is not None:
                command += ["--client-ca", self.tls.client_ca]
        if self.pages_port is not None:
            command += ["--pages-port", str(self.pages_port)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        self._process = subprocess.Popen(command, env=env)
        deadline = time.monotonic() + timeout
        if self.tls is not None:
            self._wait_listening(deadline)
            return
        with httpx.Client(base_url=self.base_url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"sandbox bank exited with {self._process.returncode}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("sandbox bank did not start in time")

    def _wait_listening(self, deadline: float) -> None:
        """Over (mutual) TLS a probe would need a certificate: wait for the port."""
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"sandbox bank exited with {self._process.returncode}")
            try:
                for port in (self.port, self.pages_port or self.port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("sandbox bank did not start in time")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


@dataclass
class PageForm:
    action: str
    step: str | None
    challenge: str | None
    fields: dict[str, str] = field(default_factory=dict)
    checkboxes: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    radios: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[PageForm] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                PageForm(a.get("action", ""), a.get("data-step"), a.get("data-challenge"))
            )
        elif tag == "input" and self.forms:
            form, name, kind = self.forms[-1], a.get("name", ""), a.get("type", "text")
            if kind == "checkbox":
                form.checkboxes.setdefault(name, []).append((a.get("value", ""), "checked" in a))
            elif kind == "radio":
                form.radios.setdefault(name, []).append(a.get("value", ""))
            elif name:
                form.fields[name] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_forms(html: str) -> list[PageForm]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class BankPageError(AssertionError):
    """The bank showed a page the walk did not expect (its text is the message)."""


_DEFAULT_ANSWERS = {
    "one_time_code": "123456",
    "confirm_code": "123456",
    "security_question": "relink",
}


def authorize_in_bank(
    http: httpx.Client,
    authorize_url: str,
    *,
    username: str,
    password: str,
    answers: Iterable[str] = (),
    accounts: Sequence[str] | None = None,
    allow: bool = True,
    max_steps: int = 10,
) -> str:
    """Walk login → challenges → account picker → consent; return the redirect back.

    `answers` are used in order for challenges (defaults: the fixed sandbox answers,
    the first option); `accounts` picks account ids (default: what the page checks, or
    all when nothing is checked).
    """
    pending_answers = list(answers)
    response = http.get(authorize_url, follow_redirects=False)
    # Every form answers with a redirect: to the flow's own page, or back to the app.
    flow_pages = str(response.url).split("?", 1)[0] + "/flow/"
    steps = 0
    while steps < max_steps:
        if response.status_code in (302, 303):
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(flow_pages):
                return str(response.headers["location"])
            response = http.get(location, follow_redirects=False)
            continue
        steps += 1
        forms = [f for f in parse_forms(response.text) if f.step]
        if not forms:
            raise BankPageError(f"{response.status_code}: {response.text[:500]}")
        form = forms[0]
        data: dict[str, str | list[str]] = dict(form.fields)
        if form.step == "login":
            data.update(username=username, password=password, action="sign_in")
        elif form.step == "challenge":
            if pending_answers:
                data["answer"] = pending_answers.pop(0)
            elif form.radios.get("answer"):
                data["answer"] = form.radios["answer"][0]
            else:
                data["answer"] = _DEFAULT_ANSWERS.get(form.challenge or "", "")
        elif form.step == "accounts":
            boxes = form.checkboxes.get("account", [])
            if accounts is not None:
                data["account"] = list(accounts)
            else:
                checked = [v for v, on in boxes if on]
                data["account"] = checked or [v for v, _ in boxes]
        elif form.step == "consent":
            data["decision"] = "allow" if allow else "deny"
        else:
            raise BankPageError(f"unexpected form {form.step}")
        response = http.post(
            urljoin(str(response.url), form.action), data=data, follow_redirects=False
        )
    raise BankPageError("too many steps")


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# Where test drivers have the bank send the browser back (nothing listens there: the
# driver reads the redirect). A bank under test is started with it allowed.
TEST_REDIRECT_URI = "http://127.0.0.1:9/callback"


class BankDriver:
    """Plays both the app and the holder against a bank reached through `http`
    (whose base_url is the bank's root)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        redirect_uri: str = TEST_REDIRECT_URI,
    ) -> None:
        self.http = http
        self.client_auth = (client_id, client_secret)
        self.client_id = client_id
        self.redirect_uri = redirect_uri

    def authorize_url(
        self, institution: str, pkce: Pkce, *, state: str = "state-1", **overrides: str
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
            "institution": institution,
            **overrides,
        }
        return f"oauth/authorize?{urlencode(params)}"

    def authorization_code(self, institution: str, username: str, pkce: Pkce, **walk: Any) -> str:
        back = authorize_in_bank(
            self.http,
            self.authorize_url(institution, pkce),
            username=username,
            password=walk.pop("password", "pw"),
            **walk,
        )
        return query_of(back)["code"]

    def exchange(
        self, code: str, pkce: Pkce, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.http.post(
            "oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": pkce.verifier,
            },
            auth=self.client_auth,
            headers=headers,
        )

    def link_oauth(
        self,
        institution: str,
        username: str,
        *,
        headers: dict[str, str] | None = None,
        **walk: Any,
    ) -> dict[str, Any]:
        """Authorize through the pages and exchange the code: the token response."""
        pkce = new_pkce()
        code = self.authorization_code(institution, username, pkce, **walk)
        response = self.exchange(code, pkce, headers=headers)
        if response.status_code != 200:
            raise BankPageError(f"token exchange failed: {response.text}")
        body: dict[str, Any] = response.json()
        return body

    def login(
        self,
        institution: str,
        username: str,
        password: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Credential login; the password defaults to one that simply succeeds."""
        return self.http.post(
            "api/v1/logins",
            json={
                "institution": institution,
                "username": username,
                "password": password if password is not None else "pw",
            },
            headers=headers,
        )

    def refresh(
        self, refresh_token: str, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.http.post(
            "oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=self.client_auth,
            headers=headers,
        )

    def revoke_in_security_center(self, institution: str, username: str, app_name: str) -> None:
        """Sign in to the security center and press "Revoke access" on `app_name`."""
        page = self.http.get("security-center")
        form = next(f for f in parse_forms(page.text) if f.step == "security_center_login")
        signed_in = self.http.post(
            urljoin(str(page.url), form.action),
            data={**form.fields, "institution": institution, "username": username},
            follow_redirects=True,
        )
        for item in _grant_items(signed_in.text):
            if item.app_name == app_name and item.form is not None:
                self.http.post(
                    urljoin(str(signed_in.url), item.form.action),
                    data=item.form.fields,
                    follow_redirects=True,
                ).raise_for_status()
                return
        raise BankPageError(f"no revocable grant of {app_name!r} in the security center")


@dataclass
class _GrantItem:
    app_name: str
    form: PageForm | None


def _grant_items(html: str) -> list[_GrantItem]:
    """The security center's list: each `li[data-grant]` with its app name and form."""
    items: list[_GrantItem] = []

    class Parser(HTMLParser):
        in_item = False
        in_name = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "li" and "data-grant" in a:
                self.in_item = True
                items.append(_GrantItem("", None))
            elif tag == "strong" and self.in_item:
                self.in_name = True
            elif tag == "form" and self.in_item:
                items[-1].form = PageForm(a.get("action") or "", a.get("data-step"), None)
            elif tag == "input" and self.in_item and items[-1].form is not None:
                form = items[-1].form
                if a.get("name"):
                    form.fields[a["name"] or ""] = a.get("value") or ""

        def handle_endtag(self, tag: str) -> None:
            if tag == "li":
                self.in_item = False
            if tag == "strong":
                self.in_name = False

        def handle_data(self, data: str) -> None:
            if self.in_name and items:
                items[-1].app_name += data

    Parser().feed(html)
    return items
