"""yywbxgl/face_detection: webcam frames of nine colleagues in one office, in capture order.

The repository's first commit (ee8a912) held ``video_data/<name>.avi`` (one webcam video per
person; over the snapshots' 4 MiB limit) and ``video_data/capture/<name>_<frame>.jpg``: frames
100, 200, ... of each video, 640x480 (later commits removed the folder, so the source is read
at that commit). Every frame is a live person at the webcam: genuine only, no attacks. The
frames are about 100 video frames apart (a few seconds), not consecutive: as a session at
2 frames a second they are a sparse, fast-moving one. The same pictures make the
``yywbxgl-office`` identity set (``vigil devdata identity``).
"""

from vigil.apps.devdata.catalog import Source, Stills

SOURCE = Source(
    name="yywbxgl",
    repo="yywbxgl/face_detection",
    revision="ee8a9125c03c7222fe0e0acedd25bd746579c23e",
    licence="unstated (no LICENSE file)",
    about="Nine colleagues in one office, each in front of the same webcam (640x480): frames "
          "100, 200, ... of one video per person, kept by the repository's capture script.",
    stills=(
        Stills("video_data/capture", r"(?P<person>[a-z]+)_(?P<index>\d+)\.jpg",
               "yywbxgl-office",
               note="frame 100 of each video enrolls the person; frames 200 onward (1 to 4 a "
                    "person) are the session"),
    ),
)
