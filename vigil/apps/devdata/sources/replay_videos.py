"""Repositories that follow the pyimagesearch liveness recipe and commit its two videos.

The recipe (the READMEs say so): film yourself with the webcam or phone (``videos/real.*``),
then film a phone (or screen) playing that video (``videos/fake.*``). So each repository gives a
genuine clip and a replay attack of the same person, camera and room. The file name is the
label; the kind of replay is what the README says and what the video plainly shows.
Some repositories lost one video to the snapshots' 4 MiB limit: they give the other alone.
"""

from vigil.apps.devdata.catalog import Clip, Source

ZUBAIR = Source(
    name="zubair",
    repo="ZubairCracksCode/anit-spoofing",
    licence="unstated (only the bundled face detector has a LICENSE)",
    about="One man at a laptop webcam (960x540, 15 fps): real.mov genuine, fake.mp4 a phone "
          "held up to the webcam replaying him.",
    clips=(
        Clip("videos/real.mov", "zubair", "genuine", "zubair-phone"),
        Clip("videos/fake.mp4", "zubair", "phone_replay", "zubair-phone",
             note="a phone playing his video, held to the webcam"),
    ),
)

LESTARI = Source(
    name="lestari",
    repo="lestari15/CNN-face-detection",
    licence="unstated (no LICENSE file)",
    about="One man in an office (1080x720, 30 fps): real.mp4 genuine, fake.mp4 a smartphone "
          "held up replaying him.",
    clips=(
        Clip("videos/real.mp4", "lestari", "genuine", "lestari-phone"),
        Clip("videos/fake.mp4", "lestari", "phone_replay", "lestari-phone",
             note="a smartphone in a hand showing his video"),
    ),
)

LUYT = Source(
    name="luyt",
    repo="tranvanluyt2203/face_anti_spoofing",
    licence="unstated (no LICENSE file)",
    about="One young man filmed with a phone (portrait, 368x656, 30 fps): real.mp4 genuine; "
          "fake.mp4 his video playing on a screen (player controls visible), filmed again.",
    clips=(
        Clip("videos/real.mp4", "luyt", "genuine", "luyt-screen"),
        Clip("videos/fake.mp4", "luyt", "screen_replay", "luyt-screen",
             note="README: 'video played on a phone, filmed again'; a player's bar is visible"),
    ),
)

MANIKANTHA = Source(
    name="manikantha",
    repo="Manikantha-M/Face-Liveness-detection-using-Deeplearning-and-OpenCV",
    licence="unstated (no LICENSE file)",
    about="fake.mp4 only (real.mp4 is over the snapshot limit): a phone held to the webcam "
          "replaying a young man (556x416, 10 fps).",
    clips=(
        Clip("videos/fake.mp4", "manikantha", "phone_replay", "manikantha-phone"),
    ),
)

KRZYSIEK = Source(
    name="krzysiek",
    repo="Krzysiek354/Python_Face_Detection",
    licence="unstated (no LICENSE file)",
    about="real.mp4 only (fake.mp4 is over the snapshot limit): a man at home, 1920x1080, "
          "16 fps.",
    clips=(
        Clip("videos/real.mp4", "krzysiek", "genuine", "krzysiek-genuine"),
    ),
)

APFOLCAM = Source(
    name="apfolcam",
    repo="Apfol/liveness-detection-opencv",
    licence="unstated (no LICENSE file)",
    about="The repository's own recordings beside the recipe's sample videos (real.mov and "
          "fake.mp4 are over the snapshot limit): a young man at a laptop webcam in a room "
          "with a bright window (640x480 WebM), and a phone he holds to the webcam playing "
          "his video.",
    clips=(
        Clip("videos/real2.webm", "apfol", "genuine", "apfolcam-phone"),
        Clip("videos/fake2.webm", "apfol", "phone_replay", "apfolcam-phone",
             note="a phone in his hand, its screen showing his recording, his body behind it"),
    ),
)

ASHISH = Source(
    name="ashish",
    repo="AshishBhatnagar022/Liveliness_Detection",
    licence="unstated (no LICENSE file); the real clips are news sites' copies of two public "
            "figures' selfie video messages (captions and logos over them)",
    about="Two men, each in a selfie video message filmed with a phone (1280x720, 24 fps; "
          "videos/real/realN.mp4), and the same clip playing on a monitor filmed again with a "
          "phone, the monitor's edge in view (1920x1080, 25 fps; videos/fake/fakeN.mp4).",
    clips=(
        Clip("videos/real/real3.mp4", "p3", "genuine", "ashish-screen"),
        Clip("videos/fake/fake3.mp4", "p3", "screen_replay", "ashish-screen",
             note="real3.mp4 playing on a monitor, filmed with a phone"),
        Clip("videos/real/real4.mp4", "p4", "genuine", "ashish-screen"),
        Clip("videos/fake/fake4.mp4", "p4", "screen_replay", "ashish-screen",
             note="real4.mp4 playing on a monitor, filmed with a phone"),
    ),
)
