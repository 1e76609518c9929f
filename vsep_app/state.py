"""What one browser session has loaded and computed, kept in ``st.session_state``.

Nothing here is a module global: every value lives in the session's own
``st.session_state`` under the keys below, so one visitor's uploads and
results are never seen by another. Computations themselves are cached
across sessions by content (see :mod:`vsep_app.cache`), which shares work,
never data a session has not itself supplied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import streamlit as st

from vsep_core.settings import Settings

SOURCE = "vsep_source"  # Source: the loaded pair's files
SETTINGS = "vsep_settings"  # Settings: the active settings
PROGRESSIVE = "vsep_progressive"  # RunRecord of the last progressive test
GREEDY = "vsep_greedy"  # RunRecord of the last greedy search
NOTICE = "vsep_notice"  # a message to show once after a rerun
DEFAULT_TRIED = "vsep_default_tried"
SLICES_PREFETCH = "vsep_slices_prefetch"
RESULTS_PREFETCH = "vsep_results_prefetch"
RUNS = "vsep_runs"  # how many script runs this session has had (vsep_app.frame)
RATINGS = "vsep_listening_ratings"  # the last listening test the visitor rated: {"of", "rows", "info"}
JOINT = "vsep_joint"  # the last joint matching: (Source.identity, Settings, JointSettings, outcome)
FULL_QUALITY = "vsep_full_quality"  # (key, audio) of the last full-quality run of a segment too long to share
ATTRIBUTION = "vsep_attribution"  # the last "which slices help?" on Optimise: (Source.identity, attribution)


def digest(data: bytes) -> str:
    """Content hash of a file's bytes (what every cache is keyed on)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Source:
    """The files of the active pair, as the user gave them.

    Attributes
    ----------
    label : str
        What to call the pair on screen.
    origin : {"sample", "upload", "recording"}
    mixture, other : bytes
        The mixture file and the target file (the isolated vocal, or the
        instrumental when ``other_kind == "instrumental"``).
    other_kind : {"vocal", "instrumental"}
    mixture_name, other_name : str
        File names, for messages and players.
    instrumental : bytes or None
        The instrumental file when it is known besides the vocal (samples,
        recordings), for the players only.
    note : str
        One line about where the pair came from.
    target_name : str
        Which stem ``other`` is (:data:`vsep_core.stems.TARGET_NAMES`): the
        vocal by default; a bundled sample's drums, bass or chords otherwise.
    companion_vocal : bytes or None
        The same song's vocal when the target is another stem (bundled
        samples), so the Slices page can show the two side by side.
    """

    label: str
    origin: str
    mixture: bytes = field(repr=False)
    other: bytes = field(repr=False)
    other_kind: str = "vocal"
    mixture_name: str = "mixture"
    other_name: str = "vocal"
    instrumental: bytes | None = field(default=None, repr=False)
    note: str = ""
    target_name: str = "vocals"
    companion_vocal: bytes | None = field(default=None, repr=False)
    mixture_digest: str = ""
    other_digest: str = ""

    @classmethod
    def create(cls, **values) -> "Source":
        source = cls(**values)
        object.__setattr__(source, "mixture_digest", digest(source.mixture))
        object.__setattr__(source, "other_digest", digest(source.other))
        return source

    @property
    def identity(self) -> str:
        """Content key of the pair (both files, the target mode, and the stem when it is not the vocal)."""
        key = f"{self.mixture_digest}:{self.other_digest}:{self.other_kind}"
        return key if self.target_name == "vocals" else f"{key}:{self.target_name}"

    @property
    def names(self):
        """How this pair's target and its complement are called (:func:`vsep_core.stems.labels`)."""
        from vsep_core.stems import labels

        return labels(self.target_name)

    @property
    def other_label(self) -> str:
        """What the second file is, in a sentence: "vocal", "instrumental", "drums"."""
        return self.names.target if self.other_kind == "vocal" else self.names.complement

    @property
    def target_label(self) -> str:
        if self.target_name != "vocals":
            return f"isolated {self.names.target}"
        return "isolated vocal" if self.other_kind == "vocal" else "instrumental (vocal = mixture − instrumental)"


