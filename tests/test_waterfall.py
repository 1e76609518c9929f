"""The phase oracle (vsep_core.oracle_phase) and the loss waterfall (vsep_core.waterfall), issue #22."""

from __future__ import annotations

import numpy as np
import pytest

from vsep_core.baselines import get_method, method_names, run_method
from vsep_core.errors import VsepError
from vsep_core.evaluate import REFERENCE_METHODS, evaluate_pair
from vsep_core.metrics import si_sdr
from vsep_core.oracle_phase import PhaseOracle, phase_oracle_vocal
from vsep_core.settings import Settings
from vsep_core.waterfall import COSTS, format_waterfall, loss_waterfall, waterfall_figure

SR = 22050


def _voice(seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(200 + 20 * np.sin(2 * np.pi * 4 * t)) / SR
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 15)) + 0.01 * rng.standard_normal(len(t))).astype(
        np.float32
    )


# --- the phase oracle ---------------------------------------------------------------------------


def test_phase_oracle_is_perfect_where_the_mixture_phase_is_the_targets():
    vocal = _voice()
    mixture = (1.6 * vocal).astype(np.float32)  # the "rest" is 0.6 × the vocal: the same phase in every bin
    sep = run_method(get_method("phase_oracle"), mixture, SR, vocal)
    assert len(sep.vocal) == len(vocal)
    assert si_sdr(vocal, sep.vocal) > 100
    assert np.max(np.abs(sep.vocal - vocal)) < 1e-4
    np.testing.assert_allclose(sep.instrumental, mixture - sep.vocal, atol=1e-6)


def test_phase_oracle_keeps_the_mixture_phase_and_the_target_magnitude():
    vocal = _voice()
    rest = (0.3 * np.random.default_rng(1).standard_normal(len(vocal))).astype(np.float32)
    mixture = vocal + rest
    settings = Settings(level="as_is")
    estimate = phase_oracle_vocal(mixture, vocal, settings)
    from vsep_core import dsp

    hop = settings.hop_for(len(vocal))
    # Its STFT has (up to the overlap-add's consistency) the vocal's magnitude and the mixture's phase:
    # rebuilt from those by hand, the same signal.
    V, X = (dsp.stft(x, n_fft=settings.n_fft, hop_length=hop) for x in (vocal, mixture))
    by_hand = dsp.istft(
        np.abs(V) * X / np.maximum(np.abs(X), 1e-30), n_fft=settings.n_fft, hop_length=hop, length=len(vocal)
    )
    np.testing.assert_allclose(estimate, by_hand, atol=1e-5)
    # Another phase costs something: below perfect, above the mixture.
    assert si_sdr(mixture, mixture) > si_sdr(vocal, estimate) > si_sdr(vocal, mixture) + 3


def test_phase_oracle_is_listed_and_refuses_bad_input():
    assert "phase_oracle" in method_names() and REFERENCE_METHODS[0] == "phase_oracle"
    method = get_method("phase_oracle")
    assert isinstance(method, PhaseOracle) and method.kind == "oracle"
    vocal = _voice(0.5)
    with pytest.raises(VsepError, match="needs the true vocal"):
        run_method(method, vocal, SR)
    with pytest.raises(VsepError, match="same length"):
        method.separate(vocal, SR, vocal=vocal[:-10])


# --- the waterfall -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(synthetic_pair):
    from vsep_core.audio import Pair

    pair = Pair(
        mixture=synthetic_pair.mixture,
        vocal=synthetic_pair.vocal,
        sr=SR,
        info={"level": "as_is", "target_mode": "vocal"},
    )
    from vsep_core.joint import JointSettings

    return evaluate_pair(
        pair,
        ["seed_progressive_2", "seed_greedy", "joint", "phase_oracle", "exact_eq", "mixture"],
        settings=Settings(level="as_is", duration_s=None),
        max_slices=2,
        joint=JointSettings(steps=20),
    )


def test_waterfall_steps_add_up_and_name_their_costs(report):
    steps = loss_waterfall(report)
    figures = {m["name"]: m["vocal"]["si_sdr"] for m in report["methods"]}
    assert [s["measure"] for s in steps] == ["absolute", "relative", "relative", "relative", "relative", "total"]
    assert [s["cost"] for s in steps[1:5]] == ["band resolution", "optimisation", "fingerprint chain", "separation"]
    assert steps[0]["value_db"] == figures["phase_oracle"]
    best_seed = max(figures["seed_progressive_2"], figures["seed_greedy"])
    expected = [
        figures["exact_eq"] - figures["phase_oracle"],
        figures["joint"] - figures["exact_eq"],
        best_seed - figures["joint"],
        figures["mixture"] - best_seed,
    ]
    assert [s["value_db"] for s in steps[1:5]] == pytest.approx(expected, abs=1e-12)
    # They add up: the phase oracle plus every step is the mixture.
    assert steps[0]["value_db"] + sum(s["value_db"] for s in steps[1:5]) == pytest.approx(figures["mixture"], abs=1e-9)
    assert steps[-1]["value_db"] == figures["mixture"]
    text = format_waterfall(steps)
    for cost in ("band resolution", "optimisation", "fingerprint chain", "separation"):
        assert cost in text
    fig = waterfall_figure(steps)
    assert list(fig.data[0].measure) == [s["measure"] for s in steps]


def test_a_missing_step_is_merged_into_the_next(report):
    without_joint = {**report, "methods": [m for m in report["methods"] if m["name"] != "joint"]}
    steps = loss_waterfall(without_joint)
    assert [s["cost"] for s in steps if s["measure"] == "relative"] == [
        "band resolution",
        "optimisation + fingerprint chain",
        "separation",
    ]
    assert all(c in COSTS for c in ("optimisation", "fingerprint chain"))
    for name in ("phase_oracle", "mixture"):
        with pytest.raises(VsepError, match=name):
            loss_waterfall({**report, "methods": [m for m in report["methods"] if m["name"] != name]})


def test_html_report_metrics_show_the_waterfall(report):
    from vsep_core.report import _metrics_html

    page = _metrics_html(report)
    assert (
        "Where the decibels go" in page and "band resolution" in page and 'class="vsep-figure"' in page
    )  # drawn once plotly.js is unpacked
