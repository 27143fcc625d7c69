"""The SSRF guard for webhook URLs.

A webhook URL is an absolute ``http(s)`` URL without credentials (``https`` only in live
mode) whose host resolves only to public addresses — in every mode, test mode included —
unless the operator allows private networks (``RELINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS``).
Not public: loopback, private, link-local, site-local, unique-local, shared (CGNAT,
where some clouds serve instance metadata), multicast, reserved, documentation and
unspecified addresses, and every other spelling of them: an IPv4 address written as
one number, in hex or octal or with parts left out (``2130706433``, ``0x7f.1``,
``127.1`` — the resolver reads them as 127.0.0.1), IPv4-mapped IPv6, and the IPv6
transition prefixes that embed an IPv4 address (6to4 ``2002::/16``, NAT64
``64:ff9b::/96``) when the embedded address is not public. Teredo (``2001::/32``) and
local-use NAT64 (``64:ff9b:1::/48``) reach addresses that cannot be judged and are
refused outright.

The URL is checked when an endpoint is saved (a host that does not resolve yet is
accepted) and again at every delivery: :func:`resolve_webhook_target` resolves the host
once and returns the checked addresses, and the delivery connects to one of those
addresses while keeping the URL's host for ``Host`` and TLS, so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot send the request elsewhere.
URLs are parsed by httpx, the client that sends them, so the guard and the delivery
cannot read one URL two ways.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


class UnsafeUrl(ValueError):
    """Why a URL cannot receive webhooks: the message in English (the API's), ``problem``
    the rule (``invalid``, ``not_http``, ``not_https``, ``credentials``, ``loopback`` or
    ``private``) and ``host`` the host it is about, for a page that words it itself."""

    def __init__(self, message: str, *, problem: str = "invalid", host: str = "") -> None:
        super().__init__(message)
        self.problem = problem
        self.host = host


@dataclass(frozen=True)
class WebhookTarget:
    """Where a delivery goes: the URL as saved and the checked addresses of its host."""

    url: httpx.URL
    addresses: tuple[Address, ...]


def _is_public_ipv4(address: ipaddress.IPv4Address) -> bool:
    return (
        address.is_global
        and address not in _SHARED
        and not (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        )
    )


def is_public_address(address: Address) -> bool:
    """Whether a webhook may be sent to ``address`` without the operator's opt-in."""
    if isinstance(address, ipaddress.IPv4Address):
        return _is_public_ipv4(address)
    if address in _MAPPED:
        assert address.ipv4_mapped is not None
        return _is_public_ipv4(address.ipv4_mapped)
    if address in _TEREDO or address in _NAT64_LOCAL:
        return False
    if address in _SIX_TO_FOUR:
        assert address.sixtofour is not None
        if not _is_public_ipv4(address.sixtofour):
            return False
    elif address in _NAT64:
        # The well-known NAT64 prefix is global: what it embeds decides.
        return _is_public_ipv4(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_site_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _parse(url: str, *, livemode: bool) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise UnsafeUrl("Invalid URL.") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeUrl("Invalid URL: must be an absolute http(s) URL.", problem="not_http")
    if livemode and parsed.scheme != "https":
        raise UnsafeUrl(
            "Invalid URL: live mode webhook endpoints must use https.", problem="not_https"
        )
    if parsed.userinfo:
        raise UnsafeUrl(
            "Invalid URL: credentials in the URL are not allowed.", problem="credentials"
        )
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[Address]:
    """The addresses ``host`` stands for: itself when it is an IP address, else the
    resolver's answer (which also reads ``2130706433``-style IPv4 spellings); [] when
    it does not resolve."""
    try:
        # An IPv6 literal may carry a zone (``fe80::1%eth0``); the address decides.
        return [ipaddress.ip_address(host.split("%", 1)[0] if ":" in host else host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _refuse_private(host: str, addresses: list[Address], *, allow_private: bool) -> None:
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise UnsafeUrl(f"Invalid URL: {host} is a loopback name.", problem="loopback", host=host)
    for address in addresses:
        if not is_public_address(address):
            raise UnsafeUrl(
                f"Invalid URL: {host} resolves to a private or reserved address ({address}).",
                problem="private",
                host=host,
            )


def check_webhook_url(url: str, *, livemode: bool, allow_private: bool) -> str:
    """Return the URL if an endpoint may be saved with it, else raise :class:`UnsafeUrl`
    saying why. A host that does not resolve (yet) is accepted: each delivery checks
    again."""
    parsed = _parse(url, livemode=livemode)
    host = parsed.raw_host.decode("ascii")
    _refuse_private(host, resolve(host, _port(parsed)), allow_private=allow_private)
    return url


def resolve_webhook_target(url: str, *, livemode: bool, allow_private: bool) -> WebhookTarget:
    """Resolve the URL's host once and check every address, for one delivery."""
    parsed = _parse(url, livemode=livemode)
    host = parsed.raw_host.decode("ascii")
    addresses = resolve(host, _port(parsed))
    if not addresses:
        raise UnsafeUrl(f"Could not resolve {host}.")
    _refuse_private(host, addresses, allow_private=allow_private)
    return WebhookTarget(parsed, tuple(addresses))