@dataclass
class RunRecord:
    """A finished computation and what it was computed from."""

    identity: str  # Source.identity
    settings: Settings
    order: tuple  # slices offered (progressive order, or greedy candidates)
    outcome: object  # dispatch.ProgressiveOutcome or api.GreedyOutcome
    seconds: float = 0.0

    def matches(self, source: Source | None, settings: Settings) -> bool:
        return source is not None and source.identity == self.identity and settings == self.settings


def get(key: str, default=None):
    return st.session_state.get(key, default)


def source() -> Source | None:
    return st.session_state.get(SOURCE)


def settings() -> Settings:
    if SETTINGS not in st.session_state:
        st.session_state[SETTINGS] = Settings()
    return st.session_state[SETTINGS]


def set_settings(new: Settings) -> None:
    st.session_state[SETTINGS] = new


def set_source(new: Source) -> None:
    """Make ``new`` the active pair; results of another pair are dropped."""
    old = source()
    st.session_state[SOURCE] = new
    if old is None or old.identity != new.identity:
        for key in (PROGRESSIVE, GREEDY, SLICES_PREFETCH, RESULTS_PREFETCH, RATINGS, FULL_QUALITY):
            st.session_state.pop(key, None)


def set_progressive(record: RunRecord) -> None:
    st.session_state[PROGRESSIVE] = record


def set_greedy(record: RunRecord) -> None:
    st.session_state[GREEDY] = record


def progressive() -> RunRecord | None:
    return st.session_state.get(PROGRESSIVE)


def greedy() -> RunRecord | None:
    return st.session_state.get(GREEDY)


def notify(message: str) -> None:
    """Show ``message`` once, on the next run (survives ``st.rerun``)."""
    st.session_state[NOTICE] = message


def pop_notice() -> str | None:
    return st.session_state.pop(NOTICE, None)


def remembered(key: str, default):
    """The value a widget with ``key`` had when this session last drew it (else ``default``).

    Streamlit forgets a widget's value when its page is not shown; pass this
    as the widget's default and call :func:`remember` after drawing it, and
    the choice survives a visit to another page.
    """
    return st.session_state.get(f"vsep_keep_{key}", default)


def remember(key: str, value) -> None:
    st.session_state[f"vsep_keep_{key}"] = value


#: The settings that decide what a listening test played (the pair's segment): ratings go with results of the
#: same pair and segment only.
_RATED_FIELDS = ("sr", "start_s", "duration_s")


def _rated(source: Source, settings: Settings) -> tuple:
    return (source.identity, *(getattr(settings, f) for f in _RATED_FIELDS))


def keep_ratings(source: Source, settings: Settings, rows: list, info: dict) -> None:
    """Keep the visitor's listening ratings of ``source``'s segment (the last test rated), for the Results
    page's ZIP and a shared result."""
    st.session_state[RATINGS] = {"of": _rated(source, settings), "rows": rows, "info": info}


def ratings(source: Source | None, settings: Settings) -> dict | None:
    """``{"rows", "info"}`` of the visitor's listening ratings of this pair and segment; ``None`` when none."""
    kept = st.session_state.get(RATINGS)
    if source is None or not kept or kept["of"] != _rated(source, settings):
        return None
    return {"rows": kept["rows"], "info": kept["info"]}


def rated_before(source: Source, settings: Settings, seed: int, trial: list) -> dict:
    """Label → the rating kept for this very trial (same pair, segment, seed and items), so sliders coming back
    on screen show what the visitor chose; ``{}`` when this trial was not rated."""
    kept = ratings(source, settings)
    if not kept or kept["info"].get("seed") != seed or [r["item"] for r in kept["rows"]] != [t["name"] for t in trial]:
        return {}
    return {r["label"]: int(r["rating"]) for r in kept["rows"]}


def set_joint(identity: str, settings: Settings, joint_settings, outcome) -> None:
    """Keep the joint matching just run on Optimise (the last one only): see :data:`JOINT`."""
    st.session_state[JOINT] = (identity, settings, joint_settings, outcome)


def joint(source: Source | None, settings: Settings):
    """``(JointSettings, JointOutcome)`` of the joint matching run on Optimise for this pair with these
    settings, for the Results page, its ZIP and its report; ``None`` when none was (or another pair's)."""
    kept = st.session_state.get(JOINT)
    if source is None or kept is None or kept[0] != source.identity or kept[1] != settings:
        return None
    return kept[2], kept[3]
