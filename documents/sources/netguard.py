"""Where a synced source may connect: public unicast addresses only, checked after every DNS answer.

The check lives in the network backend httpcore calls for every new connection (``GuardedBackend``),
not in front of the request: the host is resolved here, every answer is vetted, and the socket is
opened to a vetted address itself, so a second DNS answer (rebinding) never reaches a socket, and a
redirect, a kept-alive pool or a retry cannot go around it. TLS is unchanged: httpcore hands
``start_tls`` the URL's host name as ``server_hostname`` (httpcore/_sync/connection.py), so the
certificate is still verified against the name, not the address.

Django-free: ``documents.sources.net`` passes in the settings.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges ipaddress's is_private/is_global do not all cover in every 3.11 patch release; listed so the
# policy does not move with the interpreter.
_NEVER = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "100.64.0.0/10",  # carrier-grade NAT, often the cloud's own internal network
        "169.254.0.0/16",  # link-local, including the cloud metadata service 169.254.169.254
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "255.255.255.255/32",
        "fc00::/7",  # unique local, fd00::/8 included
        "fe80::/10",
        "fec0::/10",  # deprecated site-local
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix: the last 32 bits are an IPv4 address

# A name so tests can replace DNS for this module only.
getaddrinfo = socket.getaddrinfo


class BlockedAddress(Exception):
    """A host resolved to (or is) an address sources may not reach."""

    def __init__(self, host: str, address: str):
        super().__init__(f"{host} resolves to {address}")
        self.host = host
        self.address = address


class ResolveError(Exception):
    """A host name has no address (DNS failed)."""

    def __init__(self, host: str, reason: str):
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


def networks_parse(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "fd12::/16"]`` as networks; a bad CIDR is a configuration error (ValueError)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), which is where packets go.

    NAT64's well-known prefix is what DNS64 answers with for every IPv4-only site in an IPv6-only
    network, so judging it by itself would refuse the whole IPv4 web there. Teredo (2001::/32) is
    left to be judged as itself: obsolete, and not global.
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _public(ip: IPAddress) -> bool:
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
        or any(ip.version == n.version and ip in n for n in _NEVER)
    )


def address_allowed(address: str | IPAddress, allowed: tuple[Network, ...] = ()) -> bool:
    """May a source connect to ``address``? Public unicast, or inside one of ``allowed``.

    An IPv6 address carrying an IPv4 one (``::ffff:127.0.0.1``, ``64:ff9b::a00:1``) is judged by the
    IPv4 address, since that is where the packets go.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    target = _embedded_ipv4(ip) or ip
    return any(target.version == n.version and target in n for n in allowed) or _public(target)


def ip_literal(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal in standard form, else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def odd_ipv4_literal(host: str) -> bool:
    """Is ``host`` an IPv4 address in a form resolvers accept but people do not read as one?

    ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1`` all reach 127.0.0.1 through
    getaddrinfo (inet_aton's rules); a name whose last label is a number is not a DNS name either.
    """
    if ip_literal(host) is not None:
        return False
    try:
        socket.inet_aton(host)
        return True
    except OSError:
        pass
    last = host.rstrip(".").rsplit(".", 1)[-1].lower()
    return last.isdigit() or (last.startswith("0x") and len(last) > 2)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and handshake waits no longer than the request's deadline.

    httpx's timeouts bound each wait; a server dripping one byte a second never trips them. Capping
    each wait by what is left of the request's budget does.
    """

    def __init__(self, stream: httpcore.NetworkStream, backend: GuardedBackend):
        self._stream = stream
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._backend.budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._backend.budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        budget = self._backend.budget(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, budget), self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _lookup(host: str, port: int, timeout: float | None) -> list:
    """``getaddrinfo`` for a TCP connection, waiting at most ``timeout`` seconds. The C resolver
    cannot be interrupted and follows only its own timeouts (resolv.conf's, retried per server), so
    the look-up runs in a daemon thread that is left to finish on its own if it is too slow."""
    if timeout is None:
        return getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["infos"] = getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"resolve {host}", daemon=True).start()
    if not done.wait(timeout):
        raise httpcore.ConnectTimeout(f"{host} was not resolved within {timeout:g} seconds")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["infos"]


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, connecting only to vetted addresses and within a deadline.

    ``deadline`` (a ``time.monotonic()`` value, or None) is set by the caller around each request.
    ``connected`` lists the addresses sockets were opened to, for tests and logs.
    """

    def __init__(self, allowed: tuple[Network, ...] = ()):
        self.allowed = allowed
        self.deadline: float | None = None
        self.connected: list[str] = []
        self._inner = httpcore.SyncBackend()

    def budget(self, timeout: float | None, expired: type[Exception]) -> float | None:
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise expired("the request took longer than its time limit")
        return left if timeout is None else min(timeout, left)

    def resolve(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """Every address ``host`` resolves to, refusing them all if any one is not allowed.

        One bad answer refuses the host: a name answering with both a public and a private
        address is either misconfigured or an attempt to reach the private one. The look-up waits
        no longer than ``timeout`` (httpcore.ConnectTimeout), nor than the request's deadline.
        """
        literal = ip_literal(host)
        if literal is not None:
            answers = [str(literal)]
        else:
            try:
                infos = _lookup(host, port, self.budget(timeout, httpcore.ConnectTimeout))
            except (socket.gaierror, UnicodeError) as exc:
                raise ResolveError(host, str(exc)) from None
            answers = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not answers:
            raise ResolveError(host, "no addresses")
        for answer in answers:
            if not address_allowed(answer, self.allowed):
                raise BlockedAddress(host, answer)
        return answers

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        failure: Exception | None = None
        for address in self.resolve(host, port, timeout):
            budget = self.budget(timeout, httpcore.ConnectTimeout)
            try:
                self.connected.append(address)
                stream = self._inner.connect_tcp(address, port, budget, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address may answer, as socket.create_connection does
                continue
            return _DeadlineStream(stream, self)
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("sources connect over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the guarded backend under it.

    httpx 0.28/0.29 takes no network backend (encode/httpx#3749 would add one), so the connection
    pool it built is swapped for the same pool over ``backend``. tests/documents/test_source_net.py
    fails if requests stop going through the backend.
    """

    def __init__(self, backend: GuardedBackend, ssl_context: ssl.SSLContext | None = None):
        super().__init__(trust_env=False, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            network_backend=backend,
            retries=0,
        )
