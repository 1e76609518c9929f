"""Evaluate separation methods on a (mixture, vocal) pair: report, table, CLI.

:func:`evaluate_pair` runs a list of methods (see :mod:`vsep_core.baselines`)
on one prepared pair and returns a JSON-ready report: the pair, the
alignment check, and each method's SI-SDR / SDR / SIR / SAR for the vocal and
the instrumental. :func:`format_table` prints it as a method × metric table.

Evaluation needs the pair on a common scale, so it is loaded with level
``"as_is"`` (or ``"common"``): the references are the vocal and
``mixture − vocal``, and mixture = vocal + instrumental holds exactly.

The CLI glue (``python -m vsep_core evaluate`` and ``batch``) lives here too:
:func:`add_evaluate_arguments` / :func:`main_evaluate` and
:func:`add_batch_arguments` / :func:`main_batch`. Bad input ends with a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .alignment import MAX_LAG_S, MIN_CORRELATION, apply_alignment, check_alignment
from .audio import Pair, prepare_pair
from .baselines import method_names, resolve_methods, run_method
from .errors import VsepError
from .metrics import BSS_FILTER_LENGTH, BSS_WINDOW_S, METRIC_NAMES, SOURCE_NAMES, evaluate_estimate
from .progress import Progress, report
from .settings import Settings

#: Level modes that keep the pair's true relative level (evaluation needs one).
EVALUATION_LEVELS = ("as_is", "common")

#: How the metrics' column headings read in tables.
METRIC_LABELS = {"si_sdr": "SI-SDR", "sdr": "SDR", "sir": "SIR", "sar": "SAR"}


# --- loading ----------------------------------------------------------------

def evaluation_settings(settings: Settings | None = None, **changes) -> Settings:
    """Settings for evaluation: level ``"as_is"`` unless a common level is asked for.

    Raises
    ------
    VsepError
        When the level is ``"independent"``: each file peak-normalised on its
        own breaks mixture = vocal + instrumental, so no metric would mean anything.
    """
    settings = settings or Settings(level="as_is")
    if changes:
        settings = settings.replace(**changes)
    if settings.level not in EVALUATION_LEVELS:
        raise VsepError(
            f"Evaluation needs the pair at a common level (level {' or '.join(EVALUATION_LEVELS)}); "
            f"level {settings.level!r} normalises each file on its own, which breaks "
            "mixture = vocal + instrumental."
        )
    return settings


def load_pair(mixture, *, vocal=None, instrumental=None, settings: Settings | None = None) -> Pair:
    """Decode and prepare a pair for evaluation (see :func:`evaluation_settings`).

    Parameters
    ----------
    mixture, vocal, instrumental : path, bytes, file object or Decoded
        The target as exactly one of ``vocal`` and ``instrumental``.
    settings : Settings, optional
        Segment and level (default: the first 4.7 s, level ``"as_is"``).

    Returns
    -------
    Pair
        ``info["target_mode"]`` says which target was given.
    """
    pair = prepare_pair(mixture, vocal=vocal, instrumental=instrumental, settings=evaluation_settings(settings))
    # Keep the file names for the report (prepare_pair names the signals by role, for its messages).
    files = {role: str(source) for role, source in
             (("mixture", mixture), ("vocal", vocal), ("instrumental", instrumental))
             if isinstance(source, (str, os.PathLike))}
    pair.info["files"] = files
    return pair


# --- evaluation -------------------------------------------------------------------

def evaluate_pair(pair: Pair, methods, *, settings: Settings | None = None, window_s: float | None = BSS_WINDOW_S,
                  align: bool = False, max_lag_s: float = MAX_LAG_S, progress: Progress = None) -> dict:
    """Run methods on a pair and measure them against the truth.

    Parameters
    ----------
    pair : Pair
        At a common level; the references are ``pair.vocal`` and
        ``pair.mixture − pair.vocal``.
    methods : sequence of str or Separator
        Method names (``"all"`` for every one) or built methods.
    settings : Settings, optional
        Engine settings for methods built from names (and recorded in the report).
    window_s : float or None
        BSS Eval frame length (1 s, as SiSEC; ``None``: whole signal).
    align : bool
        When the alignment check finds a misfit it can repair (a lag or an
        inverted polarity), apply its lag and gain before evaluating — to the
        vocal, or to the instrumental when the pair was given as mixture −
        instrumental. An aligned or unrelated pair is left as it is.
    max_lag_s : float
        Largest lag the alignment check searches.
    progress : callable(fraction, label), optional

    Returns
    -------
    dict
        ``{"pair", "settings", "alignment", "alignment_applied", "bss_eval",
        "methods": [{"name", "kind", "description", "vocal": {metric: dB},
        "instrumental": {...}, "seconds", "info", "error"}], "seconds"}``.
        A method that rejects the pair (:class:`VsepError`) gets ``"error"``
        and NaN metrics; the others still run.
    """
    started = time.perf_counter()
    settings = evaluation_settings(settings)
    methods = [methods] if isinstance(methods, str) else list(methods)
    if all(isinstance(m, str) for m in methods):
        methods = resolve_methods(methods, settings)

    target_mode = pair.info.get("target_mode", "vocal")
    given = "instrumental" if target_mode == "mixture_minus_instrumental" else "vocal"
    given_signal = pair.vocal if given == "vocal" else pair.mixture - pair.vocal
    report(progress, 0.0, f"Checking the alignment of the {given}")
    alignment = check_alignment(pair.mixture, given_signal, pair.sr, max_lag_s=max_lag_s, name=given)
    # Only a real misfit is repaired: an aligned pair's fitted gain is off by <i, v> / <v, v>
    # (the instrumental's chance correlation with the vocal), and an unrelated file has nothing to fix.
    if align and not alignment.aligned and abs(alignment.correlation_at_lag) >= MIN_CORRELATION:
        fixed = apply_alignment(given_signal, alignment.lag_samples, alignment.gain)
        vocal = fixed if given == "vocal" else (pair.mixture - fixed).astype(np.float32)
        pair = Pair(mixture=pair.mixture, vocal=vocal, sr=pair.sr, info={**pair.info, "alignment_applied": True})

    vocal_ref = pair.vocal.astype(np.float64)
    instrumental_ref = pair.mixture.astype(np.float64) - vocal_ref
    if not np.any(instrumental_ref):
        raise VsepError("The instrumental (mixture − vocal) is silent: the vocal file is the mixture itself, "
                        "so there is nothing to separate.")
    if not np.any(vocal_ref):
        raise VsepError("The vocal is silent in the evaluated segment; there is nothing to measure.")
    entries = []
    for i, method in enumerate(methods):
        report(progress, (i + 0.5) / (len(methods) + 0.5), f"Running {method.name}")
        entry = {"name": method.name, "kind": method.kind, "description": method.description}
        t0 = time.perf_counter()
        try:
            separation = run_method(method, pair.mixture, pair.sr, None if method.kind == "blind" else pair.vocal)
            scores = evaluate_estimate(vocal_ref, instrumental_ref, separation.vocal, separation.instrumental,
                                       pair.sr, window_s=window_s)
            entry.update(scores)
            entry["info"] = separation.info
            entry["error"] = None
        except VsepError as exc:
            entry.update({source: dict.fromkeys(METRIC_NAMES, float("nan")) for source in SOURCE_NAMES})
            entry["info"] = {}
            entry["error"] = str(exc)
        entry["seconds"] = time.perf_counter() - t0
        entries.append(entry)
    report(progress, 1.0, "Evaluation done")
    return {
        "pair": _pair_summary(pair, given),
        "settings": settings.to_dict(),
        "alignment": alignment.to_dict(),
        "alignment_applied": bool(pair.info.get("alignment_applied", False)),
        "bss_eval": bss_eval_description(window_s),
        "methods": entries,
        "seconds": time.perf_counter() - started,
    }


def bss_eval_description(window_s: float | None) -> dict:
    """How the SDR / SIR / SAR figures were computed, for the report."""
    try:
        from importlib.metadata import version
        museval_version = version("museval")
    except Exception:  # metadata missing: say so rather than fail
        museval_version = "unknown"
    return {
        "implementation": f"museval {museval_version}, BSS Eval v4 (images), "
                          f"{BSS_FILTER_LENGTH}-tap time-invariant distortion filters",
        "window_s": window_s,
        "aggregation": "median over frames" if window_s is not None else "whole signal",
        "si_sdr": "whole signal, no mean removed",
    }


def _pair_summary(pair: Pair, given: str) -> dict:
    info = pair.info
    files = info.get("files", {})
    return {
        "mixture": files.get("mixture", info.get("mixture", "mixture")),
        given: files.get(given, info.get(given, given)),
        "target": given,
        "sr": pair.sr,
        "n_samples": pair.n_samples,
        "duration_s": pair.duration_s,
        "level": info.get("level"),
    }


# --- output -----------------------------------------------------------------------

def format_db(value, width: int = 7) -> str:
    """A figure in dB for tables: two decimals, ``inf``, or ``n/a`` for NaN / missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a".rjust(width)
    if isinstance(value, float) and math.isinf(value):
        return ("inf" if value > 0 else "-inf").rjust(width)
    return f"{value:{width}.2f}"


