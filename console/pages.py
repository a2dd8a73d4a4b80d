"""The console's HTML: server-rendered, every value escaped, no script.

Each page says what it is for in a sentence or two; forms that change anything carry the
session's CSRF secret.
"""

from __future__ import annotations

from html import escape

from console.audit_view import AuditLine, DecisionFilter, Listing
from console.cases import Evidence
from console.sessions import Session
from console.timeline import decision_href, page_path
from control.users.db import AuditorRecord
from schemas.events import Action, Decision, Reason
from sinks.audit_verify import AnchoredVerdict
from vigil.core.utc import format_utc

CSS = """
body { font-family: system-ui, sans-serif; margin: 0 2em 2em; color: #222; max-width: 70em; }
header { display: flex; gap: 1.5em; align-items: center; border-bottom: 1px solid #ccc; }
header form { margin-left: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #eee; }
.help { color: #555; max-width: 50em; }
.ok { color: #106010; font-weight: bold; } .bad { color: #a01010; font-weight: bold; }
form.filters label { display: inline-block; margin: 0 1em .5em 0; }
img.evidence { max-width: 640px; border: 1px solid #999; }
.swatch { display: inline-block; padding: 0 .5em; margin-right: .4em; color: #fff; }
.swatch.allow { background: #3a8f3a; } .swatch.lock_screen { background: #e0a800; color: #222; }
.swatch.sign_out { background: #c0392b; } .swatch.block { background: #5b2c83; }
td.allow { color: #2a6f2a; } td.lock_screen { color: #8a6500; }
td.sign_out, td.block { color: #a01010; font-weight: bold; }
tr.focus td { background: #fff3c4; }
.chart { overflow-x: auto; } svg.timeline { display: block; max-width: 100%; height: auto; }
.thumbs { display: flex; flex-wrap: wrap; gap: .8em; }
.thumbs figure { margin: 0; font-size: .85em; } img.thumb { border: 1px solid #999; }
pre { background: #f6f6f6; padding: .6em; white-space: pre-wrap; word-break: break-all; }
"""


def e(value: object) -> str:
    """Escape any value for HTML text and attribute values."""
    return escape(str(value), quote=True)


def models_text(models: dict[str, str]) -> str:
    """A decision's model versions on one line (older decisions recorded none)."""
    return ", ".join(f"{role} {version}" for role, version in sorted(models.items())) or (
        "not recorded")


def page(title: str, body: str, session: Session | None) -> str:
    nav = ""
    if session is not None:
        links = ('<a href="/decisions">Decisions</a><a href="/verify">Verify the chain</a>'
                 if session.role.value == "auditor" else '<a href="/operator">Operator</a>')
        nav = (f"<header><strong>Vigil console</strong>{links}"
               f'<form method="post" action="/logout">{csrf_field(session)}'
               f'<span>{e(session.name)} ({e(session.role.value)})</span> '
               '<button>Log out</button></form></header>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} '
            '- Vigil console</title><link rel="stylesheet" href="/console.css"></head>'
            f"<body>{nav}<h1>{e(title)}</h1>{body}</body></html>")


def csrf_field(session: Session) -> str:
    return f'<input type="hidden" name="csrf" value="{e(session.csrf)}">'


def login_page(login_csrf: str, message: str = "") -> str:
    note = f'<p class="bad" role="alert">{e(message)}</p>' if message else ""
    return page("Log in", f"""{note}
<p class="help">The auditor console shows Vigil's decisions, their evidence and the audit
chain. Log in with the name and credential printed by <code>vigil auditors add NAME</code>.</p>
<form method="post" action="/login">
<input type="hidden" name="login_csrf" value="{e(login_csrf)}">
<p><label>Name <input name="name" autocomplete="username" required></label></p>
<p><label>Credential <input name="credential" type="password" autocomplete="current-password"
 required></label></p>
<p><button>Log in</button></p></form>""", None)


def _options(name: str, values: list[str], chosen: str | None) -> str:
    items = "".join(f'<option{" selected" if v == chosen else ""}>{e(v)}</option>'
                    for v in values)
    return f'<select name="{name}"><option value="">any</option>{items}</select>'


def decisions_page(listing: Listing, wanted: DecisionFilter, raw: dict[str, str],
                   session: Session) -> str:
    rows = "".join(
        f'<tr><td><a href="/decisions/{line.seq}">{line.seq}</a></td>'
        f'<td><a href="{e(decision_href(d.client_id, d.session_id, line.seq))}">timeline</a>'
        f"</td><td>{e(format_utc(d.decided_at))}</td><td>{e(d.client_id)}</td>"
        f"<td>{e(d.action.value)}</td><td>{e(d.reason.value)}</td><td>{e(d.frame_id)}</td></tr>"
        for line, d in listing.decisions)
    bad = (f'<p class="bad">Lines that could not be read: {e(listing.unreadable)}. '
           '<a href="/verify">Verify the chain</a>.</p>' if listing.unreadable else "")
    return page("Decisions", f"""
<p class="help">Every decision in the audit log, newest first. Narrow the list with the
filters (times are UTC, on the decision's <code>decided_at</code>); open a decision to see its
evidence and export it as a case.</p>
<form class="filters" method="get" action="/decisions">
<label>Client <input name="client" value="{e(raw.get("client", ""))}"></label>
<label>Reason {_options("reason", [r.value for r in Reason], wanted.reason)}</label>
<label>Action {_options("action", [a.value for a in Action], wanted.action)}</label>
<label>From <input name="from" type="datetime-local" step="1" value="{e(raw.get("from", ""))}">
</label>
<label>To <input name="to" type="datetime-local" step="1" value="{e(raw.get("to", ""))}">
</label>
<button>Filter</button></form>{bad}
<p>{listing.matched} matching decision(s); showing the newest {len(listing.decisions)}.</p>
<table><tr><th>line</th><th>in its session</th><th>decided (UTC)</th><th>client</th>
<th>action</th><th>reason</th>
<th>frame</th></tr>{rows}</table>""", session)


