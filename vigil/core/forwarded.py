"""Who a connection really comes from, when a proxy (nginx in docker-compose.yml) stands in
between.

Behind a proxy every TCP peer is the proxy. Counting hello failures or connections per peer
address then counts everybody together: five bad hellos from anyone refused every client, and
64 idle sockets took every slot. A peer listed in ``trusted_proxies`` (addresses or networks)
is believed about the client it forwards: the client is the right-most address of
``X-Forwarded-For`` that is not itself a trusted proxy (each proxy appends the address it saw,
so entries further left were written by the client and prove nothing), and the scheme is
``X-Forwarded-Proto``. Any other peer's headers are ignored: a client talking to the gateway
directly cannot choose its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``127.0.0.1``, ``10.0.0.0/8``, ``::1`` ... as networks; ValueError names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.5 or "
                             "10.0.0.0/24)") from None
    return tuple(networks)


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose forwarding headers are believed."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> TrustedProxies:
        return cls(parse_networks(entries))

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_address(self, peer: str, headers: Mapping[str, str]) -> str:
        """The client's address: the peer's, unless the peer is a trusted proxy that says
        whom it forwards."""
        if not self.trusts(peer):
            return peer
        chain = [part.strip() for part in headers.get("X-Forwarded-For", "").split(",")
                 if part.strip()]
        for hop in reversed(chain):
            if not self.trusts(hop):
                return hop if _is_ip(hop) else peer
        return chain[0] if chain and _is_ip(chain[0]) else peer

    def scheme(self, peer: str, headers: Mapping[str, str], own: str) -> str:
        """``https`` when a trusted proxy says the client connected over TLS, else ``own``."""
        if self.trusts(peer):
            proto = headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            if proto in ("http", "https"):
                return proto
        return own


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
