"""piiyushJoshi/Liveliness-Detector-for-Face-Recognition-System: webcam frames of a YOLO
liveness recipe, among them a printed newspaper held up to the webcam.

The repository's first commit (b62323a; later commits deleted the data) holds
``Dataset/All``: 7,000 webcam frames (640x480) saved by its ``Data_collection.py`` under their
capture time, each with a YOLO label file whose class is 0 (fake) or 1 (real), 3,500 of each.
The real frames (2024-03-17 to 04-01) are several people in their homes, often two or three
in the frame, some holding a phone (not labelled). The fake ones (2024-05-09 and 05-14) are,
by looking at them, first 167 frames of printed newspaper pages with photos of public figures
held to the webcam (05-09 17:25:59 to 17:27:28, names ``1715275559793015`` to
``1715275647986099``), then replays on a laptop screen, a TV and a phone. The prints are
other people's faces: a frame set (``print``), and one attack session, a newspaper ad of a
man in a light suit waving held to the webcam for 4.4 s (``suit_print.print-1``), enrolled
as that printed face from the 6 frames just after it (the frames before it are blurred or
the face under 80 px), the attacker's best case for the identity match.

Seven runs of real frames show one person alone at the webcam for 4 to 35 s: they become
genuine sessions, each run its own person (the source names no one; the seven look like
different people), enrolled from its first frames. The frame set's ``bona_fide`` frames are
all real frames, evenly in capture order, whoever is in them.

Phones in use, labelled by eye (``PINK_WALL_PHONE`` and the others below): the pink-wall
young man holding a phone low for 1.5 s and, five days later in another room, for about a
minute holding one up before or beside his face, at his ear and in his hand, between runs
without it; and a second young man reading a phone, head down. They are ``phone/``
sessions (``<person>.phone-<k>``) and the ``piiyush-phone`` frame set (``phone`` and
``no_phone``, about every third frame of each run).
"""

from vigil.apps.devdata.catalog import PHONE_IN_USE, Pictures, Source, TimedFrames, TimedRun

FRAMES_PER_LABEL = 150
FAKE, REAL = 0, 1

# Phones in use, labelled by eye (the source labels frames only real or fake): every fifth
# real frame was looked at, then each run's ends frame by frame; a run is a phone in sight in
# every frame of it, a frame with only a corner of a phone at the picture's edge is in none.
# (first, last, pictures kept evenly for the frame set). pink_wall: the young man of the
# pink-wall run, in a red striped shirt, again on 2024-03-29 in another room (the same
# person by face, shirt and moustache).
PINK_WALL_PHONE = ("17113650402979114", "17113650429362006", 5)  # both hands, low, 1.5 s
STRIPED_PHONE = (
    ("17117297298220255", "17117297483855188", 57),  # held up before and over his face, 18 s
    ("17117297503250556", "17117297641880364", 45),  # held up beside his face, 14 s
    ("17117297661224468", "17117297752069092", 15),  # held up, then low in his hand, 9 s
    ("17117297904674678", "17117298041666667", 22),  # in both hands, at his ear, held up, 14 s
)
STRIPED_NO_PHONE = (
    ("17117297271275835", "1711729728046218", 4),  # before the first phone run
    ("17117297764413583", "17117297896889653", 20),  # hands empty or at his ears, 13 s
)
PINK_WALL_NO_PHONE = (("171136503844887", "17113650401430573", 4),
                      ("17113650430951009", "17113650463391533", 7))
# A young man in a maroon shirt holding a notebook, reading a phone in his other hand (head
# down, 6 s), then facing the camera with it (1.6 s, his enrollment frames).
NOTEBOOK_PHONE = (("17119457587171774", "17119457648588564", 21),
                  ("17119457697557874", "1711945771402856", 7))

