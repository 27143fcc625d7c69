"""Driving the hosted pages over HTTP (httpx), as a browser without JavaScript would."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

import httpx

from relink.sandbox_bank.testing import authorize_in_bank

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CONFIRMATION = re.compile(r'name="confirmation" value="([^"]+)"')


class HostedPages:
    """One holder's browser: a cookie jar and the hosted pages of one link."""

    def __init__(self, http: httpx.Client, link_url: str) -> None:
        self.http = http
        self.link_url = link_url
        self.last: httpx.Response | None = None
        self._csrf: str | None = None

    def open(self, **headers: str) -> httpx.Response:
        self.last = self.http.get(self.link_url, headers=headers)
        return self.last

    def csrf(self) -> str:
        """The link's CSRF token, from the last page that had a form."""
        page = self.last if self.last is not None else self.open()
        found = CSRF.search(page.text)
        if found:
            self._csrf = found.group(1)
        assert self._csrf, f"no CSRF token seen yet: {page.text[:300]}"
        return self._csrf

    def post(self, action: str, **fields: str | list[str]) -> httpx.Response:
        data = {"csrf_token": self.csrf(), **fields}
        self.last = self.http.post(f"{self.link_url}/{action}", data=data)
        return self.last

    def follow(self, response: httpx.Response) -> httpx.Response:
        """Follow Relink's own 303s back to the link's page."""
        while response.status_code in (302, 303) and response.headers["location"].startswith(
            self.link_url
        ):
            response = self.http.get(response.headers["location"])
        self.last = response
        return response

    def press_continue(self) -> httpx.Response:
        return self.follow(self.post("continue"))

    def sign_in(self, username: str, password: str) -> httpx.Response:
        return self.follow(self.post("credentials", username=username, password=password))

    def answer(self, answer: str) -> httpx.Response:
        return self.follow(self.post("challenge", answer=answer))

    def pick_bank(self, institution: str) -> httpx.Response:
        """Link sessions: choose `institution` in the picker (an OAuth bank answers 303)."""
        return self.post("institution", institution=institution)

    def choose_accounts(self, *stable_ids: str) -> httpx.Response:
        return self.follow(self.post("accounts", account=list(stable_ids)))

    def link_accounts(self) -> httpx.Response:
        """The consent page's "Link accounts"."""
        return self.follow(self.post("consent"))

    def confirmation(self) -> str:
        """The one-time token of the confirmation page last shown."""
        assert self.last is not None
        found = CONFIRMATION.search(self.last.text)
        assert found, f"no confirmation form: {self.last.text[:300]}"
        return found.group(1)

    def give_up(self) -> httpx.Response:
        """ "Cancel", then "Yes, cancel this request" on the confirmation page."""
        asked = self.follow(self.post("cancel"))
        assert asked.status_code == 200, asked.text[:300]
        return self.follow(self.post("cancel/confirm", confirmation=self.confirmation()))

    def email_new_link(self) -> httpx.Response:
        """ "Email me a new link", then "Send me a new link" on the confirmation page."""
        asked = self.follow(self.post("new-link"))
        assert asked.status_code == 200, asked.text[:300]
        return self.follow(self.post("new-link/confirm", confirmation=self.confirmation()))

    def through_bank(
        self, bank_redirect: httpx.Response, *, username: str, **walk: object
    ) -> httpx.Response:
        """Walk the bank's OAuth pages, then come back through Relink's callback."""
        assert bank_redirect.status_code == 303, bank_redirect.text[:300]
        back = authorize_in_bank(
            self.http,
            bank_redirect.headers["location"],
            username=username,
            password="pw",
            **walk,  # type: ignore[arg-type]
        )
        return self.follow(self.http.get(urljoin(self.link_url, back)))


def text_of(response: httpx.Response) -> str:
    """The page's visible text, roughly (tags removed, entities decoded)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.text)).split())
