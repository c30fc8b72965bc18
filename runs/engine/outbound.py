"""What the http tools may reach: the address rule, and the fetch that applies it to every connection it opens.

A workflow author writes the URL and the worker fetches it, so without this rule a workflow could read the
cloud metadata service (169.254.169.254), the worker's own loopback services or the private network. The
rule is checked on the addresses a host name resolves to, at connect time, and the connection goes to the
address that was checked: a DNS answer that changes between the check and the connect (a rebind) cannot
swap it. Redirects are followed here, a bounded number of them, each hop checked the same way.
"""

import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

import httpcore
import httpx
from django.conf import settings

from config.env import OnPort

SETTING = "TOOL_HTTP_ALLOWED_HOSTS"
SCHEMES = ("http", "https")
MAX_REDIRECTS = 5

type Address = IPv4Address | IPv6Address
type Network = IPv4Network | IPv6Network

_SHARED = ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598): Python counts it neither private nor global
_PRIVATE = tuple(ip_network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
# IPv6 forms that carry an IPv4 address in their last 32 bits (IPv4-mapped is read by ipv4_mapped, 6to4 by sixtofour).
_CARRY_IPV4 = tuple(
    ip_network(block)
    for block in (
        "::/96",  # IPv4-compatible (deprecated)
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64, well-known prefix
    )
)


class Refused(Exception):
    """The http tools will not reach this URL; the message names the address and the setting."""


class TooLarge(Exception):
    """The answer is longer than the byte limit; the message names the limit."""


class TooSlow(Exception):
    """The whole call (redirects and every byte of the answer) outlasted the deadline; the message names it."""


@dataclass(frozen=True)
class Answer:
    """A whole answer, read within the deadline and the byte limit."""

    status: int
    content: bytes
    encoding: str | None


def embedded_ipv4(address: Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, -compatible, -translated, 6to4, NAT64), if any."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in block for block in _CARRY_IPV4):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: Address) -> str | None:
    """Why the http tools refuse an address ("a loopback address", …), or None for a public unicast address."""
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    embedded = embedded_ipv4(address)
    if embedded is not None:
        reason = refusal_reason(embedded)
        return f"{reason} ({embedded}) in IPv6 form" if reason else None
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address in _SHARED:
        return "a carrier-grade NAT (shared) address"
    if any(address in block for block in _PRIVATE):
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "a site-local address"
    if not address.is_global:  # documentation, benchmarking, IETF protocol blocks, Teredo, …
        return "not a public address"
    return None


def on_port(allowed: tuple[str | Network | OnPort, ...], port: int | None) -> tuple[str | Network, ...]:
    """The entries that allow `port`: those without a port, and those naming it (`host:port`)."""
    return tuple(
        entry.entry if isinstance(entry, OnPort) else entry
        for entry in allowed
        if not isinstance(entry, OnPort) or entry.port == port
    )


def check(
    host: str, addresses: list[Address], allowed: tuple[str | Network | OnPort, ...], port: int | None = None
) -> None:
    """Refuse unless the setting lists the host, or every address is public or inside a listed block (on `port`)."""
    allowed = on_port(allowed, port)
    name = host.lower().removesuffix(".")
    if name in allowed:
        return
    blocks = [entry for entry in allowed if not isinstance(entry, str)]
    for address in addresses:
        reason = refusal_reason(address)
        if reason is None or _listed(address, blocks):
            continue
        subject = f"{address} is" if _is_literal(name) else f"{host} resolves to {address},"
        raise Refused(f"{subject} {reason}, which the http tools reach only when {SETTING} lists it")


def _is_literal(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _listed(address: Address, blocks: list[Network]) -> bool:
    embedded = embedded_ipv4(address)
    return any(address in block or (embedded is not None and embedded in block) for block in blocks)


def resolve(host: str, port: int) -> list[Address]:
    """Every address the host resolves to, in the resolver's order (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(ip_address(info[4][0]) for info in infos))


class _CheckedBackend(httpcore.SyncBackend):
    """Resolves, checks every address, then connects to a checked address, never to the name again."""

    def __init__(self, allowed: tuple[str | Network | OnPort, ...]):
        self.allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        check(host, addresses, self.allowed, port)
        error: Exception | None = None
        for address in addresses:  # as socket.create_connection does: the first that answers
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host}")


@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self, allowed: tuple[str | Network | OnPort, ...]):
        # HTTPTransport takes no network backend, its pool does: httpx is pinned to 0.28 in pyproject.toml,
        # and the tests that refuse a loopback URL fail if this pool stops being the one that connects.
        self._pool = httpcore.ConnectionPool(ssl_context=_ssl_context(), network_backend=_CheckedBackend(allowed))


def check_url(url: str) -> None:
    """What fetch would refuse of `url` before sending anything: its scheme, and every address its host resolves to
    (Refused; a host that does not resolve is refused too)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise Refused(f"{url!r} is not a URL: {exc}") from None
    if parsed.scheme not in SCHEMES or not parsed.host:
        raise Refused("only http and https URLs with a host are reached")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = resolve(parsed.host, port)
    except httpcore.ConnectError as exc:
        raise Refused(str(exc)) from None
    check(parsed.host, addresses, settings.TOOL_HTTP_ALLOWED_HOSTS, port)


def fetch(
    method: str,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float,
    max_bytes: int,
) -> Answer:
    """Send the request, following up to MAX_REDIRECTS redirects; each hop's scheme and addresses are checked.

    `timeout` is the whole call's deadline, not each read's: a server trickling a byte a second is cut off
    (TooSlow) as one that never answers is. The answer is streamed and refused past `max_bytes` (TooLarge),
    counted after decompression, so a large or compressed answer never sits whole in the worker's memory.
    """
    allowed = settings.TOOL_HTTP_ALLOWED_HOSTS
    deadline = time.monotonic() + timeout
    with httpx.Client(transport=_CheckedTransport(allowed), timeout=timeout, trust_env=False) as client:
        request = client.build_request(method, url, json=json, content=content, headers=headers)
        for hop in range(MAX_REDIRECTS + 1):
            where = f"the redirect to {request.url}" if hop else url
            if request.url.scheme not in SCHEMES:
                raise Refused(f"{where}: only http and https URLs are fetched")
            request.extensions["timeout"] = httpx.Timeout(_left(deadline, timeout)).as_dict()
            try:
                response = client.send(request, stream=True)
            except Refused as exc:
                raise Refused(f"{where}: {exc}") from None
            except httpx.TimeoutException:
                _left(deadline, timeout)
                raise
            try:
                if response.next_request is None:
                    return Answer(
                        response.status_code, _body(response, deadline, timeout, max_bytes), response.encoding
                    )
            finally:
                response.close()
            request = response.next_request
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=request)


def _left(deadline: float, timeout: float) -> float:
    """Seconds left before the deadline; TooSlow once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TooSlow(f"took longer than HTTP_TOOL_TIMEOUT ({timeout:g} s)")
    return left


def _body(response: httpx.Response, deadline: float, timeout: float, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"answered {int(declared)} bytes, more than HTTP_TOOL_MAX_BYTES ({max_bytes})")
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(f"answered more than HTTP_TOOL_MAX_BYTES ({max_bytes} bytes)")
            _left(deadline, timeout)
    except httpx.TimeoutException:
        _left(deadline, timeout)  # the read that timed out was given what was left of the deadline
        raise
    return bytes(body)
