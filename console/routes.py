"""The console's routes: who may reach each, and what each does.

Auditors read decisions, evidence and the chain, and export cases; operators block clients
and see the accounts. A session of the other role gets 403; no session, the login page. A
POST must come from the console's own pages (Origin) and carry the session's CSRF secret.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from console import pages
from console.accounts import authenticate
from console.audit_view import (
    DecisionFilter,
    accesses,
    decision_filter,
    decision_line,
    list_decisions,
)
from console.cases import build_case, case_name, evidence_of
from console.sessions import LoginLimiter, Session, SessionStore, csrf_ok
from console.thumbnails import pick_thumbnails, thumbnail_jpeg
from console.timeline import build_timeline, timeline_query
from console.timeline_page import timeline_page
from console.web import Request, Response
from control.clients import ClientControl
from control.users.db import AuditorRole, ClientState, UnknownClientError, UserRepository
from sinks.audit_access import AccessLog
from sinks.audit_log import AuditError
from sinks.audit_verify import verify_anchored
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "vigil_console"
LOGIN_COOKIE = "vigil_console_login"
Handler = Callable[[Request, Session], Response]
NONCE_BYTES = 24  # token_urlsafe(24): 32 characters of [A-Za-z0-9_-]
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
# Credentials checked at once: each check is a scrypt hash of 16 MiB; past this a login gets
# 503 instead of another 16 MiB (the limiter has already counted it).
MAX_CONCURRENT_LOGINS = 2
# Any segment matches here, so a bad id gets a 400 naming it rather than a bare 404.
CLIENT_TIMELINE = re.compile(r"/clients/([^/]+)/timeline")
SESSION_TIMELINE = re.compile(r"/clients/([^/]+)/sessions/([^/]+)/timeline")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    role: AuditorRole
    handler: Handler


def _login_nonce(request: Request) -> str:
    """The login form's nonce from its cookie, only when it is one we could have made: the
    value is written back into a Set-Cookie header, so CR/LF or ';' must never pass."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return nonce if NONCE_PATTERN.fullmatch(nonce) else ""


def _cookie(request: Request, name: str, value: str, max_age: int) -> tuple[str, str]:
    # Secure whenever the browser reached the console over TLS (a trusted proxy says so):
    # the session cookie then never crosses the network in clear.
    secure = "; Secure" if request.scheme == "https" else ""
    return ("Set-Cookie", f"{name}={value}; HttpOnly; SameSite=Strict; Path=/; "
            f"Max-Age={max_age}{secure}")