def format_table(result: dict) -> str:
    """The report as text: a header, the alignment verdict, then method × metric.

    Parameters
    ----------
    result : dict
        What :func:`evaluate_pair` returned.
    """
    pair, bss = result["pair"], result["bss_eval"]
    target = pair["target"]
    lines = [
        f"Pair: mixture {pair['mixture']} + {target} {pair[target]}, {pair['duration_s']:.2f} s at {pair['sr']} Hz "
        f"(level {pair['level']})",
        f"Alignment: {result['alignment']['verdict']}"
        + (" [lag and gain applied]" if result.get("alignment_applied") else ""),
        f"BSS Eval: {bss['implementation']}; "
        + (f"{bss['window_s']:g} s frames, median over frames" if bss["window_s"] else "whole signal"),
        "All figures in dB; higher is better.",
        "",
    ]
    name_w = max(18, *(len(m["name"]) for m in result["methods"]))
    metric_heads = "".join(METRIC_LABELS[k].rjust(8) for k in METRIC_NAMES)
    group_w = len(metric_heads)
    lines.append(f"{'':{name_w}} {'':6} |{'vocal'.center(group_w)} |{'instrumental'.center(group_w)} |")
    lines.append(f"{'method':{name_w}} {'kind':6} |{metric_heads} |{metric_heads} | {'time':>6}")
    lines.append("-" * len(lines[-1]))
    for m in result["methods"]:
        cells = [" |".join("".join(" " + format_db(m[source][k]) for k in METRIC_NAMES) for source in SOURCE_NAMES)]
        row = f"{m['name']:{name_w}} {m['kind']:6} |{cells[0]} | {m['seconds']:5.2f}s"
        lines.append(row)
        if m.get("error"):
            lines.append(f"{'':{name_w}}   failed: {m['error']}")
    return "\n".join(lines)


