"""One pass: the closed form equals the research loop; losses never rise; chains and settling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vsep_core.analysis import analyse
from vsep_core.errors import VsepError
from vsep_core.fingerprint import amplitude_to_db
from vsep_core.optimise import (
    closed_form_applies,
    descend,
    descend_between,
    descend_closed,
    descend_iterative,
    run_chain,
    run_pass,
    run_progressive,
    settle,
)
from vsep_core.settings import Settings
from vsep_core.views import RAW, SLICE_NAMES


def research_loop(m, t, lr, iterations, clip):
    """The research code's pass, written as it was: one window at a time, one update at a time."""
    losses = np.zeros(iterations)
    eqs = [np.zeros(m.shape[0]) for _ in range(m.shape[1])]
    for k in range(iterations):
        total = 0.0
        for j in range(m.shape[1]):
            diff = m[:, j] + eqs[j] - t[:, j]
            total += np.mean(diff**2)
            eqs[j] = np.clip(eqs[j] - lr * 2 * diff, -clip, clip)
        losses[k] = total
    return losses, np.stack(eqs, axis=1)


gaps = arrays(
    np.float64,
    st.tuples(st.integers(1, 12), st.integers(1, 6)),
    elements=st.floats(-120, 120, allow_nan=False, allow_infinity=False),
)


@hsettings(max_examples=150, deadline=None)
@given(gap=gaps, lr=st.floats(1e-4, 0.5), iterations=st.integers(1, 300), clip=st.floats(0.0, 60.0))
def test_closed_form_equals_iterative_loop(gap, lr, iterations, clip):
    sq_loop, eq_loop = descend_iterative(gap, lr, iterations, clip)
    sq_closed, eq_closed = descend_closed(gap, lr, iterations, clip)
    scale = max(1.0, float(np.max(np.abs(gap)))) ** 2 * gap.size
    np.testing.assert_allclose(sq_closed, sq_loop, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(eq_closed, eq_loop, rtol=1e-9, atol=1e-9 * max(1.0, clip))
    # The cheap "final loss only" form agrees too.
    last, _ = descend_closed(gap, lr, iterations, clip, curve=False)
    np.testing.assert_allclose(last, sq_loop[-1:], rtol=1e-9, atol=1e-9 * scale)


@hsettings(max_examples=150, deadline=None)
@given(data=st.data(), lr=st.floats(1e-4, 0.5), iterations=st.integers(1, 300), clip=st.floats(0.0, 60.0))
def test_compiled_closed_form_equals_numpy_closed_form(data, lr, iterations, clip):
    """The fused loop the passes use (no gap array) gives the numpy closed form's curve and curves."""
    points, windows = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 8))
    values = arrays(np.float64, (points, windows), elements=st.floats(-120, 120))
    target, profile = data.draw(values), data.draw(values)
    used = data.draw(st.integers(1, windows))
    s = Settings(learning_rate=lr, iterations=iterations, clip_db=clip)
    gap = target[:, :used] - profile[:, :used]
    scale = max(1.0, float(np.max(np.abs(gap)))) ** 2 * gap.size
    for curve in (True, False):
        sq_ref, eq_ref = descend_closed(gap, lr, iterations, clip, curve=curve)
        sq, eq = descend_between(target, profile, used, s, curve=curve)
        assert sq.shape == sq_ref.shape and eq.shape == eq_ref.shape
        np.testing.assert_allclose(sq, sq_ref, rtol=1e-12, atol=1e-12 * scale)
        assert np.array_equal(eq, eq_ref)


@hsettings(max_examples=100, deadline=None)
@given(gap=gaps, lr=st.floats(1e-4, 0.5), iterations=st.integers(2, 200), clip=st.floats(0.0, 60.0))
def test_loss_never_rises_within_a_pass(gap, lr, iterations, clip):
    sq, _ = descend_closed(gap, lr, iterations, clip)
    assert np.all(np.diff(sq) <= 1e-9 * max(1.0, sq[0]))


