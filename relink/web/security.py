"""Security headers: a strict CSP on HTML, no framing or sniffing on every response, HSTS
in production, and ``Cache-Control: no-store`` on API answers (some carry secrets)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def csp_with_form_targets(*origins: str) -> str:
    """The default policy, also allowing forms to post (or redirect) to ``origins``."""
    extra = " ".join(origin for origin in origins if origin)
    return DEFAULT_CSP.replace("form-action 'self'", f"form-action 'self' {extra}".rstrip())


# Two years, subdomains included: production is served over https only (its public URL
# must be https), and a browser that once saw it never tries plain http again.
HSTS = b"max-age=63072000; includeSubDomains"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/sandbox-bank"):
            await self.app(scope, receive, send)
            return
        api = scope.get("path", "").startswith("/v1/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                content_type = dict(headers).get(b"content-type", b"")
                if (
                    content_type.startswith(b"text/html")
                    and b"content-security-policy" not in names
                ):
                    headers.append((b"content-security-policy", DEFAULT_CSP.encode()))
                wanted = [
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if self.hsts:
                    wanted.append((b"strict-transport-security", HSTS))
                if api:
                    wanted.append((b"cache-control", b"no-store"))
                for name, value in wanted:
                    if name not in names:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
