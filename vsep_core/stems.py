"""Which stem is the target: names, labels and file names for any target, not only the vocal.

The engine never needed the target to be a voice: the same views, profiles
and EQ work for drums, bass or chords. Internally a :class:`vsep_core.audio.Pair`
keeps the target in its ``vocal`` field and every method's output in the
``vocal`` / ``instrumental`` slots of :class:`vsep_core.baselines.Separation`
and the metrics reports (their schema is the one the vocal has always had);
this module says what those slots *are* for a given target, so tables,
reports, file names and summaries name the stem that was separated and call
the complement (mixture − target) "everything else" when the target is not
the vocal. With the default target ``"vocals"`` every name is exactly what it
was before targets other than the vocal existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import VsepError

#: The default target: the vocal, as the research code had it.
DEFAULT_TARGET = "vocals"

#: Target names a user may give (MUSDB18's four stems, and the bundled samples' "chords").
TARGET_NAMES = ("vocals", "drums", "bass", "other", "chords")

#: Spellings read as a target name (one spelling per stem in every output).
_ALIASES = {"vocal": "vocals", "voice": "vocals", "drum": "drums", "chord": "chords", "keys": "chords"}


def target_name(text) -> str:
    """A target name as written by a user → its canonical spelling.

    Parameters
    ----------
    text : str or None
        ``"vocals"`` (also ``"vocal"``), ``"drums"``, ``"bass"``, ``"other"``
        or ``"chords"``; ``None`` or empty means the default, ``"vocals"``.

    Returns
    -------
    str
        One of :data:`TARGET_NAMES`.

    Raises
    ------
    VsepError
        For any other name.
    """
    if text is None or not str(text).strip():
        return DEFAULT_TARGET
    key = str(text).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in TARGET_NAMES:
        raise VsepError(f"Unknown target {text!r}: the target is one of {', '.join(TARGET_NAMES)}.")
    return key


@dataclass(frozen=True)
class TargetLabels:
    """How outputs name a target and its complement.

    Attributes
    ----------
    name : str
        The canonical target name (``"vocals"``, ``"drums"`` ...).
    target : str
        The target as a word in text: ``"vocal"`` for the vocal (as every
        output always said), else the stem's name (``"drums"``).
    complement : str
        What mixture − target is called: ``"instrumental"`` for the vocal,
        ``"everything else"`` otherwise.
    target_file, complement_file : str
        Their spelling in file names: ``"vocal"`` / ``"instrumental"``, or
        e.g. ``"drums"`` / ``"everything_else"``.
    """

    name: str
    target: str
    complement: str
    target_file: str
    complement_file: str

    @property
    def is_vocal(self) -> bool:
        return self.name == DEFAULT_TARGET

    @property
    def be(self) -> str:
        """The verb the target's word takes: "the drums are", "the vocal is", "the bass is"."""
        return verb_for(self.target)

    @property
    def owns(self) -> str:
        """The target's word as an owner: "the vocal's", "the bass's", "the drums'" (:func:`possessive`)."""
        return possessive(self.target)

    def to_dict(self) -> dict:
        """JSON-ready: ``{"name", "label", "complement"}``."""
        return {"name": self.name, "label": self.target, "complement": self.complement}


#: Targets whose word is a plural ("the drums are").
PLURAL_WORDS = frozenset({"drums", "chords"})


def verb_for(word: str) -> str:
    """ "are" for a plural target word (:data:`PLURAL_WORDS`), else "is"."""
    return "are" if str(word).strip().lower() in PLURAL_WORDS else "is"


def possessive(word: str) -> str:
    """``word``'s owner form: "vocal's", "bass's", and for a plural word (:data:`PLURAL_WORDS`) "drums'"."""
    return f"{word}'" if verb_for(word) == "are" else f"{word}'s"


def labels(name=None) -> TargetLabels:
    """The labels of a target (see :class:`TargetLabels`); raises VsepError for an unknown name."""
    key = target_name(name)
    if key == DEFAULT_TARGET:
        return TargetLabels(key, "vocal", "instrumental", "vocal", "instrumental")
    return TargetLabels(key, key, "everything else", key, "everything_else")


def oracle_note(name=None) -> str:
    """What every result screen and report says about the method, naming the target it reads.

    For the vocal this is :data:`vsep_core.ORACLE_NOTE` word for word.
    """
    from . import ORACLE_NOTE

    names = labels(name)
    if names.is_vocal:
        return ORACLE_NOTE
    return (
        f"This is an oracle experiment: the fingerprint-EQ method learns from the true isolated "
        f"{names.target}, which a real separator never has. Its scores say how far the method can go with "
        f"perfect knowledge; compare them with the ideal masks (the ceiling) and the blind methods (what works "
        f"without the {names.target}), not with real separators' published scores."
    )


def pair_target(info: dict | None) -> str:
    """The target name a pair's ``info`` records (``"vocals"`` when it records none)."""
    return target_name((info or {}).get("target_name"))
