"""The client's address behind trusted reverse proxies (``HUMPHREY_TRUSTED_PROXIES``).

``X-Forwarded-For`` is a list each proxy appends to: anything left of what our own proxies added is
whatever the client chose to send. So the header is read only when the request comes from a trusted
proxy, and from the right: each address that is itself a trusted proxy is skipped, and the first one
that is not is the client. Everything that asks for the client's address (``REMOTE_ADDR``: the
``/metrics`` network check, allauth's sign-in rate limits, the audit trail) then sees that one.
The ASGI server must not rewrite the address itself (Daphne without ``--proxy-headers``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def _address(value: str):
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_address(peer: str, forwarded_for: str, trusted: Iterable[str]) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, else the right-most address in
    ``forwarded_for`` that is not a trusted proxy (a malformed entry ends the walk: it is the client's
    own doing, so the last trusted hop's view, the entry before it, is kept)."""
    networks = _networks(tuple(trusted))
    address = _address(peer)
    if address is None or not any(address in net for net in networks):
        return peer
    client = str(address)
    for entry in reversed([part for part in forwarded_for.split(",") if part.strip()]):
        hop = _address(entry)
        if hop is None:
            break
        client = str(hop)
        if not any(hop in net for net in networks):
            break
    return client


def scope_client_address(scope: dict) -> str:
    """The client's address for an ASGI connection (a websocket), by the same rule as
    ``TrustedProxyMiddleware`` applies to HTTP requests."""
    client = scope.get("client") or ("",)
    peer = str(client[0] or "")
    trusted = settings.HUMPHREY_TRUSTED_PROXIES
    if not trusted:
        return peer[:64]
    forwarded = b",".join(value for name, value in scope.get("headers") or () if name == b"x-forwarded-for")
    return client_address(peer, forwarded.decode("latin-1"), trusted)[:64]


class TrustedProxyMiddleware:
    """Sets ``REMOTE_ADDR`` to the client's address (see the module); the proxy's is kept as
    ``HUMPHREY_PEER_ADDR``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        trusted = settings.HUMPHREY_TRUSTED_PROXIES
        if trusted:
            peer = request.META.get("REMOTE_ADDR", "")
            request.META["HUMPHREY_PEER_ADDR"] = peer
            request.META["REMOTE_ADDR"] = client_address(peer, request.META.get("HTTP_X_FORWARDED_FOR", ""), trusted)
        return self.get_response(request)
