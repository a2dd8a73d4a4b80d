"""The console over HTTP without a browser: logins, sessions, roles, CSRF, filters, escaping."""

from __future__ import annotations

import re

from console.audit_view import DecisionFilter, list_decisions
from console.sessions import FAILURE_WINDOW_S, MAX_FAILURES
from schemas.events import Reason
from sinks.audit_log import verify
from tests.console.conftest import T0, ConsoleUnderTest, make_decision, record_decisions
from tests.console.http_client import ConsoleClient, Reply


def rows(page: Reply) -> list[str]:
    """The frame ids listed on a decisions page."""
    return re.findall(r"<td>(f-[a-z]+-\d)</td></tr>", page.text)


def logged_in(app: ConsoleUnderTest, name: str = "ann") -> ConsoleClient:
    client = ConsoleClient(app.url)
    credential = app.auditor if name == "ann" else app.operator
    assert client.login(name, credential).status == 303
    return client


def test_login_sets_a_strict_server_side_session(console_app: ConsoleUnderTest) -> None:
    client = ConsoleClient(console_app.url)
    assert client.get("/decisions").headers["Location"] == "/login"
    refused = client.login("ann", "not-the-credential")
    assert refused.status == 401 and "not accepted" in refused.text
    accepted = client.login("ann", console_app.auditor)
    assert accepted.status == 303
    cookie = next(c for c in accepted.headers.get_all("Set-Cookie")
                  if c.startswith("vigil_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert len(cookie.split(";")[0].split("=", 1)[1]) >= 43  # 32 random bytes
    assert client.get("/").headers["Location"] == "/decisions"
    page = client.get("/decisions")
    assert page.status == 200 and "default-src 'none'" in page.headers[
        "Content-Security-Policy"]


def test_healthz_answers_without_a_login(console_app: ConsoleUnderTest) -> None:
    reply = ConsoleClient(console_app.url).get("/healthz")
    assert reply.status == 200 and reply.text == "ok\n"
    assert "vigil_console=" not in " ".join(reply.headers.get_all("Set-Cookie") or [])


def test_session_ends_on_the_server_when_its_time_is_up(console_app: ConsoleUnderTest
                                                        ) -> None:
    client = logged_in(console_app)
    assert client.get("/decisions").status == 200
    console_app.clock.now += console_app.settings.console.session_ttl_s + 1
    assert client.get("/decisions").headers["Location"] == "/login"


def test_removed_account_loses_its_session(console_app: ConsoleUnderTest) -> None:
    client = logged_in(console_app)
    console_app.repo.remove_auditor("ann")
    assert client.get("/decisions").headers["Location"] == "/login"


def test_failed_logins_are_rate_limited(console_app: ConsoleUnderTest) -> None:
    client = ConsoleClient(console_app.url)
    for _ in range(MAX_FAILURES):
        assert client.login("ann", "wrong").status == 401
    limited = client.login("ann", console_app.auditor)  # even the right one, for now
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    console_app.clock.now += FAILURE_WINDOW_S + 1
    assert client.login("ann", console_app.auditor).status == 303


def test_posts_need_the_csrf_secret_and_the_same_origin(console_app: ConsoleUnderTest) -> None:
    client = logged_in(console_app)
    page = client.get("/decisions/2")
    csrf = page.hidden("csrf")
    assert client.post("/decisions/2/export", {"minutes": "15"}).status == 403
    assert client.post("/decisions/2/export", {"minutes": "15", "csrf": csrf},
                       origin="http://evil.example").status == 403
    assert ConsoleClient(console_app.url).post("/login", {
        "name": "ann", "credential": console_app.auditor}).status == 403  # no login nonce
    exported = client.post("/decisions/2/export", {"minutes": "15", "csrf": csrf},
                           origin=console_app.url)
    assert exported.status == 200 and exported.headers["Content-Type"] == "application/zip"


def test_each_role_gets_403_on_the_others_routes(console_app: ConsoleUnderTest) -> None:
    auditor, operator = logged_in(console_app), logged_in(console_app, "otto")
    assert auditor.get("/operator").status == 403
    csrf = auditor.get("/decisions").hidden("csrf")
    assert auditor.post("/operator/block", {"csrf": csrf, "client_id": "alice"}).status == 403
    assert operator.get("/decisions/2/evidence.jpg").status == 403
    assert operator.get("/verify").status == 403
    accounts = operator.get("/operator")
    assert accounts.status == 200 and "ann" in accounts.text and "otto" in accounts.text
    assert verify(console_app.audit_log).lines == 5  # nothing viewed, nothing recorded


def test_filters_narrow_the_list(console_app: ConsoleUnderTest) -> None:
    client = logged_in(console_app)
    assert rows(client.get("/decisions")) == ["f-noface-5", "f-wrong-4", "f-spoof-3",
                                              "f-phone-2", "f-allow-1"]
    assert rows(client.get("/decisions?client=alice&action=sign_out")) == ["f-spoof-3",
                                                                            "f-phone-2"]
    assert rows(client.get("/decisions?reason=wrong_user")) == ["f-wrong-4"]
    window = "from=2026-09-21T14:14:00&to=2026-09-21T14:16:20"  # T0 + 40 s .. + 3 min
    assert rows(client.get(f"/decisions?{window}")) == ["f-wrong-4", "f-spoof-3", "f-phone-2"]
    bad = client.get("/decisions?reason=sleepy")
    assert bad.status == 400 and "unknown reason" in bad.text


def test_values_are_escaped(console_app: ConsoleUnderTest) -> None:
    odd = make_decision("f-spoof-3", 9, policy_version='<script>alert("x")</script>')
    record_decisions(console_app.settings, [odd.model_copy(update={"frame_id": "f-odd-6"})])
    page = logged_in(console_app).get("/decisions/6")
    assert page.status == 200
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


def test_listing_reports_unreadable_lines(console_app: ConsoleUnderTest) -> None:
    with console_app.audit_log.open("ab") as out:
        out.write(b"not json\n")
    listing = list_decisions(console_app.audit_log, DecisionFilter(reason=Reason.SPOOF.value,
                                                                   start_ms=T0))
    assert [d.frame_id for _line, d in listing.decisions] == ["f-spoof-3"]
    assert listing.unreadable == [6]
