"""Evaluate every song in a folder, in parallel on a Dask cluster.

Folder layout (one sub-folder per song; file names are matched without their
extension, case-insensitively; any format :func:`vsep_core.audio.decode`
reads: wav, flac, ogg, mp3, m4a, aiff ...)::

    DIR/
      song_a/  mixture.wav  vocal.wav             (a mixture and its vocal)
      song_b/  mixture.flac instrumental.flac     (vocal = mixture − instrumental)
      song_c/  mixture.wav  vocals.wav  drums.wav  bass.wav  other.wav   (MUSDB18-HQ)

Names accepted: the mixture ``mixture`` or ``mix``; the vocal ``vocal`` or
``vocals``; the instrumental ``instrumental`` or ``accompaniment``. When a
folder has no vocal and no instrumental but has MUSDB18's ``drums``, ``bass``
and ``other`` stems, their sum is the instrumental. The vocal wins when
several targets are present. MUSDB18's compressed ``.stem.mp4`` files are not
read: use MUSDB18-HQ (wav) or convert them first (``musdbconvert``). A
``DIR`` that itself holds a mixture is evaluated as one song.

**Every stem is a target.** Each stem file a song has (``vocals``, ``drums``,
``bass``, ``other``, and the bundled samples' ``chords``) is evaluated as the target in turn — the mixture minus it
is then "everything else" — and the tables are per stem (``stems`` picks
some). A song with only a vocal or an instrumental has one target, the vocal.

Each song is one Dask task (:func:`evaluate_song`): load the pair at its
true level, check the alignment, run the methods, measure them. A song that
fails (undecodable file, missing target, lengths that differ …) is reported
and skipped; the others finish. By default the cluster is a local one
(``distributed.LocalCluster``) with one single-threaded worker process per
CPU core — numeric libraries inside the workers are held to one thread, so
two workers on a two-core machine do not fight over the cores (and TLS-only,
without HTTP); ``scheduler`` connects to an existing closed cluster instead
(``tls://`` with ``VSEP_DASK_CERTS``, :mod:`vsep_core.cluster`), whose workers
need ``vsep_core`` importable and the folder at the same path. A song's report
comes back as plain data (:mod:`vsep_core.cluster_codec`).

Outputs (:func:`write_outputs`): ``per_song.csv`` (one row per song, stem and
method), ``summary.csv`` (per stem, method, source and metric: the median over
songs and its spread — MAD and quartiles — as the SiSEC tables report),
``failures.csv`` and ``batch.json`` (everything, including each song's
alignment check).
"""

from __future__ import annotations

import csv
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .api import batch_song
from .audio import Decoded, decode
from .baselines import resolve_methods
from .errors import VsepError
from .evaluate import evaluation_settings, format_db
from .jsonio import json_ready, write_json
from .limits import STEM_LENGTH_TOLERANCE
from .metrics import BSS_WINDOW_S, METRIC_NAMES, SOURCE_NAMES
from .progress import Progress, report
from .settings import Settings
from .staging import BATCH_ENTRIES, StagedFolder, atomic_file, check_out_dir
from .stems import DEFAULT_TARGET, labels, target_name
from .text import csv_cell, terminal_text

#: File name stems (lower case, without extension) for each role.
MIXTURE_NAMES = ("mixture", "mix")
VOCAL_NAMES = ("vocal", "vocals")
INSTRUMENTAL_NAMES = ("instrumental", "accompaniment")
MUSDB_STEM_NAMES = ("drums", "bass", "other")
#: Further stem files that are targets but not part of MUSDB's sum (the bundled samples' chords).
EXTRA_STEM_NAMES = ("chords",)
#: The targets a folder can offer, in table order (the vocal first).
BATCH_STEMS = (DEFAULT_TARGET, *MUSDB_STEM_NAMES, *EXTRA_STEM_NAMES)

#: Extensions looked at (anything else in a song folder is ignored).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".opus", ".wma")

