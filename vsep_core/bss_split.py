"""Can BSS Eval's SIR / SAR split be trusted for this pair? Two checks on every scored estimate.

BSS Eval v4 splits an estimate's error into interference (SIR) and artifacts (SAR)
with 512-tap distortion filters. In the SiSEC setting (``global`` filters, museval's
``framewise_filters=False``) the filters are solved once on the whole signal, and each
1 s frame is decomposed with them. When the references are nearly linearly dependent
through some filter pair (e.g. a band where ``mixture − vocal`` holds minus the vocal,
as a lossy mixture minus a lossless vocal gives) that fit is ill-posed: the split of a
frame then moves with the rest of the signal, by 20 dB on a real song (issue #22),
while SDR, which needs no filters, stays put. Two checks catch it:

1. **Coherence.** For an estimate ``ŝ = α·s + β·i + e`` with ``s``, ``i``, ``e``
   orthogonal, SDR, SIR and SAR are tied: with ``D = 10^(SDR/10) > 1``,
   ``SDR − min(SIR, SAR) ≤ 10·log10(D / (D − 1))`` (0.14 dB at SDR 15 dB, 3 dB at
   SDR 3 dB; no bound at SDR ≤ 0, where an estimate may simply be too quiet). A split
   that breaks this by more than :data:`COHERENCE_MARGIN_DB` — in the medians, or in
   more than :data:`INCOHERENT_SHARE` of the frames — describes no possible estimate.
2. **Length.** With global filters, the filters are fitted again on the signal
   without its last quarter of frames (at least one); the frames both fits share
   should keep their SIR and SAR. Where the median move over those frames exceeds
   :data:`LENGTH_MARGIN_DB`, the split of a frame depends on what else is in the
   signal. On well-posed pairs the move stays below ~1 dB (the real 16 s pair in
   ``../shared/eval``: 0.01–1.05 dB for every reference method); on the trap, several
   dB. (Framewise filters fit each frame alone, so this check does not apply to them;
   comparing the two variants is no check either: on well-posed pairs they differ
   by 1–5 dB as a matter of course, the framewise fit explaining more of each frame.)

SDR and SI-SDR are not affected by either: they compare the estimate with the truth
directly.
"""

from __future__ import annotations

import numpy as np

#: Slack above the coherence bound before a split is called incoherent (dB).
COHERENCE_MARGIN_DB = 1.0
#: A source is flagged when more than this share of its frames is incoherent.
INCOHERENT_SHARE = 0.25
#: Above this a figure is a ratio to rounding noise (as :data:`vsep_core.evaluate.NOISE_FLOOR_DB`).
ROUNDING_DB = 150.0
#: Largest median move of a shared frame's SIR or SAR when the last quarter of the signal is left out (dB).
LENGTH_MARGIN_DB = 2.0
#: Share of the frames left out for the length check (at least one).
LEFT_OUT_SHARE = 0.25

#: Shown wherever SIR and SAR are shown, when a source's split failed a check.
UNTRUSTED_SENTENCE = (
    "SIR and SAR are not trustworthy here: BSS Eval's split of the error into interference and "
    "artifacts failed its stability check ({reason}). SDR and SI-SDR are unaffected."
)
#: Shown above a table whose splits all passed.
CHECKED_SENTENCE = (
    "SIR/SAR split checked for every figure: coherent with SDR, and stable (within {margin:g} dB) "
    "when the filters are fitted without the last quarter of the signal."
)