SOURCE = Source(
    name="piiyush",
    repo="piiyushJoshi/Liveliness-Detector-for-Face-Recognition-System",
    licence="unstated (no LICENSE file)",
    about="Webcam frames (640x480) of several people at home (real), and printed newspaper "
          "photos of public figures held to the webcam (the fakes' first 167 frames; the "
          "rest, screen and phone replays, are not taken).",
    revision="b62323aa1368ce114ffe167015ccb4d5a389d314",
    pictures=(
        Pictures("Dataset/All", "piiyush-print", ("attack",), first="1715275559793015",
                 last="1715275647986099", yolo_class=FAKE, limit=FRAMES_PER_LABEL),
        Pictures("Dataset/All", "piiyush-print", ("bona_fide",), yolo_class=REAL,
                 limit=FRAMES_PER_LABEL),
        *(Pictures("Dataset/All", "piiyush-phone", ("phone",), first=first, last=last,
                   yolo_class=REAL, limit=limit)
          for first, last, limit in (PINK_WALL_PHONE, *STRIPED_PHONE, *NOTEBOOK_PHONE)),
        *(Pictures("Dataset/All", "piiyush-phone", ("no_phone",), first=first, last=last,
                   yolo_class=REAL, limit=limit)
          for first, last, limit in (*PINK_WALL_NO_PHONE, *STRIPED_NO_PHONE)),
    ),
    timed=(
        TimedFrames("Dataset/All", yolo_class=REAL, runs=(
            TimedRun("checked_shirt", "171069579898984", "1710695817683831",
                     note="a young man in a checked shirt, plain wall, 19 s"),
            TimedRun("teal_tee", "17106959658108048", "1710696000333923",
                     note="a young man in a teal T-shirt, same room, 35 s, hands at his face"),
            TimedRun("pink_wall", PINK_WALL_NO_PHONE[1][0], PINK_WALL_NO_PHONE[1][1],
                     enroll_from=PINK_WALL_NO_PHONE[0][:2],
                     note="a young man in a red striped shirt by a pink wall, 3 s, after the "
                          "phone below (enrolled from the 1.2 s before it)"),
            TimedRun("pink_wall", *PINK_WALL_PHONE[:2], kind=PHONE_IN_USE,
                     note="the same, a phone in both hands, low, 1.5 s"),
            TimedRun("pink_wall", *STRIPED_NO_PHONE[1][:2],
                     note="the same young man five days later, another room, hands empty or "
                          "at his ears, 13 s"),
            *(TimedRun("pink_wall", first, last, kind=PHONE_IN_USE,
                       note="the same, a phone held up, at his ear or in his hand")
              for first, last, _ in STRIPED_PHONE),
            TimedRun("notebook", *NOTEBOOK_PHONE[0][:2], kind=PHONE_IN_USE,
                     enroll_from=NOTEBOOK_PHONE[1][:2],
                     note="a young man in a maroon shirt reading a phone, head down, 6 s "
                          "(enrolled from the 1.6 s after it, facing the camera, phone in "
                          "hand)"),
            TimedRun("grey_hair", "17117291147517107", "17117291188206575",
                     note="a grey-haired man, 4 s"),
            TimedRun("red_sari", "17117294814067307", "17117294898184066",
                     note="a woman in a red sari reading, looking down, 8 s"),
            TimedRun("dim_room", "17119456833251407", "17119456890249307",
                     note="a young man far from the webcam, ceiling light behind, 6 s"),
            TimedRun("blue_shirt", "17119457328199425", "1711945736475225",
                     note="a man in a blue shirt lying by a laptop, 4 s"),
        )),
        TimedFrames("Dataset/All", yolo_class=FAKE, runs=(
            TimedRun("suit_print", "1715275575241191", "17152755796380515", kind="print",
                     enroll_from=("1715275579723622", "17152755802938676"),
                     note="a newspaper ad, a man in a light suit waving, held to the webcam, "
                          "4.4 s; enrolled from the 6 frames after it"),
        )),
    ),
)
