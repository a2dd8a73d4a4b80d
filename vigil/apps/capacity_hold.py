"""`vigil up` keeps a restarting model process's capacity: no session cut for a restart.

A face processor's heartbeat brings capacity (control/cluster/admission.py). When it died, its
heartbeat expired after ``heartbeat_ttl_s`` while its replacement was still loading models, so
capacity fell below the sessions in use and the gateway closed them (1013 "capacity
withdrawn"): 23 of 36 frames cut in the fault matrix. The supervisor knows better than the
TTL: it is restarting the process. So it holds the dead process's heartbeat for
``restart_capacity_grace_s``; sessions stay open and their frames wait in Kafka until the
replacement consumes them.
"""

from __future__ import annotations

import logging
import socket

import redis

from control.cluster.heartbeat import hold_for_restart
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


class CapacityHold:
    """Holds the heartbeats of processes being restarted (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.redis.url, socket_timeout=5)
        self.host = socket.gethostname()

    def hold(self, stage: str, pid: int) -> list[str]:
        """Hold the heartbeat of ``stage``'s dead process ``pid``; never raises."""
        grace = self.settings.deployment.restart_capacity_grace_s
        if grace <= 0:
            return []
        try:
            held = hold_for_restart(self.redis, self.settings.deployment.namespace, stage, pid,
                                    self.host, grace)
        except redis.RedisError as exc:
            log.warning("could not hold the capacity of %s pid=%d while it restarts: %s",
                        stage, pid, exc)
            return []
        if held:
            log.info("holding the capacity of %s pid=%d for %.0f s while it restarts (%s)",
                     stage, pid, grace, ", ".join(held))
        else:
            log.info("%s pid=%d had no live heartbeat to hold (expired already)", stage, pid)
        return held

    def close(self) -> None:
        self.redis.close()
