"""Is it good? A score table said in one or two sentences a musician understands.

:func:`verdict` reads the presenter's rows (:func:`vsep_core.presenter.score_table`)
and says how close the best result of this method is to the target, where it
sits between doing nothing (the mixture offered as the target) and the best
possible (the best ideal mask, which reads the true target), and keeps the
figures it used for a "show the numbers" fold. The Results page and the HTML
report both show its :attr:`Verdict.text` above the score table.

Every figure is the target's SI-SDR (dB): the score that does not depend on
loudness, so "doing nothing", the result and the ceiling are on one scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .glossary import method_name
from .presenter import ScoreTable, format_score
from .stems import verb_for

#: The ideal masks: "the best possible" a mask on the mixture can do (ceilings that read the true target).
IDEAL_MASKS = ("irm", "ibm", "wiener")

#: How a target SI-SDR (dB) sounds, from the lowest bound up: (at least this many dB, words).
#: Each 3 dB halves what is wrong; 0 dB is as much wrong as right.
SOUNDS = (
    (-math.inf, "mostly the rest of the song: the {t} {be} still buried"),
    (0.0, "the {t} brought forward, but much of the rest of the song too"),
    (5.0, "mostly the {t}, with the rest of the song still audible behind {it}"),
    (10.0, "the {t} clearly, with faint traces of the rest"),
    (15.0, "the {t} almost as {it_be} on {its} own: what is left of the rest is hard to hear"),
)

#: Where a result sits between doing nothing (0) and the best ideal mask (1): (at least, words).
SHARES = (
    (-math.inf, "no better than doing nothing"),
    (0.05, "a small step of the way"),
    (0.25, "about a third of the way"),
    (0.42, "about half of the way"),
    (0.58, "about two thirds of the way"),
    (0.8, "nearly all the way"),
    (0.97, "all the way"),
)


@dataclass(frozen=True)
class Verdict:
    """What :func:`verdict` says.

    Attributes
    ----------
    text : str
        One or two sentences, no jargon beyond "ideal mask".
    numbers : tuple of (str, str)
        The figures behind it: ``(what, "4.07 dB")`` rows, for a fold under the sentences.
    """

    text: str
    numbers: tuple


def _si_sdr_column(table: ScoreTable) -> int | None:
    for i, column in enumerate(table.columns):
        if column.group == "target" and column.metric == "si_sdr":
            return i
    return None


def _usable(value) -> bool:
    return value is not None and not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


def _pick(words: tuple, value: float) -> str:
    return [text for bound, text in words if value >= bound][-1]


def verdict(table: ScoreTable) -> Verdict | None:
    """The score table in plain words, or ``None`` when it has no result of this method to judge.

    Parameters
    ----------
    table : ScoreTable
        :func:`vsep_core.presenter.score_table` of a metrics report (the full one or the quick SI-SDR one).

    Returns
    -------
    Verdict or None
        ``None`` without a scored run of this method (kind ``"seed"``) or without the target's SI-SDR.
    """
    column = _si_sdr_column(table)
    if column is None:
        return None
    scored = [row for row in table.rows if _usable(row.values[column]) and not row.error]
    results = [row for row in scored if row.kind == "seed"]
    if not results:
        return None
    t = table.target
    plural = verb_for(t) == "are"  # "the drums are", "the bass is"
    words = {
        "t": t,
        "be": verb_for(t),
        "it": "them" if plural else "it",
        "it_be": "they are" if plural else "it is",
        "its": "their" if plural else "its",
    }
    best = max(results, key=lambda row: row.values[column])
    score = best.values[column]
    numbers = [(f"Best result: {method_name(best.name)}", f"{format_score(score)} dB")]
    text = f"In the best result, the {method_name(best.name)}, you hear {_pick(SOUNDS, score).format(**words)}."

    if table.alignment is not None and not table.alignment.get("aligned", True):
        text = (
            f"The mixture and the {t} are not lined up in time, so these scores say nothing yet: align them "
            "on Load audio first."
        )
        return Verdict(text, tuple(numbers))

    floor = next((row for row in scored if row.name == "mixture"), None)
    masks = [row for row in scored if row.name in IDEAL_MASKS]
    ceiling = max(masks, key=lambda row: row.values[column]) if masks else None
    if floor is not None:
        numbers.append(("Doing nothing: the mixture itself", f"{format_score(floor.values[column])} dB"))
    if ceiling is not None:
        numbers.append((f"Best possible: {method_name(ceiling.name)}", f"{format_score(ceiling.values[column])} dB"))
    numbers.append(("Score used", f"{t} SI-SDR, in dB (higher is better; every 3 dB halves what is wrong)"))
    if floor is not None and ceiling is not None and ceiling.values[column] > floor.values[column]:
        nothing, possible = floor.values[column], ceiling.values[column]
        share = (score - nothing) / (possible - nothing)
        if share >= 1.0:
            text += (
                f" That is as close to the true {t} as the best ideal mask gets (a mask that reads the true "
                f"{t}, the best possible here), and far better than doing nothing."
            )
        else:
            text += (
                f" It goes {_pick(SHARES, share)} from doing nothing (the song as it is) to the best possible "
                f"(an ideal mask that reads the true {t})."
            )
    elif floor is not None:
        better = score - floor.values[column]
        text += " It is " + (
            "no better than doing nothing (the song as it is)."
            if better <= 0.5
            else "clearly better than doing nothing (the song as it is)."
        )
    return Verdict(text, tuple(numbers))
