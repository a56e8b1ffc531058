"""Where a connector may open a network connection: the egress policy.

Sources registered over HTTP or MCP come from token holders, not from the operator, so
their hosts are checked before any connection is made::

    policy = EgressPolicy.from_environment(remote=True)
    addresses = policy.resolve("db.example.com", 5432)   # -> ["203.0.113.7"], or EgressDenied

:meth:`EgressPolicy.resolve` resolves the host once (``getaddrinfo``) and checks every
address it returns; the caller then connects to those addresses (pins them), so a DNS
answer that changes between the check and the connection (rebinding) changes nothing.
Checking the resolved addresses, not the host text, is what makes numeric spellings
(``2130706433``, ``0x7f000001``, ``017700000001``, ``127.1``, ``[::1]``,
``::ffff:127.0.0.1``) and names (``localhost``) land on the same verdict as ``127.0.0.1``.

Rules, in order:

1. ``deny`` (hosts, IPs, CIDRs) always wins: a host named there, or any resolved address
   inside a denied network, is refused.
2. With ``deny_internal`` (the default), loopback, link-local (``169.254.0.0/16``,
   ``fe80::/10``: cloud metadata endpoints live there), cloud metadata addresses outside
   it, unspecified (``0.0.0.0/8``, ``::``), broadcast and multicast addresses are refused
   unless ``allow`` names the host or holds the address. IPv6 forms that embed an IPv4
   address (mapped ``::ffff:a.b.c.d``, compatible ``::a.b.c.d``, NAT64, 6to4, Teredo) are
   judged by the IPv4 address too.
3. Everything else is allowed.

Host entries match case-insensitively, ignoring a trailing dot; ``*.example.com`` matches
any name below ``example.com`` (not ``example.com`` itself). A host entry never matches an
IP literal: allow ``127.0.0.1`` (or ``127.0.0.0/8``) to allow that address.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from typing import Union

from connectors.errors import DataSourceDisconnected, EgressDenied, InvalidConnection

__all__ = ["ALLOW_VARIABLE", "DENY_VARIABLE", "EgressDenied", "EgressPolicy"]

ALLOW_VARIABLE = "NLQUERY_EGRESS_ALLOW"
DENY_VARIABLE = "NLQUERY_EGRESS_DENY"

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# (network, what it is) refused by deny_internal; is_loopback & co. are not used alone
# because their lists changed between Python versions.
_INTERNAL: list[tuple[IPNetwork, str]] = [
    (ipaddress.ip_network("127.0.0.0/8"), "loopback"),
    (ipaddress.ip_network("::1/128"), "loopback"),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local (cloud metadata)"),
    (ipaddress.ip_network("fe80::/10"), "link-local"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "cloud metadata"),  # AWS IMDS over IPv6
    (ipaddress.ip_network("100.100.100.200/32"), "cloud metadata"),  # Alibaba Cloud
    (ipaddress.ip_network("0.0.0.0/8"), "unspecified"),  # "this host": 0.0.0.0 reaches loopback
    (ipaddress.ip_network("::/128"), "unspecified"),
    (ipaddress.ip_network("255.255.255.255/32"), "broadcast"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast"),
    (ipaddress.ip_network("ff00::/8"), "multicast"),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IPv6 ranges whose last 32 bits are an IPv4 address: NAT64 (RFC 6052), local-use NAT64
# (RFC 8215) and IPv4-translated addresses (RFC 2765, ::ffff:0:a.b.c.d).
_EMBEDS_V4_LOW32 = (_NAT64, ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("::ffff:0:0:0/96"))
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_HOST_ENTRY = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _ip_literal(text: str) -> IPAddress | None:
    """``text`` as an IP address when it is one in standard notation (``[::1]`` too)."""
    try:
        return ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _views(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address an IPv6 form of it carries (mapped first)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    views: list[IPAddress] = [address]
    if address.ipv4_mapped is not None:
        views.insert(0, address.ipv4_mapped)
    elif any(address in net for net in _EMBEDS_V4_LOW32) or (address in _V4_COMPATIBLE and int(address) > 1):
        views.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        views.append(address.sixtofour)
    if address.teredo is not None:
        views.extend(address.teredo)
    return views


def _parse_entries(entries: tuple[str, ...], what: str) -> tuple[tuple[IPNetwork, ...], frozenset[str],
                                                                   tuple[str, ...]]:
    """``entries`` -> (networks, exact host names, wildcard suffixes ``.example.com``)."""
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    suffixes: list[str] = []
    for raw in entries:
        entry = str(raw).strip()
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            network = None
        if network is not None:
            if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96 \
                    and network.network_address.ipv4_mapped is not None:
                # ::ffff:10.0.0.0/104 means 10.0.0.0/8: addresses are judged in IPv4 form
                mapped = network.network_address.ipv4_mapped
                network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
            networks.append(network)
            continue
        key = _host_key(entry)
        if not _HOST_ENTRY.match(key) or key.replace(".", "").isdigit():
            # a mistyped CIDR must not silently become a host name that matches nothing
            raise ValueError(f"egress {what} entry {entry!r} is neither a host name, an IP address nor a CIDR")
        if key.startswith("*."):
            suffixes.append(key[1:])
        else:
            hosts.add(key)
    return tuple(networks), frozenset(hosts), tuple(suffixes)


@dataclass(frozen=True)
class EgressPolicy:
    """Which network destinations a connector may reach; see the module docstring."""

    deny_internal: bool = True
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # parsed once; ValueError names a malformed entry
        object.__setattr__(self, "allow", tuple(self.allow))
        object.__setattr__(self, "deny", tuple(self.deny))
        object.__setattr__(self, "_allowed", _parse_entries(self.allow, "allow"))
        object.__setattr__(self, "_denied", _parse_entries(self.deny, "deny"))

    @classmethod
    def from_environment(cls, *, remote: bool) -> EgressPolicy | None:
        """The policy for a source: ``remote=True`` (registered over HTTP/MCP) -> the
        defaults plus ``NLQUERY_EGRESS_ALLOW`` / ``NLQUERY_EGRESS_DENY`` (comma lists);
        ``remote=False`` (CLI, Python API) -> ``None`` unless one of those variables is
        set, then a policy with just their lists (internal addresses not refused)."""
        allow = _env_list(ALLOW_VARIABLE)
        deny = _env_list(DENY_VARIABLE)
        if not remote and not allow and not deny:
            return None
        try:
            return cls(deny_internal=remote, allow=allow, deny=deny)
        except ValueError as exc:  # the operator's setting: say which, never a 500
            raise InvalidConnection(f"{ALLOW_VARIABLE} / {DENY_VARIABLE}: {exc}") from None

    # -- checks ----------------------------------------------------------------------
    def _names(self, entries: tuple[tuple[IPNetwork, ...], frozenset[str], tuple[str, ...]], host: str) -> bool:
        _, hosts, suffixes = entries
        return host in hosts or any(host.endswith(suffix) for suffix in suffixes)

    def _holds(self, entries: tuple[tuple[IPNetwork, ...], frozenset[str], tuple[str, ...]],
               address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in entries[0])

    def verdict(self, host: str, address: IPAddress) -> str | None:
        """Why ``address`` (one that ``host`` resolved to) is refused, or ``None``."""
        allowed, denied = self._allowed, self._denied  # type: ignore[attr-defined]
        views = _views(address)
        if any(self._holds(denied, view) for view in views):
            return "denied by the egress policy"
        if not self.deny_internal:
            return None
        literal = _ip_literal(host) is not None
        if (not literal and self._names(allowed, host)) or self._holds(allowed, views[0]):
            return None
        for view in views:
            for network, kind in _INTERNAL:
                if view.version == network.version and view in network:
                    return f"a {kind} address"
        return None

    def resolve(self, host: str, port: int | None = None) -> list[str]:
        """Resolve ``host`` and return the addresses to connect to (pin them), in resolver
        order; :class:`EgressDenied` naming the host if any address is refused."""
        key = _host_key(host or "")
        if not key:
            raise EgressDenied("a network source needs a host")
        shown = host.strip()
        literal = _ip_literal(key)
        if literal is None and self._names(self._denied, key):  # type: ignore[attr-defined]
            raise EgressDenied(f"host {shown!r} is denied by the egress policy")
        try:
            infos = socket.getaddrinfo(key, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise DataSourceDisconnected(f"cannot resolve host {shown!r}: {exc}") from None
        addresses: list[str] = []
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            text = str(sockaddr[0]).split("%", 1)[0]
            address = ipaddress.ip_address(text)
            reason = self.verdict(key, address)
            if reason is not None:
                where = "is" if literal is not None else "resolves to"
                hint = "" if "policy" in reason else f" (allow it with {ALLOW_VARIABLE})"
                raise EgressDenied(f"host {shown!r} {where} {reason}, which sources may not reach{hint}")
            if family == socket.AF_INET6 and len(sockaddr) > 3 and sockaddr[3]:
                text = f"{text}%{sockaddr[3]}"  # a scoped address needs its interface to connect
            if text not in addresses:
                addresses.append(text)
        if not addresses:
            raise DataSourceDisconnected(f"cannot resolve host {shown!r}: no IPv4 or IPv6 address")
        return addresses


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())
