"""A finished result packed into files for the results store (:mod:`vsep_core.store`), and read back.

A bundle is ``relative path → bytes``:

- ``share.json``: what the shared page needs to lay itself out (title, target
  labels, oracle note, sample rate, which estimates, the plots' axes);
- ``metrics.json`` (the ``evaluate --json`` shape), ``summary.json``, ``settings.json``;
- ``listening_ratings.csv`` and ``.json``: a listening test's ratings (:mod:`vsep_core.listening`), when the
  publisher rated the pair;
- ``audio/*.flac``: the analysed segment of the inputs and the chosen
  estimates (FLAC: lossless, about half a 16-bit WAV), when audio is included;
- ``full_quality.json``: the runs made at full quality (their rate, channels and scores), when one was made, and
  with the audio ``audio/full_quality/*.flac`` (at the mixture file's own rate and channels);
- ``plots.npz``: the spectrogram magnitudes reduced for display (dB, float16)
  and each included run's EQ curves, all passes added up;
- ``report.html``: the self-contained report (:func:`vsep_core.report.html_report`), stored with a
  mark where the chart library goes (``plotly.min.js``, one file shared by every result): :func:`report_html`.

File names of the inputs are never packed: every name the pair's ``info`` or
the metrics carry is replaced by its role ("mixture", "vocal"), so only a typed
title names the song.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np

from .errors import VsepError
from .jsonio import json_ready, json_text
from .listening import RATINGS_JSON, ratings_files, read_ratings
from .stems import labels, oracle_note, pair_target

FORMAT = 1
#: ``report.html`` is stored with this in place of the chart library, which is :data:`PLOTLY_FILE`.
PLOTLY_MARK = "/*vsep: plotly.min.js*/"
PLOTLY_FILE = "plotly.min.js"
#: Reports since the packed chart library (gzip + base64, unpacked by the page): this mark stands where the packed
#: text was, and the packed text is :data:`PLOTLY_PACKED_FILE`, shared by every result like :data:`PLOTLY_FILE`
#: (which results stored before keep).
#: The mark includes its element's opening (quotes and ">"), which no escaped text in the report can hold.
PLOTLY_PACKED_MARK = 'id="vsep-plotly">vsep:plotly.js.gz.b64'
PLOTLY_PACKED_FILE = "plotly.js.gz.b64"
#: The chart-library files a result may hold: never offered as the result's own files.
LIBRARY_FILES = (PLOTLY_FILE, PLOTLY_PACKED_FILE)
_NAME_KEYS = ("mixture", "vocal", "instrumental", "label", "files")


def scrub_info(info: dict) -> dict:
    """A pair's ``info`` with every file name and label replaced by its role."""
    out = {k: v for k, v in (info or {}).items() if k not in _NAME_KEYS}
    for key in ("mixture", "vocal", "instrumental"):
        if key in (info or {}):
            out[key] = key
    return out


def scrub_metrics(metrics: dict | None) -> dict | None:
    """``metrics.json`` with the files' names in its ``pair`` replaced by their roles."""
    if metrics is None:
        return None
    pair = dict(metrics.get("pair") or {})
    for key in ("mixture", "vocal", "instrumental"):
        if key in pair:
            pair[key] = key
    return {**metrics, "pair": pair}


def _scrub_rating_info(info: dict) -> dict:
    """A listening test's ``info`` without the pair's label (it may hold a file name): the title names a result."""
    return {k: v for k, v in (info or {}).items() if k != "pair"}


def flac_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit FLAC of a mono or (samples, channels) signal."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0), sr, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def run_key(label: str) -> str:
    """``"3"`` → ``"N=3"``; ``"greedy"``, ``"best_prefix"`` as they are (the Results page's player keys)."""
    return f"N={label}" if str(label).isdigit() else str(label)


