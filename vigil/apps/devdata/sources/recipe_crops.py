"""Face crops made with the pyimagesearch liveness recipe, committed as ``dataset/real|fake``.

The recipe films a person (``real``) and a phone or screen replaying that film (``fake``),
then cuts the face out of every few frames (``gather_examples.py``). Each repository below
filmed its own people (checked by blob: only 20 crops are shared, between Apfol and
ShivamYadav09; some repositories hold the same crop twice, which the bench counts once); the
crops are small, tight face pictures, so these sets are for liveness on faces, not for
detection or quality (letterboxed to 640x480, many are too close for the face detector).
The folder name is the label; at most ``CROPS_PER_LABEL`` crops per folder, evenly spaced (the
crops of one clip are near-duplicates). Their videos are mostly over the snapshots' 4 MiB limit.
"""

from vigil.apps.devdata.catalog import Pictures, Source

CROPS_PER_LABEL = 150
# (source name, repository, what the crops show)
_RECIPE_REPOS = (
    ("apfol", "Apfol/liveness-detection-opencv", "a young man and replays of him"),
    ("shivamyadav", "ShivamYadav09/FaceRecogWithLivenessDetection",
     "a young man (several clips: plain, cut, hair) and replays of him"),
    ("trickyf0x", "TrickyF0x/twoFactorLivenessDetection", "a young man and replays of him"),
    ("vishalkrishna", "VishalkrishnaBlaze/Liveness-detection",
     "a young man and replays of him (a player's button shows on some)"),
    ("wolfhuo", "WOLF-huo/face_liveness", "a young man and screen replays of him"),
    ("alexcamargo", "alexcamargoweb/liveness-detection",
     "a man with glasses and replays of him"),
    ("jtboing", "jtboing/liveness-web-demo", "a young man and replays of him"),
    ("neonipun", "neonipun/CV_PROJECT", "a young woman and replays of her"),
    ("balveersingh", "BalveerSinghYT/Smart-Facial-Recognition-Attendance-System",
     "a man and replays of him"),
)


def _crops(name: str, repo: str, shows: str) -> Source:
    return Source(
        name=name, repo=repo, licence="unstated (no LICENSE file)",
        about=f"Face crops (pyimagesearch recipe): {shows}; real/ and fake/ folders.",
        pictures=(Pictures("dataset/real", f"{name}-crops", ("bona_fide",),
                           limit=CROPS_PER_LABEL),
                  Pictures("dataset/fake", f"{name}-crops", ("attack",),
                           limit=CROPS_PER_LABEL)))


RECIPE_CROPS: tuple[Source, ...] = tuple(_crops(*row) for row in _RECIPE_REPOS)