#: Default output folder of the CLI.
DEFAULT_OUT = "out/batch"

#: The layout, for ``--help``.
LAYOUT_HELP = """
Layout of DIR (one sub-folder per song; names without extension; wav, flac, ogg, mp3, m4a ...):
  DIR/song_a/mixture.wav + vocal.wav              the mix and its vocal
  DIR/song_b/mixture.wav + instrumental.wav       vocal = mixture - instrumental
  DIR/song_c/mixture.wav + vocals.wav + drums.wav + bass.wav + other.wav   (MUSDB18-HQ)
Also accepted: mix, vocals, accompaniment; drums+bass+other summed when there is no vocal.
Every stem file found (vocals, drums, bass, other, chords) is a target in turn, with a table per stem;
--stems picks some (e.g. --stems drums,bass).
Each song is cut like evaluate's pairs (--start, --duration: the first 4.7 s by default;
songs whose vocal is silent there fail, so pick --start or use --duration all).
A song that fails is reported and skipped.
"""


@dataclass(frozen=True)
class Song:
    """One song folder as found on disk.

    Attributes
    ----------
    name : str
        The folder's name.
    folder : Path
    mixture, vocal, instrumental : Path or None
    stems : tuple of Path
        MUSDB18 accompaniment stems, summed into the instrumental when there
        is neither a vocal nor an instrumental file.
    problem : str or None
        Why the folder cannot be evaluated (then it is not sent to a worker).
    """

    name: str
    folder: Path
    mixture: Path | None = None
    vocal: Path | None = None
    instrumental: Path | None = None
    stems: tuple = ()
    problem: str | None = None
    extra_stems: tuple = ()

    @property
    def targets(self) -> dict:
        """Target name → its file, for every stem this song can be evaluated on (the vocal first).

        The vocal is always a target of a usable song (given, or the mixture
        minus the instrumental or the summed stems); drums, bass and other
        are targets when their files are there.
        """
        if self.problem is not None or self.mixture is None:
            return {}
        out = {DEFAULT_TARGET: self.vocal}
        out.update({path.stem.lower(): path for path in (*self.stems, *self.extra_stems)})
        return out

    @property
    def layout(self) -> str:
        if self.vocal is not None:
            return "mixture + vocal" + (" (MUSDB18)" if self.stems else "")
        if self.instrumental is not None:
            return "mixture + instrumental"
        return "mixture + summed stems (MUSDB18)" if self.stems else "unknown"


