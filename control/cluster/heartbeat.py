"""Process heartbeats in Redis: who is alive, on which device, with what capacity share.

Every gateway and processor runs a :class:`Heartbeat`. Each beat (every third of
``heartbeat_ttl_s``) writes, in one Lua call timed by the Redis clock:

- ``{ns}:processes`` zset: process_id -> expiry (ms);
- ``{ns}:process:{process_id}`` hash: role, device, share, hold, host, pid, started_at
  (PEXPIRE ttl);
- for a face processor, ``{ns}:processors:seen`` (see control/cluster/admission.py's capacity rule).

A process that stops cleanly removes its entry; one that crashes drops out after the TTL.
``share`` is the number of client sessions the process lets the system admit, ``hold`` the
number it keeps admitted (control/cluster/admission.py). Under the sessions rule a face
processor's share and hold are ``max_clients_per_pipeline`` (one pipeline), other roles' 0.
Under the measured rule each face and phone process's share is measured at every beat
(control/cluster/share.py) and its hold is ``admission_share_ceiling``: a measured share that
falls stops admissions, only a process that goes away takes admitted sessions with it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import cast

import redis

from control.cluster import redis_keys as keys
from control.cluster.share import ShareMeter, ShareRule, read_counters
from vigil.core.flow import CAPACITY_STAGE
from vigil.core.flow_types import Stage
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

SEEN_TTL_MS = 24 * 3600 * 1000

# KEYS: processes zset, process hash, seen marker.
# ARGV: process_id, ttl_ms, is_capacity_role ("1"/"0"), then field/value pairs.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], ttl)
if ARGV[3] == '1' then redis.call('SET', KEYS[3], '1', 'PX', SEEN_TTL_MS) end
return now
""".replace("SEEN_TTL_MS", str(SEEN_TTL_MS))


@dataclass(frozen=True)
class ProcessInfo:
    """One live process as its heartbeat describes it."""

    process_id: str
    role: str
    device: str
    share: int
    host: str
    pid: int
    expires_in_s: float


