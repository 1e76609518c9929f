"""Words for settings, slices and measurements, as the pages and the sidebar show them."""

from __future__ import annotations

import re

LEVEL_LABELS = {
    "independent": "Normalise each file on its own (the research code's prepare step)",
    "common": "Keep the target's level inside the mixture (one gain for both)",
    "as_is": "Analyse as is (as the research script read files)",
}
LEVEL_SHORT = {
    "independent": "each file normalised on its own",
    "common": "one gain for both files",
    "as_is": "as is, not normalised",
}
POOLED_LABELS = {
    "seed": "Pooled window j adjusts window j (the research code: only the first half of the windows)",
    "expand": "Pooled window j adjusts windows 2j and 2j+1 (covers the whole segment)",
}
POOLED_SHORT = {"seed": "first half only (research code)", "expand": "every window"}
PASS_LABELS = {
    "auto": "Closed form where exact, else the loop (fast, same numbers)",
    "closed": "Closed form only",
    "iterative": "Iterative loop (as the research code)",
}


def slice_label(name: str) -> str:
    from vsep_core.views import VIEWS_BY_NAME  # not at the top: it imports scipy.ndimage (not needed on page 1)

    spec = VIEWS_BY_NAME[name]
    return f"{spec.index}: {spec.label}"


_MEASUREMENT_NAMES = {
    "ratio_mid_bass": "Ratio mid / bass",
    "ratio_high_mid": "Ratio high / mid",
    "rolloff_85": "Roll-off (85 %)",
    "top10_energy_share": "Energy share of the top 10 % of bins",
    "peak_to_rms": "Peak to RMS",
    "formant_f1": "Formant F1",
    "formant_f2": "Formant F2",
    "formant_f3": "Formant F3",
}


def measurement_label(name: str) -> str:
    """A readable name for one of the 25 measurements ("energy_250_500hz" → "Energy 250–500 Hz")."""
    if name in _MEASUREMENT_NAMES:
        return _MEASUREMENT_NAMES[name]
    match = re.fullmatch(r"energy_(\d+)_(\d+)hz", name)
    if match:
        return f"Energy {match.group(1)}–{match.group(2)} Hz"
    text = re.sub(r"(\d+)hz", r"\1 Hz", name).replace("_", " ")
    return text[:1].upper() + text[1:]


def good_extraction(names) -> str:
    """What a good extraction looks like in a spectrogram, for the target ``names``
    (:class:`vsep_core.stems.TargetLabels`)."""
    if names.is_vocal:
        return (
            "A good extraction looks like the target: the vocal's harmonics kept, the drums and chords "
            "between them gone."
        )
    return (
        f"A good extraction looks like the target: the {names.owns} energy kept where the target has it, "
        f"{names.complement} between it gone."
    )
