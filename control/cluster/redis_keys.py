"""Every Redis key and channel Vigil uses, in one place. All start with ``{ns}:``.

``{ns}`` is ``settings.namespace``; ``{id}`` values are SafeIds (schemas.events), so a key
never holds a ``:`` from user input.

Client state (written by the control plane: ``vigil clients``, ``vigil enroll``, the clients
file; the user database stays the source of truth, Redis is the real-time copy)::

    {ns}:client:{client_id}     hash   state (active|paused|blocked), reason, updated_at (ms),
                                       enrolled ("1"|"0")
    {ns}:control                channel ControlEvent JSON of every change (the same event also
                                       goes to the ``{ns}.control`` Kafka topic)

Sessions and replies (written by the gateway, read by the replies sink)::

    {ns}:session:{client_id}    hash   gateway_id, session_id, admitted_at (ms); PEXPIRE
                                       heartbeat_ttl, refreshed by the gateway's heartbeat
    {ns}:ended:{session_id}     string set when the gateway releases a session; EX
                                       ended_session_ttl (processors skip its frames)
    {ns}:held:{client_id}       list   Decision JSON of non-allow decisions that found no
                                       session (replies sink); the next session gets them
    {ns}:replies:{gateway_id}   channel Decision JSON for sessions held by that gateway
    {ns}:replied:{frame_id}     string marker of the replies sink (one reply per frame)

Admission (see control/cluster/admission.py; changed only by its Lua scripts, so it is atomic)::

    {ns}:slots                  zset   session_id -> expiry (ms, Redis clock)
    {ns}:slots:order            zset   session_id -> admission ticket (newest evicted first)
    {ns}:queue                  zset   session_id -> queue ticket (FIFO order)
    {ns}:queue:expiry           zset   session_id -> expiry (ms); a crashed gateway's waiters
    {ns}:tickets                string counter of admission and queue tickets

Processes (control/cluster/heartbeat.py)::

    {ns}:processes              zset   process_id -> heartbeat expiry (ms, Redis clock)
    {ns}:process:{process_id}   hash   role, device, share, host, pid, started_at; PEXPIRE ttl
    {ns}:processors:seen        string set (24 h TTL, refreshed) once a face processor beats

Redis's own life (control/cluster/redis_epoch.py)::

    {ns}:epoch                  string random id, set by a gateway once it wrote its state
                                       back; absent after Redis restarted empty

Authentication (ingest/auth.py)::

    {ns}:authfail:{address}     string failed hellos from one address; EXPIRE = window
"""

from __future__ import annotations

# Fields of the session hash (the replies sink reads these).
SESSION_GATEWAY_FIELD = "gateway_id"
SESSION_ID_FIELD = "session_id"


def client_key(ns: str, client_id: str) -> str:
    return f"{ns}:client:{client_id}"


def control_channel(ns: str) -> str:
    return f"{ns}:control"


def session_key(ns: str, client_id: str) -> str:
    return f"{ns}:session:{client_id}"


def ended_session_key(ns: str, session_id: str) -> str:
    return f"{ns}:ended:{session_id}"


def held_key(ns: str, client_id: str) -> str:
    return f"{ns}:held:{client_id}"


def reply_channel(ns: str, gateway_id: str) -> str:
    return f"{ns}:replies:{gateway_id}"


def replied_key(ns: str, frame_id: str) -> str:
    return f"{ns}:replied:{frame_id}"


def slots_key(ns: str) -> str:
    return f"{ns}:slots"


def slots_order_key(ns: str) -> str:
    return f"{ns}:slots:order"


def queue_key(ns: str) -> str:
    return f"{ns}:queue"


def queue_expiry_key(ns: str) -> str:
    return f"{ns}:queue:expiry"


def tickets_key(ns: str) -> str:
    return f"{ns}:tickets"


def processes_key(ns: str) -> str:
    return f"{ns}:processes"


def process_key(ns: str, process_id: str) -> str:
    return f"{ns}:process:{process_id}"


def process_key_prefix(ns: str) -> str:
    """Prefix of the process hashes (the Lua capacity rule appends the process id)."""
    return f"{ns}:process:"


def processors_seen_key(ns: str) -> str:
    return f"{ns}:processors:seen"


def epoch_key(ns: str) -> str:
    return f"{ns}:epoch"


def auth_failures_key(ns: str, address: str, client_id: str) -> str:
    """Failed hellos of one client id from one address (ingest/auth.py)."""
    return f"{ns}:authfail:{address}:{client_id}"
