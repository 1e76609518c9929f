"""The research script's whole workload as one call: progressive runs, greedy search, audio.

``run_experiment`` is what the CLI's ``run`` command and the dashboard's
optimise page call; it reports progress through one callback and returns
plain data (losses, sequences, estimates) that ``report`` writes out.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .analysis import Analysis, analyse
from .audio import Pair
from .errors import VsepError
from .jsonio import json_ready
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
        return cls(
            slices=chain.slices,
            final_loss=chain.final_loss,
            loss_curve=chain.loss_curve,
            pass_losses=[p.final_loss for p in chain.passes],
            estimate=estimate,
        )


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

    def labelled_runs(self) -> list:
        """``(label, run)`` for every run: ``"1"`` … ``"N"``, then ``"greedy"`` and ``"best_prefix"`` (when it differs)."""
        out = [(str(run.n), run) for run in self.progressive]
        if self.greedy_run is not None:
            out.append(("greedy", self.greedy_run))
        if self.best_prefix_run is not None and self.best_prefix_run is not self.greedy_run:
            out.append(("best_prefix", self.best_prefix_run))
        return out

    def run_labels(self, wanted) -> set:
        """The labels of :meth:`labelled_runs` that ``wanted`` names (``"best"`` is the best progressive run's N)."""
        best = str(self.best_progressive.n) if "best" in wanted and self.progressive else None
        labels = {label for label, _ in self.labelled_runs() if label in wanted or label == best}
        if "best_prefix" in wanted and self.best_prefix_run is self.greedy_run and self.greedy_run is not None:
            labels.add("greedy")  # the best prefix is the whole sequence: its files are the greedy run's
        return labels

    def to_dict(self) -> dict:
        """JSON-ready summary (no audio), the core of ``summary.json``."""
        out = {
            "config": {
                **self.settings.to_dict(),
                "order": list(self.order),
                "max_slices": len(self.progressive),
                "greedy": self.greedy is not None,
                "seed_compatible": self.settings.is_seed_compatible,
            },
            "pair": json_ready(self.pair_info),
            "progressive": [
                {
                    "n": run.n,
                    "slices": list(run.slices),
                    "final_loss": run.final_loss,
                    "pass_losses": run.pass_losses,
                    "loss_curve": run.loss_curve.tolist(),
                }
                for run in self.progressive
            ],
            "greedy": None,
            "timings_s": dict(self.timings_s),
        }
        if self.greedy is not None:
            out["greedy"] = self.greedy.to_dict()
        return out


def resolve_order(order=None, max_slices: int | None = None) -> tuple[tuple, tuple]:
    """The slice order of the progressive runs and the slices an experiment uses.

    Parameters
    ----------
    order : sequence of str, optional
        Slice names, numbers or short names (default 1, 2, …, 18).
    max_slices : int, optional
        Largest N (default all of ``order``).

    Returns
    -------
    order, used : tuple of str
        The canonical order and ``order[:max_slices]`` (the greedy search's candidates).

    Raises
    ------
    VsepError
        For an unknown slice, an empty order or a count out of range.
    """
    order = tuple(resolve_slices(SLICE_NAMES if order is None else order))
    if not order:
        raise VsepError("The slice order is empty.")
    if max_slices is None:
        max_slices = len(order)
    if (
        isinstance(max_slices, bool)
        or not isinstance(max_slices, (int, np.integer))
        or not 1 <= max_slices <= len(order)
    ):
        raise VsepError(f"The number of slices must be from 1 to {len(order)}, got {max_slices!r}.")
    return order, order[: int(max_slices)]


def _summary(
    label: str,
    chain: ChainResult,
    analysis: Analysis,
    pair: Pair,
    on_run,
    keep_audio: bool,
    audio: bool = True,
    maker: "AudioMaker | None" = None,
) -> RunSummary:
    """A finished chain as a RunSummary; with ``audio``, its estimate is made and shown to ``on_run``.

    ``on_run`` sees the audio even when it is not kept. Without ``audio`` the run
    has no estimate and ``on_run`` is not called (nothing to write). With a
    ``maker``, the audio is made on its thread and the summary's estimate is
    filled in there (before :meth:`AudioMaker.finish` returns).
    """
    summary = RunSummary.from_chain(chain, None)
    if not audio:
        chain.final_db = None
        return summary
    if maker is None:
        _attach_audio(summary, label, chain, analysis, pair, on_run, keep_audio)
    else:
        maker.submit(_attach_audio, summary, label, chain, analysis, pair, on_run, keep_audio)
    return summary


def _attach_audio(
    summary: RunSummary, label: str, chain: ChainResult, analysis: Analysis, pair: Pair, on_run, keep_audio: bool
) -> None:
    summary.estimate = estimate_from_chain(chain, analysis, pair)
    chain.final_db = None  # the audio is made; the big matrix can go
    if on_run is not None:
        on_run(label, summary)
    if not keep_audio:
        summary.estimate = None


class AudioMaker:
    """Makes finished runs' audio (inverse STFT, then ``on_run``) on one thread beside the optimiser.

    The passes and the inverse STFTs are compiled or FFT code that releases the
    GIL, so on two cores the audio of run N is made while run N + 1 is
    optimised. Runs are handled in the order they are submitted, ``on_run`` is
    always called from the same thread, and at most ``max_pending`` finished
    spectrograms wait at once (the optimiser blocks beyond that), which bounds
    the extra memory to that many matrices. The first error raised while
    making audio is raised again by the next :meth:`submit` or by :meth:`finish`.
    """

    def __init__(self, max_pending: int = 2):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vsep-audio")
        self._slots = threading.BoundedSemaphore(max_pending)
        self._futures: list[Future] = []
        self.seconds = 0.0

    def _timed(self, work, *args) -> None:
        t = time.perf_counter()
        try:
            work(*args)
        finally:
            self.seconds += time.perf_counter() - t
            self._slots.release()

    def _raise_first_error(self) -> None:
        for future in self._futures:
            if future.done() and future.exception() is not None:
                raise future.exception()

    def submit(self, work, *args) -> None:
        self._raise_first_error()
        self._slots.acquire()
        self._futures.append(self._pool.submit(self._timed, work, *args))

    def finish(self) -> None:
        """Wait for every submitted run; raise the first error."""
        for future in self._futures:
            future.result()

    def close(self) -> None:
        """Drop what has not started and wait for what has (after an error, too)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


#: Labels :func:`run_experiment`'s ``audio_runs`` takes besides the run numbers "1" … "N".
AUDIO_RUN_WORDS = ("best", "greedy", "best_prefix")


def run_greedy(
    analysis: Analysis,
    pair: Pair,
    candidates,
    *,
    on_run=None,
    progress: Progress = None,
    keep_audio: bool = True,
    timings: dict | None = None,
    audio_runs=None,
    maker: AudioMaker | None = None,
):
    """The greedy order search, then its full sequence and best prefix run again with their audio.

    Parameters
    ----------
    analysis : Analysis
        Of ``pair``, with every candidate's view (and the raw view).
    pair : Pair
        The prepared pair the analysis was made from.
    candidates : sequence of str
        The slices to order (canonical names).
    on_run : callable(label: str, RunSummary), optional
        Called with ``"greedy"`` and (when it differs) ``"best_prefix"`` as their audio is ready.
    progress : callable(fraction, label), optional
        The search takes the first 90 %, the two replays the rest.
    keep_audio : bool
        Keep the estimates in the returned runs (else they go to ``on_run`` only).
    timings : dict, optional
        Filled with ``"greedy"`` (the search) and ``"reconstruct"`` (the replays), in seconds.
    audio_runs : collection of str, optional
        Make audio only for the runs named here (``"greedy"``, ``"best_prefix"``);
        default both. A run without audio keeps its losses and has no estimate.
    maker : AudioMaker, optional
        Make the replays' audio on its thread (the caller finishes it); default: here, in turn.

    Returns
    -------
    greedy : GreedyResult
    greedy_run : RunSummary
        The full sequence.
    best_prefix_run : RunSummary
        The best prefix; the same object as ``greedy_run`` when the best
        prefix is the whole sequence.
    """
    t0 = time.perf_counter()
    found = greedy_search(analysis, list(candidates), progress=scaled(progress, 0.0, 0.9))
    t1 = time.perf_counter()
    report(progress, 0.9, "Rebuilding the greedy result")
    wanted = (lambda label: True) if audio_runs is None else (lambda label: label in audio_runs)
    whole_is_prefix = found.best_prefix_length == len(found.sequence)
    greedy_run = _summary(
        "greedy",
        run_chain(analysis, found.sequence),
        analysis,
        pair,
        on_run,
        keep_audio,
        audio=wanted("greedy") or (whole_is_prefix and wanted("best_prefix")),
        maker=maker,
    )
    if whole_is_prefix:
        best_prefix_run = greedy_run
    else:
        report(progress, 0.95, "Rebuilding the best prefix")
        best_prefix_run = _summary(
            "best_prefix",
            run_chain(analysis, found.best_prefix),
            analysis,
            pair,
            on_run,
            keep_audio,
            audio=wanted("best_prefix"),
            maker=maker,
        )
    report(progress, 1.0, "Greedy search done")
    if timings is not None:
        timings["greedy"] = t1 - t0
        timings["reconstruct"] = time.perf_counter() - t1
    return found, greedy_run, best_prefix_run


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
    audio_runs=None,
    background_audio: bool = False,
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
    audio_runs : collection of str, optional
        Make audio (the inverse STFT, the costliest step on a long song) only
        for these runs: ``"1"`` … ``"N"``, ``"best"`` (the progressive run with
        the lowest loss), ``"greedy"`` and ``"best_prefix"``. Default: every run.
        The other runs keep their losses and curves, with no estimate, and
        ``on_run`` is not called for them.
    background_audio : bool
        Make each run's audio on a second thread while the next run is
        optimised (:class:`AudioMaker`; every figure and file is identical,
        ``on_run`` is then called from that thread). Default: in turn, on the
        calling thread.

    Returns
    -------
    ExperimentResult

    Raises
    ------
    VsepError
        For unknown slice names or a slice count out of range.
    """
    settings = settings or Settings()
    order, used = resolve_order(order, max_slices)
    max_slices = len(used)
    if audio_runs is not None:
        audio_runs = frozenset(audio_runs)
        unknown = audio_runs - set(AUDIO_RUN_WORDS) - {str(n) for n in range(1, max_slices + 1)}
        if unknown:
            raise VsepError(
                f"Unknown run(s) for audio: {', '.join(sorted(unknown))}; use 1 … {max_slices}, "
                f"{', '.join(AUDIO_RUN_WORDS)}."
            )
    # Share of the progress bar by passes: fingerprinting ≈ 2 passes, progressive
    # 2 per N, greedy 2 per candidate plus the replays (N + 1 each).
    weights = {
        "analyse": 2.0,
        "progressive": 2.0 * max_slices,
        "greedy": float(max_slices * (max_slices + 1)) + 2.0 * (max_slices + 1) if greedy else 0.0,
    }
    total = sum(weights.values())
    bounds, acc = {}, 0.0
    for key, w in weights.items():
        bounds[key] = (acc / total, (acc + w) / total)
        acc += w

    result = ExperimentResult(settings=settings, order=order, pair_info=dict(pair.info))
    timings = result.timings_s

    t0 = time.perf_counter()
    if analysis is None:
        analysis = analyse(pair, settings, views=("slice_0_raw", *used), progress=scaled(progress, *bounds["analyse"]))
    timings["analyse"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    maker = AudioMaker() if background_audio else None
    try:
        _progressive_and_greedy(
            result, analysis, pair, used, max_slices, greedy, on_run, keep_audio, audio_runs, progress, bounds, maker
        )
        if maker is not None:
            maker.finish()
    finally:
        if maker is not None:
            maker.close()
    if maker is not None:
        timings["reconstruct"] = maker.seconds
        timings["progressive_and_greedy_wall"] = time.perf_counter() - t0
    report(progress, 1.0, "Done")
    return result


def _progressive_and_greedy(
    result: ExperimentResult,
    analysis: Analysis,
    pair: Pair,
    used,
    max_slices: int,
    greedy: bool,
    on_run,
    keep_audio: bool,
    audio_runs,
    progress,
    bounds: dict,
    maker: AudioMaker | None,
) -> None:
    timings = result.timings_s
    t0 = time.perf_counter()
    reconstruct_s = [0.0]
    # With "best" wanted, the lowest-loss chain so far that got no audio keeps its final
    # spectrogram until the progressive runs end (one extra matrix); then, if it is the best run, its audio is made.
    wants_best = audio_runs is not None and "best" in audio_runs
    held = {"chain": None, "index": None}

    def on_progressive(chain: ChainResult) -> None:
        t = time.perf_counter()
        label = str(len(chain.slices))
        audio = audio_runs is None or label in audio_runs
        if wants_best and not audio and (held["chain"] is None or chain.final_loss < held["chain"].final_loss):
            if held["chain"] is not None:
                held["chain"].final_db = None
            held["chain"] = ChainResult(chain.slices, chain.passes, chain.final_db)
            held["index"] = len(result.progressive)
        result.progressive.append(_summary(label, chain, analysis, pair, on_run, keep_audio, audio=audio, maker=maker))
        reconstruct_s[0] += time.perf_counter() - t

    run_progressive(
        analysis, used, max_slices, on_run=on_progressive, progress=scaled(progress, *bounds["progressive"])
    )
    if held["chain"] is not None:
        t = time.perf_counter()
        losses = [run.final_loss for run in result.progressive]
        if losses.index(min(losses)) == held["index"]:  # the first of equal losses, as best_progressive
            result.progressive[held["index"]] = _summary(
                str(len(held["chain"].slices)), held["chain"], analysis, pair, on_run, keep_audio, maker=maker
            )
        else:
            held["chain"].final_db = None
        reconstruct_s[0] += time.perf_counter() - t
    timings["progressive"] = time.perf_counter() - t0 - reconstruct_s[0]

    if greedy:
        greedy_timings = {}
        result.greedy, result.greedy_run, result.best_prefix_run = run_greedy(
            analysis,
            pair,
            used,
            on_run=on_run,
            progress=scaled(progress, *bounds["greedy"]),
            keep_audio=keep_audio,
            timings=greedy_timings,
            audio_runs=audio_runs,
            maker=maker,
        )
        timings["greedy"] = greedy_timings["greedy"]
        reconstruct_s[0] += greedy_timings["reconstruct"]
    timings["reconstruct"] = reconstruct_s[0]


def warm_up() -> float:
    """Run a tiny experiment so that every compiled loop is built (or loaded) once.

    numba compiles :mod:`vsep_core._kernels` on first use (seconds) and caches
    the machine code beside the package, so later processes only load it
    (a fraction of a second). Set-up calls this once; the dashboard calls it in the background.

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
