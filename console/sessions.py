"""Console logins: server-side sessions with their CSRF secret, and login rate limiting.

A session is a random 32-byte token in a cookie (HttpOnly, SameSite=Strict); everything else
stays on the server, which ends it ``console_session_ttl_s`` after login whatever the browser
keeps. Each session has its own CSRF secret, put in every form and checked on every POST.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from control.users.db import AuditorRole

TOKEN_BYTES = 32
MAX_FAILURES = 5  # failed logins per remote address, and per account name, ...
FAILURE_WINDOW_S = 300.0  # ... within this window; then logins from there wait it out
MAX_TRACKED = 10_000  # addresses and names remembered at once (oldest forgotten first)


@dataclass(frozen=True)
class Session:
    """Who is logged in, as what, until when (clock seconds), and the CSRF secret of forms."""

    name: str
    role: AuditorRole
    csrf: str
    expires_at: float


class SessionStore:
    """The sessions of one console process (in memory: a restart logs everyone out)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: AuditorRole) -> tuple[str, Session]:
        """A new session; returns its cookie token and the session."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = Session(name, role, secrets.token_urlsafe(TOKEN_BYTES),
                          self.clock() + self.ttl_s)
        with self._lock:
            now = self.clock()
            self._sessions = {t: s for t, s in self._sessions.items() if s.expires_at > now}
            self._sessions[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        """The live session of a cookie token, or None (unknown or expired)."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is not None and session.expires_at <= self.clock():
                del self._sessions[token]
                return None
        return session

    def end(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def end_all_of(self, name: str) -> None:
        """Log out every session of an account (it was removed)."""
        with self._lock:
            self._sessions = {t: s for t, s in self._sessions.items() if s.name != name}


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """Whether a form carried the session's CSRF secret (constant time)."""
    return hmac.compare_digest(session.csrf.encode(), (submitted or "").encode())


class LoginLimiter:
    """Refuses logins from an address or for a name after MAX_FAILURES recent failures.

    A login is counted as failed before its credential is checked (:meth:`begin`) and taken
    back when it was right (:meth:`succeeded`): checking costs a scrypt hash (16 MiB, tens of
    ms), so attempts made in parallel must all be counted before any of them is hashed.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - FAILURE_WINDOW_S:
            times.popleft()
        return times

    def _wait(self, keys: Iterable[str], now: float) -> float:
        waits = [times[0] + FAILURE_WINDOW_S - now
                 for times in (self._recent(k, now) for k in keys)
                 if len(times) >= MAX_FAILURES]
        return max(waits, default=0.0)

    def _record(self, keys: Iterable[str], now: float) -> None:
        for key in keys:
            times = self._recent(key, now)
            times.append(now)
            self._failures.pop(key, None)
            self._failures[key] = times  # re-inserted last: the oldest come first
        while len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until a login for these keys is heard again; 0 when it is now."""
        with self._lock:
            return self._wait(keys, self.clock())

    def begin(self, keys: Iterable[str]) -> float:
        """Count an attempt as failed before it is checked; the wait when it is refused
        (nothing counted then), 0 when it may go on."""
        keys = list(keys)
        now = self.clock()
        with self._lock:
            wait = self._wait(keys, now)
            if wait == 0:
                self._record(keys, now)
        return wait

    def succeeded(self, keys: Iterable[str]) -> None:
        """Take back the failure :meth:`begin` counted, for a credential that was right."""
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times:
                    times.pop()

    def failed(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._record(keys, self.clock())
