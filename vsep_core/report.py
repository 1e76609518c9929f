"""What an experiment leaves behind: WAVs, plots, ``summary.json``, a ZIP, an HTML report.

The research script wrote, per N, ``N_slices/extracted_vocal.wav`` (and for
N = 1 the prepared mixture and target), the greedy result's WAV, three plots
and a summary table. :class:`Outputs` writes the same (plus the instrumental
estimates and the best prefix), either into a folder as runs finish (so a
long song's audio is never all in memory) or into memory for a ZIP.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path

import numpy as np

from .audio import Pair, wav_bytes, write_wav
from .experiment import ExperimentResult, RunSummary
from .jsonio import json_ready, json_text
from .presenter import DASH, format_score, score_table
from .settings import Settings
from .staging import write_bytes_atomic
from .stems import labels, oracle_note, pair_target
from .views import VIEWS_BY_NAME, stft


def run_folder(label: str) -> str:
    """Folder of a run's files: ``"3"`` → ``3_slices``; the greedy results by name."""
    return {"greedy": "best_sequence_found", "best_prefix": "best_prefix_found"}.get(label, f"{label}_slices")


def run_wav_paths(label: str, target_name: str | None = None) -> dict:
    """Relative paths of a run's target and complement WAVs, under the keys ``"vocal"`` and ``"instrumental"``.

    The files are named after the target: ``extracted_vocal.wav`` and
    ``extracted_instrumental.wav`` for the vocal (the research code's names),
    ``extracted_drums.wav`` and ``extracted_everything_else.wav`` for drums.
    """
    names = labels(target_name)
    folder = run_folder(label)
    stem = {"greedy": "_best_sequence", "best_prefix": "_best_prefix"}.get(label, "")
    return {
        "vocal": f"{folder}/extracted_{names.target_file}{stem}.wav",
        "instrumental": f"{folder}/extracted_{names.complement_file}{stem}.wav",
    }


