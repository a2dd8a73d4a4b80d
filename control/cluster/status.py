"""`vigil status`: live processes, capacity, sessions, queue and every client's state; this
machine's `vigil up` processes per stage with their memory (process_table.py); the lag
of every stage's consumer group (vigil/core/lag.py).

Kafka and Redis are checked first; an unreachable one is named with its address and makes
the exit code 1 (what can still be shown is shown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TextIO

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from control.cluster import redis_keys as keys
from control.cluster.admission import occupancy
from control.cluster.heartbeat import live_processes
from control.cluster.process_table import mib, per_stage, stack_processes, totals
from control.users.db import UserRepository
from vigil.core.flow import STAGES
from vigil.core.flow_types import StageKind
from vigil.core.lag import LagReader, LagUnavailableError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0


def check_kafka(settings: Settings) -> str | None:
    """None when the broker answers, else what went wrong (naming the address)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap,
                         "socket.connection.setup.timeout.ms": int(CHECK_TIMEOUT_S * 1000)})
    try:
        admin.list_topics(timeout=CHECK_TIMEOUT_S)
    except KafkaException as exc:
        return f"Kafka unreachable at {settings.kafka.bootstrap}: {exc.args[0].str()}"
    return None


def check_redis(client: redis.Redis, settings: Settings) -> str | None:
    """None when Redis answers, else what went wrong (naming the address)."""
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis unreachable at {settings.redis.url}: {exc}"
    return None


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def print_live(settings: Settings, client: redis.Redis, out: TextIO) -> None:
    """Processes, capacity, sessions in use and queue length."""
    processes = live_processes(client, settings.deployment.namespace)
    print(f"processes ({len(processes)} live):", file=out)
    for p in processes:
        print(f"  {p.role:<8} {p.device:<5} share={p.share:<3} {p.process_id} "
              f"(expires in {p.expires_in_s:.1f} s)", file=out)
    occ = occupancy(settings, client)
    seen = client.exists(keys.processors_seen_key(settings.deployment.namespace))
    scaling = settings.scaling
    measured = scaling.admission_rule == "measured"
    live = "live face and phone processors' measured shares" if measured else \
        "live face processors"
    per = scaling.admission_share_ceiling if measured else scaling.max_clients_per_pipeline
    rule = live if seen else "configured; no face processor seen yet"
    print(
        f"capacity: {occ.capacity} ({rule}; configured {scaling.capacity} = "
        f"{scaling.max_pipelines} x {per})",
        file=out,
    )
    print(f"sessions in use: {occ.used}", file=out)
    print(f"queue: {occ.waiting} waiting (limit {settings.gateway.queue_limit})", file=out)


def print_stack(settings: Settings, out: TextIO) -> None:
    """This machine's `vigil up` processes: how many per stage, and each one's memory."""
    processes = stack_processes(settings)
    if not processes:
        print(
            f"local processes: none (no live pid file in {settings.deployment.state_dir / 'run'})",
            file=out,
        )
        return
    counts = per_stage(processes)
    print("local processes per stage: " + ", ".join(
        f"{s.name}={counts.get(s.name, 0)}" for s in STAGES), file=out)
    for p in processes:
        print(f"  {p.name:<10} pid {p.pid:<8} rss {mib(p.rss):>9}  pss {mib(p.pss):>9}",
              file=out)
    rss, pss = totals(processes)
    print(f"  {'total':<10} {'':<12} rss {mib(rss):>9}  pss {mib(pss):>9}  (rss counts "
          "shared libraries once per process)", file=out)


def print_lag(settings: Settings, out: TextIO) -> None:
    """Messages each stage's consumer group is behind (committed vs end offsets)."""
    reader = LagReader(settings, max_age_s=0)
    parts = []
    try:
        for entry in STAGES:
            if entry.kind is StageKind.GATEWAY:
                continue
            try:
                lag = reader.lag(entry.group(settings))
            except LagUnavailableError as exc:
                parts.append(f"{entry.name}=?")
                log.warning("%s", exc)
                continue
            parts.append(f"{entry.name}={lag.total}")
    finally:
        reader.close()
    print("consumer lag (messages): " + ", ".join(parts), file=out)


def print_clients(settings: Settings, repo: UserRepository, client: redis.Redis | None,
                  out: TextIO) -> None:
    """One line per client: state, enrollment, token, and the gateway holding its session."""
    records = repo.list_clients()
    print(f"clients ({len(records)}):", file=out)
    for r in records:
        where = ""
        if client is not None:
            gateway = client.hget(keys.session_key(settings.deployment.namespace, r.client_id),
                                  keys.SESSION_GATEWAY_FIELD)
            where = f" connected via {_text(gateway)}" if gateway else ""
        reason = f" ({r.state_reason})" if r.state_reason else ""
        print(f"  {r.client_id:<20} {r.state.value:<7}{reason} "
              f"enrolled={'yes' if r.enrolled else 'no'} "
              f"token={'yes' if r.token_hash else 'no'}{where}", file=out)


def show_status(settings: Settings, repo_factory: Callable[[], UserRepository],
                out: TextIO, err: TextIO) -> int:
    """Print the status; 0 when Kafka and Redis both answer, else 1."""
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=CHECK_TIMEOUT_S,
                                  socket_connect_timeout=CHECK_TIMEOUT_S)
    problems = [p for p in (check_kafka(settings), check_redis(client, settings)) if p]
    for problem in problems:
        print(f"vigil: {problem}", file=err)
    redis_ok = not any(p.startswith("Redis") for p in problems)
    print(f"namespace: {settings.deployment.namespace}  kafka: {settings.kafka.bootstrap}  "
          f"redis: {settings.redis.url}", file=out)
    if redis_ok:
        print_live(settings, client, out)
    print_stack(settings, out)
    if not any(p.startswith("Kafka") for p in problems):
        print_lag(settings, out)
    repo = repo_factory()
    try:
        print_clients(settings, repo, client if redis_ok else None, out)
    finally:
        repo.close()
        client.close()
    return 1 if problems else 0
