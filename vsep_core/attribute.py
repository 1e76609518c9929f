"""Which slices help? Attribution in quality terms (the target's SI-SDR), with the loss beside it.

The target is whatever stem the truth pair holds (the vocal by default;
drums, bass … — :mod:`vsep_core.stems`); the result's ``"target"`` says which.

For the seed method's progressive chain of N slices (the "baseline"), every
slice of the order is measured three ways:

* **without**: the same chain with that slice left out;
* **delta**: baseline − without (positive: the slice helps the chain);
* **alone**: that slice by itself, then the polish.

For the joint method (:mod:`vsep_core.joint`), the baseline is the raw view
alone and each slice is *added* to the loss with a weight.

Every figure is computed the way ``evaluate`` computes it: the pair at its
true scale is the truth; the engine works on it normalised at
``settings.level`` (:func:`vsep_core.audio.normalise_levels`); each estimate
is brought back with :func:`vsep_core.audio.to_true_scale`. So the baseline
equals evaluate's ``seed_progressive_N`` for the same order, to the bit.
"""

from __future__ import annotations

import numpy as np

from .analysis import analyse
from .audio import Pair, engine_pair, to_true_scale
from .errors import VsepError
from .joint import JointSettings, run_joint
from .metrics import fit_length, si_sdr
from .optimise import run_chain
from .progress import Progress, report, scaled
from .reconstruct import vocal_from_db
from .settings import Settings
from .stems import labels, pair_target
from .views import RAW, SLICE_NAMES, resolve_slices


def _scorer(truth: Pair, pair: Pair, analysis):
    reference = truth.vocal.astype(np.float64)

    def score(final_db) -> float:
        estimate = to_true_scale(vocal_from_db(np.asarray(final_db, dtype=np.float32), analysis), pair)
        return si_sdr(reference, fit_length(estimate, truth.n_samples))

    return score


def attribute_slices(
    truth: Pair, settings: Settings, *, order=None, n_slices: int | None = None, progress: Progress = None
) -> dict:
    """Each slice's contribution to the seed method's progressive chain.

    Parameters
    ----------
    truth : Pair
        The pair at its true scale (prepared with level ``"as_is"``).
    settings : Settings
        Engine settings (level, hop, learning rate, ...).
    order : sequence of str, optional
        Slice order (default 1 … 18); names, numbers or short names.
    n_slices : int, optional
        N, the chain's length (default: the whole order).
    progress : callable(fraction, label), optional

    Returns
    -------
    dict
        ``{"baseline": {"slices", "si_sdr", "loss"}, "slices": [{"name", "alone_si_sdr",
        "without_si_sdr", "delta_si_sdr", "loss_alone", "loss_without"}], "level", "method"}``.
    """
    order = tuple(resolve_slices(SLICE_NAMES if order is None else order))
    n_slices = len(order) if n_slices is None else n_slices
    if not isinstance(n_slices, (int, np.integer)) or not 1 <= n_slices <= len(order):
        raise VsepError(f"The number of slices must be from 1 to {len(order)}, got {n_slices!r}.")
    chain_slices = order[:n_slices]
    pair = engine_pair(truth, settings.level)
    report(progress, 0.0, "Fingerprinting the slices")
    analysis = analyse(pair, settings, views=(RAW, *chain_slices))
    score = _scorer(truth, pair, analysis)

    def measure(slices) -> tuple[float, float]:
        chain = run_chain(analysis, tuple(slices))
        return score(chain.final_db), float(chain.final_loss)

    total = 1 + 2 * len(chain_slices)
    base_sdr, base_loss = measure(chain_slices)
    rows = []
    for i, name in enumerate(chain_slices):
        report(progress, (1 + 2 * i) / total, f"Chain without {name}")
        rest = [s for s in chain_slices if s != name]
        # Without its only slice the chain is the polish alone.
        without_sdr, without_loss = measure(rest)
        report(progress, (2 + 2 * i) / total, f"{name} alone")
        alone_sdr, alone_loss = measure([name])
        rows.append(
            {
                "name": name,
                "alone_si_sdr": alone_sdr,
                "without_si_sdr": without_sdr,
                "delta_si_sdr": base_sdr - without_sdr,
                "loss_alone": alone_loss,
                "loss_without": without_loss,
            }
        )
    report(progress, 1.0, "Attribution done")
    return {
        "method": "seed",
        "level": settings.level,
        "target": pair_target(truth.info),
        "baseline": {"slices": list(chain_slices), "si_sdr": base_sdr, "loss": base_loss},
        "slices": rows,
    }


