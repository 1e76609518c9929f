"""The seed-compatible engine reproduces the research script's numbers (../shared/reference/golden).

The golden files were made by the original ``best.py`` run on the evaluation
pair as it is (no prepare step), so the pair is read with ``level="as_is"``;
every other setting is the default.
"""

from __future__ import annotations

import json

import pytest

from vsep_core.analysis import analyse
from vsep_core.audio import prepare_pair
from vsep_core.optimise import run_progressive
from vsep_core.search import greedy_search
from vsep_core.settings import Settings
from vsep_core.views import SLICE_NAMES

RTOL = 1e-5


def close(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= RTOL * abs(expected)


@pytest.fixture(scope="module")
def eval_analysis(eval_pair_dir):
    settings = Settings(level="as_is")
    pair = prepare_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav", settings=settings)
    assert pair.n_samples == 103_635
    return analyse(pair, settings)


@pytest.mark.parametrize("n_slices", [8, 18])
def test_progressive_losses_match_golden(eval_analysis, golden, n_slices):
    expected = golden(n_slices)
    assert expected["config"]["max_slices"] == n_slices
    runs = run_progressive(eval_analysis, SLICE_NAMES[:n_slices])
    got = {str(len(run.slices)): run.final_loss for run in runs}
    assert set(got) == set(expected["progressive_final_loss"])
    bad = {n: (got[n], v) for n, v in expected["progressive_final_loss"].items() if not close(got[n], v)}
    assert not bad, f"progressive losses off by more than {RTOL} relative: {bad}"


@pytest.mark.parametrize("n_slices", [8, 18])
def test_greedy_search_matches_golden(eval_analysis, golden, n_slices):
    expected = golden(n_slices)
    result = greedy_search(eval_analysis, SLICE_NAMES[:n_slices])
    assert len(result.steps) == len(expected["greedy_steps"]) == n_slices
    for i, (got_step, want_step) in enumerate(zip(result.steps, expected["greedy_steps"])):
        assert set(got_step) == set(want_step), f"step {i + 1} tried different candidates"
        bad = {k: (got_step[k], v) for k, v in want_step.items() if not close(got_step[k], v)}
        assert not bad, f"step {i + 1} candidate losses differ: {bad}"
    assert result.sequence == expected["greedy_sequence_seed"]
    assert close(result.loss, expected["greedy_loss_seed"])
    assert result.best_prefix_length == expected["greedy_best_prefix_length"]
    assert close(result.best_prefix_loss, expected["greedy_best_prefix_loss"])


def test_cli_summary_matches_golden(eval_pair_dir, golden, tmp_path):
    """The whole path a user takes: the CLI on the WAV files, then summary.json."""
    from vsep_core.cli import main

    expected = golden(8)
    code = main(["run", "--mixture", str(eval_pair_dir / "mixture.wav"), "--vocal", str(eval_pair_dir / "vocal.wav"),
                 "--slices", "8", "--greedy", "--level", "as-is", "--out", str(tmp_path), "--quiet", "--no-plots"])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for entry in summary["progressive"]:
        assert close(entry["final_loss"], expected["progressive_final_loss"][str(entry["n"])])
        assert (tmp_path / entry["wav"]).exists()
    assert summary["greedy"]["sequence"] == expected["greedy_sequence_seed"]
    assert close(summary["greedy"]["loss"], expected["greedy_loss_seed"])
    assert close(summary["greedy"]["best_prefix_loss"], expected["greedy_best_prefix_loss"])
    assert (tmp_path / summary["greedy"]["wav"]).exists()
