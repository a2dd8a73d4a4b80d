"""sivakumar1982/capstone_group_4: a student group's own selfie videos, one per member.

A face-recognition capstone (pyimagesearch recipe) that films each member with their own
phone or laptop (``videos/<Name>.mp4``, 352x640 or 640x352, 30 fps, 8 to 13 s): five
different people, rooms and devices (a green wall, a yellow wall, an office, a car, a
balcony), each looking at the camera and turning their head. Every clip is a live person:
genuine sessions only. ``videos/Anton.mp4`` and ``videos/Fake/Fake.mp4`` are over the snapshots'
4 MiB limit.
"""

from vigil.apps.devdata.catalog import Clip, Source

_MEMBERS = ("Arun", "Bala", "Jaya", "Kevin", "Siva")

SOURCE = Source(
    name="capstone4",
    repo="sivakumar1982/capstone_group_4",
    licence="unstated (no LICENSE file)",
    about="Five members of a student group, each filmed with their own phone or laptop "
          "(352x640 or 640x352, 30 fps), looking at the camera and turning their head, each "
          "in a different place.",
    clips=tuple(Clip(f"videos/{name}.mp4", name.lower(), "genuine", "capstone4-genuine")
                for name in _MEMBERS),
)
