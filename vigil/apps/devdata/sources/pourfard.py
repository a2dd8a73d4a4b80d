"""pourfard/FaceAntiSpoofing: the repository's own benchmark pictures, real and fake.

``benchmarks/real`` and ``benchmarks/fake`` (the README's "299 samples of these repository
benchmark"). Many people, varied cameras; the fakes are not split by kind, so the set is
``pourfard-mixed``.
"""

from vigil.apps.devdata.catalog import Pictures, Source

SOURCE = Source(
    name="pourfard",
    repo="pourfard/FaceAntiSpoofing",
    licence="unstated (no LICENSE file)",
    about="The repository's benchmark: photos of many people (real) and photos of printed or "
          "displayed faces (fake), kinds not told apart; varied sizes.",
    pictures=(
        Pictures("benchmarks/real", "pourfard-mixed", ("bona_fide",)),
        Pictures("benchmarks/fake", "pourfard-mixed", ("attack",)),
    ),
)