def json_ready(value):
    """``value`` with numpy scalars made Python and non-finite floats made ``None`` (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def write_json(result: dict, path) -> Path:
    """Write the report as JSON (NaN and ±inf become ``null``), creating folders."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(json_ready(result), indent=2, allow_nan=False) + "\n")
    except OSError as exc:
        raise VsepError(f"Cannot write the JSON report to {str(path)!r}: {exc.strerror or exc}.") from exc
    return path


# --- CLI --------------------------------------------------------------------------

def _duration(text: str):
    if text.strip().lower() in ("all", "whole", "none", "0"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'all', got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds or 'all', got {text!r}")
    return value


def _window(text: str):
    if text.strip().lower() in ("whole", "all", "none", "0"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'whole', got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds or 'whole', got {text!r}")
    return value


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", nargs="+", default=["all"], metavar="NAME",
                        help="Methods to run (space- or comma-separated; default all): "
                             + ", ".join(method_names()) + ", or seed_progressive_N for N slices.")
    parser.add_argument("--start", type=float, default=0.0, metavar="SECONDS",
                        help="Start of the evaluated segment (default 0).")
    parser.add_argument("--duration", type=_duration, default=Settings().duration_s, metavar="SECONDS",
                        help="Length of the evaluated segment, or 'all' for whole files (default 4.7).")
    parser.add_argument("--level", choices=EVALUATION_LEVELS, default="as_is",
                        help="as_is: files as they are (default); common: one peak gain for both.")
    parser.add_argument("--pooled-windows", choices=("seed", "expand"), default="seed",
                        help="How the seed method maps pooled slices onto windows (default seed).")
    parser.add_argument("--window", type=_window, default=BSS_WINDOW_S, metavar="SECONDS",
                        help="BSS Eval frame length (default 1 s, median over frames, as SiSEC); "
                             "'whole' for one whole-signal figure.")
    parser.add_argument("--apply-alignment", action="store_true",
                        help="Apply the lag and gain the alignment check finds before evaluating.")
    parser.add_argument("--max-lag", type=float, default=MAX_LAG_S, metavar="SECONDS",
                        help=f"Largest lag the alignment check searches (default {MAX_LAG_S:g} s).")


def _settings_from_args(args) -> Settings:
    return evaluation_settings(Settings(level=args.level, start_s=args.start, duration_s=args.duration,
                                        pooled_windows=args.pooled_windows))


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``python -m vsep_core evaluate``."""
    parser.add_argument("--mixture", required=True, metavar="FILE", help="The full mix.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--vocal", metavar="FILE", help="The isolated vocal of the same mix.")
    target.add_argument("--instrumental", metavar="FILE",
                        help="The instrumental of the same mix (vocal = mixture − instrumental).")
    _add_common_arguments(parser)
    parser.add_argument("--json", metavar="OUT", help="Also write the report as JSON to OUT.")
    parser.add_argument("--quiet", action="store_true", help="No progress lines on stderr.")
    return parser


def main_evaluate(args: argparse.Namespace) -> int:
    """Run ``evaluate``: print the table, write JSON if asked. 0 on success, 2 on bad input."""
    try:
        settings = _settings_from_args(args)
        methods = resolve_methods(args.methods, settings)
        pair = load_pair(args.mixture, vocal=args.vocal, instrumental=args.instrumental, settings=settings)
        progress = None if args.quiet else _stderr_progress("evaluate")
        result = evaluate_pair(pair, methods, settings=settings, window_s=args.window,
                               align=args.apply_alignment, max_lag_s=args.max_lag, progress=progress)
        print(format_table(result))
        if args.json:
            path = write_json(result, args.json)
            print(f"\nJSON report written to {path}")
        return 0
    except VsepError as exc:
        print(f"vsep evaluate: error: {exc}", file=sys.stderr)
        return 2


def add_batch_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``python -m vsep_core batch`` (layout in :mod:`vsep_core.batch`)."""
    from .batch import DEFAULT_OUT, LAYOUT_HELP

    parser.description = (parser.description or "") + LAYOUT_HELP
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("folder", metavar="DIR", help="Folder with one sub-folder per song.")
    _add_common_arguments(parser)
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Use an existing Dask cluster (e.g. tcp://10.0.0.5:8786) instead of a local one. "
                             "Its workers need vsep_core installed and access to DIR.")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="Workers of the local cluster (default: one per CPU core, one thread each).")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"Where to write per_song.csv, summary.csv, failures.csv and batch.json "
                             f"(default {DEFAULT_OUT}).")
    parser.add_argument("--quiet", action="store_true", help="No progress on stderr.")
    return parser