def default_estimates(result, metrics: dict | None = None) -> list[str]:
    """The runs published by default: the lowest loss, the best SI-SDR (when scored), the greedy order, its best prefix."""
    chosen = [str(result.best_progressive.n)]
    if metrics is not None:
        scored = [
            m
            for m in metrics.get("methods", [])
            if m.get("name", "").startswith("seed_progressive")
            and not m.get("error")
            and m.get("vocal", {}).get("si_sdr") is not None
        ]
        if scored:
            best = max(scored, key=lambda m: m["vocal"]["si_sdr"])
            n = str(len(best["info"]["slices"]))
            if n not in chosen:
                chosen.append(n)
    return chosen + [label for label, _ in result.labelled_runs() if label in ("greedy", "best_prefix")]


def _display_db(mag: np.ndarray, max_cols: int) -> tuple[np.ndarray, int]:
    """Magnitude → the display's dB (80 dB range), pooled as the page draws it; and the column factor."""
    from .plots import MAX_ROWS, reduce_for_display, to_display_db

    reduced, _, ci = reduce_for_display(np.asarray(mag, dtype=np.float32), MAX_ROWS, max_cols)
    factor = int(ci[1] - ci[0]) if len(ci) > 1 else 1
    return to_display_db(reduced).astype(np.float16), factor


