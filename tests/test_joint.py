"""Joint matching (vsep_core.joint) and slice attribution (vsep_core.attribute)."""

from __future__ import annotations

import numpy as np
import pytest

from vsep_core import baselines, joint
from vsep_core.analysis import analyse
from vsep_core.attribute import attribute_joint, attribute_slices
from vsep_core.audio import Pair, engine_pair, prepare_pair
from vsep_core.errors import VsepError
from vsep_core.metrics import fit_length, si_sdr
from vsep_core.settings import Settings
from vsep_core.views import VIEW_NAMES, compute_view


@pytest.fixture(scope="module")
def small_analysis():
    """A 0.5 s pair analysed with every view (small enough for finite differences)."""
    rng = np.random.default_rng(0)
    sr = 22050
    t = np.arange(int(0.5 * sr)) / sr
    vocal = (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    mixture = (vocal + 0.2 * np.sin(2 * np.pi * 97 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    return analyse(Pair(mixture=mixture, vocal=vocal, sr=sr), Settings(level="as_is"), views=VIEW_NAMES)


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_view_forward_equals_the_engine_views(name):
    X = np.random.default_rng(1).random((37, 11)).astype(np.float32)
    ours, _ = joint.view_forward(X.astype(np.float64), name)
    np.testing.assert_allclose(ours, compute_view(X, name), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "views",
    [
        (("slice_0_raw", 1.0),),
        (("slice_0_raw", 1.0), ("slice_7_highpass", 0.5), ("slice_2_vertical", 1.0)),
        (("slice_17_maxpool", 1.0), ("slice_18_avgpool", 2.0), ("slice_10_edge_45deg", 0.3)),
    ],
)
def test_gradient_matches_finite_differences(small_analysis, views):
    settings = joint.JointSettings(views=views)
    rng = np.random.default_rng(2)
    eq = rng.standard_normal((small_analysis.settings.n_points, small_analysis.n_windows)) * 2
    _, gradient, _ = joint.loss_and_gradient(eq, small_analysis, settings)
    h = 1e-5
    for _ in range(25):
        i, j = rng.integers(eq.shape[0]), rng.integers(eq.shape[1])
        up, down = eq.copy(), eq.copy()
        up[i, j] += h
        down[i, j] -= h
        numeric = (
            joint.loss_and_gradient(up, small_analysis, settings, with_gradient=False)[0]
            - joint.loss_and_gradient(down, small_analysis, settings, with_gradient=False)[0]
        ) / (2 * h)
        assert gradient[i, j] == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_zero_eq_loss_is_the_raw_fingerprint_gap(small_analysis):
    from vsep_core.fingerprint import target_profiles_db

    eq = np.zeros((small_analysis.settings.n_points, small_analysis.n_windows))
    loss, _, _ = joint.loss_and_gradient(eq, small_analysis, joint.JointSettings(), with_gradient=False)
    mixture = 10.0 ** (small_analysis.mixture_db.astype(np.float64) / 20.0)
    expected = np.mean(
        (target_profiles_db(mixture, small_analysis.settings) - small_analysis.targets["slice_0_raw"]) ** 2
    )
    assert loss == pytest.approx(expected, rel=1e-9)


def test_run_is_deterministic_and_lowers_the_loss(small_analysis):
    settings = joint.JointSettings(steps=40, step_size=0.5)
    a = joint.run_joint(small_analysis, settings)
    b = joint.run_joint(small_analysis, settings)
    np.testing.assert_array_equal(a.eq, b.eq)
    assert a.final_loss < 0.5 * a.loss_curve[0]
    assert a.final_db.shape == small_analysis.mixture_db.shape


def test_clip_bounds_every_eq_value(small_analysis):
    result = joint.run_joint(small_analysis, joint.JointSettings(steps=30, step_size=2.0, clip_db=3.0))
    assert np.max(np.abs(result.eq)) <= 3.0
    assert np.max(np.abs(result.eq)) == pytest.approx(3.0)  # the bound was reached, so it did something


@pytest.mark.parametrize(
    "bad",
    [
        dict(steps=0),
        dict(step_size=-1.0),
        dict(step_size=float("nan")),
        dict(clip_db=0.0),
        dict(views=()),
        dict(views=(("nope", 1.0),)),
        dict(views=(("slice_0_raw", 0.0),)),
        dict(views=(("slice_0_raw", 1.0), ("slice_0_raw", 2.0))),
    ],
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(VsepError):
        joint.JointSettings(**bad)


def test_joint_beats_the_exact_eq_on_the_real_pair(eval_pair_dir):
    """The issue's goal on the real pair: at least the exact 400-band EQ (the seed's own ceiling)."""
    settings = Settings(level="as_is")
    truth = prepare_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav", settings=settings)
    analysis = analyse(truth, settings, views=("slice_0_raw",))
    result = joint.run_joint(analysis, joint.JointSettings(steps=300, step_size=0.5))
    from vsep_core.reconstruct import vocal_from_db

    ours = si_sdr(truth.vocal.astype(np.float64), fit_length(vocal_from_db(result.final_db, analysis), truth.n_samples))
    exact = baselines.run_method(baselines.get_method("exact_eq", settings), truth.mixture, truth.sr, truth.vocal)
    ceiling = si_sdr(truth.vocal.astype(np.float64), fit_length(exact.vocal, truth.n_samples))
    assert ours > ceiling


@pytest.mark.parametrize("level", ["independent", "common", "as_is"])
def test_attribution_baseline_equals_the_seed_method(synthetic_pair, level):
    truth = synthetic_pair
    settings = Settings(level=level)
    order = ["slice_1_horizontal", "slice_5_blob", "slice_17_maxpool"]
    found = attribute_slices(truth, settings, order=order)
    method = baselines.SeedProgressive(n_slices=3, order=tuple(order), settings=settings)
    sep = baselines.run_method(method, truth.mixture, truth.sr, truth.vocal)
    assert found["baseline"]["si_sdr"] == si_sdr(truth.vocal.astype(np.float64), fit_length(sep.vocal, truth.n_samples))
    assert [row["name"] for row in found["slices"]] == order
    for row in found["slices"]:
        assert row["delta_si_sdr"] == pytest.approx(found["baseline"]["si_sdr"] - row["without_si_sdr"])
        alone = baselines.run_method(
            baselines.SeedProgressive(n_slices=1, order=(row["name"],), settings=settings),
            truth.mixture,
            truth.sr,
            truth.vocal,
        )
        assert row["alone_si_sdr"] == si_sdr(truth.vocal.astype(np.float64), fit_length(alone.vocal, truth.n_samples))


def test_joint_attribution_rows(synthetic_pair):
    found = attribute_joint(
        synthetic_pair,
        Settings(level="as_is"),
        joint.JointSettings(steps=20),
        slices=["slice_2_vertical", "slice_18_avgpool"],
    )
    assert found["baseline"]["views"] == ["slice_0_raw"]
    assert [row["name"] for row in found["slices"]] == ["slice_2_vertical", "slice_18_avgpool"]
    for row in found["slices"]:
        assert row["delta_si_sdr"] == pytest.approx(row["with_si_sdr"] - found["baseline"]["si_sdr"])
        assert np.isfinite(row["loss_with"])


def test_engine_pair_keeps_the_gains(synthetic_pair):
    pair = engine_pair(synthetic_pair, "independent")
    assert np.max(np.abs(pair.vocal)) == pytest.approx(1.0, abs=1e-6)
    assert pair.info["vocal_gain"] == pytest.approx(1.0 / (np.max(np.abs(synthetic_pair.vocal)) + 1e-8))


# --- the command line -----------------------------------------------------------------


def _cli(*argv) -> int:
    from vsep_core.cli import main

    return main([str(a) for a in argv])


def test_attribute_command_writes_the_issue_shape(eval_pair_dir, tmp_path, capsys):
    out = tmp_path / "attribution.json"
    code = _cli(
        "attribute",
        "--mixture",
        eval_pair_dir / "mixture.wav",
        "--vocal",
        eval_pair_dir / "vocal.wav",
        "--slices",
        2,
        "--level",
        "as-is",
        "--json",
        out,
        "--quiet",
    )
    assert code == 0
    import json

    found = json.loads(out.read_text())
    assert set(found["baseline"]) == {"slices", "si_sdr", "loss"}
    assert found["baseline"]["slices"] == ["slice_1_horizontal", "slice_2_vertical"]
    assert [set(row) for row in found["slices"]] == [
        {"name", "alone_si_sdr", "without_si_sdr", "delta_si_sdr", "loss_alone", "loss_without"}
    ] * 2
    assert "slice_2_vertical" in capsys.readouterr().out
    # The baseline is evaluate's seed_progressive_2 for the same order and level, to the bit.
    from vsep_core.evaluate import evaluate_pair, load_pair

    settings = Settings(level="as_is")
    truth = load_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav", settings=settings)
    report = evaluate_pair(truth, ["seed_progressive_2"], settings=settings, window_s=None)
    assert report["methods"][0]["vocal"]["si_sdr"] == found["baseline"]["si_sdr"]


def test_run_method_joint_writes_its_files_and_metrics(synthetic_pair, tmp_path):
    import json

    from vsep_core.audio import write_wav

    write_wav(tmp_path / "m.wav", synthetic_pair.mixture, synthetic_pair.sr, subtype="FLOAT")
    write_wav(tmp_path / "v.wav", synthetic_pair.vocal, synthetic_pair.sr, subtype="FLOAT")
    out = tmp_path / "results"
    code = _cli(
        "run",
        "--method",
        "joint",
        "--mixture",
        tmp_path / "m.wav",
        "--vocal",
        tmp_path / "v.wav",
        "--out",
        out,
        "--joint-steps",
        30,
        "--joint-views",
        "raw:1,vertical:0.5",
        "--metrics",
        "--quiet",
        "--level",
        "as-is",
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "joint" and summary["joint"]["views"] == [
        ["slice_0_raw", 1.0],
        ["slice_2_vertical", 0.5],
    ]
    assert len(summary["loss_curve"]) == 31 and summary["final_loss"] < summary["loss_curve"][0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["methods"][0]["name"] == "joint"
    assert (
        metrics["methods"][0]["vocal"]["si_sdr"]
        > next(m for m in metrics["methods"] if m["name"] == "mixture")["vocal"]["si_sdr"]
    )
    for name in ("extracted_vocal", "extracted_instrumental", "mixture", "target"):
        assert (out / "joint" / f"{name}.wav").stat().st_size > 44


def test_joint_scores_equal_evaluates_joint_method(synthetic_pair):
    """What the run scores for its joint result is what `evaluate --methods joint` gives."""
    from vsep_core.evaluate import evaluate_joint, evaluate_pair

    settings = Settings(level="independent")
    settings_joint = joint.JointSettings(steps=25)
    pair = engine_pair(synthetic_pair, settings.level)
    analysis = analyse(pair, settings, views=("slice_0_raw",))
    found = joint.run_joint(analysis, settings_joint)
    ours = evaluate_joint(found, analysis, synthetic_pair, joint=settings_joint, methods=(), window_s=None)
    theirs = evaluate_pair(synthetic_pair, ["joint"], settings=settings, joint=settings_joint, window_s=None)
    assert ours["methods"][0]["vocal"] == theirs["methods"][0]["vocal"]
    assert ours["methods"][0]["instrumental"] == theirs["methods"][0]["instrumental"]


@pytest.mark.parametrize("views", ["", "raw:0", "raw:x", "nope", "raw,raw"])
def test_bad_joint_views_are_one_line_exit_2(eval_pair_dir, tmp_path, capsys, views):
    code = _cli(
        "run",
        "--method",
        "joint",
        "--mixture",
        eval_pair_dir / "mixture.wav",
        "--vocal",
        eval_pair_dir / "vocal.wav",
        "--out",
        tmp_path / "r",
        "--joint-views",
        views,
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("clip_db", [None, 2.0])
def test_compiled_raw_path_equals_the_numpy_path(small_analysis, clip_db):
    settings = joint.JointSettings(steps=60, step_size=0.7, clip_db=clip_db)
    fast = joint.run_joint(small_analysis, settings)
    slow = joint.run_joint(small_analysis, settings, compiled=False)
    np.testing.assert_allclose(fast.eq, slow.eq, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(fast.loss_curve, slow.loss_curve, rtol=1e-7, atol=1e-9)
    assert fast.final_loss == pytest.approx(slow.final_loss, rel=1e-7, abs=1e-9)


def test_smooth_preset_names_the_smoothing_slices():
    views = joint.parse_views("smooth")
    assert [name for name, _ in views] == list(joint.SMOOTH_VIEWS)
    assert all(weight == 1.0 for _, weight in views)
    assert joint.parse_views("raw:2, 8:0.5") == (("slice_0_raw", 2.0), ("slice_8_lowpass", 0.5))
