"""One member of a consumer group, run as its own process by test_kafka.py.

Consumes until it has seen no message nor rebalance for --idle seconds (bounded by
--max-seconds), commits after each message it has handled, and prints one JSON line per event:
{"assigned": [...]} on every assignment and {"key", "value", "partition", "offset"} per record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from confluent_kafka import Consumer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--idle", type=float, default=6.0)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()

    def emit(obj: object) -> None:
        print(json.dumps(obj), flush=True)

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    start = last = time.monotonic()

    def assigned(_consumer: Consumer, parts: list) -> None:
        nonlocal last
        last = time.monotonic()  # idle time counts from the latest rebalance too
        emit({"assigned": sorted(p.partition for p in parts)})

    consumer.subscribe([args.topic], on_assign=assigned)
    try:
        while time.monotonic() - start < args.max_seconds:
            msg = consumer.poll(0.5)
            if msg is None:
                if time.monotonic() - last > args.idle:
                    break
                continue
            if msg.error():
                print(f"error: {msg.error()}", file=sys.stderr)
                continue
            emit({"key": msg.key().decode(), "value": msg.value().decode(),
                  "partition": msg.partition(), "offset": msg.offset()})
            consumer.commit(message=msg, asynchronous=False)
            last = time.monotonic()
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
