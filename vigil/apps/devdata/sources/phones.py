"""People at a webcam holding a phone, and the same scenes without one (false phones).

aitkherimed1228/Yolov10_project commits the Roboflow export it trained on (``detection-2``,
CC BY 4.0 by its data.yaml): one man at a webcam, captures ``opencv_frame_<n>`` 0 to 206 in
order, holding up a wallet (0-83), AirPods (84-148), then a phone (149-206). The export
stretched every capture to 640x640; they are resized back to the webcam's 640x480. Its
``valid`` and ``test`` pictures are the captures as taken; ``train`` holds two randomly
cropped (0-21%) copies of each, the first of which is taken where no unaugmented one exists.

AdityaRalhan/Bottle-and-phone-recognizer's first commit (its pictures were deleted from HEAD
later) holds the 50 webcam captures per class of its collect_images.py: a young man holding a
phone up to the camera (``phone``), the same man holding a bottle or a tumbler (``bottle``),
and the empty room (``background``), 1280x720. His face is mostly out of the frame, so the
pictures are a frame set for the phone detector only (not ``bona_fide``), and no sessions.
"""

from vigil.apps.devdata.catalog import Captures, Pictures, Source

AITKHERIMED = Source(
    name="aitkherimed",
    repo="aitkherimed1228/Yolov10_project",
    licence="CC BY 4.0 (Roboflow export's data.yaml: universe.roboflow.com/detection-hfuet/"
            "detection-necem); no LICENSE file",
    about="One man at a webcam in a room with a window, 207 numbered captures: holding up a "
          "wallet, then AirPods, then a phone (classes airpods, phone, wallet per picture).",
    captures=(
        Captures(
            folders=("detection-2/valid/images", "detection-2/test/images",
                     "detection-2/train/images"),
            person="aitkherimed", frame_set="aitkherimed-desk",
            phone_classes=frozenset({1}), other_classes=frozenset({0, 2}),
            order=r"opencv_frame_(\d+)_", size=(640, 480),
            note="capture interval unknown: sessions assume 2 frames a second"),
    ),
)

ADITYARALHAN = Source(
    name="adityaralhan",
    repo="AdityaRalhan/Bottle-and-phone-recognizer",
    licence="unstated (no LICENSE file)",
    about="A young man at a webcam (1280x720) holding a phone up to it, or a bottle or "
          "tumbler; and the empty room. Face mostly out of the frame: phone detector only.",
    revision="2966396d86cf0f43ca372e2a5451bfe29b85da1e",
    pictures=(
        Pictures("dataset/phone", "adityaralhan-webcam", ("phone",)),
        Pictures("dataset/bottle", "adityaralhan-webcam", ("no_phone",)),
        Pictures("dataset/background", "adityaralhan-webcam", ("no_phone",)),
    ),
)
