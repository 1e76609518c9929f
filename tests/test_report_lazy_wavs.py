"""An in-memory results folder that keeps its runs' signals and makes their WAVs when read (issue #19).

The dashboard keeps its runs' audio anyway; holding a whole song's 40 WAVs as bytes as well cost 316 MB per
result. The files, the ZIP and the adopted ZIP must be the very bytes the eager folder gives.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vsep_core import report
from vsep_core.audio import prepare_pair, wav_bytes
from vsep_core.experiment import run_experiment
from vsep_core.report import Files, Outputs
from vsep_core.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "sample_audio" / "sung_vowels_pop"


@pytest.fixture(scope="module")
def experiment():
    settings = Settings()
    pair = prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=settings)
    return pair, settings, run_experiment(pair, settings, max_slices=2, greedy=True)


def _unzipped(data: bytes) -> list[tuple[str, bytes]]:
    """A ZIP's files in order (the archive's own bytes carry the time each entry was written)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(name, zf.read(name)) for name in zf.namelist()]


def _outputs(experiment, lazy: bool) -> Outputs:
    pair, settings, result = experiment
    outputs = Outputs(pair, settings, len(result.progressive), lazy_wavs=lazy)
    for run in result.progressive:
        outputs.add_run(str(run.n), run)
    outputs.add_run("greedy", result.greedy_run)
    return outputs


def test_lazy_wavs_are_the_eager_bytes_and_zip_to_the_same_archive(experiment):
    eager, lazy = _outputs(experiment, False), _outputs(experiment, True)
    assert list(lazy.files) == list(eager.files) and lazy.paths == eager.paths
    assert lazy.wav_count == eager.wav_count == 2 + 2 * 3  # the inputs, then two WAVs per run
    for path in eager.files:
        assert lazy.files[path] == eager.files[path], path
    assert lazy.files == eager.files
    assert _unzipped(lazy.zip_bytes()) == _unzipped(eager.zip_bytes())


def test_a_zip_that_adopts_lazy_runs_is_the_one_that_adopts_eager_runs(experiment):
    """The dashboard's ZIP adopts the runs made for its players, then adds summary.json and the rest."""
    pair, settings, result = experiment
    zips = []
    for lazy in (False, True):
        made = _outputs(experiment, lazy)
        outputs = Outputs(pair, settings, len(result.progressive))
        outputs.adopt(made)
        outputs.finish(result, plots=False)
        zips.append(_unzipped(outputs.zip_bytes()))
    assert zips[0] == zips[1]


def test_a_lazy_wav_is_made_only_when_read_and_adopting_makes_none(monkeypatch):
    made = []
    monkeypatch.setattr(report, "wav_bytes", lambda y, sr: made.append(sr) or wav_bytes(y, sr))
    y = np.sin(np.linspace(0, 100, 22050)).astype(np.float32)
    files = Files()
    files.put_signal("1_slices/extracted_vocal.wav", lambda: y, 22050)
    files["summary.json"] = b"{}"
    other = Files()
    other.take(files)
    assert made == [] and len(other) == 2 and "1_slices/extracted_vocal.wav" in other
    assert other["1_slices/extracted_vocal.wav"] == wav_bytes(y, 22050) and made == [22050]
    assert other["summary.json"] == b"{}" and made == [22050]
    del other["summary.json"]
    assert list(other) == ["1_slices/extracted_vocal.wav"]
