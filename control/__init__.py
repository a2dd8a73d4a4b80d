"""The control plane, in three rooms and the commands that use them.

- ``users/``: the user database (clients, their tokens and encrypted embeddings, auditors,
  active models, the outbox table), its two engines and the factory that opens one
  (``users/repository.py``), the data key and per-client keys;
- ``cluster/``: coordination through Redis: every key's name, admission, heartbeats, Redis's
  epoch, this machine's process table and `vigil status`;
- ``events/``: the control feed: delivering the outbox to Redis and the ``control`` topic, and
  following that topic;
- ``clients.py``: :class:`~control.clients.ClientControl`, the one way a client's state
  changes, which writes to the user database and delivers through the events room (so it
  stands above the three); ``clients_file.py`` feeds it from the clients file; ``cli.py``:
  `vigil token` and `vigil status`.

The rooms stand on each other in one order, users, then cluster, then events; none imports
processors/, sinks/ or an app.
"""