def _access_rows(lines: list[AuditLine]) -> str:
    if not lines:
        return "<p>Nobody has viewed or exported this evidence before.</p>"
    rows = "".join(f"<tr><td>{line.seq}</td><td>{e(format_utc(line.recorded_at))}</td>"
                   f"<td>{e(line.event.get('by'))}</td><td>{e(line.event.get('access'))}</td>"
                   f"<td>{e(line.event.get('remote'))}</td></tr>" for line in lines)
    return ("<table><tr><th>line</th><th>when (UTC)</th><th>who</th><th>what</th>"
            f"<th>from</th></tr>{rows}</table>")


def decision_page(line: AuditLine, decision: Decision, evidence: Evidence,
                  seen: list[AuditLine], session: Session) -> str:
    item = evidence.item
    if item is not None and item.jpeg:
        shown = (f'<img class="evidence" src="/decisions/{line.seq}/evidence.jpg" '
                 f'alt="evidence frame {e(decision.frame_id)}">')
    elif item is not None:
        shown = f"<p>The decision was kept without its frame: {e(item.note)}</p>"
    else:
        shown = f"<p>No evidence to show: {e(evidence.why_none)}</p>"
    return page(f"Decision on line {line.seq}", f"""
<p class="help">A decision as recorded in the audit log, and the frame it was made on,
decrypted on the server. Showing the frame adds a line to the audit log naming you; so does
exporting the case.</p>
<table><tr><th>client</th><td>{e(decision.client_id)}</td></tr>
<tr><th>action</th><td>{e(decision.action.value)}</td></tr>
<tr><th>reason</th><td>{e(decision.reason.value)}</td></tr>
<tr><th>decided (UTC)</th><td>{e(format_utc(decision.decided_at))}</td></tr>
<tr><th>frame</th><td>{e(decision.frame_id)} (seq {decision.seq}, session
 {e(decision.session_id)})</td></tr>
<tr><th>timeline</th><td><a href="{e(decision_href(decision.client_id, decision.session_id,
 line.seq))}">this decision in its session</a>, <a href="{e(page_path(decision.client_id,
 None))}">every session of {e(decision.client_id)}</a></td></tr>
<tr><th>policy</th><td>{e(decision.policy_version)}</td></tr>
<tr><th>models</th><td>{e(models_text(decision.models))}</td></tr></table>
<h2>Evidence</h2>{shown}
<h2>Export this case</h2>
<p class="help">One zip file: the decision, its evidence, the audit lines of this client from
the given minutes before to after the decision, every view or export of this evidence, and
the chain's verification result.</p>
<form method="post" action="/decisions/{line.seq}/export">{csrf_field(session)}
<label>Minutes around the decision <input name="minutes" type="number" min="1" max="10080"
 value="15"></label> <button>Export case</button></form>
<h2>Who has seen this evidence</h2>{_access_rows(seen)}
<h2>Decision as recorded</h2><pre>{e(line.raw.decode(errors="replace"))}</pre>""", session)


def verify_page(path: str, result: AnchoredVerdict | None, error: str,
                session: Session) -> str:
    if result is None:
        outcome = f'<p class="bad">Cannot verify: {e(error)}</p>'
    elif result.ok:
        last = result.last_good.describe() if result.last_good else "none"
        outcome = (f'<p class="ok">The audit log is intact: {result.chain.lines} lines '
                   f"verified; last good checkpoint: {e(last)}.</p>")
    else:
        outcome = (f'<p class="bad">The audit log is NOT intact: {e(result.problem or "")}.'
                   "</p>")
    notes = "".join(f"<li>{e(note)}</li>" for note in (result.notes if result else ()))
    return page("Verify the audit log", f"""
<p class="help">Checks every line of the audit log <code>{e(path)}</code> (its hash, the link
to the line before, its sequence number), then the log against the checkpoints the audit sink
signed (in the file beside it and on Kafka) and against what the audit sink committed on
Kafka. An edited, removed, inserted or reordered line is named, and so is a cut at the end.
</p>{outcome}{f"<ul>{notes}</ul>" if notes else ""}""", session)


def operator_page(accounts: list[AuditorRecord], message: str, session: Session) -> str:
    rows = "".join(f"<tr><td>{e(a.name)}</td><td>{e(a.role.value)}</td>"
                   f"<td>{e(format_utc(a.created_at))}</td></tr>" for a in accounts)
    note = f'<p class="ok" role="status">{e(message)}</p>' if message else ""
    return page("Operator", f"""{note}
<p class="help">Operators act on clients; auditors review what happened. Accounts are made and
removed with <code>vigil auditors add|remove</code>.</p>
<h2>Block a client</h2>
<form method="post" action="/operator/block">{csrf_field(session)}
<label>Client <input name="client_id" required></label>
<label>Reason <input name="reason" maxlength="500"></label> <button>Block</button></form>
<h2>Console accounts</h2>
<table><tr><th>name</th><th>role</th><th>created (UTC)</th></tr>{rows}</table>""", session)


def error_page(title: str, message: str, session: Session | None) -> str:
    return page(title, f'<p class="bad">{e(message)}</p><p><a href="/">Back</a></p>', session)
