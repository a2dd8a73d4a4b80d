"""nhtlongcs/liveness-detection: the Zalo AI 2022 liveness sample videos.

``data_sample/train/label.csv`` labels ``1.mp4`` fake (0) and ``2.mp4`` real (1): selfie videos
of two different people wearing face masks, filmed with phones (portrait, 480x852 and
1080x1920). ``data_sample/public/videos/0.mp4`` has no label and is not used.
"""

from vigil.apps.devdata.catalog import Clip, Source

SOURCE = Source(
    name="nhtlongcs",
    repo="nhtlongcs/liveness-detection",
    licence="unstated (no LICENSE file; Zalo AI Challenge sample data)",
    about="Two phone selfie videos of masked people from the Zalo AI 2022 liveness challenge: "
          "one labelled real, one labelled fake (a replayed video; kind not given).",
    clips=(
        Clip("data_sample/train/videos/2.mp4", "zalo2", "genuine", "nhtlongcs-zalo",
             note="label.csv: liveness_score 1"),
        Clip("data_sample/train/videos/1.mp4", "zalo1", "mixed", "nhtlongcs-zalo",
             note="label.csv: liveness_score 0"),
    ),
)