class Files(MutableMapping):
    """An in-memory results folder: relative path → file bytes.

    A run's WAV can be kept as the way to make its signal instead (:meth:`put_signal`) and written when it is
    read: the dashboard keeps its runs' audio anyway, so a whole song's 40 WAVs need not be held a second time as
    bytes (16-bit PCM, 7.9 MB each for 3 minutes), nor their peak-normalised and complement signals (float32,
    twice that). Reading one gives the same bytes :func:`~vsep_core.audio.wav_bytes` gives.
    """

    def __init__(self):
        self._items: dict = {}

    def put_signal(self, relpath: str, make: Callable[[], np.ndarray], sr: int) -> None:
        """Keep ``relpath`` as a 16-bit WAV at ``sr`` of the signal ``make()`` returns, made when it is read."""
        self._items[relpath] = (make, int(sr))

    def take(self, other: "Files") -> None:
        """Every file of ``other``, signals kept as signals (nothing written)."""
        self._items.update(other._items)

    def __getitem__(self, relpath: str) -> bytes:
        item = self._items[relpath]
        if isinstance(item, tuple):
            make, sr = item
            return wav_bytes(make(), sr)
        return item

    def __setitem__(self, relpath: str, data: bytes) -> None:
        self._items[relpath] = data

    def __delitem__(self, relpath: str) -> None:
        del self._items[relpath]

    def __contains__(self, relpath) -> bool:  # Mapping's own would make the WAV to answer
        return relpath in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Outputs:
    """Collects an experiment's files, on disk or in memory.

    Parameters
    ----------
    pair : Pair
    settings : Settings
    max_slices : int
        Largest N, to know which runs' spectrograms the plot shows (first,
        middle and last N, as the research script did, and the greedy result).
    out_dir : path, optional
        Write files there as they come; otherwise keep them in :attr:`files`.
    inputs : bool
        Also write copies of the mixture and the target (``1_slices/``), as the
        research script did.
    lazy_wavs : bool
        In memory, keep each run's signals and make its WAVs when they are read
        (:class:`Files`) instead of holding their bytes; the same files either way.

    Attributes
    ----------
    written : set of str
        The labels of the runs whose WAVs were written (``summary.json`` names
        only their files).
    wav_count : int
        WAV files written so far.
    """

    def __init__(
        self,
        pair: Pair,
        settings: Settings,
        max_slices: int,
        out_dir=None,
        *,
        inputs: bool = True,
        lazy_wavs: bool = False,
    ):
        self.pair, self.settings = pair, settings
        self.target_name = pair_target(pair.info)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.lazy_wavs = bool(lazy_wavs)
        self.files = Files()
        self.spectrogram_labels = {str(1), str(max(1, (max_slices + 1) // 2)), str(max_slices), "greedy"}
        self.spectrograms: dict[str, np.ndarray] = {}
        self.written: set[str] = set()
        self.paths: list[str] = []  # every file put so far, in order (README.txt describes them)
        self.wav_count = 0
        #: The runs made at full quality (:meth:`add_full_quality`), by label: README.txt, the report and
        #: ``full_quality.json`` describe them.
        self.full_quality: dict = {}
        if inputs:
            self._put_wav("1_slices/mixture.wav", pair.mixture, pair.sr)
            self._put_wav("1_slices/target.wav", pair.vocal, pair.sr)

    def _put(self, relpath: str, data: bytes) -> None:
        self.paths.append(relpath)
        if self.out_dir is None:
            self.files[relpath] = data
        else:
            write_bytes_atomic(self.out_dir / relpath, data)

    def _put_wav(self, relpath: str, y: np.ndarray, sr: int) -> None:
        self.paths.append(relpath)
        self.wav_count += 1
        if self.out_dir is None:
            self.files[relpath] = wav_bytes(y, sr)
        else:  # straight to the file: no in-memory copy of a long song's WAV
            write_wav(self.out_dir / relpath, y, sr)

    def add_run(self, label: str, run: RunSummary) -> None:
        """Write a run's WAVs (16-bit PCM, vocal peak-normalised as the research code did); with ``lazy_wavs``,
        keep its signals until the WAVs are read."""
        paths = run_wav_paths(label, self.target_name)
        estimate = run.estimate
        for key in ("vocal", "instrumental"):  # both are made from the estimate when asked (properties)
            if self.lazy_wavs and self.out_dir is None:
                self.paths.append(paths[key])
                self.wav_count += 1
                self.files.put_signal(paths[key], functools.partial(getattr, estimate, key), estimate.sr)
            else:
                self._put_wav(paths[key], getattr(estimate, key), estimate.sr)
        self.written.add(label)
        if label in self.spectrogram_labels:
            self.spectrograms[label] = _magnitude(run.estimate.vocal_raw, self.settings, self.pair)

    def adopt(self, other: "Outputs") -> None:
        """Take the runs another in-memory ``Outputs`` wrote (their WAVs, spectrograms and labels), as if added
        here: the dashboard makes its runs' WAVs once for its players and copies them into each ZIP, whose
        ``summary.json`` and ``README.txt`` then name them."""
        for path in other.paths:
            if path not in self.files:
                self.paths.append(path)
                self.wav_count += path.endswith(".wav")
        self.files.take(other.files)  # a run's signals stay signals: its WAVs are made when read
        self.spectrograms.update(other.spectrograms)
        self.written |= other.written

    def finish(self, result: ExperimentResult, *, metrics: dict | None = None, plots: bool = True) -> dict:
        """Write ``summary.json``, ``settings.json``, ``metrics.json`` (when given) and the plots.

        Parameters
        ----------
        result : ExperimentResult
        metrics : dict, optional
            :func:`vsep_core.evaluate.evaluate_experiment`'s report; written
            as ``metrics.json``, exactly the file ``evaluate --json`` writes.
        plots : bool

        Returns
        -------
        dict
            The summary (JSON-ready).
        """
        summary = self._put_summary(
            summary_dict(result, metrics=metrics, written=self.written), metrics, result.settings
        )
        if plots:
            from plotly.offline import get_plotlyjs

            for name, fig in figures(result, self.pair, self.spectrograms).items():
                self._put(f"plots/{name}.html", fig.to_html(include_plotlyjs="directory", full_html=True).encode())
            self._put("plots/plotly.min.js", get_plotlyjs().encode())
        return summary

    def add_report(
        self, result: ExperimentResult, *, metrics: dict | None = None, pair: Pair | None = None, joint=None
    ) -> None:
        """Write ``report.html`` (:func:`html_report`, with the spectrograms collected so far and the runs made
        at full quality; ``pair``: the pair with the names to show, default the folder's; ``joint``: a joint
        matching's outcome to play)."""
        self._put(
            "report.html",
            html_report(
                result,
                pair or self.pair,
                metrics=metrics,
                spectrograms=self.spectrograms,
                joint=joint,
                full_quality=list(self.full_quality.values()),
            ).encode(),
        )

    def add_readme(self, result: ExperimentResult, *, metrics: dict | None = None) -> None:
        """Write ``README.txt``: what each folder and file written so far is, in plain words (:func:`readme_text`)."""
        self._put(
            "README.txt",
            readme_text(
                self.paths, result, self.pair, metrics=metrics, full_quality=list(self.full_quality.values())
            ).encode(),
        )

    def add_method(self, folder: str, estimate, *, estimate_files: bool = True, inputs: bool = True) -> dict:
        """Write one method's WAVs into ``folder/``: the estimate (target peak-normalised, as the seed runs'
        files, and mixture − target) and copies of the inputs.

        Returns
        -------
        dict
            The estimate's relative paths, ``{"wav": …, "instrumental_wav": …}`` (``None`` when not written).
        """
        names = labels(self.target_name)
        paths = {
            "wav": f"{folder}/extracted_{names.target_file}.wav",
            "instrumental_wav": f"{folder}/extracted_{names.complement_file}.wav",
        }
        if estimate_files:
            self._put_wav(paths["wav"], estimate.vocal, self.pair.sr)
            self._put_wav(paths["instrumental_wav"], estimate.instrumental, self.pair.sr)
            self.written.add(folder)
        if inputs:
            self._put_wav(f"{folder}/mixture.wav", self.pair.mixture, self.pair.sr)
            self._put_wav(f"{folder}/target.wav", self.pair.vocal, self.pair.sr)
        return paths if estimate_files else dict.fromkeys(paths)

    def add_joint(self, outcome, *, estimate: bool = True, inputs: bool = True) -> None:
        """Write a joint matching's WAVs into ``joint/`` (:meth:`add_method`)."""
        self.add_method("joint", outcome.estimate, estimate_files=estimate, inputs=inputs)

    def finish_joint(self, outcome, joint, *, metrics: dict | None = None) -> dict:
        """Write a joint matching's ``summary.json``, ``settings.json`` and ``metrics.json`` (when given).

        Returns
        -------
        dict
            The summary (JSON-ready).
        """
        found = outcome.result
        summary = {
            "method": "joint",
            "target": labels(self.target_name).to_dict(),
            "pair": self.pair.info,
            "settings": self.settings.to_dict(),
            "joint": {
                "steps": joint.steps,
                "step_size": joint.step_size,
                "views": [list(v) for v in joint.views],
                "clip_db": joint.clip_db,
            },
            "final_loss": found.final_loss,
            "view_losses": found.view_losses,
            "loss_curve": found.loss_curve,
            "seconds": outcome.seconds,
        }
        return self._put_summary(summary, metrics)

    def finish_method(self, summary: dict, *, metrics: dict | None = None) -> dict:
        """Write one method's ``summary`` as ``summary.json``, with ``settings.json`` and ``metrics.json`` (when
        given), as :meth:`finish` does for an experiment.

        Returns
        -------
        dict
            The summary (JSON-ready).
        """
        return self._put_summary(summary, metrics)

    def _put_summary(self, summary: dict, metrics: dict | None, settings: Settings | None = None) -> dict:
        """``summary.json``, ``settings.json`` (``settings``, default the folder's) and (when given)
        ``metrics.json``: every results folder's three."""
        summary = json_ready(summary)
        self._put("summary.json", json_text(summary).encode())
        self._put("settings.json", json_text((settings or self.settings).to_dict()).encode())
        if metrics is not None:
            self._put("metrics.json", json_text(metrics).encode())
        return summary

    def add_ratings(self, rows: list[dict], info: dict) -> None:
        """Write a listening test's ratings (:func:`vsep_core.listening.ratings_files`: CSV and JSON)."""
        from .listening import ratings_files

        for path, data in ratings_files(rows, info).items():
            self._put(path, data)

    def zip_bytes(self) -> bytes:
        """Every collected file in one ZIP (in-memory mode only), ``README.txt`` and ``report.html`` first."""
        first = [name for name in READ_FIRST if name in self.files]
        order = [*first, *(n for n in self.files if n not in first)]
        return zip_files(self.files, order)

    # --- full quality (issue #21): beside the analysis-rate files ---------------------------------

    def full_quality_paths(self, label: str) -> dict:
        """Where a run's full-quality WAVs go: its analysis-rate paths with ``_full_quality`` before ``.wav``
        (``label`` ``"joint"``: the joint method's folder)."""
        if label == "joint":
            names = labels(self.target_name)
            paths = {
                "vocal": f"joint/extracted_{names.target_file}.wav",
                "instrumental": f"joint/extracted_{names.complement_file}.wav",
            }
        else:
            paths = run_wav_paths(label, self.target_name)
        return {key: path.removesuffix(".wav") + "_full_quality.wav" for key, path in paths.items()}

    def add_full_quality(
        self,
        label: str,
        estimate,
        *,
        scores: dict | None = None,
        seconds: float | None = None,
        slices=None,
        keep_audio: bool = False,
    ) -> dict:
        """Write a :class:`~vsep_core.full_quality.FullQualityEstimate`'s WAVs (16-bit, at its rate and channels:
        the target peak-normalised over its channels, as the analysis-rate files, and mixture − target) and
        record the run (:attr:`full_quality`) with its ``scores``.

        ``keep_audio``: keep its audio for the report's players (one run's, at its rate: the report plays one).

        Returns
        -------
        dict
            Its relative paths, ``{"vocal": …, "instrumental": …}``.
        """
        from .full_quality import FullQualityRun

        paths = self.full_quality_paths(label)
        target, complement = estimate.frames(), np.ascontiguousarray(estimate.complement_raw.T)
        self._put_wav(paths["vocal"], target, estimate.sr)
        self._put_wav(paths["instrumental"], complement, estimate.sr)
        self.full_quality[label] = FullQualityRun(
            label=label,
            sr=estimate.sr,
            channels=estimate.channels,
            held_hz=estimate.held_hz,
            scores=scores,
            files=(paths["vocal"], paths["instrumental"]),
            seconds=seconds,
            slices=_slices(slices),
            target=target if keep_audio else None,
            complement=complement if keep_audio else None,
        )
        return paths

    def add_full_quality_wavs(
        self,
        label: str,
        target_wav: bytes,
        complement_wav: bytes,
        *,
        held_hz=None,
        scores: dict | None = None,
        seconds: float | None = None,
        slices=None,
        keep_audio: bool = True,
    ) -> dict:
        """:meth:`add_full_quality` for WAVs already made (the dashboard's players' files): the same paths, the
        same record; the rate and channels are read from the WAVs.

        Returns
        -------
        dict
            Their relative paths, ``{"vocal": …, "instrumental": …}``.
        """
        from .full_quality import run_from_wavs

        paths = self.full_quality_paths(label)
        for path, data in ((paths["vocal"], target_wav), (paths["instrumental"], complement_wav)):
            self._put(path, data)
            self.wav_count += 1
        self.full_quality[label] = run_from_wavs(
            label,
            target_wav,
            complement_wav,
            held_hz=held_hz,
            scores=scores,
            seconds=seconds,
            slices=slices,
            files=(paths["vocal"], paths["instrumental"]),
            keep_audio=keep_audio,
        )
        return paths

    def add_full_quality_inputs(self, mixture, target=None) -> None:
        """The mixture's (and the target file's) segment at its own rate and channels (``Decoded``), beside the
        inputs' analysis-rate copies in ``1_slices/``."""
        for decoded, path in (
            (mixture, "1_slices/mixture_full_quality.wav"),
            (target, "1_slices/target_full_quality.wav"),
        ):
            if decoded is not None:
                self._put_wav(path, np.ascontiguousarray(decoded.samples.T), decoded.sr)

    def finish_full_quality(self) -> dict:
        """``full_quality.json``: the analysed segment and, per run made at full quality (:attr:`full_quality`),
        its rate, channels, files and (when scored) scores. Returns what was written."""
        found = {
            "segment": {"start_s": self.settings.start_s, "duration_s": self.pair.duration_s},
            "runs": {label: run.to_dict() for label, run in self.full_quality.items()},
        }
        self._put("full_quality.json", json_text(json_ready(found)).encode())
        return found


def _slices(slices) -> tuple | None:
    return None if slices is None else tuple(str(s) for s in slices)


def _magnitude(y: np.ndarray, settings: Settings, pair: Pair) -> np.ndarray:
    hop = settings.hop_for(pair.n_samples)
    return np.abs(stft(y, settings, hop_length=hop))


def summary_dict(result: ExperimentResult, *, metrics: dict | None = None, written=None) -> dict:
    """``summary.json``: the experiment's numbers with each run's WAV paths.

    ``written`` names the runs whose WAVs exist (labels as ``Outputs.written``);
    the others' paths are ``null``. Default: every run's.
    """
    target = pair_target(result.pair_info)

    def paths(label: str) -> dict:
        if written is not None and label not in written:
            return {"vocal": None, "instrumental": None}
        return run_wav_paths(label, target)

    summary = result.to_dict()
    for entry in summary["progressive"]:
        entry["wav"] = paths(str(entry["n"]))["vocal"]
        entry["instrumental_wav"] = paths(str(entry["n"]))["instrumental"]
    if summary["greedy"] is not None:
        summary["greedy"]["wav"] = paths("greedy")["vocal"]
        summary["greedy"]["instrumental_wav"] = paths("greedy")["instrumental"]
        summary["greedy"]["best_prefix_wav"] = paths(
            "greedy" if result.best_prefix_run is result.greedy_run else "best_prefix"
        )["vocal"]
    # Which stem was separated: "instrumental_wav" then holds everything else (mixture − target).
    summary["target"] = labels(target).to_dict()
    summary["oracle_note"] = oracle_note(target)
    if metrics is not None:
        summary["metrics_json"] = "metrics.json"
    return json_ready(summary)


def figures(result: ExperimentResult, pair: Pair, spectrograms: dict | None = None, *, compact: bool = False) -> dict:
    """The research script's plots (and the greedy table), as plotly figures by file name.

    ``compact``: smaller spectrograms (whole dB, 128 × 160 cells a panel) for the HTML report.
    """
    from . import plots

    hop = result.settings.hop_for(pair.n_samples)
    out = {
        "loss_curves": plots.loss_curves_figure(
            {f"N={r.n}": r.loss_curve for r in result.progressive}
            | ({"greedy": result.greedy_run.loss_curve} if result.greedy_run else {})
        )
    }
    greedy_bars = {}
    if result.greedy is not None:
        greedy_bars[f"greedy ({len(result.greedy.sequence)})"] = result.greedy.loss
        greedy_bars[f"best prefix ({result.greedy.best_prefix_length})"] = result.greedy.best_prefix_loss
    out["final_loss"] = plots.final_loss_figure({r.n: r.final_loss for r in result.progressive}, greedy_bars)
    if spectrograms:
        panels = {
            f"target ({labels(pair_target(pair.info)).target})": _magnitude(pair.vocal, result.settings, pair),
            "mixture": _magnitude(pair.mixture, result.settings, pair),
        }
        for label, mag in sorted(spectrograms.items(), key=lambda kv: (not kv[0].isdigit(), kv[0].zfill(3))):
            panels[f"extracted N={label}" if label.isdigit() else f"extracted ({label})"] = mag
        out["spectrograms"] = (
            plots.spectrograms_figure(panels, pair.sr, hop, max_rows=128, max_cols=160, compact=True)
            if compact
            else plots.spectrograms_figure(panels, pair.sr, hop)
        )
    if result.greedy is not None:
        out["greedy_search"] = plots.greedy_heatmap_figure(
            result.greedy.steps, result.greedy.sequence, result.greedy.best_prefix_length
        )
    return out


def zip_files(files, order=None) -> bytes:
    """A ZIP of a mapping ``relative path → bytes``, in ``order`` (default: the mapping's), each file read when
    it is written (a :class:`Files` makes one WAV at a time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in files if order is None else order:
            zf.writestr(name, files[name])
    return buf.getvalue()


def summary_table(result: ExperimentResult) -> str:
    """The research script's printed table: N, slices, final loss; then the greedy result."""
    lines = [f"{'N':>3}  {'final loss':>12}  last slice", "-" * 48]
    for run in result.progressive:
        lines.append(f"{run.n:>3}  {run.final_loss:>12.6f}  {run.slices[-1]}")
    if result.greedy is not None:
        g = result.greedy
        lines += [
            "",
            f"greedy sequence ({len(g.sequence)}): {', '.join(g.sequence)}",
            f"greedy loss (full sequence): {g.loss:.6f}",
            f"best prefix ({g.best_prefix_length}): {', '.join(g.best_prefix)} → {g.best_prefix_loss:.6f}",
        ]
    lines += ["", "timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in result.timings_s.items())]
    return "\n".join(lines)


# --- README.txt: what the folder (or ZIP) holds, in plain words ----------------------

#: The files a person opens first: first in the ZIP.
READ_FIRST = ("README.txt", "report.html")


def readme_text(paths, result: ExperimentResult, pair: Pair, *, metrics: dict | None = None, full_quality=()) -> str:
    """``README.txt`` of a results folder or ZIP: what each folder and file in ``paths`` is, naming the target.

    Parameters
    ----------
    paths : iterable of str
        The files written (relative paths, as :attr:`Outputs.paths`); only what is there is described.
    result : ExperimentResult
    pair : Pair
        The analysed pair (its segment and rate are described).
    metrics : dict, optional
        The scores; their verdict in plain words (:mod:`vsep_core.verdict`) opens the file.
    full_quality : sequence of FullQualityRun, optional
        The runs made at full quality (:attr:`Outputs.full_quality`): their files are named and explained.
    """
    from .glossary import counted

    names = labels(pair_target(pair.info))
    t, rest = names.target, names.complement
    paths = set(paths) | {"README.txt"}
    full_quality = [run for run in full_quality if set(run.files) <= paths]  # only what is there
    folders = {path.split("/", 1)[0] for path in paths if "/" in path}
    segment = (
        f"{pair.duration_s:.2f} s of the song (from {result.settings.start_s:g} s), mono, {pair.sr} Hz: "
        "the segment that was analysed"
    )
    lines = [
        f"{t[:1].upper() + t[1:]} separation by spectrogram fingerprints: the results",
        "",
        "Open report.html first: it plays in any browser, offline, and explains every score and word.",
        "",
    ]
    if metrics:
        from .verdict import verdict

        said = verdict(score_table(metrics))
        if said is not None:
            lines += ["In short: " + said.text, ""]
    lines += [
        f"Oracle experiment: {oracle_note(names.name)}",
        "",
        f"Every WAV{' not ending in _full_quality.wav' if full_quality else ''} is {segment}. Every extracted {t} file is peak-normalised (its loudest moment at full "
        "scale), "
        f'as the research code saved them; each "{rest}" file is the mixture minus the extracted {t}.',
        "",
        "What is here:",
        "",
    ]

    def item(name: str, text: str) -> None:
        lines.append(f"{name}")
        lines.append(f"    {text}")

    item("README.txt", "This file.")
    if "report.html" in paths:
        item(
            "report.html",
            "The report: the players, the scores in plain words with the numbers behind them, "
            "the charts, the settings and a glossary. One file; send it to anyone.",
        )
    if "1_slices" in folders:
        item("1_slices/mixture.wav, 1_slices/target.wav", f"What went in: the song (the mixture) and the true {t}.")
    runs = sorted(
        (f for f in folders if f.endswith("_slices") and f.split("_")[0].isdigit()), key=lambda f: int(f.split("_")[0])
    )
    if runs:
        numbers = [f.split("_")[0] for f in runs]
        span = numbers[0] if len(numbers) == 1 else f"{numbers[0]}_slices … {numbers[-1]}"
        item(
            f"{span}_slices/",
            f"One folder per run: the run over the first N slices of the order (N = "
            f"{', '.join(numbers)}), then one more pass on the plain spectrogram. In each: "
            f"extracted_{names.target_file}.wav (the {t} it found) and extracted_{names.complement_file}.wav "
            f"(the {rest}).",
        )
    if "best_sequence_found" in folders and result.greedy is not None:
        item(
            "best_sequence_found/",
            f"The greedy search's order ({counted(len(result.greedy.sequence), 'slice')}, "
            f"each chosen because it lowered the loss most): its {t} and {rest}.",
        )
    if "best_prefix_found" in folders and result.greedy is not None:
        item(
            "best_prefix_found/",
            f"The greedy order cut where the loss was lowest "
            f"({counted(result.greedy.best_prefix_length, 'slice')}): its {t} and {rest}.",
        )
    if "joint" in folders:
        item(
            "joint/",
            f"Joint matching (the improved method, run on Optimise): every window's EQ learned at once. "
            f"Its {t} and {rest}.",
        )
    if full_quality:
        from .full_quality import run_title

        qualities = sorted({run.quality for run in full_quality})
        item(
            "*_full_quality.wav (in the run folders)",
            f"Full quality: the same result applied to the song file itself, at its own sample rate and channels "
            f"({' and '.join(qualities)}) instead of the analysis' {pair.sr} Hz mono, so it sounds as the song does. "
            f"Made for: {', '.join(run_title(run.label) for run in full_quality)}. Each run's "
            f"extracted_{names.target_file}_full_quality.wav (the {t}, peak-normalised) and "
            f"extracted_{names.complement_file}_full_quality.wav (the {rest}), e.g. {full_quality[0].files[0]}.",
        )
        if "1_slices/mixture_full_quality.wav" in paths:
            item(
                "1_slices/mixture_full_quality.wav",
                "The analysed segment of the song file at its own rate and "
                "channels"
                + (
                    f" (and target_full_quality.wav, the true {t})"
                    if "1_slices/target_full_quality.wav" in paths
                    else ""
                )
                + ".",
            )
    if "plots" in folders:
        item(
            "plots/",
            "The charts (loss curves, final losses, spectrograms, the greedy search), each an HTML "
            "page to open in a browser; they need plotly.min.js beside them.",
        )
    for name, text in (
        (
            "metrics.json",
            f"The scores (how close each result is to the true {t}, in dB), for programs: what "
            "`python -m vsep_core evaluate --json` writes.",
        ),
        ("summary.json", "Every run's numbers (losses, slices, file names), for programs."),
        ("settings.json", "The exact settings (the report lists them in words)."),
        (
            "full_quality.json",
            "The full-quality files' rate, channels and (when measured) scores, for programs; "
            "the report shows the scores.",
        ),
        ("listening_ratings.csv", "Your listening test's ratings (also as listening_ratings.json)."),
    ):
        if name in paths:
            item(name, text)
    return "\n".join(lines) + "\n"


# --- the self-contained HTML report ---------------------------------------------

#: The report's players: MP3 (every browser plays it), constant bit rate so a player knows its length before
#: it is pressed. 32 kbit/s of the analysis' mono 22.05 kHz: a 20 s player is 80 kB; the WAVs are in the ZIP.
REPORT_AUDIO_KBPS = 32

#: Largest report the per-N players may grow it to (bytes): a page sent by e-mail. The mixture, the target and the
#: greedy results always play; the players of every N are left out (their WAVs are in the ZIP) past this.
REPORT_BUDGET_BYTES = 2_900_000

#: The full-quality players' bit rate (MP3 at 32–48 kHz, stereo): the full band and the stereo image the analysis
#: rate loses, in 160 kB for 20 s (so that the target's player fits the report's budget beside the others; the WAVs
#: are with the report). Below 32 kHz they play at :data:`REPORT_AUDIO_KBPS`.
FULL_QUALITY_KBPS = 64

#: libsndfile's MP3 compression level for a bit rate (0 = highest bit rate, 1 = lowest; measured constant rates:
#: 0.85 is 32 kbit/s at 22.05 kHz, 0.8889 is 64 kbit/s at 32–48 kHz).
_MP3_LEVEL = {32: 0.85, 64: 0.8889}


def mp3_bytes(y: np.ndarray, sr: int, kbps: int = REPORT_AUDIO_KBPS) -> bytes:
    """``y`` as a constant-bit-rate MP3 (libsndfile's LAME encoder), written in blocks of a few seconds."""
    import soundfile as sf

    samples = np.asarray(y, dtype=np.float32)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    buf = io.BytesIO()
    # In blocks: one long write has overflowed inside libsndfile's lossy encoders (xiph/vorbis#99, libsndfile#1095).
    with sf.SoundFile(
        buf,
        mode="w",
        samplerate=sr,
        channels=channels,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=_MP3_LEVEL[kbps],
        bitrate_mode="CONSTANT",
    ) as f:
        block = 5 * sr
        for start in range(0, len(samples), block):
            f.write(samples[start : start + block])
    return buf.getvalue()


def _audio_tag(y: np.ndarray, sr: int) -> str:
    # preload="metadata": the player shows its length before it is pressed (the data is in the page anyway).
    data = base64.b64encode(mp3_bytes(y, sr)).decode()
    return f'<audio controls preload="metadata" src="data:audio/mpeg;base64,{data}"></audio>'


def full_quality_player(y: np.ndarray, sr: int) -> tuple[bytes, str]:
    """A full-quality estimate (``(n, channels)``) as the report plays it: MP3 at its own rate and channels where MP3
    can (at most 48 kHz, two channels; else at 48 kHz, or mixed to mono), and a note of what was changed."""
    y = np.asarray(y, dtype=np.float32)
    y = y[:, None] if y.ndim == 1 else y
    notes = []
    if y.shape[1] > 2:
        y, notes = y.mean(axis=1, keepdims=True), [f"{y.shape[1]} channels mixed to mono for this player"]
    if sr > 48_000:
        import soxr

        y, notes = soxr.resample(y, sr, 48_000, quality="soxr_hq").astype(np.float32), notes + ["played at 48000 Hz"]
        sr = 48_000
    kbps = FULL_QUALITY_KBPS if sr >= 32_000 else REPORT_AUDIO_KBPS
    return mp3_bytes(y if y.shape[1] > 1 else y[:, 0], sr, kbps), "; ".join(notes)


def full_quality_players(runs, pair: Pair) -> list[str]:
    """The report's full-quality players of the first run that kept its audio: the target's, then the
    complement's (HTML blocks; ``[]`` when no run kept its audio)."""
    from .full_quality import run_title

    names = labels(pair_target(pair.info))
    featured = next((run for run in runs if run.target is not None), None)
    if featured is None:
        return []
    blocks = []
    for part, y in (
        (f"{names.target.capitalize()}, {run_title(featured.label)}", featured.target),
        (f"{names.complement.capitalize()} ({run_title(featured.label)})", featured.complement),
    ):
        if y is None:
            continue
        data, note = full_quality_player(y, featured.sr)
        blocks.append(
            f"<div class='player'><b>{html.escape(part)}, full quality ({html.escape(featured.quality)})</b>"
            + (f" ({html.escape(note)})" if note else "")
            + "<br><audio controls preload='metadata' "
            f"src='data:audio/mpeg;base64,{base64.b64encode(data).decode()}'></audio></div>"
        )
    return blocks


def _full_quality_html(runs, metrics: dict | None, pair: Pair, players=(), left_out: int = 0) -> str:
    """The runs made at full quality: what they are, the ``players`` (:func:`full_quality_players`; ``left_out``:
    how many were left out to keep the page small), and their scores as rows of the one presenter
    (:func:`vsep_core.presenter.score_table`), beside the same runs' analysis-rate scores."""
    from .full_quality import run_title, scores_report

    if not runs:
        return ""
    names = labels(pair_target(pair.info))
    qualities = " and ".join(sorted({run.quality for run in runs}))
    out = (
        f"<h2>At full quality</h2><p>The analysis listens to {pair.sr} Hz mono. Here the same learned EQ is applied "
        f"to the song file itself, at its own sample rate and channels (<b>{html.escape(qualities)}</b>), so it "
        "sounds as the song does; its WAVs come with this report (the files ending in "
        "<code>_full_quality.wav</code>).</p>" + "".join(players)
    )
    if left_out:
        out += (
            f"<p class='note'>{'One full-quality player was' if left_out == 1 else 'The full-quality players were'}"
            " left out: this page would be too large to send. The WAVs are with this report.</p>"
        )
    report = scores_report(
        runs, (metrics or {}).get("pair", {}).get("labels") or {"vocal": names.target, "instrumental": names.complement}
    )
    if not report["methods"]:
        return out + "<p>Not scored: the full-quality scores are measured against the true target file.</p>"
    methods = []
    for entry in report["methods"]:  # each run beside the same run at the analysis rate, when it was scored
        methods.append(entry)
        run = next(r for r in runs if r.label == entry["info"]["label"])
        same = _analysis_rate_entry(metrics, run)
        if same is not None:
            methods.append(
                {
                    "name": f"{run_title(run.label)}, analysis rate ({pair.sr} Hz mono)",
                    "kind": "analysis rate",
                    "vocal": same["vocal"],
                    "instrumental": same["instrumental"],
                }
            )
    table = score_table({**report, "methods": methods})
    rows = [(row.name, row.kind, *(format_score(v) for v in row.values)) for row in table.rows]
    return out + (
        _table(["result", "audio", *(c.label for c in table.columns)], rows, "full-quality")
        + f"<p>dB, higher is better, measured the same way at both rates, each against the true "
        f"{html.escape(names.target)} at its rate (at full quality each channel is scored on its own and "
        "the figures averaged, or all is mixed to mono when the target file has other channels).</p>"
    )


def _analysis_rate_entry(metrics: dict | None, run) -> dict | None:
    """The scores entry of the same run at the analysis rate (a seed run by its slices; the joint matching)."""
    for entry in (metrics or {}).get("methods", []):
        if entry.get("error") or "vocal" not in entry:
            continue
        if run.label == "joint" and entry.get("name") == "joint":
            return entry
        if (
            run.slices is not None
            and entry.get("kind") == "seed"
            and tuple(entry.get("info", {}).get("slices", ())) == tuple(run.slices)
        ):
            return entry
    return None


def _table(headers, rows, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    # In its own scrolling box: a wide table scrolls inside it on a phone, never the page.
    return (
        f"<div class='scroll'><table{f' class={cls!r}' if cls else ''}><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _verdict_html(metrics: dict) -> str:
    """The verdict in plain words (:func:`vsep_core.verdict.verdict`), its numbers one click away."""
    from .verdict import verdict

    said = verdict(score_table(metrics))
    if said is None:
        return ""
    return (
        f"<p class='verdict'>{html.escape(said.text)}</p><details><summary>The numbers behind this "
        "sentence</summary>" + _table(["", "score"], said.numbers) + "</details>"
    )


def _metrics_html(metrics: dict) -> str:
    """The evaluation report (``metrics.json``) as a table: :func:`vsep_core.presenter.score_table`'s rows."""
    table = score_table(metrics)
    from .bss_split import headline as split_headline
    from .bss_split import mark as split_mark
    from .bss_split import report_notes as split_notes
    from .glossary import method_name

    slots = {"vocal": table.target, "instrumental": table.complement}
    rows = []
    for m, row in zip(metrics["methods"], table.rows):
        # A blind method built for another stem is flagged with its note, not passed off as a fair baseline.
        kind = row.kind if row.suited else f"{row.kind} (not for {table.target})"
        plain = method_name(row.name)
        rows.append(
            (
                plain if plain == row.name else f"{plain} ({row.name})",
                kind,
                *(split_mark(format_score(v), m, c.slot, c.metric) for c, v in zip(table.columns, row.values)),
                format_score(row.loss),
                row.error or row.note or "",
            )
        )
    out = (
        "<h2>Separation quality (dB, higher is better)</h2>"
        + _verdict_html(metrics)
        + f"<p>Target: <b>{html.escape(table.target)}</b>. "
        "Scored at the files' true scale, as <code>python -m vsep_core evaluate</code> does; "
        "the same figures are in <code>metrics.json</code>. "
        f"{DASH}: means nothing here (the mixture's SAR: nothing was processed; the loss of a method that "
        "matches no fingerprints). Every word is explained under “Words used here” below.</p>"
        + _table(["method", "kind", *(c.label for c in table.columns), "loss (dB²)", "error"], rows, "scores")
    )
    # The figures as metrics.json holds them (two decimals, none hidden), for comparing with evaluate --json.
    exact = [(row.name, *(f"{v:.2f}" for v in row.figures)) for row in table.rows]
    out += (
        "<details><summary>Exact figures (as in metrics.json, including those shown as "
        f"{DASH} or &gt;150)</summary>" + _table(["method", *(c.label for c in table.columns)], exact) + "</details>"
    )
    out += f"<p class='note'>{html.escape(split_headline(metrics.get('methods', [])))}</p>"
    out += "".join(
        f"<p class='note'>? {html.escape(line)}</p>" for line in split_notes(metrics.get("methods", []), slots)
    )
    out += _field_html(metrics, slots)
    out += _waterfall_html(metrics)
    alignment = metrics.get("alignment") or {}
    if alignment.get("verdict"):
        out += f"<p class='note'>{html.escape(str(alignment['verdict']))}</p>"
    return out


def _db(value) -> str:
    """A field metric's cell: :func:`vsep_core.presenter.format_score` (two decimals; a dash for what is missing)."""
    return format_score(value)


def _field_html(metrics: dict, slots: dict) -> str:
    """uSDR, bleedless and fullness (:mod:`vsep_core.field_metrics`) as a second table; "" for older reports."""
    from .field_metrics import FIELD_METRICS

    methods = [m for m in metrics.get("methods", []) if "usdr" in (m.get("vocal") or {})]
    if not methods:
        return ""
    rows = [
        (m.get("name"), *(_db(m[source].get(k)) for source in ("vocal", "instrumental") for k in FIELD_METRICS))
        for m in methods
    ]
    return (
        "<p>The metrics the field reads now: <b>uSDR</b>, the whole-signal SDR of the Music Demixing "
        "challenges and the MVSep leaderboard (dB), and <b>bleedless</b> / <b>fullness</b> as "
        "Music-Source-Separation-Training defines them (0–100; bleedless: little energy the reference lacks, "
        "fullness: little of the reference's energy lost).</p>"
        + _table(
            [
                "method",
                *(
                    f"{slots[source]} {label}"
                    for source in ("vocal", "instrumental")
                    for label in FIELD_METRICS.values()
                ),
            ],
            rows,
        )
    )


def _waterfall_html(metrics: dict) -> str:
    """Where the decibels go (:mod:`vsep_core.waterfall`): the chart and its steps; "" without a phase oracle."""
    from .errors import VsepError
    from .waterfall import format_waterfall, loss_waterfall, waterfall_figure

    try:
        steps = loss_waterfall(metrics)
    except VsepError:
        return ""
    target = ((metrics.get("pair") or {}).get("labels") or {}).get("vocal", "vocal")
    chart = waterfall_figure(steps, title=f"Where the decibels go: {target} SI-SDR (dB)")
    return (
        "<h2>Where the decibels go</h2>"
        + _figure_html(chart)
        + f"<pre>{html.escape(format_waterfall(steps, label=target))}</pre>"
    )


def _file_name(role: str, label) -> str:
    """The file name in a pair's label for ``role`` (``'mixture “song.wav”'`` or ``'song.wav'`` → ``song.wav``;
    the bare role → ``""``)."""
    text = str(label or "").strip()
    match = re.fullmatch(rf"{re.escape(role)}\s+[“\"'](.*)[”\"']", text)
    if match:
        text = match.group(1)
    return "" if text == role else text


def _pair_line(pair: Pair) -> str:
    """One sentence naming the pair's files, e.g. "The mixture (song.wav) and the isolated vocal (vocal.wav): …"."""
    names = labels(pair_target(pair.info))
    other = "instrumental" if "instrumental" in pair.info else "vocal"  # info keys name the file given
    parts = []
    for role, words in (
        ("mixture", "the mixture"),
        (other, f"the isolated {names.target}" if other == "vocal" else f"the {names.complement}"),
    ):
        name = _file_name(role, pair.info.get(role))
        parts.append(f"{words} ({name})" if name else words)
    return f"Analysed {parts[0]} and {parts[1]}: {pair.duration_s:.2f} s at {pair.sr} Hz."


@functools.lru_cache(maxsize=1)
def plotly_packed() -> str:
    """plotly.js, gzip-compressed and base64-encoded: 2.0 MB in the page instead of 4.8 MB."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode(), 9, mtime=0)).decode()


def _figure_html(fig) -> str:
    """A figure as data the page draws once plotly.js is unpacked (:data:`_DRAW_FIGURES_JS`)."""
    data = fig.to_json().replace("</", "<\\/")  # nothing in the data can close its script element
    return f'<script type="application/json" class="vsep-figure">{data}</script>'


#: Unpacks plotly.js (gzip, the browser's own DecompressionStream) and draws every figure in place; a browser
#: without it says so where the charts would be. The tables above the charts hold the same numbers.
_DRAW_FIGURES_JS = """(function () {
  const blobs = Array.from(document.querySelectorAll("script.vsep-figure"));
  function say(text) {
    for (const blob of blobs) {
      const p = document.createElement("p"); p.className = "note"; p.textContent = text;
      blob.parentNode.insertBefore(p, blob);
    }
  }
  if (!("DecompressionStream" in window)) {
    say("This browser is too old to draw the charts (the tables hold the same numbers).");
    return;
  }
  const packed = document.getElementById("vsep-plotly").textContent.trim();
  const bytes = Uint8Array.from(atob(packed), function (c) { return c.charCodeAt(0); });
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(stream).text().then(function (code) {
    const script = document.createElement("script");
    script.textContent = code;
    document.head.appendChild(script);
    for (const blob of blobs) {
      const fig = JSON.parse(blob.textContent);
      const div = document.createElement("div");
      div.className = "figure";
      blob.parentNode.insertBefore(div, blob);
      Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
    }
    document.body.dataset.charts = "drawn";
  });
})();"""

_STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 12px; color: #222;
       line-height: 1.45; overflow-wrap: anywhere; }
h1 { font-size: 1.6em; line-height: 1.2; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; } .settings td { text-align: left; } th { background: #f3f3f3; }
td, th { overflow-wrap: normal; }
.note { background: #fff6e0; border-left: 4px solid #f0a000; padding: .6em 1em; }
.verdict { font-size: 1.15em; background: #eef6ee; border-left: 4px solid #3a8a3a; padding: .6em 1em; }
.player { margin: .6em 0; } audio { width: 100%; max-width: 600px; display: block; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(320px, 100%), 1fr)); gap: 0 1.5em; }
.figure { width: 100%; }
pre { overflow-x: auto; }
dt { font-weight: bold; margin-top: .5em; } dd { margin-left: 1.2em; }
.default { color: #3a8a3a; } .changed { color: #b05000; font-weight: bold; }
"""


def _glossary_html(target_name) -> str:
    """Every term the page uses, in plain words (:func:`vsep_core.glossary.glossary`: the dashboard's words)."""
    from .glossary import glossary

    items = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in glossary(target_name).items()
    )
    return f"<h2>Words used here</h2><dl class='glossary'>{items}</dl>"


def _settings_html(settings: Settings) -> str:
    """The settings in words, each marked as the research default or changed (:func:`settings_in_words`)."""
    from .glossary import settings_in_words

    rows = "".join(
        f"<tr><td>{html.escape(line.what)}</td><td>{html.escape(line.value)}</td>"
        + ("<td class='default'>research default</td>" if line.default else "<td class='changed'>changed</td>")
        + "</tr>"
        for line in settings_in_words(settings)
    )
    return (
        "<h2>Settings</h2><div class='scroll'><table class='settings'><thead><tr><th>what it decides</th><th>value</th>"
        f"<th></th></tr></thead><tbody>{rows}</tbody></table></div>"
        "<p>The exact values are in <code>settings.json</code> in the ZIP.</p>"
    )


def html_report(
    result: ExperimentResult,
    pair: Pair,
    *,
    metrics: dict | None = None,
    spectrograms: dict | None = None,
    title: str | None = None,
    players: bool = True,
    budget_bytes: int = REPORT_BUDGET_BYTES,
    joint=None,
    full_quality=(),
) -> str:
    """One HTML file with the plots, the numbers and the audio, that opens offline, on a phone too.

    Parameters
    ----------
    metrics : dict, optional
        :func:`vsep_core.evaluate.evaluate_experiment`'s report (``metrics.json``) to show as a table, with the
        verdict in plain words above it.
    spectrograms : dict, optional
        Extracted magnitudes by run label (from :class:`Outputs`).
    title : str, optional
        The page's title (default: "<Target> separation by spectrogram fingerprints").
    players : bool
        Include the audio (a result published without audio has none).
    budget_bytes : int
        The players of every N are left out when they would grow the page past this (their WAVs are in the ZIP);
        the mixture, the target and the greedy results always play.
    joint : JointOutcome, optional
        A joint matching of the same pair and settings (:func:`vsep_core.api.joint_matching`): it plays beside
        the greedy results (its scores are in ``metrics`` when they were added: :func:`vsep_core.evaluate.with_methods`).
    full_quality : sequence of FullQualityRun, optional
        Runs made at full quality (:attr:`Outputs.full_quality`): their scores (one presenter's rows) and the players
        of the first that kept its audio (MP3, :data:`FULL_QUALITY_KBPS`), within the budget after the players of
        every N.
    """
    from .glossary import counted

    names = labels(pair_target(pair.info))
    if title is None:
        title = f"{names.target[:1].upper() + names.target[1:]} separation by spectrogram fingerprints"
    figs = figures(result, pair, spectrograms, compact=True)
    fig_html = "".join(f"<section>{_figure_html(fig)}</section>" for fig in figs.values())
    best = result.best_progressive
    complement = names.complement[:1].upper() + names.complement[1:]
    with_audio, players = players, [("Mixture", pair.mixture), (f"Target (true {names.target})", pair.vocal)]
    for run, label in (
        (result.greedy_run, "greedy order"),
        (result.best_prefix_run, "best prefix of the greedy order"),
    ):
        if run is not None and run.estimate is not None and not (label.startswith("best") and run is result.greedy_run):
            players.append(
                (
                    f"Extracted {names.target}, {label} ({counted(run.n, 'slice')}, loss {run.final_loss:.2f})",
                    run.estimate.vocal,
                )
            )
    if joint is not None and joint.estimate is not None:
        players.append(
            (f"Extracted {names.target}, joint matching (every window learned at once)", joint.estimate.vocal)
        )
    if best.estimate is not None:
        players.append((f"{complement} estimate (mixture − {names.target}, N = {best.n})", best.estimate.instrumental))
    if not with_audio:  # published without audio: no players at all
        players, per_n_runs = [], []
    else:
        per_n_runs = [run for run in result.progressive if run.estimate is not None]
    audio = "".join(
        f"<div class='player'><b>{html.escape(label)}</b><br>{_audio_tag(y, pair.sr)}</div>" for label, y in players
    )
    per_n = "".join(
        f"<div class='player'><b>N = {run.n}</b> · loss {run.final_loss:.2f}"
        + (" · <b>★ lowest loss</b>" if run is best else "")
        + f"<br>{_audio_tag(run.estimate.vocal, pair.sr)}</div>"
        for run in per_n_runs
    )
    metrics_html = _metrics_html(metrics) if metrics else ""
    full_quality = list(full_quality)
    full_players = full_quality_players(full_quality, pair) if with_audio else []

    loss_rows = [
        (r.n, ", ".join(VIEWS_BY_NAME[s].label for s in r.slices), f"{r.final_loss:.4f}") for r in result.progressive
    ]
    greedy_html = ""
    if result.greedy is not None:
        g = result.greedy
        greedy_html = (
            f"<h2>Greedy order search</h2><p>Full sequence ({counted(len(g.sequence), 'slice')}, what "
            f"the research code reports): loss <b>{g.loss:.4f}</b>.<br>Best prefix "
            f"({counted(g.best_prefix_length, 'slice')}: {html.escape(', '.join(VIEWS_BY_NAME[s].label for s in g.best_prefix))}): loss "
            f"<b>{g.best_prefix_loss:.4f}</b>.</p>"
        )
    generated = time.strftime("%Y-%m-%d %H:%M")
    settings_note = (
        "Research-default settings (the research code’s numbers)."
        if result.settings.is_seed_compatible
        else "Some settings differ from the research code’s (marked under Settings)."
    )

    def page(listen: str, full_html: str = "") -> str:
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note"><b>Oracle experiment.</b> {html.escape(oracle_note(names.name))}</p>
<noscript><p class="note"><b>JavaScript is off in this browser.</b> The players, tables and numbers below work without it; the plots need it: turn JavaScript on (or open this file in another browser) to see them.</p></noscript>
<p>Made {generated}. {html.escape(_pair_line(pair))}
{"" if names.is_vocal else f"Target stem: <b>{html.escape(names.target)}</b> (the complement is everything else)."}
{settings_note}</p>
<h2>Listen</h2>{listen}
{metrics_html}
{full_html}
<h2>Final loss per number of slices</h2>
<p>The loss is the mean squared difference, in dB² (decibels squared), between the processed mixture's 400-point profile and the true {html.escape(names.owns)}, after the final polish. Lower is closer.</p>
{_table(["N", "slices (in order)", "final loss"], loss_rows)}
{greedy_html}
<h2>Plots</h2><noscript><p class="note">The plots need JavaScript, which is off: the tables above hold the same numbers.</p></noscript>{fig_html}
{_settings_html(result.settings)}
{_glossary_html(names.name)}
<script type="application/octet-stream" id="vsep-plotly">{plotly_packed()}</script>
<script>{_DRAW_FIGURES_JS}</script>
</body></html>"""

    if not audio:
        return page(
            "<p>Published without audio: the scores and charts only.</p>",
            _full_quality_html(full_quality, metrics, pair),
        )
    per_n_heading = (
        f"<h3>Extracted {html.escape(names.target)} for every N</h3><p>The progressive run over the "
        "first N slices, then the polish; peak-normalised, as the research code saved them.</p>"
    )
    listed = _table(
        ["N", "loss", "file in the ZIP"],
        [
            (
                run.n,
                f"{run.final_loss:.2f}" + (" ★ lowest loss" if run is best else ""),
                run_wav_paths(str(run.n), names.name)["vocal"],
            )
            for run in per_n_runs
        ],
    )
    every_n = per_n_heading + "<div class='grid'>" + per_n + "</div>" if per_n else ""
    without_every_n = (
        (
            per_n_heading.replace(
                "</p>",
                f" Their players would make this page too large to send "
                f"(over {budget_bytes / 1e6:.1f} MB): each is in the ZIP, "
                f"in its folder (N_slices).</p>",
            )
            + listed
        )
        if per_n
        else ""
    )
    # Within the budget, in this order: the players of every N go first, then the full-quality complement's, then
    # the full-quality target's (their WAVs are with the report). The mixture, the target and the results play.
    choices = [(every_n, len(full_players))] if per_n else []
    choices += [(without_every_n, n) for n in range(len(full_players), -1, -1)]
    made = ""
    for listen, kept in choices:
        made = page(
            audio + listen,
            _full_quality_html(full_quality, metrics, pair, full_players[:kept], left_out=len(full_players) - kept),
        )
        if len(made.encode()) <= budget_bytes:
            break
    return made
