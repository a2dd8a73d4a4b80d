"""ShubhamLala/Liveliness-Detection_CNN: face crops, ``dataset/real`` and ``dataset/fake``.

Tight face crops (a few hundred pixels) cut from webcam video, as the pyimagesearch liveness
recipe makes them; the people are not named, so no identities.
"""

from vigil.apps.devdata.catalog import Pictures, Source

SOURCE = Source(
    name="shubhamlala",
    repo="ShubhamLala/Liveliness-Detection_CNN",
    licence="unstated (no LICENSE file)",
    about="Face crops from webcam video: real faces and faces replayed to the camera "
          "(folders real/ and fake/); at least two people, unnamed.",
    pictures=(
        Pictures("dataset/real", "shubhamlala-crops", ("bona_fide",)),
        Pictures("dataset/fake", "shubhamlala-crops", ("attack",)),
    ),
)