def attribute_joint(
    truth: Pair,
    settings: Settings,
    joint: JointSettings | None = None,
    *,
    slices=None,
    weight: float = 1.0,
    progress: Progress = None,
) -> dict:
    """Each slice's effect when added to the joint method's loss.

    The baseline is ``joint`` as given (the raw view alone by default); for
    each slice, the same optimisation with that slice added at ``weight``.

    Returns
    -------
    dict
        ``{"baseline": {"views", "si_sdr", "loss"}, "slices": [{"name", "with_si_sdr",
        "delta_si_sdr", "loss_with"}], "level", "method"}``; delta is with − baseline
        (positive: adding the slice helps).
    """
    joint = joint or JointSettings()
    slices = tuple(resolve_slices(SLICE_NAMES if slices is None else slices))
    pair = engine_pair(truth, settings.level)
    report(progress, 0.0, "Fingerprinting the slices")
    analysis = analyse(pair, settings, views=(RAW, *joint.view_names, *slices))
    score = _scorer(truth, pair, analysis)
    total = 1 + len(slices)
    base = run_joint(analysis, joint, progress=scaled(progress, 0.0, 1 / total))
    base_sdr = score(base.final_db)
    rows = []
    for i, name in enumerate(slices):
        if name in joint.view_names:
            raise VsepError(f"{name} is already in the joint loss; attribute the other slices.")
        with_slice = JointSettings(
            steps=joint.steps,
            step_size=joint.step_size,
            clip_db=joint.clip_db,
            views=(*joint.views, (name, weight)),
            beta1=joint.beta1,
            beta2=joint.beta2,
            eps=joint.eps,
        )
        result = run_joint(analysis, with_slice, progress=scaled(progress, (i + 1) / total, (i + 2) / total))
        sdr = score(result.final_db)
        rows.append({"name": name, "with_si_sdr": sdr, "delta_si_sdr": sdr - base_sdr, "loss_with": result.final_loss})
    report(progress, 1.0, "Attribution done")
    return {
        "method": "joint",
        "level": settings.level,
        "target": pair_target(truth.info),
        "baseline": {"views": list(joint.view_names), "si_sdr": base_sdr, "loss": base.final_loss},
        "slices": rows,
    }


def format_attribution(found: dict) -> str:
    """The attribution as a table (dB; the loss beside each figure)."""
    base = found["baseline"]
    target = labels(found.get("target")).target
    if found["method"] == "joint":
        lines = [
            f"Joint matching, level {found['level']}: baseline loss over {', '.join(base['views'])}: "
            f"{target} SI-SDR {base['si_sdr']:.2f} dB (loss {base['loss']:.2f})",
            "delta = with the slice added to the loss − baseline (positive: the slice helps)",
            "",
            f"{'slice':24s} {'with':>8s} {'delta':>8s} {'loss with':>10s}",
        ]
        lines += [
            f"{row['name']:24s} {row['with_si_sdr']:8.2f} {row['delta_si_sdr']:+8.2f} {row['loss_with']:10.2f}"
            for row in found["slices"]
        ]
        return "\n".join(lines)
    lines = [
        f"Seed method, level {found['level']}: progressive chain of {len(base['slices'])} slice(s): "
        f"{target} SI-SDR {base['si_sdr']:.2f} dB (loss {base['loss']:.2f})",
        "delta = baseline − without the slice (positive: the slice helps); alone = the slice, then the polish",
        "",
        f"{'slice':24s} {'without':>8s} {'delta':>8s} {'alone':>8s} {'loss w/o':>10s} {'loss alone':>10s}",
    ]
    lines += [
        f"{row['name']:24s} {row['without_si_sdr']:8.2f} {row['delta_si_sdr']:+8.2f} {row['alone_si_sdr']:8.2f} "
        f"{row['loss_without']:10.2f} {row['loss_alone']:10.2f}"
        for row in found["slices"]
    ]
    return "\n".join(lines)
