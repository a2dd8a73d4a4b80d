"""Rounakdeepsingh/Face_Anti_Spoofing_System: webcam frames of a YOLO liveness recipe.

The repository's first commit holds what its ``dataCollection.py`` (the common YOLO
anti-spoofing recipe) saved from a laptop webcam at 640x480, file names the capture time:
``Dataset/Real`` (689 frames of three young men at a desk in one room, no phone in hand) and
``Dataset/Fake`` (663 frames of a phone held up to the webcam showing photos of public figures).
HEAD deleted them, so the build reads that commit. The replayed faces are other people's, so
the set is for liveness and false phones per frame, not for sessions of an enrolled person.
At most ``FRAMES_PER_LABEL`` frames a folder, evenly spaced in capture order.
"""

from vigil.apps.devdata.catalog import Pictures, Source

FRAMES_PER_LABEL = 150

SOURCE = Source(
    name="rounak",
    repo="Rounakdeepsingh/Face_Anti_Spoofing_System",
    licence="unstated (no LICENSE file)",
    about="Laptop webcam frames (640x480) in one room: three young men at the desk (Real), "
          "and a phone held up to the webcam showing photos of public figures (Fake).",
    revision="7f90feff011d6bdfbeb144929a08f06c33e7ca39",
    pictures=(
        Pictures("Dataset/Real", "rounak-webcam", ("bona_fide",), limit=FRAMES_PER_LABEL),
        Pictures("Dataset/Fake", "rounak-webcam", ("attack",), limit=FRAMES_PER_LABEL),
    ),
)
