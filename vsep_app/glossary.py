"""Plain words for every method, metric and term the scores use (the glossary on Results), for any target.

The words are :func:`vsep_core.glossary.glossary`'s, so the page and the HTML report explain the same terms
the same way; :func:`words` names the loaded target ("the true drums"), :data:`GLOSSARY` is the vocal's.
"""

from __future__ import annotations

from vsep_core.glossary import glossary
from vsep_core.stems import labels


def words(target=None) -> dict:
    """Every term in plain words, naming ``target`` (a target name or its word: "drums", "vocal")."""
    return glossary(target)


def loss_vs_quality(target=None) -> str:
    """Why the lowest loss and the best SI-SDR can be different runs, naming ``target``."""
    names = labels(target)
    t = names.target
    return (
        "Why the lowest loss and the best SI-SDR can be different runs: the loss compares "
        f"fingerprints (each window's 400-point dB profile, range-normalised) with the {names.owns}, while "
        f"SI-SDR compares the rebuilt waveform with the true {t}, so a run can match the fingerprints "
        f"more closely and still sound less like the {t}."
    )


#: The vocal's words (for a caller that names no target).
GLOSSARY = words()
LOSS_VS_QUALITY = loss_vs_quality()