def pack_result(
    result,
    pair,
    *,
    title: str,
    metrics: dict | None = None,
    audio: bool = True,
    estimates=None,
    eq_curves: dict | None = None,
    report: bool = True,
    ratings: dict | None = None,
    full_quality=(),
) -> dict:
    """Pack an experiment's result for publishing.

    Parameters
    ----------
    result : vsep_core.experiment.ExperimentResult
        With each published run's audio (``keep_audio``).
    pair : vsep_core.audio.Pair
        The analysed segment the result was made from.
    title : str
    metrics : dict, optional
        :func:`vsep_core.evaluate.evaluate_experiment`'s report (the figures shown).
    audio : bool
        Include the inputs' and the chosen estimates' audio (and the report's players).
    estimates : iterable of str, optional
        Run labels (``"1"`` … ``"N"``, ``"greedy"``, ``"best_prefix"``) or ``"all"``;
        default :func:`default_estimates`.
    eq_curves : dict, optional
        Run label → EQ curves of every pass (``[(view, eq), …]``, as the Results page draws them).
    report : bool
        Include ``report.html``.
    ratings : dict, optional
        A listening test of this pair, ``{"rows": …, "info": …}`` (:func:`vsep_core.listening.ratings_rows` and
        what the trial was): packed as :func:`vsep_core.listening.ratings_files` makes them.
    full_quality : sequence of FullQualityRun, optional
        Runs made at full quality (:mod:`vsep_core.full_quality`): their scores always, their audio (FLAC at its own
        rate and channels; needs the runs' ``target`` and ``complement``) when ``audio``; the report shows them.

    Returns
    -------
    dict
        ``relative path → bytes``.
    """
    import dataclasses

    from . import report as report_mod
    from .views import stft

    runs = dict(result.labelled_runs())
    if estimates is None:
        chosen = default_estimates(result, metrics)
    elif estimates == "all" or (not isinstance(estimates, str) and "all" in estimates):
        chosen = list(runs)
    else:
        chosen = [str(e) for e in estimates]
    unknown = [c for c in chosen if c not in runs]
    if unknown:
        raise VsepError(f"This result has no run {unknown[0]!r}; it has {', '.join(runs)}.")
    names = labels(pair_target(result.pair_info or pair.info))
    settings = result.settings
    hop = settings.hop_for(pair.n_samples)
    clean_pair = dataclasses.replace(pair, info=scrub_info(pair.info))
    clean_result = dataclasses.replace(result, pair_info=scrub_info(result.pair_info))
    metrics = scrub_metrics(metrics)
    files: dict[str, bytes] = {}
    entries = []
    plot_arrays: dict[str, np.ndarray] = {}
    for label in chosen:
        run = runs[label]
        key = run_key(label)
        entry = {
            "key": key,
            "label": label,
            "n": run.n,
            "loss": float(run.final_loss),
            "slices": list(run.slices),
            "audio": None,
            "complement_audio": None,
        }
        if audio:
            if run.estimate is None:
                raise VsepError(f"Run {key} has no audio kept; publish without audio.")
            entry["audio"] = f"audio/{_safe(key)}_{names.target_file}.flac"
            files[entry["audio"]] = flac_bytes(run.estimate.vocal, pair.sr)
            if label == str(result.best_progressive.n) or label == "greedy":
                entry["complement_audio"] = f"audio/{_safe(key)}_{names.complement_file}.flac"
                files[entry["complement_audio"]] = flac_bytes(run.estimate.instrumental, pair.sr)
        if run.estimate is not None:
            plot_arrays[f"spec/{key}"], col_factor = _display_db(
                np.abs(stft(run.estimate.vocal_raw, settings, hop_length=hop)), 300
            )
        if eq_curves and label in eq_curves:
            passes = eq_curves[label]
            n_windows = passes[-1][1].shape[1]
            total = np.zeros((passes[-1][1].shape[0], n_windows), dtype=np.float32)
            for _, eq in passes:
                total[:, : eq.shape[1]] += eq[:, :n_windows]
            from .plots import MAX_COLS, MAX_ROWS, reduce_for_display

            reduced, _, ci = reduce_for_display(total, MAX_ROWS, MAX_COLS)
            plot_arrays[f"eq/{key}"] = reduced.astype(np.float16)
            entry["eq_col_factor"] = int(ci[1] - ci[0]) if len(ci) > 1 else 1
        entries.append(entry)
    col_factor = 1
    for name, signal in (("target", pair.vocal), ("mixture", pair.mixture)):
        plot_arrays[f"spec/{name}"], col_factor = _display_db(np.abs(stft(signal, settings, hop_length=hop)), 300)
    inputs = {}
    if audio:
        inputs = {"mixture": "audio/mixture.flac", "target": f"audio/target_{names.target_file}.flac"}
        files[inputs["mixture"]] = flac_bytes(pair.mixture, pair.sr)
        files[inputs["target"]] = flac_bytes(pair.vocal, pair.sr)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k.replace("/", "__"): v for k, v in plot_arrays.items()})
    files["plots.npz"] = buf.getvalue()
    summary = report_mod.summary_dict(clean_result, metrics=metrics, written=set())
    files["summary.json"] = json_text(summary).encode()
    files["settings.json"] = json_text(settings.to_dict()).encode()
    if metrics is not None:
        files["metrics.json"] = json_text(metrics).encode()
    if ratings is not None:
        files.update(ratings_files(ratings["rows"], _scrub_rating_info(ratings["info"])))
    full_entries = _pack_full_quality(full_quality, names, files, audio)
    if report:
        # The report plays only what was chosen: the other runs' audio is left out.
        def only_chosen(run, label):
            keep = run is not None and label in chosen
            return run if keep or run is None else dataclasses.replace(run, estimate=None)

        report_result = dataclasses.replace(
            clean_result,
            progressive=[only_chosen(r, str(r.n)) for r in result.progressive],
            greedy_run=only_chosen(result.greedy_run, "greedy"),
            best_prefix_run=(
                only_chosen(result.greedy_run, "greedy")
                if result.best_prefix_run is result.greedy_run
                else only_chosen(result.best_prefix_run, "best_prefix")
            ),
        )
        spectrograms = {
            label: np.abs(stft(runs[label].estimate.vocal_raw, settings, hop_length=hop))
            for label in chosen
            if runs[label].estimate is not None and label == "greedy"
        }
        html = report_mod.html_report(
            report_result,
            clean_pair,
            metrics=metrics,
            spectrograms=spectrograms,
            title=title,
            players=audio,
            full_quality=full_quality,
        )
        # The chart library (2 MB packed, the same in every report) is stored once for all results, not per result.
        packed = report_mod.plotly_packed()
        if f'id="vsep-plotly">{packed}' in html:
            html = html.replace(f'id="vsep-plotly">{packed}', PLOTLY_PACKED_MARK, 1)
            files[PLOTLY_PACKED_FILE] = packed.encode()
        files["report.html"] = html.encode()
    share = {
        "format": FORMAT,
        "title": title,
        "target": names.to_dict(),
        "oracle_note": oracle_note(names.name),
        "sr": pair.sr,
        "duration_s": pair.duration_s,
        "hop": hop,
        "spec_col_factor": col_factor,
        "audio": bool(audio),
        "inputs": inputs,
        "estimates": entries,
        "source": "dashboard",
        "seed_compatible": settings.is_seed_compatible,
        "full_quality": full_entries,
    }
    files["share.json"] = json_text(json_ready(share)).encode()
    return files


