"""Several hosts on one machine: Linux network namespaces on one bridge, each its own address.

The multi-host test bed of ARCHITECTURE.md: a namespace per host (the brokers; the gateway,
decide and sinks; the model processors), each joined to a bridge in the machine's own
namespace by a veth pair and given its own address on a private /24; the machine keeps the
bridge's first address, so clients started here reach the gateway as from outside. A process
runs on a host through ``ip netns exec`` (:meth:`Host.command`) and knows the others by their
addresses only. :meth:`Hosts.cut` takes a host's link down (its end of the pair in this
namespace), :meth:`Hosts.restore` brings it back: every connection to or from it stalls,
as when a cable or a switch port fails.

Needs root (CAP_NET_ADMIN) and ``ip``; :func:`namespaces_usable` says why not where they
are missing. Names carry a prefix of the creator's own, and :meth:`Hosts.down` removes every
namespace, link and bridge it made, on failure too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

log = logging.getLogger(__name__)

IP_TIMEOUT_S = 10.0


class HostsError(RuntimeError):
    """An `ip` command failed while building or changing the layout."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S,
                          check=False)
    if check and done.returncode != 0:
        raise HostsError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def namespaces_usable() -> str | None:
    """None when network namespaces can be made here, else why not."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    probe = f"vgprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` is not permitted here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass(frozen=True)
class Host:
    """One namespace of the layout."""

    role: str  # e.g. "brokers"
    netns: str
    address: str
    link: str  # its end of the veth pair in the machine's namespace: down cuts the host off

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run on this host."""
        return ["ip", "netns", "exec", self.netns, *argv]


class Hosts:
    """The layout: ``with Hosts(["brokers", "app", "models"], "vg123", 77) as hosts: ...``.

    ``subnet`` picks 10.SUBNET.0.0/24: the bridge (this machine) is .1, the hosts .2, .3 ...
    """

    def __init__(self, roles: Sequence[str], prefix: str, subnet: int) -> None:
        if not prefix.isalnum() or len(prefix) > 8:
            raise ValueError(f"prefix {prefix!r}: up to 8 letters or digits (link names)")
        network = ipaddress.IPv4Network(f"10.{subnet}.0.0/24")
        self.gateway = str(network[1])
        self.bridge = f"{prefix}br"
        self.prefix_len = network.prefixlen
        self.hosts = {role: Host(role, f"{prefix}-{role}", str(network[i + 2]), f"{prefix}h{i}")
                      for i, role in enumerate(roles)}
        self._check_subnet_free(network)

    @staticmethod
    def _check_subnet_free(network: ipaddress.IPv4Network) -> None:
        routes = _ip("-4", "route", "show").stdout
        for line in routes.splitlines():
            dest = line.split()[0]
            if dest != "default" and ipaddress.ip_network(dest, strict=False).overlaps(network):
                raise HostsError(f"{network} is in use on this machine ({line.strip()}): "
                                 "choose another subnet")

    def __getitem__(self, role: str) -> Host:
        return self.hosts[role]

    def up(self) -> None:
        """Make the bridge, then each host: namespace, veth pair, address, loopback."""
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/{self.prefix_len}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for host in self.hosts.values():
            inside = f"{host.link}n"
            _ip("netns", "add", host.netns)
            _ip("link", "add", host.link, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", host.netns)
            _ip("link", "set", host.link, "master", self.bridge)
            _ip("link", "set", host.link, "up")
            ns = ("-n", host.netns)
            _ip(*ns, "link", "set", "lo", "up")
            _ip(*ns, "addr", "add", f"{host.address}/{self.prefix_len}", "dev", inside)
            _ip(*ns, "link", "set", inside, "up")
            log.info("host %s: namespace %s, address %s", host.role, host.netns, host.address)

    def cut(self, role: str) -> None:
        """Take ``role``'s link down: nothing reaches it and nothing leaves it."""
        _ip("link", "set", self.hosts[role].link, "down")
        log.info("cut the link of host %s", role)

    def restore(self, role: str) -> None:
        _ip("link", "set", self.hosts[role].link, "up")
        log.info("restored the link of host %s", role)

    def down(self) -> None:
        """Remove every namespace, link and the bridge; what is already gone is skipped.

        Processes still running on a host (its owner failed to stop them) are killed first:
        a namespace with live processes would outlive its name.
        """
        for host in self.hosts.values():
            for pid in _ip("netns", "pids", host.netns, check=False).stdout.split():
                log.warning("host %s: killing pid %s left running", host.role, pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", host.netns, check=False)
            _ip("link", "del", host.link, check=False)  # gone with its peer, normally
        _ip("link", "del", self.bridge, check=False)

    def __enter__(self) -> Hosts:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.down()
