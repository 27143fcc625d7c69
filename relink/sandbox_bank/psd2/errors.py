"""Errors as the NextGenPSD2 document shapes them: `{"tppMessages": [...]}` (JSON).

408, 415, 500 and 503 have no body in the document, so they leave without one.
"""

from __future__ import annotations

from typing import Any

NO_BODY = frozenset({408, 415, 500, 503})


class Psd2Error(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        text: str,
        *,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        commit: bool = False,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.text = text
        self.path = path
        self.headers = dict(headers or {})
        # the unit of work keeps what happened before the error (a counted read)
        self.commit = commit

    def body(self) -> dict[str, Any] | None:
        if self.status in NO_BODY:
            return None
        message: dict[str, Any] = {"category": "ERROR", "code": self.code, "text": self.text}
        if self.path is not None:
            message["path"] = self.path
        return {"tppMessages": [message]}


def format_error(text: str, path: str | None = None) -> Psd2Error:
    return Psd2Error(400, "FORMAT_ERROR", text, path=path)


def consent_unknown() -> Psd2Error:
    return Psd2Error(403, "CONSENT_UNKNOWN", "The consent is unknown.")
