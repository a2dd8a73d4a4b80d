"""The decide stage: a Faust app joining face and phone results into one Decision per frame."""
