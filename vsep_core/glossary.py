"""Plain words for the scores: the glossary, the methods' names and the settings, for any target.

The dashboard's Results page and the HTML report both explain the same
terms, so the words live here once: :func:`glossary` (every method, metric
and term the scores use, naming the target and its complement),
:func:`method_name` (``seed_progressive_8`` → "the progressive run over 8
slices") and :func:`settings_in_words` (each setting as a sentence, with the
research code's default marked), so no raw key such as ``n_fft`` or
``top_db`` reaches a person who does not program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .stems import labels


def glossary(target_name=None) -> dict:
    """Every method, metric and term the scores use, in plain words, by term.

    Parameters
    ----------
    target_name : str, optional
        The target (default the vocal); the texts name it and its complement
        ("the true drums", "everything else").

    Returns
    -------
    dict
        ``term → text``, in the order a reader meets the terms.
    """
    names = labels(target_name)
    t, rest, owns = names.target, names.complement, names.owns
    backing = "the backing" if names.is_vocal else rest
    return {
        "seed": "This method (fingerprint EQ): it learns, window by window, a 400-band EQ that makes the mixture's "
        f"fingerprint look like the true {owns}. It reads the true {t}, so it is an oracle experiment.",
        "seed_progressive_N": "The progressive run over the first N slices of your order, then the polish.",
        "seed_greedy / seed_greedy_best": "The greedy search's order: the whole sequence, and its best prefix "
        "(the steps up to the lowest loss).",
        "polish": "The last pass of every run: one more EQ pass on the plain (raw) spectrogram.",
        "joint": "The improved method (Optimise page, and `evaluate --methods joint`): every window's EQ learned at "
        f"once against the fingerprint of the result, with Adam. Also an oracle: it reads the true {t}.",
        "loss": f"How far the mixture's fingerprints still are from the {owns} after a run (mean squared difference "
        "of the dB profiles, in dB²: decibels squared). Lower is closer; it measures fingerprints, not sound.",
        "exact_eq": f"Ceiling (oracle): the best 400-band EQ per window, computed exactly from the true {t}. "
        "Shows the most any per-window EQ could reach.",
        "irm": f"Ceiling (oracle): the ideal ratio mask, each time-frequency cell scaled by {t} ÷ ({t} + rest).",
        "ibm": f"Ceiling (oracle): the ideal binary mask, each cell kept whole or muted, whichever the {t} dominates.",
        "wiener": "Ceiling (oracle): the ideal Wiener filter, like irm with energies (squared magnitudes).",
        "repet_sim": f"Blind: REPET-SIM keeps what repeats (the backing) and calls the rest {t}; it never sees the "
        f"true {t}.",
        "hpss": f"Blind: harmonic/percussive separation in two stages; the middle layer is called {t}.",
        "hpss_percussive": f"Blind: harmonic/percussive separation; the percussive part is called {t} (made for "
        "drums).",
        "learned_fingerprint": f"Blind: a fingerprint EQ learned beforehand from other songs; it never sees the "
        f"true {t}.",
        "mixture": f"The floor: the mixture itself offered as the {t}. Its SAR (artefacts) means nothing: "
        "nothing was processed, so it shows as —.",
        "SI-SDR": "Scale-invariant signal-to-distortion ratio (dB): how much of the estimate is the true "
        f"{t}, whatever its loudness. Every 3 dB more is half the error energy. Higher is better.",
        "SDR": "Signal-to-distortion ratio (dB, BSS Eval): like SI-SDR but the estimate may be filtered a little "
        f"to fit; counts everything wrong (leftover {backing}, artefacts). Higher is better.",
        "SIR": f"Signal-to-interference ratio (dB): how little of the other source (for the {t}: {backing}) "
        "leaks into the estimate. Higher is better.",
        "SAR": "Signal-to-artefacts ratio (dB): how little new noise or distortion the method itself added. "
        "Higher is better.",
        "phase_oracle": f"Ceiling (oracle): the true {owns} magnitude in every bin with the mixture's phase. What "
        "any method that keeps the mixture's phase (as this one does) could reach at most.",
        "uSDR": "Whole-signal SDR (dB) as the Music Demixing challenges (2021, 2023) and the MVSep leaderboard "
        "report it: 10·log10(Σ s² / Σ (s − ŝ)²) over the whole signal, no filters, no frames (ε = 1e-8 "
        "as Music-Source-Separation-Training's utils/metrics.py). The SDR column is BSS Eval's instead "
        "(median over 1 s frames, as SiSEC 2018). Higher is better.",
        "bleedless": "Music-Source-Separation-Training's bleedless (0–100, utils/metrics.py bleed_full): the mel "
        "spectrograms (512 bands, STFT 4096/1024) of estimate and truth in dB, and 100 / (1 + the mean "
        "of the positive differences): 100 when the estimate has no energy the truth lacks (no "
        "bleed). Used on the MVSep leaderboard because metrics and ears disagree.",
        "fullness": "Music-Source-Separation-Training's fullness (0–100): 100 / (1 + the mean of the negative "
        "differences' size), as bleedless: 100 when the estimate lost none of the truth's energy.",
        "SIR/SAR split": "Whether BSS Eval's split of the error into interference (SIR) and artefacts (SAR) passed "
        "its stability check (vsep_core.bss_split): the split must be possible for an estimate with "
        "that SDR, and must not move by more than 2 dB when the last quarter of the signal is left "
        "out. Where it fails, read SDR and SI-SDR; the split is an artefact of the filter fit.",
    }


#: Reference methods' plain names (what a musician would call them).
_METHOD_NAMES = {
    "joint": "joint matching (every window learned at once)",
    "exact_eq": "exact EQ (ceiling)",
    "irm": "ideal ratio mask (ceiling)",
    "ibm": "ideal binary mask (ceiling)",
    "wiener": "ideal Wiener filter (ceiling)",
    "phase_oracle": "true magnitudes with the mixture's phase (ceiling)",
    "repet_sim": "REPET-SIM (blind)",
    "hpss": "harmonic/percussive split (blind)",
    "hpss_percussive": "percussive part (blind)",
    "learned_fingerprint": "learned fingerprint (blind)",
    "mixture": "the mixture itself (doing nothing)",
}


def counted(n: int, noun: str) -> str:
    """``3 slices``, ``1 slice``: a count with its noun in the right number (the noun given singular)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def method_name(name: str) -> str:
    """A method's name in plain words: ``seed_progressive_8`` → "progressive run over 8 slices",
    ``irm`` → "ideal ratio mask (ceiling)"; an unknown name is returned as it is."""
    match = re.fullmatch(r"seed_progressive_(\d+)", name)
    if match:
        return f"progressive run over {counted(int(match.group(1)), 'slice')}"
    if name == "seed_greedy":
        return "greedy order (whole sequence)"
    if name == "seed_greedy_best":
        return "greedy order (best prefix)"
    return _METHOD_NAMES.get(name, name)