def _pack_full_quality(runs, names, files: dict, audio: bool) -> list:
    """``full_quality.json`` (and with ``audio`` each run's FLACs) into ``files``; the share.json entries."""
    from .full_quality import run_title

    entries = []
    for run in runs:
        key = run_key(run.label)
        entry = {
            "key": key,
            "label": run.label,
            "title": run_title(run.label),
            "sr": run.sr,
            "channels": run.channels,
            "quality": run.quality,
            "held_hz": run.held_hz,
            "scores": run.scores,
            "audio": None,
            "complement_audio": None,
        }
        if audio:
            if run.target is None or run.complement is None:
                raise VsepError(f"The full-quality audio of run {key} was not kept; publish without audio.")
            for slot, part, y in (
                ("audio", names.target_file, run.target),
                ("complement_audio", names.complement_file, run.complement),
            ):
                entry[slot] = f"audio/full_quality/{_safe(key)}_{part}.flac"
                files[entry[slot]] = flac_bytes(y, run.sr)
        entries.append(entry)
    if entries:
        files["full_quality.json"] = json_text(
            json_ready(
                {"runs": {e["label"]: {k: v for k, v in e.items() if k not in ("key", "label")} for e in entries}}
            )
        ).encode()
    return entries


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")


def bundle_from_folder(folder, *, title: str | None = None, audio: bool = True) -> tuple[dict, str]:
    """Pack a ``python -m vsep_core run`` results folder (it needs ``metrics.json``, from ``run --metrics``).

    Returns ``(files, title)``; the default title is the folder's name.
    """
    import soundfile as sf

    root = Path(folder)
    if not root.is_dir():
        raise VsepError(f"{folder} is not a folder.")
    if not (root / "metrics.json").is_file():
        raise VsepError(
            f"{folder} has no metrics.json: run `python -m vsep_core run … --metrics` to score the "
            "runs, then share the folder."
        )
    try:
        metrics = scrub_metrics(json.loads((root / "metrics.json").read_text()))
        summary = json.loads((root / "summary.json").read_text()) if (root / "summary.json").is_file() else {}
    except (ValueError, OSError) as exc:
        raise VsepError(f"{folder}: metrics.json or summary.json is not readable JSON ({exc}).") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("methods"), list):
        raise VsepError(f"{folder}/metrics.json is not an evaluate report (no 'methods').")
    title = " ".join(str(title or root.resolve().name).split())
    target = (summary.get("target") or {}).get("name") or (metrics.get("pair") or {}).get("target_name")
    names = labels(target)
    if "pair" in summary:
        summary["pair"] = scrub_info(summary["pair"])
    files: dict[str, bytes] = {"metrics.json": json_text(metrics).encode(), "summary.json": json_text(summary).encode()}
    if (root / "settings.json").is_file():
        files["settings.json"] = (root / "settings.json").read_bytes()
    if (root / RATINGS_JSON).is_file():  # a listening test's ratings saved into the folder (the dashboard's ZIP)
        rated = read_ratings((root / RATINGS_JSON).read_bytes())
        files.update(ratings_files(rated["rows"], _scrub_rating_info(rated["info"])))
    entries, inputs, sr = [], {}, (metrics.get("pair") or {}).get("sr")
    wav_runs = []
    for entry in summary.get("progressive", []):
        wav_runs.append((str(entry["n"]), entry.get("wav"), entry.get("final_loss"), entry.get("slices", [])))
    greedy = summary.get("greedy")
    if greedy:
        wav_runs.append(("greedy", greedy.get("wav"), greedy.get("loss"), greedy.get("sequence", [])))
    if summary.get("method") == "joint":
        wav_runs.append(("joint", f"joint/extracted_{names.target_file}.wav", summary.get("final_loss"), []))
    for label, wav, loss, slices in wav_runs:
        entry = {
            "key": run_key(label),
            "label": label,
            "n": len(slices),
            "loss": loss,
            "slices": slices,
            "audio": None,
            "complement_audio": None,
        }
        if audio and wav and (root / wav).is_file():
            y, sr = sf.read(root / wav, dtype="float32")
            entry["audio"] = f"audio/{_safe(entry['key'])}_{names.target_file}.flac"
            files[entry["audio"]] = flac_bytes(y, sr)
        entries.append(entry)
    if audio:
        for role, rel in (
            ("mixture", ["1_slices/mixture.wav", "joint/mixture.wav"]),
            ("target", ["1_slices/target.wav", "joint/target.wav"]),
        ):
            found = next((root / r for r in rel if (root / r).is_file()), None)
            if found is not None:
                y, sr = sf.read(found, dtype="float32")
                inputs[role] = f"audio/{role}.flac"
                files[inputs[role]] = flac_bytes(y, sr)
    full_entries = _pack_full_quality(_folder_full_quality(root, audio), names, files, audio)
    share = {
        "format": FORMAT,
        "title": title,
        "target": names.to_dict(),
        "oracle_note": oracle_note(names.name),
        "sr": sr,
        "duration_s": (metrics.get("pair") or {}).get("duration_s"),
        "hop": None,
        "audio": bool(audio),
        "inputs": inputs,
        "estimates": entries,
        "source": "command line",
        "seed_compatible": None,
        "full_quality": full_entries,
    }
    files["share.json"] = json_text(json_ready(share)).encode()
    return files, title


