"""The results ZIP opens with README.txt and the report, and the joint matching joins the scores (issue #21)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from vsep_core import api
from vsep_core.audio import prepare_pair
from vsep_core.errors import VsepError
from vsep_core.evaluate import evaluate_experiment, with_methods
from vsep_core.experiment import run_experiment
from vsep_core.joint import JointSettings
from vsep_core.report import Outputs, readme_text
from vsep_core.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "sample_audio" / "sung_vowels_pop"


@pytest.fixture(scope="module")
def drums():
    """A drums experiment (N = 1, 2), its scores, and a short joint matching of the same pair and settings."""
    settings = Settings()
    pair = prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "drums.wav", settings=settings, target_name="drums")
    truth = prepare_pair(
        SAMPLE / "mixture.wav",
        vocal=SAMPLE / "drums.wav",
        settings=settings.replace(level="as_is"),
        target_name="drums",
    )
    result = run_experiment(pair, settings, max_slices=2, greedy=False)
    metrics = evaluate_experiment(result, truth, methods=("irm", "mixture"))
    joint = api.joint_matching(pair, settings, JointSettings(steps=10), truth=truth)
    return pair, result, metrics, joint


def test_joint_scores_join_the_experiments_after_its_runs(drums):
    _, result, metrics, joint = drums
    merged = with_methods(metrics, joint.scores)
    names = [m["name"] for m in merged["methods"]]
    runs = [m["name"] for m in metrics["methods"] if m["name"].startswith("seed_")]
    assert names == [*runs, "joint", "irm", "mixture"]
    assert merged["methods"][len(runs)] == joint.scores["methods"][0]  # its figures as they were measured
    assert [m["name"] for m in metrics["methods"]] == [*runs, "irm", "mixture"]  # the report itself unchanged
    assert with_methods(merged, joint.scores) == merged  # once only


def test_scores_of_another_pair_or_settings_do_not_join(drums):
    _, _, metrics, joint = drums
    other = {**joint.scores, "settings": {**joint.scores["settings"], "n_fft": 1024}}
    with pytest.raises(VsepError, match="other settings"):
        with_methods(metrics, other)
    shorter = {**joint.scores, "pair": {**joint.scores["pair"], "n_samples": 1000}}
    with pytest.raises(VsepError, match="another pair"):
        with_methods(metrics, shorter)


def test_the_zip_opens_with_a_readme_and_the_report_that_name_the_target(drums):
    pair, result, metrics, joint = drums
    metrics = with_methods(metrics, joint.scores)
    outputs = Outputs(pair, result.settings, len(result.progressive))
    for run in result.progressive:
        outputs.add_run(str(run.n), run)
    outputs.add_joint(joint, inputs=False)
    outputs.finish(result, metrics=metrics, plots=False)
    outputs.add_report(result, metrics=metrics, joint=joint)
    outputs.add_readme(result, metrics=metrics)
    with zipfile.ZipFile(io.BytesIO(outputs.zip_bytes())) as zf:
        names = zf.namelist()
        readme = zf.read("README.txt").decode()
        report = zf.read("report.html").decode()
    assert names[:2] == ["README.txt", "report.html"]
    assert "joint/extracted_drums.wav" in names and "joint/extracted_everything_else.wav" in names
    # Each folder and file that is there, said in words, naming the drums and everything else.
    assert readme.startswith("Drums separation by spectrogram fingerprints")
    for line in (
        "1_slices … 2_slices/",
        "extracted_drums.wav (the drums it found)",
        "joint/",
        "metrics.json",
        "summary.json",
        "settings.json",
        "report.html",
        "1_slices/mixture.wav, 1_slices/target.wav",
    ):
        assert line in readme, line
    assert "plots/" not in readme and "best_sequence_found" not in readme  # not written: not described
    assert "vocal" not in readme.lower() and "instrumental" not in readme.lower()
    # The verdict opens it: the best result is the joint matching here or a run, in the report's words.
    assert "In short: In the best result, the " in readme
    assert "Extracted drums, joint matching" in report and report.count("<audio") == 2 + 1 + 1 + 2


def test_the_readme_describes_only_what_is_there(drums):
    pair, result, _, _ = drums
    text = readme_text(["1_slices/mixture.wav", "1_slices/target.wav", "1_slices/extracted_drums.wav"], result, pair)
    assert "1_slices/" in text and "joint/" not in text and "report.html\n" not in text and "In short" not in text


def test_runs_made_once_and_copied_into_a_zip_are_named_in_its_summary_and_readme(drums):
    """The dashboard writes its runs' WAVs once (for its players) and copies them into each ZIP."""
    import json

    pair, result, metrics, _ = drums
    made = Outputs(pair, result.settings, len(result.progressive))
    for run in result.progressive:
        made.add_run(str(run.n), run)
    outputs = Outputs(pair, result.settings, len(result.progressive))
    outputs.adopt(made)
    outputs.finish(result, metrics=metrics, plots=False)
    outputs.add_readme(result, metrics=metrics)
    readme = outputs.files["README.txt"].decode()
    assert "1_slices … 2_slices/" in readme and "extracted_drums.wav (the drums it found)" in readme
    summary = json.loads(outputs.files["summary.json"])
    assert all(run["wav"] for run in summary["progressive"]), summary["progressive"]
    assert outputs.wav_count == made.wav_count  # the inputs once, each run's two files