def discover_songs(folder) -> list[Song]:
    """The song folders under ``folder``, sorted by name.

    Raises
    ------
    VsepError
        When ``folder`` does not exist, is not a folder, or holds no song
        folder at all.
    """
    root = Path(folder)
    if not root.exists():
        raise VsepError(f"The folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise VsepError(f"{str(root)!r} is a file; batch takes a folder with one sub-folder per song.")
    if _find_role(_audio_files(root), MIXTURE_NAMES):
        return [_song_from_folder(root)]
    songs = [
        _song_from_folder(sub)
        for sub in sorted(root.iterdir(), key=lambda p: p.name.lower())
        if sub.is_dir() and not sub.name.startswith(".")
    ]
    if not songs:
        raise VsepError(
            f"{str(root)!r} holds no song folders. Put each song in its own sub-folder with a "
            "mixture and a vocal or instrumental file (see python -m vsep_core batch --help)."
        )
    return songs


def _audio_files(folder: Path) -> dict:
    files = {}
    for path in folder.iterdir():
        if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith("."):
            files.setdefault(path.stem.lower(), []).append(path)
    return files


def _find_role(files: dict, names) -> list:
    return sorted(p for name in names for p in files.get(name, []))


def _song_from_folder(folder: Path) -> Song:
    files = _audio_files(folder)
    found = {
        role: _find_role(files, names)
        for role, names in (("mixture", MIXTURE_NAMES), ("vocal", VOCAL_NAMES), ("instrumental", INSTRUMENTAL_NAMES))
    }
    for role, paths in found.items():
        if len(paths) > 1:
            return Song(
                folder.name, folder, problem=f"several {role} files ({', '.join(p.name for p in paths)}); keep one."
            )
    stems = tuple(_find_role(files, (name,))[0] for name in MUSDB_STEM_NAMES if files.get(name))
    mixture = found["mixture"][0] if found["mixture"] else None
    vocal = found["vocal"][0] if found["vocal"] else None
    instrumental = found["instrumental"][0] if found["instrumental"] else None
    if mixture is None:
        return Song(folder.name, folder, problem="no mixture file (mixture.wav, mix.flac ...).")
    if vocal is None and instrumental is None and len(stems) != len(MUSDB_STEM_NAMES):
        return Song(
            folder.name,
            folder,
            mixture=mixture,
            problem="no vocal or instrumental file (vocal.wav, vocals.wav, instrumental.wav, or "
            "MUSDB18's drums + bass + other).",
        )
    extra = tuple(_find_role(files, (name,))[0] for name in EXTRA_STEM_NAMES if files.get(name))
    return Song(
        folder.name,
        folder,
        mixture=mixture,
        vocal=vocal,
        instrumental=None if vocal is not None else instrumental,
        stems=stems,
        extra_stems=extra,
    )


def summed_stems(stems) -> Decoded:
    """The drums, bass and other stems summed in mono: the instrumental of a MUSDB-style song folder."""
    decoded = [decode(path, name=f"{path.parent.name}/{path.name}") for path in stems]
    rates = {d.sr for d in decoded}
    if len(rates) != 1:
        raise VsepError(
            "The drums, bass and other stems have different sample rates "
            f"({', '.join(str(r) for r in sorted(rates))} Hz)."
        )
    n = min(d.samples.shape[1] for d in decoded)
    if max(d.samples.shape[1] for d in decoded) - n > STEM_LENGTH_TOLERANCE:
        raise VsepError("The drums, bass and other stems have different lengths.")
    # Mono first (the pair is analysed in mono anyway), so stems may differ in channel count.
    total = np.sum([np.mean(d.samples[:, :n], axis=0) for d in decoded], axis=0, dtype=np.float32)
    return Decoded(samples=total[None, :], sr=decoded[0].sr, name="drums+bass+other")


# --- one song (runs on a worker) -----------------------------------------------------

#: One song, one stem: :func:`vsep_core.api.batch_song` (the name batch's callers know).
evaluate_song = batch_song


# --- the batch --------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What a batch produced.

    Attributes
    ----------
    methods : list of str
        The method names, in table order (the vocal's).
    reports : list of dict
        ``{"song", "layout", "report"}`` per finished song and stem (with
        ``"stem"`` when the target is not the vocal), sorted by stem, song.
    failures : list of dict
        ``{"song", "error"}`` per skipped song (and ``"stem"``).
    seconds : float
    cluster : str
        Which cluster ran it.
    """

    methods: list
    reports: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    seconds: float = 0.0
    cluster: str = ""
    stem_methods: dict = field(default_factory=dict)

    @property
    def stems(self) -> list[str]:
        """The targets evaluated (or asked for), in table order."""
        found = {item.get("stem", DEFAULT_TARGET) for item in self.reports} | set(self.stem_methods)
        found = found or {DEFAULT_TARGET}
        return [stem for stem in BATCH_STEMS if stem in found] + sorted(found - set(BATCH_STEMS))

    def methods_for(self, stem: str) -> list[str]:
        """The method names of one stem's table (for drums, the drums baseline is among them)."""
        return self.stem_methods.get(stem, self.methods)

    def rows(self) -> list[dict]:
        """One flat row per song and method (the per-song CSV)."""
        rows = []
        for item in self.reports:
            rep = item["report"]
            alignment = rep["alignment"]
            for m in rep["methods"]:
                row = {
                    "song": item["song"],
                    "stem": item.get("stem", DEFAULT_TARGET),
                    "method": m["name"],
                    "kind": m["kind"],
                    "suited": m.get("suited", True),
                }
                for source in SOURCE_NAMES:
                    for metric in METRIC_NAMES:
                        row[f"{source}_{metric}"] = m[source][metric]
                row.update(
                    {
                        "seconds": m["seconds"],
                        "error": m["error"] or "",
                        "target": rep["pair"]["target"],
                        "duration_s": rep["pair"]["duration_s"],
                        "alignment_lag_samples": alignment["lag_samples"],
                        "alignment_gain": alignment["gain"],
                        "alignment_correlation": alignment["correlation"],
                        "alignment_ok": alignment["aligned"],
                    }
                )
                rows.append(row)
        return rows

    def summary(self) -> list[dict]:
        """Per stem, method, source and metric: songs counted, median, MAD, quartiles, IQR.

        NaN figures (a method that failed on a song, an undefined metric) are
        left out of that cell's statistics; ``n`` says how many songs count.
        ``source`` is the slot: ``"vocal"`` holds the target stem's figures,
        ``"instrumental"`` everything else's; ``suited`` is false for a blind
        method built for another stem.
        """
        rows = self.rows()
        out = []
        for stem in self.stems:
            for method in self.methods_for(stem):
                mine = [r for r in rows if r["method"] == method and r["stem"] == stem]
                kind = mine[0]["kind"] if mine else ""
                suited = all(r["suited"] for r in mine)
                for source in SOURCE_NAMES:
                    for metric in METRIC_NAMES:
                        values = np.array([r[f"{source}_{metric}"] for r in mine], dtype=np.float64)
                        out.append(
                            {
                                "stem": stem,
                                "method": method,
                                "kind": kind,
                                "suited": suited,
                                "source": source,
                                "metric": metric,
                                **spread(values),
                            }
                        )
        return out

    @property
    def misaligned(self) -> list[str]:
        """Songs whose target does not sit sample-exactly in the mixture (``song`` or ``song (stem)``)."""
        return [
            item["song"] + (f" ({item['stem']})" if "stem" in item else "")
            for item in self.reports
            if not item["report"]["alignment"]["aligned"]
        ]


def spread(values: np.ndarray) -> dict:
    """Median and spread of some figures, NaN left out.

    Returns
    -------
    dict
        ``n``, ``median``, ``mad`` (median absolute deviation, unscaled),
        ``q25``, ``q75``, ``iqr``; NaN when no figure counts.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return {"n": 0, **dict.fromkeys(("median", "mad", "q25", "q75", "iqr"), float("nan"))}
    median = float(np.median(values))
    with np.errstate(invalid="ignore"):
        mad = float(np.median(np.abs(values - median)))
        q25, q75 = (float(q) for q in np.percentile(values, [25, 75]))
    return {"n": int(values.size), "median": median, "mad": mad, "q25": q25, "q75": q75, "iqr": q75 - q25}


def parse_stems(names) -> tuple | None:
    """``--stems`` values (space- or comma-separated) → canonical target names, or None for "every stem found".

    Raises
    ------
    VsepError
        For a name that is not one of :data:`BATCH_STEMS`, or a stem listed twice.
    """
    if names is None:
        return None
    keys = [
        part.strip()
        for item in ([names] if isinstance(names, str) else names)
        for part in str(item).split(",")
        if part.strip()
    ]
    if not keys or keys == ["all"]:
        return None
    out = []
    for key in keys:
        try:
            stem = target_name(key)
        except VsepError:
            stem = None
        if stem not in BATCH_STEMS:
            raise VsepError(f"Unknown stem {key!r} for --stems: a song folder's stems are {', '.join(BATCH_STEMS)}.")
        if stem in out:
            raise VsepError(f"The stem {stem} is listed twice in --stems.")
        out.append(stem)
    return tuple(out)


def run_batch(
    folder,
    *,
    methods=("all",),
    settings: Settings | None = None,
    window_s: float | None = BSS_WINDOW_S,
    align: bool = False,
    max_lag_s: float = 1.0,
    scheduler: str | None = None,
    n_workers: int | None = None,
    order=None,
    max_slices: int | None = None,
    progress: Progress = None,
    stems=None,
    bss_filters: str = "global",
) -> BatchResult:
    """Evaluate every song under ``folder`` on a Dask cluster.

    Parameters
    ----------
    folder : path
        See the module docstring for the layout.
    methods : sequence of str
        Method names (``"all"`` for every one).
    settings : Settings, optional
        Segment, level and engine settings (default: first 4.7 s, level ``"as_is"``).
    window_s, align, max_lag_s, order, max_slices, bss_filters
        As in :func:`vsep_core.evaluate.evaluate_pair`.
    scheduler : str, optional
        Address of an existing Dask scheduler; default: a local cluster.
    n_workers : int, optional
        Local workers (default: one per CPU core, no more than songs).
    progress : callable(fraction, label), optional
        Called as songs finish.
    stems : sequence of str, optional
        Targets to evaluate (of :data:`BATCH_STEMS`); default every stem each
        song has. A song without a stem asked for is reported as skipped for it.

    Returns
    -------
    BatchResult

    Raises
    ------
    VsepError
        For a missing folder, no song folders, an unknown method or stem, or
        a scheduler that cannot be reached.
    """
    started = time.perf_counter()
    settings = evaluation_settings(settings)
    wanted = parse_stems(stems)

    def names_for(stem):
        return [
            m.name
            for m in resolve_methods(list(methods), settings, order=order, max_slices=max_slices, target_name=stem)
        ]

    method_names = names_for(DEFAULT_TARGET)
    songs = discover_songs(folder)
    result = BatchResult(methods=method_names)
    tasks = []  # (song, stem): one Dask task each
    for song in songs:
        if song.problem is not None:
            result.failures.append({"song": song.name, "error": song.problem})
            continue
        for stem in wanted or tuple(song.targets):
            if stem in song.targets:
                tasks.append((song, stem))
            else:
                result.failures.append({"song": song.name, "stem": stem, "error": f"no {stem} file."})
    for stem in dict.fromkeys([stem for _, stem in tasks] + list(wanted or ())):
        result.stem_methods[stem] = names_for(stem)
    total = len(tasks) + len(result.failures)
    done = len(result.failures)
    runnable = tasks
    report(progress, done / max(total, 1), f"{len(tasks)} song(s) × stem(s) to evaluate, {done} skipped")

    if runnable:
        from distributed import as_completed

        from .cluster import run_task
        from .cluster_codec import decode

        with _dask_client(scheduler, n_workers or min(len(runnable), os.cpu_count() or 1)) as (client, label):
            result.cluster = label
            report(progress, done / total, f"Running on {label}")
            batch_id = uuid.uuid4().hex[:8]  # keys unique even when batches share a cluster
            # Each song is vsep_core.cluster's "batch_song" task (evaluate_song), its report sent back as
            # plain data and decoded through an allow-list (vsep_core.cluster_codec), never unpickled here.
            futures = {
                client.submit(
                    run_task,
                    "batch_song",
                    (song, result.stem_methods[stem], settings),
                    dict(
                        window_s=window_s,
                        align=align,
                        max_lag_s=max_lag_s,
                        order=order,
                        max_slices=max_slices,
                        stem=stem,
                        bss_filters=bss_filters,
                    ),
                    key=f"vsep-{batch_id}-song-{i}-{stem}",
                    pure=False,
                ): (song, stem)
                for i, (song, stem) in enumerate(runnable)
            }
            for future in as_completed(futures, loop=client.loop):  # the client is not the default one
                song, stem = futures[future]
                what = song.name if stem == DEFAULT_TARGET else f"{song.name} ({stem})"
                try:
                    outcome = decode(future.result(), "batch_song")
                except Exception as exc:  # noqa: BLE001 - the worker died, the task could not run or sent no plain report
                    outcome = {"song": song.name, "error": f"the Dask task failed: {type(exc).__name__}: {exc}"}
                    if stem != DEFAULT_TARGET:
                        outcome["stem"] = stem
                done += 1
                if "error" in outcome:
                    failure = {"song": outcome["song"], "error": outcome["error"]}
                    if "stem" in outcome:
                        failure["stem"] = outcome["stem"]
                    result.failures.append(failure)
                    report(progress, done / total, f"{done}/{total}: {what} failed")
                else:
                    result.reports.append(outcome)
                    report(progress, done / total, f"{done}/{total}: {what} done")
    stem_rank = {stem: i for i, stem in enumerate(BATCH_STEMS)}

    def sort_key(item):
        stem = item.get("stem", DEFAULT_TARGET)
        return (stem_rank.get(stem, len(stem_rank)), stem, item["song"].lower())

    result.reports.sort(key=sort_key)
    result.failures.sort(key=sort_key)
    result.seconds = time.perf_counter() - started
    return result


class _dask_client:
    """A Dask client on a new local cluster or an existing scheduler; closes what it opened."""

    def __init__(self, scheduler: str | None, n_workers: int):
        self.scheduler, self.n_workers = scheduler, max(1, int(n_workers))
        self.cluster = self.client = None

    def __enter__(self):
        from distributed import Client, LocalCluster, Security

        from .cluster import DESERIALIZERS, connect
        from .cluster_setup import PRELOAD

        if self.scheduler:  # mutual TLS with the cluster's certificates, or a one-line refusal (vsep_core.cluster)
            self.client = connect(self.scheduler)
            return self.client, f"the Dask cluster at {self.scheduler}"
        # Processes, not threads: the methods hold the GIL in places (librosa, museval's loops). TLS with
        # throw-away certificates and loopback only: another local user cannot join the cluster meanwhile;
        # and no HTTP server (no routes, and vsep_core.cluster_setup's preload closes the listener).
        import dask

        with dask.config.set({"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}):
            self.cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                security=Security.temporary(),
                dashboard_address=None,
                silence_logs=logging.ERROR,
                scheduler_kwargs={"preload": [PRELOAD]},
                preload=[PRELOAD],
            )
        self.client = Client(self.cluster, deserializers=list(DESERIALIZERS))
        return self.client, f"a local Dask cluster ({self.n_workers} worker(s), 1 thread each)"

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


# --- outputs -----------------------------------------------------------------------------


def write_outputs(result: BatchResult, out) -> list[Path]:
    """Write ``per_song.csv``, ``summary.csv``, ``failures.csv`` and ``batch.json`` into ``out``.

    All or nothing: written into a staging folder beside ``out`` and moved
    into place when complete (see :mod:`vsep_core.staging`); an earlier
    batch's folder is replaced only then.

    Returns
    -------
    list of Path
    """
    target = check_out_dir(out, entries=BATCH_ENTRIES, marker="batch.json")
    names = ["per_song.csv", "summary.csv", "failures.csv", "batch.json"]
    with StagedFolder(target) as staged:
        try:
            _write_csv(staged.path / names[0], result.rows(), _per_song_columns())
            _write_csv(
                staged.path / names[1],
                result.summary(),
                ["stem", "method", "kind", "suited", "source", "metric", "n", "median", "mad", "q25", "q75", "iqr"],
            )
            _write_csv(staged.path / names[2], result.failures, ["song", "stem", "error"])
        except OSError as exc:
            raise VsepError(f"Cannot write the batch results to {str(out)!r}: {exc.strerror or exc}.") from exc
        write_json(
            {
                "methods": result.methods,
                "stems": result.stems,
                "stem_methods": {stem: result.methods_for(stem) for stem in result.stems},
                "seconds": result.seconds,
                "cluster": result.cluster,
                "summary": result.summary(),
                "failures": result.failures,
                "misaligned_songs": result.misaligned,
                "songs": result.reports,
            },
            staged.path / names[3],
        )
    return [Path(out) / name for name in names]


def _per_song_columns() -> list[str]:
    return (
        ["song", "stem", "method", "kind", "suited"]
        + [f"{s}_{m}" for s in SOURCE_NAMES for m in METRIC_NAMES]
        + [
            "seconds",
            "error",
            "target",
            "duration_s",
            "alignment_lag_samples",
            "alignment_gain",
            "alignment_correlation",
            "alignment_ok",
        ]
    )


def _write_csv(path: Path, rows, columns) -> Path:
    with atomic_file(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return path


def _csv_value(value):
    """A cell: numbers as JSON has them, text no spreadsheet runs as a formula (:func:`vsep_core.text.csv_cell`)."""
    value = json_ready(value)
    return "" if value is None else csv_cell(value)


def format_summary(result: BatchResult) -> str:
    """Per stem, per method: median (MAD) over songs of SI-SDR and SDR, the target and everything else.

    A batch whose only target is the vocal prints one table, as it always
    did; otherwise one table per stem, headed by it (as SiSEC's per-source tables).
    """
    stats = {(r["stem"], r["method"], r["source"], r["metric"]): r for r in result.summary()}
    songs = len({item["song"] for item in result.reports})
    evaluated = (
        f"{len(result.reports)} song(s) evaluated"
        if result.stems == [DEFAULT_TARGET]
        else f"{songs} song(s), {len(result.reports)} song × stem evaluation(s)"
    )
    lines = [
        f"{evaluated}, {len(result.failures)} skipped, in {result.seconds:.1f} s on {result.cluster or 'no cluster'}.",
        "Median over songs (MAD) in dB; each song's SDR is the median over its 1 s frames.",
    ]
    cols = [(s, m) for s in SOURCE_NAMES for m in ("si_sdr", "sdr")]
    name_w = max([18, *(len(m) for stem in result.stems for m in result.methods_for(stem))])
    flagged = []
    for stem in result.stems:
        names = labels(stem)
        short = {
            "vocal": names.target if len(names.target) <= 6 else names.target[:6],
            "instrumental": "instr" if names.is_vocal else "rest",
        }
        lines.append("")
        if result.stems != [DEFAULT_TARGET]:
            lines.append(f"Target: {stem}" + ("" if names.is_vocal else " (rest = everything else)"))
        head = "".join(f"{(short[s] + ' ' + ('SI-SDR' if m == 'si_sdr' else 'SDR')):>17}" for s, m in cols)
        lines.append(f"{'method':{name_w}} {'kind':6} {'n':>3}{head}")
        lines.append("-" * len(lines[-1]))
        for method in result.methods_for(stem):
            first = stats[(stem, method, "vocal", "si_sdr")]
            kind = first["kind"] + ("" if first["suited"] else "*")
            if not first["suited"]:
                flagged.append((stem, method))
            cells = "".join(
                f"{format_db(stats[(stem, method, s, m)]['median'], 8)} "
                f"({format_db(stats[(stem, method, s, m)]['mad'], 5)})"
                for s, m in cols
            )
            lines.append(f"{method:{name_w}} {kind:6} {first['n']:>3}{cells}")
    if flagged:
        lines.append("")
        lines.append(
            "* not built to estimate that target (shown for completeness, not a fair blind baseline): "
            + ", ".join(f"{method} for {stem}" for stem, method in flagged)
            + "."
        )
    if result.misaligned:
        lines.append("")
        target = "vocal" if result.stems == [DEFAULT_TARGET] else "target"
        lines.append(
            f"Warning: in {len(result.misaligned)} song(s) the {target} does not sit sample-exactly in the "
            f"mixture, so their waveform metrics are meaningless: {', '.join(result.misaligned)}."
        )
    for failure in result.failures:
        what = failure["song"] + (f" ({failure['stem']})" if failure.get("stem") else "")
        lines.append(f"Skipped {what}: {failure['error']}")
    return terminal_text("\n".join(lines))  # folder names may hold escape sequences
