"""The evidence frames a timeline shows, and their scaled-down JPEGs.

A thumbnail is an evidence view like any other: the route serving it records an ``access``
line (``thumbnail``) first. So a page shows few: at most ``MAX_THUMBNAILS``, the decision
asked for and then the first frame of each run of one non-allow action and reason (where
something changed), each only when its evidence file exists.
"""

from __future__ import annotations

import cv2
import numpy as np

from console.timeline import Point, Timeline, changes
from schemas.events import Action
from sinks.evidence_store import day_of, evidence_path, evidence_root
from vigil.core.settings import Settings

MAX_THUMBNAILS = 12  # evidence frames on one page (each one an audited view)
THUMBNAIL_WIDTH = 160


def evidence_kept(settings: Settings, point: Point) -> bool:
    """Whether an evidence file exists for the decision (not opened: that is a view)."""
    if point.action is Action.ALLOW:
        return False
    return evidence_path(evidence_root(settings), point.client_id, day_of(point.decided_at),
                         point.frame_id).is_file()


def pick_thumbnails(settings: Settings, timeline: Timeline) -> list[Point]:
    """The frames to show with a timeline (see the module docstring), oldest first."""
    focus = timeline.query.at
    wanted = [p for p in timeline.window if p.seq == focus and p.action is not Action.ALLOW]
    wanted += [p for p in changes(timeline.window)
               if p.action is not Action.ALLOW and p.seq != focus]
    chosen = [p for p in wanted[:MAX_THUMBNAILS * 2] if evidence_kept(settings, p)]
    return sorted(chosen[:MAX_THUMBNAILS], key=lambda p: p.seq)


def thumbnail_jpeg(jpeg: bytes, width: int = THUMBNAIL_WIDTH) -> bytes:
    """The evidence frame scaled down to ``width`` pixels across (aspect kept), as a JPEG."""
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the evidence frame is not a readable JPEG")
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("the thumbnail could not be encoded")
    return bytes(data.tobytes())