@hsettings(max_examples=60, deadline=None)
@given(
    m=arrays(np.float64, (20, 3), elements=st.floats(-100, 40)),
    t=arrays(np.float64, (20, 3), elements=st.floats(-100, 40)),
    lr=st.floats(1e-3, 0.5),
    iterations=st.integers(1, 60),
    clip=st.floats(1.0, 30.0),
)
def test_vectorised_loop_equals_the_research_loop(m, t, lr, iterations, clip):
    losses, eq = research_loop(m, t, lr, iterations, clip)
    sq, eq_fast = descend_iterative(t - m, lr, iterations, clip)
    np.testing.assert_allclose(sq / m.shape[0], losses, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(eq_fast, eq, rtol=1e-9, atol=1e-9)


def test_closed_form_refuses_unstable_rates_and_auto_falls_back():
    gap = np.array([[30.0, -5.0], [1.0, 50.0]])
    assert not closed_form_applies(0.6)
    with pytest.raises(VsepError):
        descend_closed(gap, 0.6, 10, 20.0)
    with pytest.raises(VsepError):
        descend(gap, Settings(learning_rate=0.6, pass_method="closed"))
    sq_auto, eq_auto = descend(gap, Settings(learning_rate=0.6, iterations=10))
    sq_loop, eq_loop = descend_iterative(gap, 0.6, 10, 20.0)
    np.testing.assert_array_equal(sq_auto, sq_loop)
    np.testing.assert_array_equal(eq_auto, eq_loop)


def test_settle_equals_the_literal_amplitude_round_trip():
    rng = np.random.default_rng(1)
    db_out = (rng.uniform(-120, 40, size=(1025, 60))).astype(np.float32)
    db_out[:5, :5] = -400.0  # below amin: the round trip clamps to 10·log10(amin²)
    literal = amplitude_to_db(np.nan_to_num(10.0 ** (db_out / 20.0)), top_db=80.0)
    np.testing.assert_allclose(settle(db_out, Settings()), literal, rtol=0, atol=2e-5)


@pytest.fixture(scope="module")
def small_analysis(synthetic_pair):
    return analyse(synthetic_pair, Settings())


def test_pass_loss_curve_matches_iterative_mode(synthetic_pair, small_analysis):
    iterative = analyse(synthetic_pair, Settings(pass_method="iterative"))
    for view in ("slice_8_lowpass", "slice_17_maxpool", RAW):
        fast, out_fast = run_pass(small_analysis.mixture_db, small_analysis, view, keep_eq=True)
        slow, out_slow = run_pass(iterative.mixture_db, iterative, view, keep_eq=True)
        np.testing.assert_allclose(fast.loss_curve, slow.loss_curve, rtol=1e-9)
        np.testing.assert_allclose(out_fast, out_slow, rtol=0, atol=1e-4)
        assert fast.loss_curve.shape == (100,)


def test_pooled_quirk_and_its_option(synthetic_pair, small_analysis):
    """Seed: pooled views touch only the first half of the windows; expand: all of them."""
    seed_pass, seed_out = run_pass(small_analysis.mixture_db, small_analysis, "slice_17_maxpool")
    n = small_analysis.n_windows
    half = small_analysis.target_windows["slice_17_maxpool"]
    assert half == (n + 1) // 2
    assert np.array_equal(seed_out[:, half:], small_analysis.mixture_db[:, half:])
    assert not np.array_equal(seed_out[:, :half], small_analysis.mixture_db[:, :half])

    expanded = analyse(synthetic_pair, Settings(pooled_windows="expand"))
    _, exp_out = run_pass(expanded.mixture_db, expanded, "slice_17_maxpool", keep_eq=True)
    assert not np.array_equal(exp_out[:, half:], expanded.mixture_db[:, half:])
    t = expanded.targets["slice_17_maxpool"]
    assert t.shape[1] == n and np.array_equal(t[:, 0], t[:, 1])


def test_progressive_runs_share_prefix_with_chains(small_analysis):
    order = list(SLICE_NAMES[:4])
    runs = run_progressive(small_analysis, order)
    for n, run in enumerate(runs, start=1):
        chain = run_chain(small_analysis, order[:n])
        assert run.slices == tuple(order[:n])
        assert run.final_loss == pytest.approx(chain.final_loss, rel=1e-12)
        assert run.loss_curve.shape == (100 * (n + 1),)
        np.testing.assert_allclose(run.final_db, chain.final_db)


def test_progressive_rejects_bad_counts(small_analysis):
    with pytest.raises(VsepError, match="from 1 to"):
        run_progressive(small_analysis, SLICE_NAMES[:3], 5)
    with pytest.raises(VsepError):
        run_chain(small_analysis, ["slice_0_raw"])


def test_fused_greedy_step_equals_the_generic_passes(synthetic_pair):
    """The greedy search's blocked shortcut gives the same losses as pass → settle → polish."""
    from vsep_core.search import greedy_search

    slices = list(SLICE_NAMES[:6]) + ["slice_17_maxpool"]
    fast = greedy_search(analyse(synthetic_pair, Settings()), slices)
    slow = greedy_search(analyse(synthetic_pair, Settings(pass_method="iterative")), slices)
    assert fast.sequence == slow.sequence
    # Long songs score a step's candidates on several threads, each with its own scratch matrix.
    threaded = greedy_search(analyse(synthetic_pair, Settings()), slices, workers=3)
    assert threaded.steps == fast.steps and threaded.sequence == fast.sequence
    for a, b in zip(fast.steps, slow.steps):
        assert a.keys() == b.keys()
        for name in a:
            assert a[name] == pytest.approx(b[name], rel=1e-9)


def test_compiled_passes_refuse_mismatched_shapes(small_analysis):
    """The compiled loops do not check bounds, so their callers must."""
    from vsep_core.optimise import polish_loss_after, working_profiles

    target = small_analysis.targets["slice_1_horizontal"]
    with pytest.raises(VsepError, match="do not match"):
        descend_between(target, target[:-1], target.shape[1], Settings())
    with pytest.raises(VsepError, match="do not match"):
        descend_between(target, target[:, :3], target.shape[1], Settings())
    profile = working_profiles(small_analysis.mixture_db, small_analysis.settings)
    with pytest.raises(VsepError, match="do not match"):
        polish_loss_after(small_analysis.mixture_db, small_analysis, "slice_1_horizontal", profile=profile[:, :5])
