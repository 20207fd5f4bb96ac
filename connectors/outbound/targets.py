"""Where a webhook may be sent (docs/architecture.md, "Webhook targets").

A subscription's URL is written by an admin but followed by the hub, from inside the firm's
network: a URL with a line break would split the request (and used to break every delivery
round), and one naming a loopback, link-local or private address would turn the hub into a
way to reach the database, the cloud's metadata service or an internal admin page. So a URL is
checked when the subscription is made, and the address is checked again at every delivery
after DNS resolution, and the request goes to exactly the address that was checked: a name
that resolved to a public address at creation and to ``127.0.0.1`` later (DNS rebinding) is
refused then.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from socket import IPPROTO_TCP, SOCK_STREAM, gaierror, getaddrinfo
from urllib.parse import SplitResult, urlsplit

MAX_URL = 2000
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = [
    "MAX_URL",
    "InvalidTarget",
    "Pinned",
    "Policy",
    "check_creation",
    "check_text",
    "check_url",
    "getaddrinfo",
    "pin",
]


class InvalidTarget(ValueError):
    """A webhook URL the hub will not send to; the message says why."""


@dataclass(frozen=True)
class Policy:
    """Which non-public addresses are allowed: none, all (``allow_all``) or some networks.

    Built from ``CONCORD_WEBHOOK_ALLOW_PRIVATE``: empty or ``0`` refuses them all, ``1``
    (``true``, ``all``) allows them all, a comma-separated list of networks
    (``10.20.0.0/16,fd00::/8``) allows those.

    Examples:
        >>> Policy.parse("10.0.0.0/8").allows(ipaddress.ip_address("10.1.2.3"))
        True
        >>> Policy.parse("").allows(ipaddress.ip_address("10.1.2.3"))
        False
    """

    allow_all: bool = False
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Policy:
        value = text.strip().lower()
        if value in ("", "0", "false", "no", "none"):
            return cls()
        if value in ("1", "true", "yes", "all"):
            return cls(allow_all=True)
        try:
            nets = tuple(ipaddress.ip_network(p.strip(), strict=False) for p in value.split(","))
        except ValueError as exc:
            raise ValueError(
                f"CONCORD_WEBHOOK_ALLOW_PRIVATE: {text!r} is not 1, 0 or a list of networks"
            ) from exc
        return cls(networks=nets)

    def allows(self, address: Address) -> bool:
        if self.allow_all or _public(address):
            return True
        return any(address in net for net in self.networks if net.version == address.version)


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return _public(inner)
    return address.is_global and not address.is_multicast


def check_text(url: str) -> None:
    """Any subscription URL, webhook or Kafka: not too long, no control or space character."""
    if len(url) > MAX_URL:
        raise InvalidTarget(f"url: longer than {MAX_URL} characters")
    bad = next((c for c in url if c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0), None)
    if bad is not None:
        raise InvalidTarget(f"url: contains the control or space character {bad!r}")


@functools.lru_cache(maxsize=1024)
def check_url(url: str) -> SplitResult:
    """The URL split into its parts, or ``InvalidTarget`` naming what is wrong with it.

    Kept per URL (the answer depends on the text alone; a refusal is not kept): delivery
    checks its subscription's URL before every request, and scanning it character by
    character each time was a few percent of the delivery worker's CPU.

    Examples:
        >>> check_url("https://hooks.example.com/concord").hostname
        'hooks.example.com'
    """
    check_text(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (reading it validates it)
    except ValueError as exc:
        raise InvalidTarget(f"url {url!r}: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidTarget(f"url {url!r}: expected an http:// or https:// URL")
    if not parts.hostname:
        raise InvalidTarget(f"url {url!r}: names no host")
    return parts


def _literal(host: str) -> Address | None:
    """The address a host names without DNS: dotted, bracketed, or the integer forms
    (``2130706433``, ``0x7f.1``) that resolvers also read as addresses."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host) and host[0].isdigit():
        try:
            infos = getaddrinfo(host, None, type=SOCK_STREAM, proto=IPPROTO_TCP)
        except (gaierror, UnicodeError):
            return None
        return ipaddress.ip_address(infos[0][4][0]) if infos else None
    return None


def check_creation(url: str, policy: Policy) -> None:
    """At creation: a well-formed URL whose host is not a refused address or a local name.

    Names are not resolved here (the answer can change; delivery resolves and checks them).
    """
    host = (check_url(url).hostname or "").rstrip(".").lower()
    if policy.allow_all:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidTarget(f"url {url!r}: {host} is a loopback name")
    address = _literal(host)
    if address is not None and not policy.allows(address):
        raise InvalidTarget(f"url {url!r}: {address} is a loopback, link-local or private address")


@dataclass(frozen=True)
class Pinned:
    """A request's URL with its host replaced by the checked address, and what the request
    needs to still be for the name: the Host header and the TLS server name."""

    url: str
    host_header: str | None
    sni_hostname: str | None


def pin(url: str, policy: Policy) -> Pinned:
    """Resolve the URL's host, refuse it if any address is not allowed, and aim the request at
    the first address so no second lookup can send it elsewhere.

    When every address is allowed the name is only resolved (on the subscription's own
    threads: a hung lookup ends at the deadline there) and the URL is kept, so the connection
    tries each address in turn: pinned to the first, a receiver on 127.0.0.1 behind a name that
    resolves to ``::1`` first was never reached."""
    parts = check_url(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = getaddrinfo(host, port, type=SOCK_STREAM, proto=IPPROTO_TCP)
    except (gaierror, UnicodeError) as exc:
        raise InvalidTarget(f"cannot resolve {host}: {exc}") from exc
    addresses: Sequence[Address] = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
    if not addresses:
        raise InvalidTarget(f"cannot resolve {host}: no address")
    if policy.allow_all:
        return Pinned(url, None, None)
    refused = [a for a in addresses if not policy.allows(a)]
    if refused:
        raise InvalidTarget(
            f"{host} resolves to {refused[0]}, a loopback, link-local or private address"
        )
    first = addresses[0]
    shown = f"[{first}]" if first.version == 6 else str(first)
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{netloc}"
    host_header = parts.netloc.rpartition("@")[2]
    sni = host if parts.scheme == "https" else None
    return Pinned(parts._replace(netloc=netloc).geturl(), host_header, sni)
