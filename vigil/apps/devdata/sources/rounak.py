"""Rounakdeepsingh/Face_Anti_Spoofing_System: webcam frames of a YOLO liveness recipe.

The repository's first commit holds what its ``dataCollection.py`` (the common YOLO
anti-spoofing recipe) saved from a laptop webcam at 640x480, file names the capture time:
``Dataset/Real`` (689 frames of two or three young men at a desk in one room, no phone in hand) and
``Dataset/Fake`` (663 frames of a phone held up to the webcam showing photos of public figures).
HEAD deleted them, so the build reads that commit. The replayed faces are other people's, so
the fakes are for liveness and false phones per frame, not attack sessions. At most
``FRAMES_PER_LABEL`` frames a folder, evenly spaced in capture order.

The real frames come in three runs of one man each (2025-02-25 16:17:10, 16:18:20, 16:18:44 UTC;
about 25 to 30 frames a second for 12, 7 and 6 s): a young man in a yellow and blue jersey,
then a bearded man in a black turban with glasses, then a bearded man in a black turban
without glasses. The last two may be one man (same turban, beard and shirt, 24 s apart);
each run is enrolled from its own first frames, so that doubt changes no genuine figure
(impostor pairs between them would mean nothing).
"""

from vigil.apps.devdata.catalog import Pictures, Source, TimedFrames, TimedRun

FRAMES_PER_LABEL = 150

SOURCE = Source(
    name="rounak",
    repo="Rounakdeepsingh/Face_Anti_Spoofing_System",
    licence="unstated (no LICENSE file)",
    about="Laptop webcam frames (640x480) in one room: two or three young men at the desk (Real), "
          "and a phone held up to the webcam showing photos of public figures (Fake).",
    revision="7f90feff011d6bdfbeb144929a08f06c33e7ca39",
    pictures=(
        Pictures("Dataset/Real", "rounak-webcam", ("bona_fide",), limit=FRAMES_PER_LABEL),
        Pictures("Dataset/Fake", "rounak-webcam", ("attack",), limit=FRAMES_PER_LABEL),
    ),
    timed=(
        TimedFrames("Dataset/Real", runs=(
            TimedRun("jersey", "17405002302592201", "1740500242280105",
                     note="a young man in a yellow and blue jersey, 12 s"),
            TimedRun("turban_glasses", "1740500300648935", "17405003073572443",
                     note="a bearded man in a black turban, glasses, 7 s"),
            TimedRun("turban", "1740500324088176", "17405003298099277",
                     note="a bearded man in a black turban, no glasses, 6 s"),
        )),
    ),
)
