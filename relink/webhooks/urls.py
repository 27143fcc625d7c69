"""The SSRF guard for webhook URLs.

Live mode: ``https`` only, and the host must resolve only to global addresses (not
loopback, link-local, private, shared, multicast or reserved) unless the operator
allows private networks.
Sandbox: ``http`` is allowed and so are ``localhost`` / loopback addresses (a developer's
own receiver), other private ranges still need the operator's opt-in.
The check runs when an endpoint is saved and again before each delivery, so a DNS
change cannot turn an accepted endpoint into a request to an internal address.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeUrl(ValueError):
    pass


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_webhook_url(
    url: str, *, livemode: bool, allow_private: bool, resolve: bool = True
) -> str:
    """Return the URL if it may be called, else raise :class:`UnsafeUrl` saying why."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("Invalid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("Invalid URL: must be an absolute http(s) URL.")
    if livemode and parts.scheme != "https":
        raise UnsafeUrl("Invalid URL: live mode webhook endpoints must use https.")
    if parts.username or parts.password:
        raise UnsafeUrl("Invalid URL: credentials in the URL are not allowed.")
    host = parts.hostname
    if not resolve:
        return url
    for address in _addresses(host, port or (443 if parts.scheme == "https" else 80)):
        if address.is_loopback and not livemode:
            continue
        forbidden = (
            # is_global also rules out what is neither private nor public, such as the
            # shared address space 100.64.0.0/10 where some clouds serve instance metadata.
            not address.is_global
            or address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        )
        if forbidden and not allow_private:
            raise UnsafeUrl(
                f"Invalid URL: {host} resolves to a private or reserved address ({address})."
            )
    return url
