"""The seed-compatible engine reproduces the research script's numbers (tests/data/golden).

The golden files were made by the original ``best.py`` run on the evaluation
pair as it is (no prepare step), so the pair is read with ``level="as_is"``;
every other setting is the default. Both are vendored in ``tests/data`` (its
README says where they come from); the first test checks they are intact.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vsep_core.analysis import analyse
from vsep_core.audio import prepare_pair
from vsep_core.optimise import run_progressive
from vsep_core.search import greedy_search
from vsep_core.settings import Settings
from vsep_core.views import SLICE_NAMES

DATA = Path(__file__).resolve().parent / "data"

RTOL = 1e-5


def close(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= RTOL * abs(expected)


def test_vendored_data_is_intact(eval_pair_dir):
    """Every file in tests/data/SHA256SUMS has its checksum; the pair is the documented one."""
    listed = [line.split(maxsplit=1) for line in (DATA / "SHA256SUMS").read_text().splitlines() if line.strip()]
    assert {name for _, name in listed} >= {
        "speech_brahms_4.7s/mixture.wav",
        "speech_brahms_4.7s/vocal.wav",
        "golden/speech_brahms_4.7s_8slices.json",
        "golden/speech_brahms_4.7s_18slices.json",
    }
    bad = [name for digest, name in listed if hashlib.sha256((DATA / name).read_bytes()).hexdigest() != digest]
    assert not bad, f"changed since vendored (line endings? LFS pointer?): {bad}"
    signals = {}
    for role in ("mixture", "vocal", "instrumental"):
        signals[role], sr = sf.read(eval_pair_dir / f"{role}.wav", dtype="float32")
        assert sr == 22050 and signals[role].shape == (103_635,)
    np.testing.assert_array_equal(signals["mixture"], signals["vocal"] + signals["instrumental"])


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
    code = main(
        [
            "run",
            "--mixture",
            str(eval_pair_dir / "mixture.wav"),
            "--vocal",
            str(eval_pair_dir / "vocal.wav"),
            "--slices",
            "8",
            "--greedy",
            "--level",
            "as-is",
            "--out",
            str(tmp_path),
            "--quiet",
            "--no-plots",
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for entry in summary["progressive"]:
        assert close(entry["final_loss"], expected["progressive_final_loss"][str(entry["n"])])
        assert (tmp_path / entry["wav"]).exists()
    assert summary["greedy"]["sequence"] == expected["greedy_sequence_seed"]
    assert close(summary["greedy"]["loss"], expected["greedy_loss_seed"])
    assert close(summary["greedy"]["best_prefix_loss"], expected["greedy_best_prefix_loss"])
    assert (tmp_path / summary["greedy"]["wav"]).exists()
