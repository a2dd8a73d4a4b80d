"""`vigil bench sessions --stack`: the same sessions through a running Vigil, over protocol v1.

The in-process bench (decide.py) runs the processors' and the decide stage's own code with no
broker, each decision taken at its frame's capture time. Through the stack, each presented
session is what a client of a real deployment sends: a client made for it is enrolled from
the person's enrollment photos through the control plane (the code of `vigil enroll`, so the
deployment's own per-person threshold applies), given a token, and streams the session's
frames as webcam JPEGs (the bench's own encoding) at ``--fps`` over a WebSocket; the decisions
that come back are the session's steps. The client is then forgotten (key destroyed, evidence
erased), so the next client's own threshold is not set against the same person enrolled
before. Sessions run one after another: one client at a time, as a person at a webcam.

What differs from the in-process column is what the deployment adds: batching across
frames, processing time (a frame too old is ``stale``, a half past decide's deadline
``incomplete``), the phone stage's tiled view and its reuse gate as they run, Redis state.
A frame with no decision within the reply timeout is counted as not allowed, reason
``incomplete`` (``block``, for the last sign-out's reason, once the server has blocked the
client and closed the session), and the report says how many there were; frames are
compared with the in-process column only where a decision came. Head-turn sessions are not
run (their challenge is asked by a per-session policy the stack does not take), nor phone
sessions of someone not enrolled (a client must be enrolled to stream).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from schemas.events import Action, ChallengeState, Reason
from vigil.apps.bench.sessions.decide import Step
from vigil.apps.bench.sessions.layout import HEADTURN, SessionSet
from vigil.apps.bench.sessions.metrics import Ran
from vigil.apps.bench.sessions.scenarios import NOBODY, Presented, person_key
from vigil.apps.client import StreamReport, stream_frames
from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 60.0  # after the last frame is sent, how long to wait for decisions
START_TIMEOUT_S = 600.0  # `vigil up` on a shared 2-core machine
STOP_TIMEOUT_S = 300.0


class StackBenchError(VigilError):
    """The stack could not be used: `vigil up` did not start. (A person whose photos are
    refused is counted in StackRun.refused, not raised.)"""


@dataclass
class StackRun:
    """The sessions run through the stack, their steps, and what it did not decide."""

    runs: list[Ran] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # why -> sessions
    # Sessions by label(): whether each frame got a decision; those whose client the server
    # blocked; those whose person could not be enrolled, and why.
    decided: dict[str, list[bool]] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)  # send -> decision, every frame


def label(session: Presented) -> str:
    """A session's key in a StackRun: its kind and name (a genuine and a phone session of
    one person may share a name)."""
    return f"{session.kind} {session.name}"


def runnable(session: Presented) -> str | None:
    """Why the stack cannot run this session, or None when it can."""
    if session.kind == HEADTURN:
        return "head-turn sessions (their challenge is asked by a per-session policy)"
    if session.enrolled == NOBODY:
        return "phone sessions of people not enrolled (a client must be enrolled)"
    return None


def blocked(report: StreamReport) -> bool:
    """Whether the server blocked the client: it said so, or closed the session for it."""
    return (any(m.get("state") == "blocked" for m in report.statuses)
            or (report.close_code == 1008 and report.close_reason.startswith("blocked")))


def steps_of(report: StreamReport, count: int, fps: float) -> tuple[list[Step], list[bool]]:
    """One step per frame sent (seq 1..count), at its nominal time ``(seq - 1) / fps`` as the
    in-process bench times it, and whether a decision came for it. A frame without one is
    not allowed. Once the server has blocked the client (it closes the session, and the
    frames in flight get no decision) it is ``block`` for the reason of the last sign-out
    that came (sign-outs escalate to a block); otherwise ``lock_screen``, ``incomplete``."""
    ended = blocked(report)
    steps: list[Step] = []
    decided = []
    for seq in range(1, count + 1):
        message = report.decisions.get(seq)
        t_s = (seq - 1) / fps
        decided.append(message is not None)
        if message is not None:
            steps.append(step_of(message, t_s))
        elif ended:
            why = next((s.reason for s in reversed(steps) if s.action == Action.SIGN_OUT),
                       Reason.INCOMPLETE)
            steps.append(Step(t_s, Action.BLOCK, why, None, None, None))
        else:
            steps.append(Step(t_s, Action.LOCK_SCREEN, Reason.INCOMPLETE, None, None, None))
    return steps, decided


def step_of(message: Mapping[str, Any], t_s: float) -> Step:
    """A protocol v1 decision message as a bench step."""
    scores = message.get("scores") or {}
    challenge = message.get("challenge")
    return Step(t_s, Action(message["action"]), Reason(message["reason"]),
                scores.get("liveness"), scores.get("distance"), scores.get("phone"),
                ChallengeState(challenge["state"]) if challenge else None)


def enrollment_photos(sets: Sequence[SessionSet]) -> dict[str, list[Path]]:
    """Every person's enrollment photos, by the bench's person key."""
    return {person_key(data.name, person): photos
            for data in sets for person, photos in data.enroll.items()}


def run_through_stack(settings: Settings, sets: Sequence[SessionSet],
                      sessions: Sequence[Presented], fps: float) -> StackRun:
    """Every runnable session through the deployment ``settings`` names, streamed over
    protocol v1 at ``fps`` (see the module docstring)."""
    from control.cli import control_plane
    from processors.enroll import enroll
    from processors.vision.chain import FaceChain
    from processors.vision.imaging import read_image, webcam_jpeg
    from sinks.evidence_store import forget_evidence

    url = f"ws://{settings.gateway.host}:{settings.gateway.port}/v1/stream"
    photos = enrollment_photos(sets)
    chain = FaceChain.load(settings)
    prefix = f"bench-{secrets.token_hex(3)}"
    done = StackRun()
    with control_plane(settings) as control:
        for index, session in enumerate(tqdm(sessions, desc="through the stack",
                                             unit="session", file=sys.stderr, leave=False)):
            why = runnable(session)
            if why is not None:
                done.skipped[why] = done.skipped.get(why, 0) + 1
                continue
            client = f"{prefix}-{index}"
            report = enroll(settings, control, client, photos[session.enrolled],
                            f"bench: {session.name}", chain=chain, read=read_image)
            if not report.accepted:
                done.refused[label(session)] = "; ".join(w for _, w in report.refused)
                continue
            try:
                frames = [webcam_jpeg(read_image(str(p))) for p in session.frames]
                streamed = asyncio.run(stream_frames(
                    url, client, control.issue_token(client), frames, fps=fps,
                    reply_timeout_s=REPLY_TIMEOUT_S))
            finally:
                control.forget(client, "bench session done", "bench",
                               lambda cid: forget_evidence(settings, cid))
            if streamed.close_code not in (None, 1000):
                log.warning("session=%s closed %s %s", session.name, streamed.close_code,
                            streamed.close_reason)
            steps, done.decided[label(session)] = steps_of(streamed, len(frames), fps)
            if blocked(streamed):
                done.blocked.add(label(session))
            done.latencies_s += streamed.latencies_s.values()
            done.runs.append((session, steps))
    return done


def with_stack(settings: Settings, body: Callable[[], StackRun]) -> StackRun:
    """``body()`` against the gateway ``settings`` names, starting `vigil up` when none
    answers (and stopping it after)."""
    from vigil.apps.bench.e2e import BenchError, start_vigil_up
    from vigil.local.servers import port_answers

    started = None
    if not port_answers(settings.gateway.port, settings.gateway.host):
        print("no gateway answers: starting `vigil up` for the stack column", flush=True)
        try:
            started = start_vigil_up(None, timeout_s=START_TIMEOUT_S)
        except BenchError as exc:
            raise StackBenchError(exc.message) from None
    try:
        return body()
    finally:
        if started is not None:
            started.stop(STOP_TIMEOUT_S)