# --- full quality (issue #21): the ZIP, its README and the report ---------------------------------


@pytest.fixture(scope="module")
def stereo_made():
    """A 44.1 kHz stereo song's experiment (N = 1, 2), its scores, and the lowest-loss run made at full quality."""
    from stereo_support import stereo_pair

    mixture, vocal, _ = stereo_pair(seconds=4.0)
    settings = Settings(duration_s=3.0)
    pair = prepare_pair(mixture, vocal=vocal, settings=settings, keep_audio=True)
    truth = prepare_pair(mixture, vocal=vocal, settings=settings.replace(level="as_is"))
    result = run_experiment(pair, settings, max_slices=2, greedy=False, keep_audio=True)
    metrics = evaluate_experiment(result, truth, methods=("irm", "mixture"))
    best = result.best_progressive
    full = api.full_quality(mixture, pair, settings, slices=best.slices, target=vocal)
    return pair, result, metrics, full


def _zip_with(stereo_made, full: bool):
    pair, result, metrics, found = stereo_made
    outputs = Outputs(pair, result.settings, len(result.progressive))
    for run in result.progressive:
        outputs.add_run(str(run.n), run)
    outputs.finish(result, metrics=metrics, plots=False)
    if full:
        best = result.best_progressive
        outputs.add_full_quality(str(best.n), found.estimate, scores=found.scores, slices=best.slices, keep_audio=True)
        outputs.finish_full_quality()
    outputs.add_report(result, metrics=metrics)
    outputs.add_readme(result, metrics=metrics)
    with zipfile.ZipFile(io.BytesIO(outputs.zip_bytes())) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_full_quality_joins_the_zip_its_readme_and_the_report(stereo_made):
    import base64
    import json
    import re

    import soundfile as sf

    from vsep_core.presenter import format_score

    pair, result, metrics, found = stereo_made
    n = str(result.best_progressive.n)
    files = _zip_with(stereo_made, full=True)
    # The WAVs beside the run's, at the file's own rate and channels, and their scores in full_quality.json.
    for path in (f"{n}_slices/extracted_vocal_full_quality.wav", f"{n}_slices/extracted_instrumental_full_quality.wav"):
        info = sf.info(io.BytesIO(files[path]))
        assert (info.samplerate, info.channels) == (44100, 2), path
    stored = json.loads(files["full_quality.json"])
    assert stored["runs"][n]["sr"] == 44100 and stored["runs"][n]["channels"] == 2
    assert stored["runs"][n]["scores"]["vocal"]["si_sdr"] == pytest.approx(found.scores["vocal"]["si_sdr"])
    # README.txt names and explains them: which files, at what rate and channels.
    readme = files["README.txt"].decode()
    assert "*_full_quality.wav (in the run folders)" in readme and "(44100 Hz stereo)" in readme
    assert f"e.g. {n}_slices/extracted_vocal_full_quality.wav" in readme and "full_quality.json" in readme
    assert "Every WAV not ending in _full_quality.wav is 3.00 s of the song" in readme
    # The report: the scores as the presenter's rows, beside the same run at the analysis rate, and two players.
    report = files["report.html"].decode()
    section = report[report.index("<h2>At full quality</h2>") : report.index("<h2>Final loss")]
    row = re.search(
        r"<tr><td>N = \d+, full quality \(44100 Hz stereo\)</td><td>full quality</td>(.*?)</tr>", section
    ).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    v, i = found.scores["vocal"], found.scores["instrumental"]
    assert cells == [format_score(x[m]) for x in (v, i) for m in ("si_sdr", "sdr", "sir", "sar")]
    assert f"<td>N = {n}, analysis rate (22050 Hz mono)</td>" in section
    players = re.findall(r"src='data:audio/mpeg;base64,([A-Za-z0-9+/=]+)'", section)
    assert len(players) == 2
    info = sf.info(io.BytesIO(base64.b64decode(players[0])))
    assert (info.samplerate, info.channels) == (44100, 2)
    # 64 kbit/s: about 8 kB a second of audio.
    assert len(base64.b64decode(players[0])) == pytest.approx(found.estimate.n_samples / 44100 * 8_000, rel=0.15)


def test_without_full_quality_nothing_of_it_appears(stereo_made):
    files = _zip_with(stereo_made, full=False)
    assert not any("full_quality" in name for name in files)
    assert "full_quality" not in files["README.txt"].decode() and "Every WAV is 3.00 s" in files["README.txt"].decode()
    assert "At full quality" not in files["report.html"].decode()