def coherence_bound_db(sdr_db) -> np.ndarray:
    """The largest ``SDR − min(SIR, SAR)`` an estimate with this SDR can have: ``10·log10(D / (D − 1))``.

    ``inf`` where SDR ≤ 0 dB (no bound).
    """
    sdr_db = np.asarray(sdr_db, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = 10.0 ** (sdr_db / 10.0)
        bound = 10.0 * np.log10(d / (d - 1.0))
    return np.where(sdr_db > 0.0, bound, np.inf)


def incoherent(sdr, sir, sar, margin_db: float = COHERENCE_MARGIN_DB) -> np.ndarray:
    """Where SDR exceeds min(SIR, SAR) by more than the coherence bound plus the margin (NaN: False)."""
    sdr, sir, sar = (np.asarray(x, dtype=np.float64) for x in (sdr, sir, sar))
    with np.errstate(invalid="ignore"):
        excess = sdr - np.minimum(sir, sar)
        out = excess > coherence_bound_db(sdr) + margin_db
    return out & np.isfinite(excess)


def kept_frames(n_frames: int) -> int:
    """How many leading frames the length check keeps (0: too few frames to check)."""
    if n_frames < 2:
        return 0
    return n_frames - max(1, int(n_frames * LEFT_OUT_SHARE))


def check_split(sdr, sir, sar, *, short_sir=None, short_sar=None) -> dict:
    """Both checks on one source's frames.

    Parameters
    ----------
    sdr, sir, sar : np.ndarray [shape=(n_frames,)]
        The reported figures of every frame (NaN frames are left out).
    short_sir, short_sar : np.ndarray [shape=(k,)], optional
        SIR and SAR of the first ``k`` frames with the filters fitted on those
        frames' span only (:func:`kept_frames`); ``None``: no length check.

    Returns
    -------
    dict
        ``{"trusted": bool, "reason": str or None, "incoherent_frames": int,
        "frames": int, "length_move_db": float or None, "checked_frames": int}``.
    """
    sdr, sir, sar = (np.asarray(x, dtype=np.float64) for x in (sdr, sir, sar))
    valid = np.isfinite(sdr) & np.isfinite(sir) & np.isfinite(sar)
    n = int(valid.sum())
    bad_frames = int(incoherent(sdr[valid], sir[valid], sar[valid]).sum())
    # n > 0 finite frames: never an all-NaN slice, so no warning to silence (and catch_warnings, which
    # changes the process's filters, is not for code that runs on several threads at once).
    medians = [float(np.nanmedian(np.where(valid, x, np.nan))) if n else float("nan") for x in (sdr, sir, sar)]
    reasons = []
    if n and bool(incoherent(*medians)):
        reasons.append(
            f"median SDR {medians[0]:.1f} dB above SIR {medians[1]:.1f} / SAR {medians[2]:.1f} dB, "
            "which no estimate can give"
        )
    elif n and bad_frames > INCOHERENT_SHARE * n:
        reasons.append(f"in {bad_frames} of {n} frames SDR lies above SIR or SAR by more than any estimate allows")
    move, checked = None, 0
    if short_sir is not None and short_sar is not None:
        k = len(short_sir)
        short_sir, short_sar = np.asarray(short_sir, dtype=np.float64), np.asarray(short_sar, dtype=np.float64)
        # Figures above the rounding floor (an error term that is zero in exact arithmetic) carry no split.
        both = (
            valid[:k]
            & np.isfinite(short_sir)
            & np.isfinite(short_sar)
            & (np.abs(sir[:k]) < ROUNDING_DB)
            & (np.abs(short_sir) < ROUNDING_DB)
        )
        checked = int(both.sum())
        if checked:
            sar_ok = both & (np.abs(sar[:k]) < ROUNDING_DB) & (np.abs(short_sar) < ROUNDING_DB)
            frame_move = np.abs(sir[:k] - short_sir)
            frame_move = np.where(sar_ok, np.maximum(frame_move, np.abs(sar[:k] - short_sar)), frame_move)
            move = float(np.median(frame_move[both]))
            if move > LENGTH_MARGIN_DB:
                reasons.append(
                    f"leaving out the last quarter of the signal moves the SIR/SAR of the other frames "
                    f"by {move:.1f} dB (median over {checked} frames)"
                )
    return {
        "trusted": not reasons,
        "reason": "; ".join(reasons) or None,
        "incoherent_frames": bad_frames,
        "frames": n,
        "length_move_db": move,
        "checked_frames": checked,
    }


def untrusted_note(check: dict | None) -> str | None:
    """The sentence shown beside a source's SIR and SAR when its split failed (``None`` when trusted)."""
    if not check or check.get("trusted", True):
        return None
    return UNTRUSTED_SENTENCE.format(reason=check.get("reason") or "unstable")


def report_notes(methods, labels: dict) -> list[str]:
    """One line per method and source whose split failed, for tables and reports.

    Parameters
    ----------
    methods : list of dict
        A report's ``"methods"`` entries (their ``"bss_split"``).
    labels : dict
        ``{"vocal": ..., "instrumental": ...}``: what the two slots are.
    """
    lines = []
    for m in methods:
        for source, check in (m.get("bss_split") or {}).items():
            note = untrusted_note(check)
            if note:
                lines.append(f"{m['name']} ({labels.get(source, source)}): {note}")
    return lines


def headline(methods) -> str:
    """The sentence above a metrics table: every split checked and trusted, or how many were not."""
    checks = [c for m in methods for c in (m.get("bss_split") or {}).values() if c]
    failed = sum(1 for c in checks if not c.get("trusted", True))
    if not checks:
        return "SIR/SAR split not checked."
    if failed:
        return (
            f"SIR/SAR split failed its stability check for {failed} of {len(checks)} figures (marked ?); "
            "read SDR and SI-SDR there."
        )
    if any(c.get("length_move_db") is None for c in checks):
        return (
            "SIR/SAR split checked for every figure: coherent with SDR (the length check applies to global "
            "filters with two frames or more only)."
        )
    return CHECKED_SENTENCE.format(margin=LENGTH_MARGIN_DB)


def is_untrusted(method: dict, source: str, metric: str = "sir") -> bool:
    """Whether ``method``'s ``metric`` for ``source`` is a SIR or SAR whose split failed its check."""
    check = (method.get("bss_split") or {}).get(source)
    return metric in ("sir", "sar") and bool(check) and not check.get("trusted", True)


def mark(cell: str, method: dict, source: str, metric: str) -> str:
    """A formatted figure, ending in ``?`` when it is a SIR or SAR whose split failed its check."""
    return f"{cell}?" if is_untrusted(method, source, metric) else cell