def _folder_full_quality(root: Path, audio: bool) -> list:
    """The runs of a results folder made with ``run --full-quality`` (its ``full_quality.json``), as
    :class:`~vsep_core.full_quality.FullQualityRun` with their audio when ``audio``; ``[]`` without the file."""
    from .full_quality import run_from_wavs

    path = root / "full_quality.json"
    if not path.is_file():
        return []
    try:
        found = json.loads(path.read_text())
        listed = found["runs"]
        if not isinstance(listed, dict):
            raise TypeError("'runs' is not a mapping")
    except (ValueError, OSError, KeyError, TypeError) as exc:
        raise VsepError(f"{path} is not a full_quality.json that `run --full-quality` writes ({exc}).") from None
    runs = []
    inside = root.resolve()
    for label, entry in listed.items():
        named = entry.get("files") if isinstance(entry, dict) else None
        if not isinstance(named, list) or len(named) != 2:
            raise VsepError(f"{path}: run {label!r} does not name its two WAV files.")
        wavs = [(root / str(rel)).resolve() for rel in named]
        for rel, wav in zip(named, wavs):
            if not wav.is_relative_to(inside) or not wav.is_file():  # only the folder's own files are read
                raise VsepError(f"{path} names {rel!r}, which is not a file of {root}.")
        try:
            runs.append(
                run_from_wavs(
                    str(label),
                    wavs[0].read_bytes(),
                    wavs[1].read_bytes(),
                    held_hz=entry.get("held_above_hz"),
                    scores=entry.get("scores"),
                    seconds=entry.get("seconds"),
                    files=[str(w.relative_to(inside)) for w in wavs],
                    keep_audio=audio,
                )
            )
        except (RuntimeError, OSError) as exc:  # soundfile's LibsndfileError is a RuntimeError
            raise VsepError(f"{path}: run {label!r}'s WAV files cannot be read ({exc}).") from None
    return runs


def report_html(read) -> bytes:
    """The self-contained report of a stored result (``read(path) → bytes``), its chart library put back."""
    html = read("report.html")
    mark = f"<script>{PLOTLY_MARK}</script>".encode()
    if mark in html:  # a result stored before the library was packed
        html = html.replace(mark, b"<script>" + read(PLOTLY_FILE) + b"</script>", 1)
    elif PLOTLY_PACKED_MARK.encode() in html:
        html = html.replace(PLOTLY_PACKED_MARK.encode(), b'id="vsep-plotly">' + read(PLOTLY_PACKED_FILE), 1)
    return html


def load_plots(data: bytes) -> dict:
    """``plots.npz`` back: ``{"spec/target": dB array, "eq/N=3": …}`` (no pickles: plain arrays only)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k.replace("__", "/"): npz[k].astype(np.float32) for k in npz.files}
