"""One evaluation path: evaluate_experiment scores an experiment's runs exactly as evaluate does."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest_eval import eval_dir, write_pair  # noqa: F401  (fixture)

from vsep_core.audio import normalise_levels, prepare_pair
from vsep_core.errors import VsepError
from vsep_core.evaluate import REFERENCE_METHODS, evaluate_experiment, evaluate_pair, experiment_si_sdr, load_pair
from vsep_core.experiment import run_experiment
from vsep_core.metrics import METRIC_NAMES, SOURCE_NAMES
from vsep_core.reconstruct import Estimate
from vsep_core.settings import LEVEL_MODES, Settings


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    # A vocal 4× quieter than its mixture's peak: "independent" gives the two very different gains.
    write_pair(folder, seconds=2.0, seed=5)
    return folder


def _files(folder):
    return {"mixture": folder / "mixture.wav", "vocal": folder / "vocal.wav"}


def _assert_same_figures(a: dict, b: dict, tol: float = 1e-6) -> float:
    """Same methods in the same order with the same figures; returns the largest difference in dB."""
    assert [m["name"] for m in a["methods"]] == [m["name"] for m in b["methods"]]
    worst = 0.0
    for ma, mb in zip(a["methods"], b["methods"]):
        assert ma["error"] is None and mb["error"] is None, (ma["error"], mb["error"])
        for source in SOURCE_NAMES:
            for metric in METRIC_NAMES:
                x, y = ma[source][metric], mb[source][metric]
                assert x == pytest.approx(y, abs=tol), (ma["name"], source, metric)
                worst = max(worst, abs(x - y))
    return worst


@pytest.mark.parametrize("level", LEVEL_MODES)
def test_a_perfect_estimate_scores_as_perfect_at_every_level(pair_files, level):
    files = _files(pair_files)
    settings = Settings(level=level)
    pair = prepare_pair(files["mixture"], vocal=files["vocal"], settings=settings)
    if level == "independent":  # the case the dashboard's copy got wrong: the two gains differ a lot
        assert pair.info["vocal_gain"] > 2 * pair.info["mixture_gain"]
    result = run_experiment(pair, settings, max_slices=1, greedy=False)
    # The perfect estimate on the engine's scale: the normalised vocal itself.
    result.progressive[0].estimate = Estimate(vocal_raw=pair.vocal.copy(), mixture=pair.mixture, sr=pair.sr)
    truth = load_pair(files["mixture"], vocal=files["vocal"], settings=settings)
    report = evaluate_experiment(result, truth, methods=[])
    [entry] = report["methods"]
    assert entry["name"] == "seed_progressive_1" and entry["error"] is None
    for source in SOURCE_NAMES:
        assert entry[source]["si_sdr"] > 90, (source, entry[source])
        assert entry[source]["sdr"] > 60, (source, entry[source])


@pytest.mark.parametrize("level", LEVEL_MODES)
def test_evaluate_experiment_equals_evaluate_pair_at_every_level(pair_files, level):
    files = _files(pair_files)
    settings = Settings(level=level)
    order = ["lowpass", "3", "slice_12_edge_90deg"]
    pair = prepare_pair(files["mixture"], vocal=files["vocal"], settings=settings)
    result = run_experiment(pair, settings, order=order, max_slices=2, greedy=True)
    truth = load_pair(files["mixture"], vocal=files["vocal"], settings=settings)
    by_experiment = evaluate_experiment(result, truth, methods=["exact_eq", "mixture"])
    names = [m["name"] for m in by_experiment["methods"]]
    assert names[-4:] == ["seed_greedy", "seed_greedy_best", "exact_eq", "mixture"]
    assert all(n.startswith("seed_progressive_") for n in names[:-4])
    by_pair = evaluate_pair(truth, names, settings=settings, order=order, max_slices=2)
    _assert_same_figures(by_experiment, by_pair)
    assert (
        set(by_experiment)
        == set(by_pair)
        == {"pair", "settings", "alignment", "alignment_applied", "bss_eval", "methods", "seconds"}
    )
    assert by_experiment["settings"] == by_pair["settings"] and by_experiment["pair"] == by_pair["pair"]
    for a, b in zip(by_experiment["methods"], by_pair["methods"]):
        assert set(a) == set(b) and a["kind"] == b["kind"] and set(a["info"]) == set(b["info"])
        assert a["info"].get("slices") == b["info"].get("slices")
        if "loss" in a["info"]:
            assert a["info"]["loss"] == pytest.approx(b["info"]["loss"], rel=1e-12)
    # The dashboard's first look (the runs' SI-SDR only) is the same arithmetic: equal figures, same runs.
    quick = experiment_si_sdr(result, truth)["methods"]
    runs = [m for m in by_experiment["methods"] if m["kind"] == "seed"]
    assert [m["name"] for m in quick] == [m["name"] for m in runs]
    for q, m in zip(quick, runs):
        assert q["info"]["loss"] == m["info"]["loss"] and q["error"] is None
        for source in SOURCE_NAMES:
            assert q[source]["si_sdr"] == m[source]["si_sdr"], (q["name"], source)


def test_runs_named_as_evaluate_names_them(pair_files):
    files = _files(pair_files)
    pair = prepare_pair(files["mixture"], vocal=files["vocal"], settings=Settings())
    result = run_experiment(pair, Settings(), max_slices=3, greedy=False)
    truth = load_pair(files["mixture"], vocal=files["vocal"])
    report = evaluate_experiment(result, truth, methods=[])
    names = [m["name"] for m in report["methods"]]
    best = result.best_progressive.n
    assert names == ([f"seed_progressive_{best}"] if best == 3 else [f"seed_progressive_{best}", "seed_progressive_3"])
    assert REFERENCE_METHODS == (
        "phase_oracle",
        "exact_eq",
        "irm",
        "ibm",
        "wiener",
        "repet_sim",
        "hpss",
        "learned_fingerprint",
        "mixture",
    )


def test_evaluate_experiment_refuses_what_does_not_fit(pair_files):
    files = _files(pair_files)
    pair = prepare_pair(files["mixture"], vocal=files["vocal"], settings=Settings())
    result = run_experiment(pair, Settings(), max_slices=1, greedy=False, keep_audio=False)
    truth = load_pair(files["mixture"], vocal=files["vocal"])
    with pytest.raises(VsepError, match="kept no audio"):
        evaluate_experiment(result, truth, methods=[])
    shorter = load_pair(files["mixture"], vocal=files["vocal"], settings=Settings(duration_s=1.0))
    with pytest.raises(VsepError, match="segment settings"):
        evaluate_experiment(result, shorter, methods=[])
    normalised = dataclasses.replace(truth, info={**truth.info, "level": "independent"})
    result = run_experiment(pair, Settings(), max_slices=1, greedy=False)
    with pytest.raises(VsepError, match="true scale"):
        evaluate_experiment(result, normalised, methods=[])


def test_the_engine_pair_is_the_runs_pair(pair_files):
    """normalise_levels(truth, level) gives exactly the samples prepare_pair gave the run."""
    files = _files(pair_files)
    truth = load_pair(files["mixture"], vocal=files["vocal"])
    for level in LEVEL_MODES:
        run_pair = prepare_pair(files["mixture"], vocal=files["vocal"], settings=Settings(level=level))
        mix, voc, _, _ = normalise_levels(truth.mixture, truth.vocal, level)
        np.testing.assert_array_equal(mix, run_pair.mixture)
        np.testing.assert_array_equal(voc, run_pair.vocal)


def test_evaluate_cli_at_level_independent_equals_the_experiment_on_the_real_pair(eval_dir, tmp_path):  # noqa: F811
    """End to end: `evaluate --level independent --json` (a subprocess) gives the experiment's figures."""
    files = {"mixture": eval_dir / "mixture.wav", "vocal": eval_dir / "vocal.wav"}
    settings = Settings(level="independent")
    pair = prepare_pair(files["mixture"], vocal=files["vocal"], settings=settings)
    result = run_experiment(pair, settings, max_slices=3, greedy=True)
    truth = load_pair(files["mixture"], vocal=files["vocal"], settings=settings)
    by_experiment = evaluate_experiment(result, truth, methods=["exact_eq"])
    names = [m["name"] for m in by_experiment["methods"]]
    out = tmp_path / "evaluate.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vsep_core",
            "evaluate",
            "--mixture",
            str(files["mixture"]),
            "--vocal",
            str(files["vocal"]),
            "--level",
            "independent",
            "--slices",
            "3",
            "--methods",
            *names,
            "--json",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    by_cli = json.loads(out.read_text())
    worst = _assert_same_figures(by_experiment, by_cli)
    print(
        f"evaluate --level independent vs evaluate_experiment: largest difference {worst:.3g} dB over "
        f"{len(names)} methods × 8 figures"
    )
    assert by_cli["settings"]["level"] == "independent" and by_cli["pair"]["level"] == "independent"
    # The seed runs are real separations (SI-SDR of the vocal well above the mixture's).
    mixture_floor = evaluate_pair(truth, ["mixture"])["methods"][0]["vocal"]["si_sdr"]
    assert by_cli["methods"][0]["vocal"]["si_sdr"] > mixture_floor + 5
