"""The whole workload: experiment, reconstruction, outputs and the CLI."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import soundfile as sf

from vsep_core.analysis import analyse
from vsep_core.errors import VsepError
from vsep_core.experiment import run_experiment
from vsep_core.optimise import run_chain
from vsep_core.reconstruct import estimate_from_chain
from vsep_core.report import Outputs, html_report
from vsep_core.settings import Settings


@pytest.fixture(scope="module")
def experiment(synthetic_pair):
    seen = []
    result = run_experiment(synthetic_pair, Settings(), max_slices=4, progress=lambda f, label: seen.append(f))
    return result, seen


def test_experiment_is_consistent_with_its_parts(synthetic_pair, experiment):
    result, _ = experiment
    analysis = analyse(synthetic_pair, Settings())
    assert [r.n for r in result.progressive] == [1, 2, 3, 4]
    for run in result.progressive:
        assert run.final_loss == pytest.approx(run_chain(analysis, run.slices).final_loss, rel=1e-12)
    # Greedy step 1 tries each slice alone: the same runs as progressive N=1 for slice 1.
    assert result.greedy.steps[0]["slice_1_horizontal"] == pytest.approx(result.progressive[0].final_loss, rel=1e-12)
    assert result.greedy_run.final_loss == pytest.approx(result.greedy.loss, rel=1e-12)
    assert result.best_prefix_run.final_loss == pytest.approx(result.greedy.best_prefix_loss, rel=1e-12)
    assert min(result.greedy.chosen_losses) == result.greedy.best_prefix_loss


def test_progress_rises_to_one(experiment):
    _, seen = experiment
    assert seen[-1] == 1.0 and len(seen) > 10
    assert all(b >= a - 1e-12 for a, b in zip(seen, seen[1:]))


def test_reconstruction_lengths_and_instrumental(synthetic_pair):
    analysis = analyse(synthetic_pair, Settings())
    est = estimate_from_chain(run_chain(analysis, ["slice_8_lowpass"]), analysis, synthetic_pair)
    n_windows = 1 + synthetic_pair.n_samples // 1040
    assert len(est.vocal_raw) == (n_windows - 1) * 1040
    assert np.max(np.abs(est.vocal)) == pytest.approx(1.0, abs=1e-6)
    padded = np.zeros(synthetic_pair.n_samples, dtype=np.float32)
    padded[: len(est.vocal_raw)] = est.vocal_raw
    np.testing.assert_allclose(est.instrumental, synthetic_pair.mixture - padded, atol=1e-7)


def test_window_count_option(synthetic_pair):
    analysis = analyse(synthetic_pair, Settings(n_windows=64))
    assert analysis.n_windows == 64
    with pytest.raises(VsepError, match="windows cannot be made"):
        analyse(synthetic_pair, Settings(n_windows=10**6))


def test_custom_order_and_bad_counts(synthetic_pair):
    result = run_experiment(synthetic_pair, Settings(), order=["lowpass", "12"], greedy=False)
    assert result.progressive[-1].slices == ("slice_8_lowpass", "slice_12_edge_90deg") and result.greedy is None
    with pytest.raises(VsepError, match="from 1 to 2"):
        run_experiment(synthetic_pair, Settings(), order=["lowpass", "12"], max_slices=3)


def test_outputs_zip_and_html_report(synthetic_pair):
    out = Outputs(synthetic_pair, Settings(), 3)
    result = run_experiment(synthetic_pair, Settings(), max_slices=3, on_run=out.add_run)
    summary = out.finish(result)
    archive = zipfile.ZipFile(io.BytesIO(out.zip_bytes()))
    names = set(archive.namelist())
    for entry in summary["progressive"]:
        assert entry["wav"] in names and entry["instrumental_wav"] in names
    assert {
        "summary.json",
        "settings.json",
        "plots/loss_curves.html",
        "plots/final_loss.html",
        "plots/spectrograms.html",
        "plots/greedy_search.html",
        "plots/plotly.min.js",
        "best_sequence_found/extracted_vocal_best_sequence.wav",
    } <= names
    assert json.loads(archive.read("summary.json"))["greedy"]["sequence"] == result.greedy.sequence
    y, sr = sf.read(io.BytesIO(archive.read(summary["progressive"][0]["wav"])))
    assert sr == 22050 and np.max(np.abs(y)) > 0.9

    page = html_report(result, synthetic_pair, spectrograms=out.spectrograms)
    assert "Oracle experiment" in page
    assert page.count("<audio") >= 4
    # A player for every N, the lowest loss marked; a notice for a browser without JavaScript; the header
    # names each file once ("Mixture mixture 'mixture.wav'" was the old header).
    for run in result.progressive:
        assert f"<b>N = {run.n}</b> · loss {run.final_loss:.2f}" in page
    assert page.count("★ lowest loss") == 1
    assert "<noscript>" in page and "JavaScript is off" in page
    assert "Analysed the mixture (synthetic) and the isolated vocal: " in page  # no vocal file name given
    named = dataclasses.replace(
        synthetic_pair, info={**synthetic_pair.info, "mixture": "mixture “song.wav”", "vocal": "voice.wav"}
    )
    assert "Analysed the mixture (song.wav) and the isolated vocal (voice.wav): " in html_report(result, named)
    # Self-contained: no script loaded from a file or the web, no media fetched
    # (links written inside plotly.js's own code are not fetches; skip inline scripts).
    assert not re.search(r"<script[^>]*\ssrc=", page)
    outside_scripts = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r'(src|href)="(https?:)?//', outside_scripts)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "vsep_core", *args], capture_output=True, text=True, timeout=300)


def test_cli_help_explains_every_option():
    proc = run_cli("run", "--help")
    assert proc.returncode == 0
    for option in (
        "--mixture",
        "--vocal",
        "--instrumental",
        "--slices",
        "--greedy",
        "--out",
        "--duration",
        "--order",
        "--level",
        "--pooled-windows",
        "--windows",
        "--learning-rate",
        "--report",
        "--metrics",
    ):
        assert option in proc.stdout
    assert "--full-length" not in proc.stdout and "as-is" in proc.stdout


def test_cli_bad_input_is_a_message_not_a_traceback(tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    proc = run_cli("run", "--mixture", str(junk), "--vocal", str(junk), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "not audio" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("run", "--mixture", str(junk), "--vocal", str(junk), "--learning-rate", "-3")
    assert proc.returncode == 2 and "learning_rate must be" in proc.stderr


def test_cli_run_and_check(tmp_path, synthetic_pair):
    sf.write(tmp_path / "m.wav", synthetic_pair.mixture, 22050)
    sf.write(tmp_path / "i.wav", synthetic_pair.mixture - synthetic_pair.vocal, 22050)
    proc = run_cli(
        "run",
        "--mixture",
        str(tmp_path / "m.wav"),
        "--instrumental",
        str(tmp_path / "i.wav"),
        "--slices",
        "2",
        "--greedy",
        "--duration",
        "all",
        "--report",
        "--out",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["config"]["duration_s"] is None and len(summary["progressive"]) == 2
    assert (tmp_path / "out" / "report.html").stat().st_size > 100_000
    proc = run_cli("check")
    assert "wav" in proc.stdout and "libsndfile" in proc.stdout


def test_run_metrics_json_is_evaluate_json_and_the_report_shows_it(tmp_path, synthetic_pair, capsys):
    """run --metrics --report: metrics.json is exactly what evaluate --json writes for those methods."""
    from vsep_core.cli import main

    sf.write(tmp_path / "m.wav", synthetic_pair.mixture, 22050, subtype="FLOAT")
    sf.write(tmp_path / "v.wav", synthetic_pair.vocal, 22050, subtype="FLOAT")
    audio = ["--mixture", str(tmp_path / "m.wav"), "--vocal", str(tmp_path / "v.wav")]
    assert (
        main(
            [
                "run",
                *audio,
                "--slices",
                "2",
                "--greedy",
                "--metrics",
                "--report",
                "--no-plots",
                "--quiet",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    names = [m["name"] for m in metrics["methods"]]
    from vsep_core.evaluate import REFERENCE_METHODS

    assert names[-len(REFERENCE_METHODS) :] == list(REFERENCE_METHODS)
    assert {"phase_oracle", "exact_eq", "irm", "learned_fingerprint", "mixture"} <= set(REFERENCE_METHODS)
    assert "seed_greedy" in names and "seed_greedy_best" in names
    assert (
        main(
            [
                "evaluate",
                *audio,
                "--level",
                "independent",
                "--slices",
                "2",
                "--methods",
                *names,
                "--quiet",
                "--json",
                str(tmp_path / "evaluate.json"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    evaluated = json.loads((tmp_path / "evaluate.json").read_text())
    assert set(metrics) == set(evaluated)
    for key in ("pair", "settings", "bss_eval", "alignment", "alignment_applied"):
        assert metrics[key] == evaluated[key]
    page = (tmp_path / "out" / "report.html").read_text()
    for ours, theirs in zip(metrics["methods"], evaluated["methods"]):
        assert ours["name"] == theirs["name"] and set(ours) == set(theirs)
        for source in ("vocal", "instrumental"):
            for metric in ("si_sdr", "sdr", "sir", "sar"):
                assert ours[source][metric] == pytest.approx(theirs[source][metric], abs=1e-6)
                assert f"<td>{ours[source][metric]:.2f}</td>" in page
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["metrics_json"] == "metrics.json"


@pytest.mark.parametrize("audio_runs", [None, {"2", "best", "greedy"}])
def test_audio_made_beside_the_optimiser_is_the_same_audio_in_the_same_order(synthetic_pair, audio_runs):
    """``background_audio`` only moves the inverse STFTs to a second thread: every loss, every sample and the order
    ``on_run`` sees are those of the plain run."""
    results, calls = {}, {}
    for background in (False, True):
        seen = []
        results[background] = run_experiment(
            synthetic_pair,
            Settings(),
            max_slices=4,
            audio_runs=audio_runs,
            background_audio=background,
            on_run=lambda label, run, seen=seen: seen.append((label, run.estimate.vocal_raw.copy())),
        )
        calls[background] = seen
    assert [label for label, _ in calls[True]] == [label for label, _ in calls[False]]
    assert len(calls[True]) >= 3
    for (_, plain), (_, beside) in zip(calls[False], calls[True]):
        np.testing.assert_array_equal(beside, plain)
    plain_runs, beside_runs = results[False].labelled_runs(), results[True].labelled_runs()
    assert [label for label, _ in beside_runs] == [label for label, _ in plain_runs]
    for (_, a), (_, b) in zip(plain_runs, beside_runs):
        assert b.final_loss == a.final_loss
        assert (a.estimate is None) == (b.estimate is None)
        if a.estimate is not None:
            np.testing.assert_array_equal(b.estimate.vocal_raw, a.estimate.vocal_raw)


def test_an_error_while_making_audio_beside_the_optimiser_reaches_the_caller(synthetic_pair):
    def on_run(label, run):
        if label == "2":
            raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        run_experiment(synthetic_pair, Settings(), max_slices=4, greedy=False, background_audio=True, on_run=on_run)