def main_batch(args: argparse.Namespace) -> int:
    """Run ``batch``. 0 when every song finished, 1 when some failed (the rest are
    written), 2 on bad input or when no song could be evaluated."""
    from .batch import format_summary, run_batch, write_outputs

    try:
        settings = _settings_from_args(args)
        resolve_methods(args.methods, settings)  # fail early on a typo
        if args.workers is not None and args.workers < 1:
            raise VsepError(f"--workers must be at least 1, got {args.workers}.")
        progress = None if args.quiet else _stderr_progress("batch")
        result = run_batch(args.folder, methods=args.methods, settings=settings, window_s=args.window,
                           align=args.apply_alignment, max_lag_s=args.max_lag, scheduler=args.scheduler,
                           n_workers=args.workers, progress=progress)
        paths = write_outputs(result, args.out)
        print(format_summary(result))
        print("\nWritten: " + ", ".join(str(p) for p in paths))
        if not result.reports:
            print("vsep batch: error: no song could be evaluated.", file=sys.stderr)
            return 2
        return 1 if result.failures else 0
    except VsepError as exc:
        print(f"vsep batch: error: {exc}", file=sys.stderr)
        return 2


def _stderr_progress(command: str):
    last = {"label": None}

    def progress(fraction: float, label: str) -> None:
        if label != last["label"]:
            last["label"] = label
            print(f"[{command} {100 * fraction:5.1f} %] {label}", file=sys.stderr, flush=True)

    return progress
