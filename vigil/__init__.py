"""Vigil: continuous face authentication as a Kafka event-driven stream processor.

- ``vigil.core``: the ground floor every stage stands on (settings, Kafka helpers, the flow
  table of topics and stages, the stage loop, metrics, errors); it imports no stage.
- ``vigil.apps``: what a person runs (the ``vigil`` CLI, ``vigil up``, the reference client,
  the benchmarks).
- ``vigil.local``: local infrastructure for one machine (a KRaft Kafka and Redis on loopback),
  a developer and single-host tool.
"""
