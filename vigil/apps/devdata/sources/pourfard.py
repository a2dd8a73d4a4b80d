"""pourfard/FaceAntiSpoofing: the repository's own benchmark pictures, real and fake.

``benchmarks/real`` and ``benchmarks/fake`` (the README's "299 samples of these repository
benchmark"). Many people, varied cameras; the fakes are not split by kind, so the set is
``pourfard-mixed``.

Several of the real photos show people using a phone at a desk or a door: the source does not
say so, so ``PHONES_IN_USE`` names them, labelled by eye (every real photo looked at, those
with a phone checked at full size; a phone only partly in the picture, or a phone-like thing
that could be something else, is left out): four people, a phone held up, at the ear, or
read in the hands with the head down. They are the ``phone/`` pictures of ``pourfard-phone``;
the set has no ``no_phone/`` (the other photos were not all checked closely enough to say
there is no phone in them).
"""

from vigil.apps.devdata.catalog import Pictures, Source

PHONES_IN_USE = (
    # a woman in a face mask by a wall, phone in hand or held up
    "14761_person", "14765_person", "14766_person", "14769_person", "14773_person",
    # a man in a grey polo reading a phone below the picture
    "person114", "person115",
    # a woman in a black scarf with a phone in a purple case: held, turned, read in her lap
    "person125", "person126", "person129", "person131", "person133", "person146", "person147",
    "person154", "person155", "person156", "person159", "person169", "person171", "person172",
    "person176", "person177",
    # a man in a checked shirt: reading a phone, holding it up, at his ear
    "person218", "person226", "person229", "person230", "person231", "person232", "person234",
    "person236", "person51",
)

SOURCE = Source(
    name="pourfard",
    repo="pourfard/FaceAntiSpoofing",
    licence="unstated (no LICENSE file)",
    about="The repository's benchmark: photos of many people (real) and photos of printed or "
          "displayed faces (fake), kinds not told apart; varied sizes.",
    pictures=(
        Pictures("benchmarks/real", "pourfard-mixed", ("bona_fide",)),
        Pictures("benchmarks/fake", "pourfard-mixed", ("attack",)),
        Pictures("benchmarks/real", "pourfard-phone", ("phone",), names=PHONES_IN_USE),
    ),
)
