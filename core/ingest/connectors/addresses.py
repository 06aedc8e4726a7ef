"""Which addresses a page fetched on someone's say-so may reach.

An admin's ``ingest http://…`` and the pages a reingest re-reads are fetched by the server,
from inside the company network. Left alone, such a fetch reads whatever that network serves:
the server's own ``/metrics``, a cloud's metadata address (169.254.169.254), an intranet
admin page — and the index then hands it to everyone who can ask. So a page may reach only
public addresses, unless an operator names the host in ``SWITCHBOARD_INGEST_ALLOWED_HOSTS``.

The check is made on the address a connection is actually opened to (``GuardedResolver``), so
a name that resolves to a public address when checked and to a private one when fetched (DNS
rebinding) is still refused, and it is made again for every redirect (``WebPages`` follows
them itself).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from core.errors import IngestError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSAL = "that address is inside the company network; ask an operator to allow it"


class InternalAddress(IngestError):
    """A page's address resolves inside the network and no operator allowed its host."""

    def __init__(self, url: str, address: str) -> None:
        super().__init__(f"Not fetching {url}: {REFUSAL} (SWITCHBOARD_INGEST_ALLOWED_HOSTS).")
        self.url = url
        self.address = address


def is_internal(address: Address) -> bool:
    """Loopback, link-local, private, unique-local, unspecified, multicast or reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


class AddressPolicy:
    """The hosts an operator allows inside the network: names, addresses or networks."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self._names: set[str] = set()
        self._networks: list[Network] = []
        for entry in (e.strip().lower() for e in allowed):
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self._names.add(entry.rstrip("."))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self._names

    def allows_address(self, address: Address) -> bool:
        return not is_internal(address) or any(address in n for n in self._networks)

    def check_url(self, url: str) -> None:
        """Refuse ``url`` at once when its host is a literal internal address (a name is
        checked when it is resolved). Raises ``InternalAddress`` or ``IngestError``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise IngestError(f"Not fetching {url}: only http and https addresses are read.")
        literal = _literal(parts.hostname)
        if literal is not None and not (
            self.allows_name(parts.hostname) or self.allows_address(literal)
        ):
            raise InternalAddress(url, str(literal))


class GuardedResolver(AbstractResolver):
    """Resolves as usual, then drops every internal address of a host nobody allowed.

    A host whose addresses are all dropped raises ``InternalAddress`` (not an ``OSError``, so
    that aiohttp does not turn it into a generic "cannot connect").
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if self._policy.allows_name(host):
            return found
        kept = [r for r in found if self._policy.allows_address(ipaddress.ip_address(r["host"]))]
        if not kept:
            raise InternalAddress(host, ", ".join(str(r["host"]) for r in found))
        return kept

    async def close(self) -> None:
        await self._inner.close()


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def connector_options(policy: AddressPolicy) -> dict[str, Any]:
    """Keyword arguments for ``aiohttp.TCPConnector`` that put ``policy`` on every connection
    (no DNS cache: a cached answer would skip the check of a fresh one)."""
    return {"resolver": GuardedResolver(policy), "use_dns_cache": False}
