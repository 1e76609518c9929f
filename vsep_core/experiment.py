"""The research script's whole workload as one call: progressive runs, greedy search, audio.

``run_experiment`` is what the CLI's ``run`` command and the dashboard's
optimise page call; it reports progress through one callback and returns
plain data (losses, sequences, estimates) that ``report`` writes out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .analysis import Analysis, analyse
from .audio import Pair
from .errors import VsepError
from .optimise import ChainResult, run_chain, run_progressive
from .progress import Progress, report, scaled
from .reconstruct import Estimate, estimate_from_chain
from .search import GreedyResult, greedy_search
from .settings import Settings
from .views import SLICE_NAMES, resolve_slices


@dataclass
class RunSummary:
    """One progressive run (N slices, then the polish).

    Attributes
    ----------
    slices : tuple of str
    final_loss : float
    loss_curve : np.ndarray [shape=(iterations · (N + 1),)]
    pass_losses : list of float
        Each pass's final loss, slices first, polish last.
    estimate : Estimate or None
        The audio (``None`` when the experiment was asked not to keep it).
    """

    slices: tuple
    final_loss: float
    loss_curve: np.ndarray
    pass_losses: list
    estimate: Estimate | None = None

    @property
    def n(self) -> int:
        return len(self.slices)

    @classmethod
    def from_chain(cls, chain: ChainResult, estimate: Estimate | None) -> "RunSummary":
        return cls(slices=chain.slices, final_loss=chain.final_loss, loss_curve=chain.loss_curve,
                   pass_losses=[p.final_loss for p in chain.passes], estimate=estimate)


@dataclass
class ExperimentResult:
    """Everything one experiment produced.

    Attributes
    ----------
    settings : Settings
    order : tuple of str
        The slice order of the progressive runs.
    progressive : list of RunSummary
        N = 1 … max.
    greedy : GreedyResult or None
    greedy_run, best_prefix_run : RunSummary or None
        The greedy full-length sequence and the best prefix, run again with
        their audio.
    timings_s : dict
    pair_info : dict
    """

    settings: Settings
    order: tuple
    progressive: list = field(default_factory=list)
    greedy: GreedyResult | None = None
    greedy_run: RunSummary | None = None
    best_prefix_run: RunSummary | None = None
    timings_s: dict = field(default_factory=dict)
    pair_info: dict = field(default_factory=dict)

    @property
    def best_progressive(self) -> RunSummary:
        """The progressive run with the lowest loss."""
        return min(self.progressive, key=lambda run: run.final_loss)

    def to_dict(self) -> dict:
        """JSON-ready summary (no audio), the core of ``summary.json``."""
        out = {
            "config": {**self.settings.to_dict(), "order": list(self.order),
                       "max_slices": len(self.progressive), "greedy": self.greedy is not None,
                       "seed_compatible": self.settings.is_seed_compatible},
            "pair": _jsonable(self.pair_info),
            "progressive": [
                {"n": run.n, "slices": list(run.slices), "final_loss": run.final_loss,
                 "pass_losses": run.pass_losses, "loss_curve": run.loss_curve.tolist()}
                for run in self.progressive
            ],
            "greedy": None,
            "timings_s": dict(self.timings_s),
        }
        if self.greedy is not None:
            out["greedy"] = self.greedy.to_dict()
        return out


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def run_experiment(
    pair: Pair,
    settings: Settings | None = None,
    *,
    order=None,
    max_slices: int | None = None,
    greedy: bool = True,
    keep_audio: bool = True,
    on_run=None,
    analysis: Analysis | None = None,
    progress: Progress = None,
) -> ExperimentResult:
    """Progressive runs N = 1 … ``max_slices`` and the greedy search, with audio.

    Parameters
    ----------
    pair : Pair
        A prepared pair.
    settings : Settings, optional
    order : sequence of str, optional
        Slice order for the progressive runs (names, numbers or short names;
        default: slices 1 … 18).
    max_slices : int, optional
        Largest N (default: all of ``order``). The greedy search orders the
        same slices, ``order[:max_slices]``, as the research script did.
    greedy : bool
        Run the greedy search.
    keep_audio : bool
        Keep every run's estimate in memory. With ``False`` each estimate is
        passed to ``on_run`` and dropped, so memory stays bounded on long songs.
    on_run : callable(label: str, RunSummary), optional
        Called as each run's audio is ready; label is ``"N"``, ``"greedy"``
        or ``"best_prefix"``.
    analysis : Analysis, optional
        A ready :func:`vsep_core.analysis.analyse` result for this pair and
        settings (saves the fingerprinting when the caller has it cached).
    progress : callable(fraction, label), optional

    Returns
    -------
    ExperimentResult

    Raises
    ------
    VsepError
        For unknown slice names or a slice count out of range.
    """
    settings = settings or Settings()
    order = tuple(resolve_slices(SLICE_NAMES if order is None else order))
    max_slices = len(order) if max_slices is None else max_slices
    if not isinstance(max_slices, int) or not 1 <= max_slices <= len(order):
        raise VsepError(f"The number of slices must be from 1 to {len(order)}, got {max_slices!r}.")
    used = order[:max_slices]
    # Share of the progress bar by passes: fingerprinting ≈ 2 passes, progressive
    # 2 per N, greedy 2 per candidate, the replays N + 1 each.
    weights = {"analyse": 2.0, "progressive": 2.0 * max_slices,
               "greedy": float(max_slices * (max_slices + 1)) if greedy else 0.0,
               "replay": 2.0 * (max_slices + 1) if greedy else 0.0}
    total = sum(weights.values())
    bounds, acc = {}, 0.0
    for key, w in weights.items():
        bounds[key] = (acc / total, (acc + w) / total)
        acc += w

    result = ExperimentResult(settings=settings, order=order, pair_info=dict(pair.info))
    timings = result.timings_s

    t0 = time.perf_counter()
    if analysis is None:
        analysis = analyse(pair, settings, views=("slice_0_raw", *used),
                           progress=scaled(progress, *bounds["analyse"]))
    timings["analyse"] = time.perf_counter() - t0

    def keep(label: str, chain: ChainResult) -> RunSummary:
        estimate = estimate_from_chain(chain, analysis, pair)
        summary = RunSummary.from_chain(chain, estimate)
        if on_run is not None:
            on_run(label, summary)
        if not keep_audio:
            summary.estimate = None
        chain.final_db = None  # the audio is made; the big matrix can go
        return summary

    t0 = time.perf_counter()
    reconstruct_s = [0.0]

    def on_progressive(chain: ChainResult) -> None:
        t = time.perf_counter()
        result.progressive.append(keep(str(len(chain.slices)), chain))
        reconstruct_s[0] += time.perf_counter() - t

    run_progressive(analysis, used, max_slices, on_run=on_progressive,
                    progress=scaled(progress, *bounds["progressive"]))
    timings["progressive"] = time.perf_counter() - t0 - reconstruct_s[0]

    if greedy:
        t0 = time.perf_counter()
        result.greedy = greedy_search(analysis, used, progress=scaled(progress, *bounds["greedy"]))
        timings["greedy"] = time.perf_counter() - t0
        t = time.perf_counter()
        replay = scaled(progress, *bounds["replay"])
        report(replay, 0.0, "Rebuilding the greedy result")
        result.greedy_run = keep("greedy", run_chain(analysis, result.greedy.sequence))
        if result.greedy.best_prefix_length == len(result.greedy.sequence):
            result.best_prefix_run = result.greedy_run
        else:
            report(replay, 0.5, "Rebuilding the best prefix")
            result.best_prefix_run = keep("best_prefix", run_chain(analysis, result.greedy.best_prefix))
        reconstruct_s[0] += time.perf_counter() - t
    timings["reconstruct"] = reconstruct_s[0]
    report(progress, 1.0, "Done")
    return result


def warm_up() -> float:
    """Run a tiny experiment so that every compiled loop is built (or loaded) once.

    numba compiles :mod:`vsep_core._kernels` on first use (~8 s here) and caches
    the machine code beside the package, so later processes only load it
    (~0.3 s). Set-up calls this once; the dashboard calls it in the background.

    Returns
    -------
    float
        Seconds taken.
    """
    from .audio import wav_bytes

    t0 = time.perf_counter()
    sr = 22050
    t = np.arange(sr, dtype=np.float32) / sr
    vocal = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    mixture = (vocal + 0.2 * np.sin(2 * np.pi * 55.0 * t)).astype(np.float32)
    pair = Pair(mixture=mixture, vocal=vocal, sr=sr, info={})
    # A pooled slice covers the seed mode's partial-window variants; greedy and audio cover the rest.
    result = run_experiment(pair, Settings(), order=["slice_1_horizontal", "slice_17_maxpool"], greedy=True)
    wav_bytes(result.greedy_run.estimate.vocal, sr)
    return time.perf_counter() - t0