@dataclass(frozen=True)
class SettingLine:
    """One setting as a person reads it.

    Attributes
    ----------
    what : str
        What the setting decides, in words ("Analysed segment").
    value : str
        Its value in words ("the first 4.7 s, from 0.0 s").
    default : bool
        True when it is the research code's value.
    """

    what: str
    value: str
    default: bool


def _seconds(value: float) -> str:
    return f"{value:g} s"


def settings_in_words(settings) -> list:
    """Each setting of an experiment as a :class:`SettingLine` (in words, the research default marked).

    Parameters
    ----------
    settings : vsep_core.settings.Settings

    Returns
    -------
    list of SettingLine
    """
    from .settings import Settings

    seed = Settings()
    s = settings
    if s.duration_s is None:
        segment = f"the whole song, from {_seconds(s.start_s)}"
    else:
        segment = f"{_seconds(s.duration_s)} from {_seconds(s.start_s)}"
    level = {
        "independent": "mixture and target each brought to full level on their own",
        "common": "one gain for both, so the target keeps its level inside the mixture",
        "as_is": "the files' own levels, unchanged",
    }.get(s.level, s.level)
    pooled = {
        "seed": "the research code's way (only the first half of the song is adjusted by them)",
        "expand": "each pooled window adjusts the two windows it covers",
    }.get(s.pooled_windows, s.pooled_windows)
    windows = (
        f"{s.n_windows} windows over the segment (the step between them chosen to fit)"
        if s.n_windows
        else f"a new window every {s.hop_length} samples ({1000 * s.hop_length / s.sr:.1f} ms)"
    )
    method = {
        "auto": "exact shortcut where it is exact, step by step elsewhere",
        "closed": "exact shortcut",
        "iterative": "step by step",
    }.get(s.pass_method, s.pass_method)
    lines = [
        ("Analysed segment", segment, (s.start_s, s.duration_s) == (seed.start_s, seed.duration_s)),
        ("Sample rate of the analysis", f"{s.sr} Hz, one channel", s.sr == seed.sr),
        ("Loudness of the inputs", level, s.level == seed.level),
        (
            "Length of each analysis window",
            f"{s.n_fft} samples ({1000 * s.n_fft / s.sr:.0f} ms)",
            s.n_fft == seed.n_fft,
        ),
        ("Time between windows", windows, (s.hop_length, s.n_windows) == (seed.hop_length, seed.n_windows)),
        ("Bands of a fingerprint", f"{s.n_points} frequency bands", s.n_points == seed.n_points),
        (
            "Learning steps per pass",
            f"{s.iterations} steps of size {s.learning_rate:g}",
            (s.iterations, s.learning_rate) == (seed.iterations, seed.learning_rate),
        ),
        ("Most an EQ pass may change a band", f"±{s.clip_db:g} dB", s.clip_db == seed.clip_db),
        ("Quietest sound counted", f"{s.top_db:g} dB below the loudest", s.top_db == seed.top_db),
        ("Slices that look at pairs of windows", pooled, s.pooled_windows == seed.pooled_windows),
        ("How each pass is computed", method, s.pass_method == seed.pass_method),
    ]
    return [SettingLine(*line) for line in lines]