def new_process_id(role: str) -> str:
    """A SafeId naming one process: role, host, pid and a random suffix."""
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())[:40]
    return f"{role}-{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Heartbeat:
    """Writes this process's heartbeat; :meth:`start` runs it on a daemon thread."""

    def __init__(self, settings: Settings, role: str, device: str = "cpu", share: int = 0,
                 process_id: str | None = None, client: redis.Redis | None = None,
                 meter: ShareMeter | None = None, hold: int | None = None) -> None:
        self.settings = settings
        self.role = role
        self.device = device
        self.share = share
        self.hold = share if hold is None else hold
        self.meter = meter  # None: a fixed share
        self.process_id = process_id or new_process_id(role)
        self.redis = client or redis.Redis.from_url(settings.redis.url, socket_timeout=5)
        self._script = self.redis.register_script(_BEAT)
        self._last_ok = 0.0
        self._thread: threading.Thread | None = None
        self._started_at = int(time.time() * 1000)

    @classmethod
    def start_for_stage(cls, settings: Settings, stage: Stage, device: str,
                        stop: threading.Event) -> Heartbeat:
        """A running heartbeat for a stage of the flow table: under the sessions rule a process
        of the capacity stage adds one pipeline; under the measured rule every beating stage
        measures its share."""
        scaling = settings.scaling
        if scaling.admission_rule == "measured":
            meter = ShareMeter(ShareRule.of(settings))
            heartbeat = cls(settings, stage.name, device, meter.share, meter=meter,
                            hold=scaling.admission_share_ceiling)
        else:
            share = scaling.max_clients_per_pipeline if stage.capacity else 0
            heartbeat = cls(settings, stage.name, device, share)
        heartbeat.start(stop)
        return heartbeat

    @property
    def interval_s(self) -> float:
        return self.settings.control.heartbeat_ttl_s / 3

    def beat(self) -> None:
        """Write one heartbeat (raises redis.RedisError when Redis does not answer)."""
        ns = self.settings.deployment.namespace
        if self.meter is not None:
            share = self.meter.update(read_counters(self.role, time.monotonic()))
            if share != self.share:
                log.info("share process_id=%s role=%s sessions=%d->%d rate=%.1f frames/busy-s "
                         "pressure=%.2f", self.process_id, self.role, self.share, share,
                         self.meter.rate or 0.0, self.meter.pressure)
            self.share = share
        fields = {"role": self.role, "device": self.device, "share": str(self.share),
                  "hold": str(self.hold),
                  "host": socket.gethostname(), "pid": str(os.getpid()),
                  "started_at": str(self._started_at)}
        args: list[str] = [self.process_id, str(int(self.settings.control.heartbeat_ttl_s * 1000)),
                           "1" if self.role == CAPACITY_STAGE.name else "0"]
        for name, value in fields.items():
            args += [name, value]
        self._script(keys=[keys.processes_key(ns), keys.process_key(ns, self.process_id),
                           keys.processors_seen_key(ns)], args=args)
        self._last_ok = time.monotonic()

    def alive(self) -> bool:
        """Whether the last successful beat is recent enough (for /healthz)."""
        return time.monotonic() - self._last_ok < self.settings.control.heartbeat_ttl_s

    def start(self, stop: threading.Event) -> None:
        """Beat now, then every third of the TTL on a daemon thread until ``stop`` is set."""
        self.beat()
        self._thread = threading.Thread(target=self._run, args=(stop,), daemon=True,
                                        name=f"heartbeat-{self.role}")
        self._thread.start()
        log.info("heartbeat started process_id=%s role=%s device=%s share=%d",
                 self.process_id, self.role, self.device, self.share)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("heartbeat failed process_id=%s error=%s", self.process_id, exc)
        self.remove()

    def remove(self) -> None:
        """Withdraw this process at once (clean shutdown)."""
        ns = self.settings.deployment.namespace
        try:
            self.redis.zrem(keys.processes_key(ns), self.process_id)
            self.redis.delete(keys.process_key(ns, self.process_id))
        except redis.RedisError as exc:
            log.warning("heartbeat removal failed process_id=%s error=%s (it expires by TTL)",
                        self.process_id, exc)


def hold_for_restart(client: redis.Redis, ns: str, role: str, pid: int, host: str,
                     grace_s: float) -> list[str]:
    """A supervisor restarting a dead process keeps its heartbeat alive ``grace_s`` longer
    (from now, by the Redis clock), so the capacity it brought is not withdrawn while its
    replacement loads its models; the replacement then beats under an id of its own, and
    this entry lapses. Returns the process ids held (none when it had already expired)."""
    now_s, micros = cast(tuple[int, int], client.time())
    until = int(now_s) * 1000 + int(micros) // 1000 + int(grace_s * 1000)
    held = []
    for process in live_processes(client, ns):
        if (process.role, process.pid, process.host) == (role, pid, host):
            client.zadd(keys.processes_key(ns), {process.process_id: until}, xx=True)
            client.pexpire(keys.process_key(ns, process.process_id), int(grace_s * 1000))
            held.append(process.process_id)
    return held


def live_processes(client: redis.Redis, ns: str) -> list[ProcessInfo]:
    """Every process whose heartbeat has not expired, by role then id."""
    now_s, micros = cast(tuple[int, int], client.time())
    now = int(now_s) * 1000 + int(micros) // 1000
    entries = cast(list[tuple[bytes, float]], client.zrangebyscore(
        keys.processes_key(ns), now, "+inf", withscores=True))
    found = []
    for raw_id, expiry in entries:
        process_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        info = {_text(k): _text(v) for k, v in
                client.hgetall(keys.process_key(ns, process_id)).items()}
        found.append(ProcessInfo(process_id, info.get("role", "?"), info.get("device", "?"),
                                 int(info.get("share", "0") or 0), info.get("host", "?"),
                                 int(info.get("pid", "0") or 0), (expiry - now) / 1000))
    return sorted(found, key=lambda p: (p.role, p.process_id))


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