class Console:
    """One console process: its sessions, login limiter, the audit log it reads and adds to."""

    def __init__(self, settings: Settings, repo: UserRepository, audit_log: Path,
                 sessions: SessionStore | None = None,
                 limiter: LoginLimiter | None = None, use_kafka: bool = True) -> None:
        self.settings = settings
        self.use_kafka = use_kafka  # check the checkpoints and commits on Kafka too
        self.repo = repo
        self.audit_log = audit_log
        self.sessions = sessions or SessionStore(settings.console.session_ttl_s)
        self.limiter = limiter or LoginLimiter()
        self._hashing = threading.BoundedSemaphore(MAX_CONCURRENT_LOGINS)
        self.access = AccessLog(audit_log)
        auditor, operator = AuditorRole.AUDITOR, AuditorRole.OPERATOR
        self.routes = [
            Route("GET", re.compile(r"/decisions"), auditor, self.decisions),
            Route("GET", re.compile(r"/decisions/(\d+)"), auditor, self.decision),
            Route("GET", re.compile(r"/decisions/(\d+)/evidence\.jpg"), auditor, self.image),
            Route("GET", re.compile(r"/decisions/(\d+)/thumbnail\.jpg"), auditor,
                  self.thumbnail),
            Route("POST", re.compile(r"/decisions/(\d+)/export"), auditor, self.export),
            Route("GET", CLIENT_TIMELINE, auditor, self.timeline),
            Route("GET", SESSION_TIMELINE, auditor, self.timeline),
            Route("GET", re.compile(r"/verify"), auditor, self.verify),
            Route("GET", re.compile(r"/operator"), operator, self.operator),
            Route("POST", re.compile(r"/operator/block"), operator, self.block),
        ]

    def close(self) -> None:
        self.access.close()

    # --- dispatch ---------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """Answer one request (see the module docstring for the rules)."""
        if request.method == "POST" and request.origin not in (None, request.own_origin):
            return Response.html(403, pages.error_page("Refused", "cross-site form", None))
        public: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/console.css"): self.css, ("GET", "/login"): self.login_form,
            ("POST", "/login"): self.login, ("GET", "/healthz"): self.healthz}
        if (request.method, request.path) in public:
            return public[(request.method, request.path)](request)
        session = self._session(request)
        if session is None:
            return (Response.redirect("/login") if request.method == "GET" else
                    Response.html(401, pages.error_page("Logged out", "log in again", None)))
        if request.method == "POST" and not csrf_ok(session, request.form.get("csrf")):
            return Response.html(403, pages.error_page("Refused", "the form is stale or was "
                                                       "not sent by this console", session))
        if request.path == "/logout" and request.method == "POST":
            self.sessions.end(request.cookies.get(SESSION_COOKIE))
            return Response(303, headers=[("Location", "/login"),
                                          _cookie(request, SESSION_COOKIE, "", 0)])
        if request.path == "/" and request.method == "GET":
            return Response.redirect("/decisions" if session.role is AuditorRole.AUDITOR
                                     else "/operator")
        return self._route(request, session)

    def _route(self, request: Request, session: Session) -> Response:
        for route in self.routes:
            if route.method == request.method and route.pattern.fullmatch(request.path):
                if route.role is not session.role:
                    return Response.html(403, pages.error_page(
                        "Not for your role", f"this page is for {route.role.value}s; you are "
                        f"logged in as {session.role.value} {session.name}", session))
                return route.handler(request, session)
        return Response.html(404, pages.error_page("Not found", request.path, session))

    def _session(self, request: Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(token)
        if session is None:
            return None
        account = self.repo.get_auditor(session.name)
        if account is None or account.role is not session.role:  # removed since login
            self.sessions.end_all_of(session.name)
            return None
        return session

    # --- public -----------------------------------------------------------------------------
    def healthz(self, _request: Request) -> Response:
        """For probes (Kubernetes, load balancers): no login, says nothing but that it serves."""
        return Response(200, b"ok\n", "text/plain; charset=utf-8")

    def css(self, _request: Request) -> Response:
        return Response(200, pages.CSS.encode(), "text/css; charset=utf-8")

    def login_form(self, request: Request, status: int = 200, message: str = "",
                   extra: list[tuple[str, str]] | None = None) -> Response:
        # Double submit: the form and the cookie must agree. One nonce per browser, so a
        # second tab (or the favicon's redirect) does not void the first tab's form.
        nonce = _login_nonce(request) or secrets.token_urlsafe(NONCE_BYTES)
        return Response(status, pages.login_page(nonce, message).encode(),
                        headers=[_cookie(request, LOGIN_COOKIE, nonce, 600), *(extra or [])])

    def login(self, request: Request) -> Response:
        form = request.form
        nonce = _login_nonce(request)
        if not nonce or not csrf_ok(Session("", AuditorRole.AUDITOR, nonce, 0),
                                    form.get("login_csrf")):
            return self.login_form(request, 403, "The login form expired; please try again.")
        name = form.get("name", "").strip()
        keys = [f"address:{request.remote}", f"name:{name}"]
        wait = self.limiter.begin(keys)  # counted as failed until the credential proves right
        if wait > 0:
            log.warning("console login refused (rate limit) name=%s remote=%s", name,
                        request.remote)
            return self.login_form(request, 429, f"Too many failed logins; try again in "
                                   f"{wait:.0f} s.", [("Retry-After", f"{wait:.0f}")])
        if not self._hashing.acquire(blocking=False):
            log.warning("console login refused (%d logins being checked) remote=%s",
                        MAX_CONCURRENT_LOGINS, request.remote)
            return self.login_form(request, 503, "The console is busy; try again in a moment.",
                                   [("Retry-After", "1")])
        try:
            account = authenticate(self.repo, name, form.get("credential", ""))
        finally:
            self._hashing.release()
        if account is None:
            log.warning("console login failed name=%s remote=%s", name, request.remote)
            return self.login_form(request, 401, "Name or credential not accepted.")
        self.limiter.succeeded(keys)
        token, _session = self.sessions.create(account.name, account.role)
        log.info("console login name=%s role=%s remote=%s", account.name, account.role,
                 request.remote)
        return Response(303, headers=[("Location", "/"), _cookie(
            request, SESSION_COOKIE, token, int(self.settings.console.session_ttl_s)),
            _cookie(request, LOGIN_COOKIE, "", 0)])

    # --- auditors ---------------------------------------------------------------------------
    def decisions(self, request: Request, session: Session) -> Response:
        wanted, problem = decision_filter(request.query)
        if problem:
            return Response.html(400, pages.error_page("Bad filter", problem, session))
        listing = list_decisions(self.audit_log, wanted or DecisionFilter())
        return Response.html(200, pages.decisions_page(listing, wanted or DecisionFilter(),
                                                       request.query, session))

    def decision(self, request: Request, session: Session) -> Response:
        found = decision_line(self.audit_log, int(request.path.split("/")[2]))
        if found is None:
            return Response.html(404, pages.error_page("Not found", "no decision on that "
                                                       "line of the audit log", session))
        line, decision = found
        return Response.html(200, pages.decision_page(
            line, decision, evidence_of(self.settings, decision),
            accesses(self.audit_log, decision.frame_id), session))

    def image(self, request: Request, session: Session) -> Response:
        return self._evidence(request, session, "view", lambda jpeg: jpeg)

    def thumbnail(self, request: Request, session: Session) -> Response:
        return self._evidence(request, session, "thumbnail", thumbnail_jpeg)

    def _evidence(self, request: Request, session: Session, access: str,
                  shown: Callable[[bytes], bytes]) -> Response:
        """A decision's evidence frame as ``shown`` makes it, recorded as ``access``."""
        found = decision_line(self.audit_log, int(request.path.split("/")[2]))
        evidence = evidence_of(self.settings, found[1]) if found else None
        if found is None or evidence is None or evidence.item is None or not evidence.item.jpeg:
            return Response.html(404, pages.error_page("No evidence", "no frame kept for this "
                                                       "decision", session))
        line, decision = found
        body = shown(evidence.item.jpeg)
        # Recorded (and fsynced) before a byte is sent: no view goes unrecorded.
        self.access.record(access, session.name, session.role.value, decision, line.seq,
                           request.remote)
        return Response(200, body, "image/jpeg")

    def timeline(self, request: Request, session: Session) -> Response:
        ids = (SESSION_TIMELINE.fullmatch(request.path)
               or CLIENT_TIMELINE.fullmatch(request.path))
        assert ids is not None  # the route matched one of them
        client_id, session_id = ids.group(1), (ids.group(2) if ids.re.groups == 2 else None)
        query, problem = timeline_query(client_id, session_id, request.query)
        if query is None:
            return Response.html(400, pages.error_page("Bad timeline", problem, session))
        found = build_timeline(self.audit_log, query)
        if found is None:
            return Response.html(404, pages.error_page(
                "Not found", f"no decision of {session_id or client_id} on line {query.at}",
                session))
        return Response.html(200, timeline_page(found, pick_thumbnails(self.settings, found),
                                                session))

    def export(self, request: Request, session: Session) -> Response:
        found = decision_line(self.audit_log, int(request.path.split("/")[2]))
        minutes = request.form.get("minutes", "15")
        if found is None or not minutes.isdigit() or not 1 <= int(minutes) <= 10080:
            return Response.html(400, pages.error_page("Cannot export", "no decision on that "
                                 "line, or minutes not within 1..10080", session))
        line, decision = found
        self.access.record("export", session.name, session.role.value, decision, line.seq,
                           request.remote)
        data = build_case(self.settings, self.audit_log, decision, int(minutes) * 60_000,
                          line.seq, self.use_kafka)
        return Response(200, data, "application/zip", headers=[
            ("Content-Disposition", f'attachment; filename="{case_name(decision)}"')])

    def verify(self, _request: Request, session: Session) -> Response:
        try:  # the anchored check: the chain, the signed checkpoints, the committed offsets
            result, error = verify_anchored(self.settings, self.audit_log, self.use_kafka), ""
        except AuditError as exc:
            result, error = None, str(exc)
        return Response.html(200 if result is not None else 404,
                             pages.verify_page(str(self.audit_log), result, error, session))

    # --- operators --------------------------------------------------------------------------
    def operator(self, _request: Request, session: Session, message: str = "",
                 status: int = 200) -> Response:
        return Response.html(status, pages.operator_page(self.repo.list_auditors(), message,
                                                         session))

    def block(self, request: Request, session: Session) -> Response:
        client_id = request.form.get("client_id", "").strip()
        control = ClientControl(self.settings, self.repo)
        try:
            changed = control.set_state(client_id, ClientState.BLOCKED,
                                        request.form.get("reason", ""),
                                        f"console:{session.name}")
        except UnknownClientError as exc:
            return self.operator(request, session, str(exc).strip("'\""), 404)
        finally:
            control.close()
        # Stored either way (the outbox delivers it once Redis and Kafka answer again).
        waiting = "".join(f"; not yet in {where}: {problem}"
                          for where, problem in control.problems.items())
        return self.operator(request, session, f"{client_id}: blocked"
                             + ("" if changed else " (it was already)") + waiting)
