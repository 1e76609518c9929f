"""The verdict in plain words (issue #21): how close the result is, between doing nothing and the best possible.

Real evaluations of a bundled sample with the vocal and the drums as target, and small score tables built
through the presenter for the edges (a result past the ceiling, no better than the mixture, a pair not aligned).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vsep_core.evaluate import evaluate_pair, load_pair
from vsep_core.presenter import format_score, score_table
from vsep_core.settings import Settings
from vsep_core.verdict import verdict

POP = Path(__file__).resolve().parents[1] / "sample_audio" / "sung_vowels_pop"
JARGON = ("SI-SDR", "SDR", "SIR", "SAR", "dB", "seed", "oracle", "irm", "_")


@pytest.fixture(scope="module", params=["vocals", "drums"])
def real_report(request):
    stem = request.param
    settings = Settings(level="as_is", duration_s=2.0)
    truth = POP / ("vocal.wav" if stem == "vocals" else f"{stem}.wav")
    pair = load_pair(POP / "mixture.wav", vocal=truth, settings=settings, target_name=stem)
    return stem, evaluate_pair(pair, ["seed_progressive_2", "irm", "ibm", "mixture"], settings=settings)


def test_verdict_of_a_real_report_names_the_target_and_keeps_the_numbers(real_report):
    stem, report = real_report
    table = score_table(report)
    said = verdict(table)
    word = "vocal" if stem == "vocals" else "drums"
    assert said is not None
    assert 1 <= len(re.findall(r"[.!?](\s|$)", said.text)) <= 2  # one or two sentences
    assert f"the {word}" in said.text and f"the true {word}" in said.text
    other = "drums" if word == "vocal" else "vocal"
    assert other not in said.text and "instrumental" not in said.text
    assert "progressive run over 2 slices" in said.text  # the method in words, not "seed_progressive_2"
    assert not any(term in said.text for term in JARGON)
    if word == "drums":
        assert "the drums is" not in said.text
    # The numbers behind it: the run, the mixture and the best ideal mask, as the table shows them.
    rows = {row.name: row.values[0] for row in table.rows}
    shown = dict(said.numbers)
    assert shown["Best result: progressive run over 2 slices"] == f"{format_score(rows['seed_progressive_2'])} dB"
    assert shown["Doing nothing: the mixture itself"] == f"{format_score(rows['mixture'])} dB"
    best_mask = max(("irm", "ibm"), key=rows.get)
    assert any(
        what.startswith("Best possible") and value == f"{format_score(rows[best_mask])} dB"
        for what, value in said.numbers
    )


def _table(target: str, scores: dict, aligned: bool = True):
    kinds = {"mixture": "blind", "irm": "oracle"}
    methods = [
        {"name": name, "kind": kinds.get(name, "seed"), "vocal": {"si_sdr": value}, "instrumental": {"si_sdr": 0.0}}
        for name, value in scores.items()
    ]
    labels = {"vocal": target, "instrumental": "instrumental" if target == "vocal" else "everything else"}
    return score_table(
        {"pair": {"labels": labels}, "alignment": {"aligned": aligned, "verdict": ""}, "methods": methods},
        metrics=("si_sdr",),
    )


@pytest.mark.parametrize("target", ["vocal", "drums", "bass"])
def test_verdict_moves_with_the_result(target):
    low = verdict(_table(target, {"seed_progressive_1": -2.0, "mixture": -3.0, "irm": 9.0})).text
    mid = verdict(_table(target, {"seed_progressive_1": 3.0, "mixture": -3.0, "irm": 9.0})).text
    top = verdict(_table(target, {"seed_progressive_1": 12.0, "mixture": -3.0, "irm": 9.0})).text
    assert "a small step of the way" in low and "buried" in low
    assert "about half of the way" in mid
    assert "as close to the true" in top and "best ideal mask" in top
    verb = "are" if target == "drums" else "is"
    assert f"the {target} {verb} still buried" in low


def test_verdict_without_a_ceiling_compares_with_doing_nothing():
    said = verdict(_table("drums", {"seed_greedy": -2.9, "mixture": -3.0}))
    assert "greedy order (whole sequence)" in said.text
    assert "no better than doing nothing" in said.text
    assert not any(what.startswith("Best possible") for what, _ in said.numbers)


def test_verdict_of_a_pair_not_aligned_says_the_scores_mean_nothing_yet():
    said = verdict(_table("bass", {"seed_progressive_3": 6.0, "mixture": -3.0, "irm": 9.0}, aligned=False))
    assert "not lined up in time" in said.text and "the bass" in said.text
    assert "of the way" not in said.text


def test_no_verdict_without_a_result_of_this_method():
    assert verdict(_table("vocal", {"mixture": -3.0, "irm": 9.0})) is None
