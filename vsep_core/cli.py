"""Command line: ``python -m vsep_core run|evaluate|attribute|batch|check``.

The one CLI module: it parses arguments, calls the library, draws the
progress bar (:class:`vsep_core.progress.TerminalProgress`) and turns
:class:`VsepError` into a one-line message on stderr and exit code 2, never a
traceback. The three working commands share one option vocabulary: the same
spelling for the segment (``--start``, ``--duration SECONDS|all``), the level
(``--level independent|common|as-is``), the slices (``--order``,
``--slices``) and the engine settings.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import time

from .errors import VsepError
from .limits import BSS_WINDOW_S, EVALUATE_WORKERS, MAX_EVALUATE_WORKERS, MAX_LAG_S
from .settings import LEVEL_MODES, PASS_METHODS, POOLED_WINDOW_MODES, Settings
from .staging import release_all_claims

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


# --- value types: one spelling everywhere ---------------------------------------------


def level_value(text: str) -> str:
    """``independent``, ``common`` or ``as-is`` (``as_is`` is read too) → the setting's name."""
    key = str(text).strip().lower().replace("-", "_")
    if key not in LEVEL_MODES:
        raise argparse.ArgumentTypeError(f"expected independent, common or as-is, got {text!r}")
    return key


def _seconds_or(word: str, text: str):
    """Seconds (> 0) → float, or ``word`` → None."""
    if text.strip().lower() == word:
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or '{word}', got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds or '{word}', got {text!r}")
    return value


def duration_value(text: str):
    """Seconds (> 0) or ``all`` (the whole file) → float or None."""
    return _seconds_or("all", text)


def window_value(text: str):
    """BSS Eval frame length: seconds (> 0) or ``whole`` (one whole-signal figure) → float or None."""
    return _seconds_or("whole", text)


#: What ``run --write`` takes besides run numbers.
WRITE_WORDS = ("all", "none", "inputs", "best", "greedy", "best_prefix")


def write_value(text: str):
    """``run --write``: which WAVs to write → None (every file) or a frozenset of words and run numbers.

    Comma-separated: ``all``; ``none``; ``inputs`` (copies of the mixture and the
    target); ``best`` (the progressive run with the lowest loss); ``greedy`` and
    ``best_prefix`` (``best-prefix``); run numbers ``1`` … ``N``.
    """
    parts = [part.strip().lower().replace("-", "_") for part in str(text).split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. best,greedy (or all, none)")
    for part in parts:
        if part not in WRITE_WORDS and not (part.isdigit() and int(part) >= 1):
            raise argparse.ArgumentTypeError(
                f"expected {', '.join(WRITE_WORDS)} or run numbers (1, 2, …), got {part!r}"
            )
    if "all" in parts:
        if len(parts) > 1:
            raise argparse.ArgumentTypeError("'all' already means every file; give it alone")
        return None
    if "none" in parts:
        if len(parts) > 1:
            raise argparse.ArgumentTypeError("'none' means no WAV at all; give it alone")
        return frozenset()
    return frozenset(str(int(part)) if part.isdigit() else part for part in parts)


def order_value(text: str) -> list[str]:
    """Comma-separated slices (names, numbers or short names)."""
    return [part.strip() for part in text.split(",") if part.strip()]


# --- argument groups ----------------------------------------------------------------------


def _add_audio_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mixture", required=True, metavar="FILE", help="the song (any format libsndfile or ffmpeg decodes)"
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--target",
        "--vocal",
        dest="vocal",
        metavar="FILE",
        help="the isolated target stem of the same song (the oracle target): the vocal by "
        "default, or the stem --target-name names (--vocal is the same option)",
    )
    target.add_argument(
        "--instrumental",
        metavar="FILE",
        help="everything but the target, from the same song (for the vocal: the instrumental); "
        "the target is then mixture − this",
    )
    p.add_argument(
        "--target-name",
        default=None,
        metavar="NAME",
        help="which stem the target is: vocals, drums, bass, other or chords (vocals); names the "
        "outputs, and 'everything else' replaces 'instrumental' for any stem but the vocal",
    )


def _add_settings_arguments(p: argparse.ArgumentParser, *, level_default: str) -> None:
    d = Settings()
    g = p.add_argument_group("analysis settings (defaults reproduce the research code)")
    g.add_argument(
        "--start", type=float, default=d.start_s, metavar="SECONDS", help="segment start in seconds (%(default)s)"
    )
    g.add_argument(
        "--duration",
        type=duration_value,
        default=d.duration_s,
        metavar="SECONDS|all",
        help="segment length in seconds, or 'all' for the whole file (%(default)s)",
    )
    g.add_argument(
        "--level",
        type=level_value,
        default=level_default,
        metavar="{independent,common,as-is}",
        help="peak normalisation the engine sees: independent (the research prepare step's quirk), "
        "common (one gain, keeps the pair's relative level), or as-is (none: how best.py read "
        "the files that made the golden numbers) "
        f"({level_default.replace('_', '-')})",
    )
    g.add_argument(
        "--order",
        type=order_value,
        default=None,
        metavar="SLICES",
        help="comma-separated slice order (names, numbers or short names; default 1,2,…,18)",
    )
    g.add_argument(
        "--slices",
        type=int,
        default=None,
        metavar="N",
        help="largest number of slices: progressive runs N = 1 … this, and the greedy search orders "
        "the first N of --order (default: all of the order)",
    )
    g.add_argument("--hop", type=int, default=d.hop_length, help="STFT hop in samples (%(default)s)")
    g.add_argument(
        "--windows", type=int, default=None, help="choose the hop that gives this many windows (overrides --hop)"
    )
    g.add_argument("--learning-rate", type=float, default=d.learning_rate, help="(%(default)s)")
    g.add_argument("--iterations", type=int, default=d.iterations, help="(%(default)s)")
    g.add_argument("--clip-db", type=float, default=d.clip_db, help="EQ limit in dB, ± (%(default)s)")
    g.add_argument(
        "--pooled-windows",
        choices=POOLED_WINDOW_MODES,
        default=d.pooled_windows,
        help="seed: pooled slices adjust only the first half of the windows (the research quirk); "
        "expand: pooled window j adjusts windows 2j and 2j+1 (%(default)s)",
    )
    g.add_argument(
        "--pass-method",
        choices=PASS_METHODS,
        default=d.pass_method,
        help="gradient descent: closed form where exact, or the iterative loop (%(default)s)",
    )


def _add_bss_filters_argument(g) -> None:
    g.add_argument(
        "--bss-filters",
        choices=("global", "framewise"),
        default="global",
        help="BSS Eval distortion filters: global (fitted once on the whole signal, the SiSEC 2018 "
        "setting) or framewise (fitted on each frame; slower) (%(default)s)",
    )


def _add_scoring_arguments(p: argparse.ArgumentParser) -> None:
    from .baselines import method_names

    g = p.add_argument_group("scoring")
    g.add_argument(
        "--methods",
        nargs="+",
        default=["all"],
        metavar="NAME",
        help="methods to run (space- or comma-separated; default all: for the vocal every one but "
        "hpss_percussive, a drums baseline): "
        + ", ".join(method_names("drums"))
        + ", or seed_progressive_N for the first N slices of --order",
    )
    g.add_argument(
        "--window",
        type=window_value,
        default=BSS_WINDOW_S,
        metavar="SECONDS|whole",
        help="BSS Eval frame length (default 1 s, median over frames, as SiSEC); 'whole' for one whole-signal figure",
    )
    _add_bss_filters_argument(g)
    g.add_argument(
        "--apply-alignment", action="store_true", help="apply the lag and gain the alignment check finds before scoring"
    )
    g.add_argument(
        "--max-lag",
        type=float,
        default=MAX_LAG_S,
        metavar="SECONDS",
        help="largest lag the alignment check searches (%(default)s s)",
    )


def _add_joint_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("joint matching (the joint method: every window's EQ learned at once with Adam)")
    g.add_argument("--joint-steps", type=int, default=300, metavar="N", help="Adam updates (%(default)s)")
    g.add_argument(
        "--joint-step-size",
        type=float,
        default=1.0,
        metavar="DB",
        help="Adam's learning rate, in dB per step (%(default)s)",
    )
    g.add_argument(
        "--joint-views",
        default="raw",
        metavar="VIEWS",
        help="views in the loss with optional weights, e.g. raw or raw:1,vertical:0.5,17:2, or "
        "smooth: raw with the smoothing slices 3,4,6,8,17,18, which raised the SI-SDR by a "
        "further 0.3-0.6 dB on every measured pair but runs without the compiled fast path "
        "(%(default)s)",
    )
    g.add_argument(
        "--joint-clip-db",
        type=float,
        default=None,
        metavar="DB",
        help="bound every EQ value to ± this many dB (default: unbounded)",
    )


def joint_from_args(args):
    """:class:`vsep_core.joint.JointSettings` from the arguments (raises VsepError on bad values)."""
    from .joint import JointSettings, parse_views

    return JointSettings(
        steps=args.joint_steps,
        step_size=args.joint_step_size,
        views=parse_views(args.joint_views),
        clip_db=args.joint_clip_db,
    )


def _with_file_names(pair, args):
    """``pair`` with the given files' names (not their folders) in its ``info``, for the report and summary.json,
    as the dashboard names a visitor's files."""
    import dataclasses
    from pathlib import Path

    other = "vocal" if args.vocal is not None else "instrumental"
    from .text import display_name

    # Printable and bounded (no bidi override or escape sequence in the report, summary.json or terminal).
    names = {"mixture": display_name(Path(args.mixture).name), other: display_name(Path(getattr(args, other)).name)}
    for role, label in pair.info.get("streams", {}).items():  # a file with several audio streams: say which
        if not getattr(args, "quiet", False):
            print(f"vsep {args.command}: note: the {role} file: used {label}.", file=sys.stderr)
    return dataclasses.replace(pair, info={**pair.info, **names})


def segment_note(pair, settings) -> str:
    """Which part of the song was analysed, at what rate, and how to choose another part: what ``run`` prints."""
    info = pair.info
    whole = info.get("source_durations_s", {}).get("mixture")
    name = info.get("mixture", "mixture")
    of = f"the mixture “{name}”" + (f" ({_clock(whole)} long)" if whole and math.isfinite(whole) else "")
    start, end = settings.start_s, settings.start_s + pair.duration_s
    if settings.duration_s is None and start == 0:
        part = f"all of {of}"
        how = "choose a part with --start SECONDS and --duration SECONDS."
    else:
        part = f"{start:.2f} s to {end:.2f} s of {of}"
        how = "choose another part with --start SECONDS and --duration SECONDS, or --duration all for the whole song."
    return (
        f"analysed: {part}, at {settings.sr} Hz mono (--full-quality also writes each result at the file's "
        f"own rate and channels); {how}"
    )


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def _write_full_quality(
    args,
    pair,
    settings,
    outputs,
    runs: dict,
    analysis=None,
    *,
    eq=None,
    inputs: bool = False,
    featured: str | None = None,
    bar=None,
) -> dict:
    """``--full-quality``: each run's EQ on the original mixture, its WAVs beside the run's (and, with
    ``--metrics``, its scores), recorded in ``outputs`` (README.txt and the report describe them), then
    ``full_quality.json``; returns its ``runs`` entry, ``{label: {"sr", "channels", "held_above_hz", "files",
    "seconds", "scores"}}``.

    ``runs`` maps a label to a seed run's slices, or ``{"joint": None}`` with the joint result's ``eq``;
    ``inputs``: also the mixture's and the target file's segments at their own rate (beside ``1_slices/``'s copies);
    ``featured``: the run whose audio the report plays (the others' audio is written and dropped).
    """
    from .api import full_quality, full_quality_runs
    from .full_quality import decode_segment

    given = "vocal" if args.vocal is not None else "instrumental"
    target = (args.vocal if args.vocal is not None else args.instrumental) if args.metrics else None
    mixture = decode_segment(args.mixture, settings)

    def write(label, found) -> None:
        outputs.add_full_quality(
            label,
            found.estimate,
            scores=found.scores,
            seconds=found.seconds,
            slices=runs.get(label),
            keep_audio=label == featured,
        )

    if eq is not None:
        (label,) = runs
        found = full_quality(
            mixture, pair, settings, eq=eq, target=target, given=given, bss_filters=args.bss_filters, progress=bar
        )
        write(label, found)
    else:
        full_quality_runs(
            mixture,
            pair,
            settings,
            runs,
            analysis=analysis,
            target=target,
            given=given,
            bss_filters=args.bss_filters,
            on_run=write,
            progress=bar,
        )
    if inputs:
        outputs.add_full_quality_inputs(
            mixture, decode_segment(args.vocal, settings, name="target") if args.vocal is not None else None
        )
    return outputs.finish_full_quality()["runs"]


def _featured(result, chosen: dict) -> str | None:
    """The run the report plays at full quality: the lowest-loss run when it was written, else the first."""
    best = str(result.best_progressive.n)
    return best if best in chosen else next(iter(chosen), None)


def _full_quality_lines(found: dict, names) -> list[str]:
    """The terminal's lines about the full-quality files: rate, channels and (with --metrics) the scores."""
    lines = []
    for label, entry in found.items():
        line = f"  {label:>12}: {entry['sr']} Hz, {entry['channels']} channel(s)"
        scores = entry.get("scores")
        if scores:
            v = scores["vocal"]
            line += (
                f"; {names.target} SI-SDR {v['si_sdr']:.2f} dB, SDR {v['sdr']:.2f}, SIR {v['sir']:.2f}, "
                f"SAR {v['sar']:.2f} ({scores['channel_scoring']})"
            )
        lines.append(line)
    return lines


def _checked_write(args, max_slices: int):
    """``run --write``'s choice checked against the run: None (every file) or the set of words and numbers."""
    runs = args.write
    if runs is None:
        return None
    too_big = sorted((int(r) for r in runs if r.isdigit() and int(r) > max_slices))
    if too_big:
        raise VsepError(f"--write names run {too_big[0]}, but this run has 1 … {max_slices} slices.")
    if not args.greedy and runs & {"greedy", "best_prefix"}:
        raise VsepError("--write greedy or best_prefix needs --greedy (the greedy search makes those runs).")
    return runs


def settings_from_args(args) -> Settings:
    """Build :class:`Settings` from parsed arguments (raises VsepError on bad values)."""
    return Settings(
        start_s=args.start,
        duration_s=args.duration,
        hop_length=args.hop,
        n_windows=args.windows,
        learning_rate=args.learning_rate,
        iterations=args.iterations,
        clip_db=args.clip_db,
        level=args.level,
        pooled_windows=args.pooled_windows,
        pass_method=args.pass_method,
    )


def target_from_args(args) -> str:
    """The canonical target name from ``--target-name`` (raises VsepError for an unknown one)."""
    from .stems import target_name

    return target_name(getattr(args, "target_name", None))


def _checked_settings(args, command: str):
    """Settings, slice order and count from the arguments, all validated; warnings on stderr."""
    from .experiment import resolve_order

    if hasattr(args, "target_name"):
        args.target_name = target_from_args(args)  # one canonical spelling from here on
    settings = settings_from_args(args)
    order, used = resolve_order(args.order, args.slices)
    if not getattr(args, "quiet", False):
        for warning in settings.warnings():
            print(f"vsep {command}: warning: {warning}", file=sys.stderr)
    return settings, order, len(used)


# --- the parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vsep_core",
        description="Vocal separation by spectrogram fingerprints (an oracle experiment: it needs the true vocal).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="progressive runs and the greedy search; writes WAVs, plots and summary.json",
        description="Run the research script's workload: progressive runs N = 1 … --slices, the "
        "greedy ordering search, and the audio of every run. The results folder is "
        "written beside its place and moved there when complete.",
    )
    _add_audio_arguments(run)
    run.add_argument(
        "--method",
        choices=("seed", "joint", "learned_fingerprint"),
        default="seed",
        help="seed: the research workload (progressive runs, --greedy); joint: every window's EQ "
        "learned at once through the whole round trip (see the joint options); "
        "learned_fingerprint: blind, the bundled model's fingerprint predicted from the mixture "
        "alone (the target file is read only for --metrics) (%(default)s)",
    )
    run.add_argument("--greedy", action="store_true", help="also run the greedy ordering search")
    run.add_argument(
        "--out",
        default="results",
        metavar="DIR",
        help="output folder: new, empty, or an earlier run's results (replaced when the new run "
        "is complete) (%(default)s)",
    )
    run.add_argument("--no-plots", action="store_true", help="skip the HTML plots")
    audio = run.add_mutually_exclusive_group()
    audio.add_argument(
        "--write",
        type=write_value,
        default=None,
        metavar="WHICH",
        help="which WAVs to write, comma-separated: all (every run's vocal and instrumental and "
        "the inputs' copies: 40 files with 18 slices and --greedy), none, inputs, best (the "
        "progressive run with the lowest loss), greedy, best_prefix, or run numbers; e.g. "
        "best,greedy (all)",
    )
    audio.add_argument(
        "--no-audio",
        dest="write",
        action="store_const",
        const=frozenset(),
        help="write no WAV (the same as --write none)",
    )
    run.add_argument("--report", action="store_true", help="also write report.html (self-contained, opens offline)")
    run.add_argument(
        "--metrics",
        action="store_true",
        help="also score the runs and the reference methods (as evaluate) into metrics.json",
    )
    _add_bss_filters_argument(run)
    run.add_argument(
        "--full-quality",
        action="store_true",
        help="also apply each written run's learned EQ to the original mixture at its own sample rate "
        "and channels (e.g. 44.1 kHz stereo; the analysis is 22.05 kHz mono) and write those "
        "WAVs beside the others (*_full_quality.wav); with --metrics, score them the same way "
        "into full_quality.json (seed and joint methods)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar, warnings or table")
    _add_settings_arguments(run, level_default=Settings().level)
    _add_joint_arguments(run)
    run.set_defaults(func=main_run)

    check = sub.add_parser("check", help="which audio formats and optional parts work on this machine")
    check.set_defaults(func=main_check)

    ev = sub.add_parser(
        "evaluate",
        help="SI-SDR and SDR/SIR/SAR of the method, oracle ceilings and blind baselines",
        description="Score methods against the true vocal and instrumental, at the files' true "
        "scale. The seed methods run with the same settings, --order and --slices as "
        "run; seed_greedy orders the first --slices slices of --order.",
    )
    _add_audio_arguments(ev)
    _add_scoring_arguments(ev)
    ev.add_argument("--json", metavar="OUT", help="also write the report as JSON to OUT")
    ev.add_argument("--quiet", action="store_true", help="no progress bar or warnings")
    ev.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"methods run at once, on threads, 1 to {MAX_EVALUATE_WORKERS} (default {EVALUATE_WORKERS}, or 1 on "
        "one core): 2 runs joint beside the other methods, 1 every method one after another. The figures "
        "are the same either way",
    )
    _add_settings_arguments(ev, level_default="as_is")
    _add_joint_arguments(ev)
    ev.set_defaults(func=main_evaluate)

    att = sub.add_parser(
        "attribute",
        help="which slices help: each slice's effect on the vocal SI-SDR",
        description="For the seed method's progressive chain of --slices slices of --order (the "
        "baseline), every slice's vocal SI-SDR without it, alone (then the polish), "
        "and the difference; with --method joint, each slice added to the joint "
        "loss instead. Losses beside every figure.",
    )
    _add_audio_arguments(att)
    att.add_argument(
        "--method",
        choices=("seed", "joint", "learned_fingerprint"),
        default="seed",
        help="attribute the seed chain's slices, or slices added to the joint loss, or (blind) slices of "
        "the learned model's predicted spectrogram added to its round trip (%(default)s)",
    )
    att.add_argument(
        "--weight",
        type=float,
        default=1.0,
        help="weight of each slice added to the joint loss (--method joint) (%(default)s)",
    )
    att.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    att.add_argument("--quiet", action="store_true", help="no progress bar or warnings")
    _add_settings_arguments(att, level_default=Settings().level)
    _add_joint_arguments(att)
    att.set_defaults(func=main_attribute)

    from .batch import DEFAULT_OUT, LAYOUT_HELP

    batch = sub.add_parser(
        "batch",
        help="evaluate every pair in a folder on a Dask cluster",
        description=LAYOUT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("folder", metavar="DIR", help="folder with one sub-folder per song")
    _add_scoring_arguments(batch)
    batch.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="use an existing closed Dask cluster (tls://10.0.0.5:8786, its certificates in $VSEP_DASK_CERTS; "
        "docs/SERVING.md) instead of a local one; "
        "its workers need vsep_core installed and access to DIR (default: "
        "$VSEP_DASK_SCHEDULER, the dashboard's cluster, when set)",
    )
    batch.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="workers of the local cluster (default: one per CPU core, one thread each)",
    )
    batch.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help="where to write per_song.csv, summary.csv, failures.csv and batch.json: a new or "
        "empty folder, or an earlier batch's (replaced when complete) (%(default)s)",
    )
    batch.add_argument(
        "--stems",
        nargs="+",
        default=None,
        metavar="STEM",
        help="targets to evaluate, space- or comma-separated, of vocals, drums, bass, other, chords "
        "(default: every stem each song folder has)",
    )
    batch.add_argument(
        "--protocol",
        choices=("vsep", "sisec18"),
        default="vsep",
        help="vsep: the pairs as evaluate scores them (default); sisec18: a MUSDB18-style folder "
        "in the SiSEC 2018 protocol (stereo at the files' rate, whole tracks, sigsep's oracles "
        "IBM1 IBM2 IRM1 IRM2 MWF MIX and vsep's irm ibm wiener phase_oracle repet_sim hpss "
        "mixture, BSS Eval v4 on 1 s frames, median over frames then tracks) beside the "
        "published SiSEC 2018 figures; writes sisec18.json, sisec18_per_track.csv and "
        "sisec18.html",
    )
    batch.add_argument("--quiet", action="store_true", help="no progress bar or warnings")
    _add_settings_arguments(batch, level_default="as_is")
    batch.set_defaults(func=main_batch)

    from .store import main_share, main_store  # issue #20: the results store (bodies in vsep_core/store.py)

    share = sub.add_parser("share", help="publish a results folder (run --metrics) as a link in the results store")
    share.add_argument("folder", metavar="RESULTS_FOLDER", help="a `run --metrics` results folder")
    share.add_argument("--title", default=None, help="the title shown on the page (default: the folder's name)")
    share.add_argument("--no-audio", action="store_true", help="publish the scores and charts only")
    share.set_defaults(func=main_share)
    store = sub.add_parser("store", help="the results store (VSEP_STORE): list, delete ID, gc, check, copy-to")
    store_sub = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    store_sub.add_parser("list", help="every stored result (id, date, size, expiry, title)")
    store_sub.add_parser("delete", help="delete one result").add_argument("id", metavar="ID")
    gc = store_sub.add_parser("gc", help="remove expired results and files no result uses")
    gc.add_argument(
        "--grace",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="leave unused files younger than this (a publish may be writing them) (%(default)s)",
    )
    store_sub.add_parser("check", help="verify every result's files and their SHA-256 (exit 1 on a problem)")
    copy = store_sub.add_parser("copy-to", help="copy every result into another store, e.g. PostgreSQL")
    copy.add_argument("target", metavar="URL_OR_FOLDER", help="postgresql://… or a folder")
    copy.add_argument("--files", default=None, metavar="DIR", help="the target's files folder (VSEP_STORE_FILES)")
    store.set_defaults(func=main_store)

    from .learned_cli import add_train_parser  # the train command's arguments and body: vsep_core/learned_cli.py

    add_train_parser(sub)
    return parser


# --- commands ---------------------------------------------------------------------------


def main_run(args) -> int:
    """``run``: everything validated first, then written into a staging folder moved into place at the end."""
    from .api import score_experiment, seed_experiment
    from .audio import prepare_pair
    from .progress import TerminalProgress, scaled
    from .report import Outputs, summary_table
    from .staging import StagedFolder, check_out_dir

    if args.method == "joint":
        return main_run_joint(args)
    if args.method == "learned_fingerprint" and args.full_quality:
        raise VsepError("--full-quality is offered for the seed and joint methods, not yet for learned_fingerprint.")
    if args.method == "learned_fingerprint":  # blind: vsep_core/learned_cli.py
        from .learned_cli import main_run_learned

        return main_run_learned(args)
    t0 = time.perf_counter()
    settings, order, max_slices = _checked_settings(args, "run")
    runs = _checked_write(args, max_slices)
    target = check_out_dir(args.out)
    with StagedFolder(target) as staged:
        # A report or scores keep every run's audio in memory: the engine's workload limit for that applies.
        keep_audio = args.report or args.metrics
        pair = _with_file_names(
            prepare_pair(
                args.mixture,
                vocal=args.vocal,
                instrumental=args.instrumental,
                settings=settings,
                keep_audio=keep_audio,
                target_name=args.target_name,
            ),
            args,
        )
        outputs = Outputs(pair, settings, max_slices, out_dir=staged.path, inputs=runs is None or "inputs" in runs)
        analysis, analyse_s = None, 0.0
        if args.full_quality:  # fingerprinted once, for the runs and their full-quality EQ
            from .analysis import analyse

            analyse_s = time.perf_counter()
            analysis = analyse(pair, settings, views=("slice_0_raw", *order[:max_slices]))
            analyse_s = time.perf_counter() - analyse_s
        with TerminalProgress(enabled=False if args.quiet else None) as bar:
            split = 0.8 if args.metrics else 1.0  # the scoring takes about a fifth of a short run
            # Without a report or scores, only the runs to be written get audio (the inverse STFT is most of
            # a long song's time); with them every run's audio is kept, and the chosen ones are written after.
            choose_later = keep_audio and runs is not None
            result = seed_experiment(
                pair,
                settings,
                order=order,
                max_slices=max_slices,
                greedy=args.greedy,
                keep_audio=keep_audio,
                on_run=None if choose_later else outputs.add_run,
                audio_runs=None if (runs is None or keep_audio) else runs - {"inputs"},
                progress=scaled(bar, 0.0, split),
                background_audio=True,
                analysis=analysis,
            )
            if analysis is not None:
                result.timings_s["analyse"] = analyse_s  # done before, for the full-quality EQ too
            if choose_later:
                chosen = result.run_labels(runs)
                for label, run in result.labelled_runs():
                    if label in chosen:
                        outputs.add_run(label, run)
            metrics = None
            if args.metrics:
                metrics = score_experiment(
                    result, _truth(args, settings), progress=scaled(bar, split, 1.0), bss_filters=args.bss_filters
                )
        outputs.finish(result, metrics=metrics, plots=not args.no_plots)
        full, analysis_wavs = None, outputs.wav_count
        if args.full_quality:  # before the report, which shows them
            chosen = {label: run.slices for label, run in result.labelled_runs() if label in outputs.written}
            with TerminalProgress(enabled=False if args.quiet else None) as bar:
                full = _write_full_quality(
                    args,
                    pair,
                    settings,
                    outputs,
                    chosen,
                    analysis,
                    inputs=runs is None or "inputs" in runs,
                    featured=_featured(result, chosen),
                    bar=bar,
                )
        if args.report:
            outputs.add_report(result, metrics=metrics)
        outputs.add_readme(result, metrics=metrics)  # what each folder and file is, in plain words
    if not args.quiet:
        print(segment_note(pair, settings))
        print(summary_table(result))
        if metrics is not None:
            from .evaluate import format_table

            print("\n" + format_table(metrics))
        wavs = "WAVs" if runs is None else (f"{analysis_wavs} WAVs" if analysis_wavs else "no WAV")
        made = ", ".join(
            ["README.txt", "summary.json", wavs]
            + (["plots"] if not args.no_plots else [])
            + (["metrics.json"] if args.metrics else [])
            + (["report.html"] if args.report else [])
            + (
                [f"{outputs.wav_count - analysis_wavs} full-quality WAVs, full_quality.json"]
                if full is not None
                else []
            )
        )
        if full:
            from .stems import labels

            print("\nfull quality (each run's EQ on the original mixture, *_full_quality.wav):")
            print("\n".join(_full_quality_lines(full, labels(pair.info.get("target_name")))))
        elif full is not None:
            print("\n--full-quality: no run's WAVs were written (--write), so none at full quality either.")
        print(f"\nwrote {args.out}/ ({made}) in {time.perf_counter() - t0:.2f} s")
    return 0


def _truth(args, settings):
    """The pair at its true scale (what scores are measured on) from the command's files."""
    from .evaluate import load_pair

    return load_pair(
        args.mixture, vocal=args.vocal, instrumental=args.instrumental, settings=settings, target_name=args.target_name
    )


def main_run_joint(args) -> int:
    """``run --method joint``: the joint matching's WAVs, summary.json and (with --metrics) metrics.json."""
    from .api import joint_matching
    from .audio import prepare_pair
    from .progress import TerminalProgress
    from .report import Outputs
    from .staging import StagedFolder, check_out_dir

    t0 = time.perf_counter()
    settings, _, _ = _checked_settings(args, "run")
    joint = joint_from_args(args)
    runs = args.write
    if runs is not None and runs - {"inputs", "best"}:
        raise VsepError(
            "run --method joint makes one estimate: --write takes all, none, inputs or best (the estimate)."
        )
    target = check_out_dir(args.out)
    with StagedFolder(target) as staged:
        pair = _with_file_names(
            prepare_pair(
                args.mixture,
                vocal=args.vocal,
                instrumental=args.instrumental,
                settings=settings,
                target_name=args.target_name,
            ),
            args,
        )
        with TerminalProgress(enabled=False if args.quiet else None) as bar:
            outcome = joint_matching(
                pair,
                settings,
                joint,
                truth=_truth(args, settings) if args.metrics else None,
                methods=None,
                progress=bar,
                bss_filters=args.bss_filters,
            )
        outputs = Outputs(pair, settings, 1, out_dir=staged.path, inputs=False)
        (staged.path / "joint").mkdir(exist_ok=True)
        outputs.add_joint(outcome, estimate=runs is None or "best" in runs, inputs=runs is None or "inputs" in runs)
        outputs.finish_joint(outcome, joint, metrics=outcome.scores)
        full = None
        if args.full_quality and "joint" in outputs.written:
            full = _write_full_quality(args, pair, settings, outputs, {"joint": None}, eq=outcome.result.eq)
    if not args.quiet:
        print(segment_note(pair, settings))
        found = outcome.result
        print(f"joint matching: loss {found.loss_curve[0]:.2f} -> {found.final_loss:.2f} after {joint.steps} steps")
        if outcome.scores is not None:
            from .evaluate import format_table

            print("\n" + format_table(outcome.scores))
        made = "summary.json, joint/ WAVs" + (", metrics.json" if outcome.scores is not None else "")
        if full:
            from .stems import labels

            made += ", 2 full-quality WAVs, full_quality.json"
            print("\nfull quality (the EQ on the original mixture, *_full_quality.wav):")
            print("\n".join(_full_quality_lines(full, labels(pair.info.get("target_name")))))
        print(f"\nwrote {args.out}/ ({made}) in {time.perf_counter() - t0:.2f} s")
    return 0


def main_attribute(args) -> int:
    """``attribute``: the table of each slice's effect, JSON if asked."""
    from .api import attribution
    from .attribute import format_attribution
    from .jsonio import write_json
    from .progress import TerminalProgress
    from .staging import check_out_file

    settings, order, max_slices = _checked_settings(args, "attribute")
    joint = joint_from_args(args)
    if args.json is not None:
        check_out_file(args.json)
    truth = _truth(args, settings)
    with TerminalProgress(enabled=False if args.quiet else None) as bar:
        found = attribution(
            truth,
            settings,
            method=args.method,
            slices=order[:max_slices],
            joint=joint,
            weight=args.weight,
            progress=bar,
        )
        if args.method == "learned_fingerprint":
            print("learned_fingerprint (blind): each slice of the predicted spectrogram added to the round trip")
    print(format_attribution(found))
    if args.json:
        path = write_json(found, args.json)
        print(f"\nJSON written to {path}")
    return 0


def main_evaluate(args) -> int:
    """``evaluate``: print the table, write JSON if asked."""
    from .api import score_methods
    from .baselines import resolve_methods
    from .evaluate import check_workers, format_table
    from .jsonio import write_json
    from .progress import TerminalProgress
    from .staging import check_out_file

    workers = check_workers(args.workers, name="--workers")  # before any decoding
    settings, order, max_slices = _checked_settings(args, "evaluate")
    methods = resolve_methods(
        args.methods,
        settings,
        order=order,
        max_slices=max_slices,
        joint=joint_from_args(args),
        target_name=args.target_name,
    )
    if args.json is not None:
        check_out_file(args.json)
    truth = _truth(args, settings)
    with TerminalProgress(enabled=False if args.quiet else None) as bar:
        result = score_methods(
            truth,
            methods,
            settings,
            window_s=args.window,
            align=args.apply_alignment,
            max_lag_s=args.max_lag,
            progress=bar,
            bss_filters=args.bss_filters,
            workers=workers,
        )
    print(format_table(result))
    names = {m["name"] for m in result["methods"]}
    if {"phase_oracle", "mixture"} <= names:  # where the decibels go (vsep_core.waterfall)
        from .waterfall import format_waterfall, loss_waterfall

        print("\n" + format_waterfall(loss_waterfall(result), label=result["pair"]["labels"]["vocal"]))
    if args.json:
        path = write_json(result, args.json)
        print(f"\nJSON report written to {path}")
    return 0


def main_batch(args) -> int:
    """``batch``: 0 when every song finished, 1 when some failed (the rest are written),
    2 on bad input or when no song could be evaluated."""
    from .baselines import resolve_methods
    from .batch import format_summary, parse_stems, run_batch, write_outputs
    from .cluster import scheduler_address
    from .progress import TerminalProgress
    from .staging import BATCH_ENTRIES, check_out_dir
    from .text import terminal_text

    if args.protocol == "sisec18":
        return _main_sisec(args)
    settings, order, max_slices = _checked_settings(args, "batch")
    resolve_methods(args.methods, settings, order=order, max_slices=max_slices)  # fail early on a typo
    stems = parse_stems(args.stems)  # and on an unknown stem
    if args.workers is not None and args.workers < 1:
        raise VsepError(f"--workers must be at least 1, got {args.workers}.")
    target = check_out_dir(args.out, entries=BATCH_ENTRIES, marker="batch.json")
    with TerminalProgress(enabled=False if args.quiet else None) as bar:
        result = run_batch(
            args.folder,
            methods=args.methods,
            settings=settings,
            window_s=args.window,
            align=args.apply_alignment,
            max_lag_s=args.max_lag,
            scheduler=args.scheduler or scheduler_address(),
            n_workers=args.workers,
            order=order,
            max_slices=max_slices,
            progress=bar,
            stems=stems,
            bss_filters=args.bss_filters,
        )
    paths = write_outputs(result, target)
    print(format_summary(result))
    print(terminal_text("\nWritten: " + ", ".join(str(p) for p in paths)))
    if not result.reports:
        print("vsep batch: error: no song could be evaluated.", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 1 if result.failures else 0


def _main_sisec(args) -> int:
    """``batch --protocol sisec18`` (vsep_core.sisec): 0 when every track was scored, 1 when some failed."""
    from pathlib import Path

    from .progress import TerminalProgress
    from .sisec import format_protocol, run_protocol, write_protocol

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(not p.name.startswith("sisec18") for p in out.iterdir())):
        raise VsepError(f"--out {out} holds other files; give a new or empty folder (or an earlier sisec18 one).")
    names = [part.strip() for item in args.methods for part in item.split(",") if part.strip()]
    with TerminalProgress(enabled=False if args.quiet else None) as bar:
        result = run_protocol(args.folder, methods=None if names in ([], ["all"]) else names, progress=bar)
    print(format_protocol(result))
    print("\nWritten: " + ", ".join(str(p) for p in write_protocol(result, out)))
    if not result["per_track"]:
        print("vsep batch: error: no track could be scored.", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 1 if result["failures"] else 0


def main_check(args) -> int:
    """The research code's set-up check: decoders and optional parts."""
    import importlib

    from .audio import available_formats

    ok = True
    print("Audio formats:")
    for ext, how in available_formats().items():
        print(f"  {ext:5s} {'yes (' + how + ')' if how else 'no'}")
        ok &= how is not None or ext in ("wma", "opus", "aac")
    print("Optional parts:")
    for module, purpose in [
        ("dask.distributed", "batch evaluation, Dask jobs"),
        ("plotly", "plots"),
        ("streamlit", "the dashboard"),
        ("st_audiorec", "recording"),
        ("museval", "the reference BSS Eval the tests compare with"),
        ("playwright", "browser tests"),
    ]:
        try:
            importlib.import_module(module)
            print(f"  {module:18s} yes  ({purpose})")
        except Exception as exc:  # noqa: BLE001 - any import failure means "not usable here"
            print(f"  {module:18s} no   ({purpose}: {type(exc).__name__}: {exc})")
    for tool in ("ffmpeg", "ffprobe", "chromium"):
        print(f"  {tool:18s} {'yes' if shutil.which(tool) else 'no'}")
    from .experiment import warm_up

    try:
        print(f"Compiled loops: ready ({warm_up():.1f} s; built once, then loaded from numba's cache)")
    except Exception as exc:  # noqa: BLE001 - a diagnostic: report, do not crash
        print(f"Compiled loops: no ({type(exc).__name__}: {exc})")
        ok = False
    return 0 if ok else 1


def main(argv=None) -> int:
    """Parse, run, and turn every failure into one line on stderr, never a traceback.

    Exit codes: 0 done; 1 ``batch`` with some songs skipped, or ``check`` with a
    part missing; 2 bad input, or a place or device that cannot be written (a
    full disk, a full or closed output: results folders and reports are left as
    they were); 70 an internal error (a bug: the line says what, and
    ``VSEP_DEBUG=1`` shows the traceback); 130 interrupted (Ctrl-C, SIGTERM).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = _terminate_as_interrupt()
    stdout = sys.stdout = _WatchedOutput(sys.stdout)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a full or closed output fails here, inside the handlers, not at exit
        return code
    except VsepError as exc:
        return _fail(args.command, str(exc))
    except ImportError as exc:
        return _fail(
            args.command, f"a part this command needs is not installed ({exc}); see `python -m vsep_core check`."
        )
    except KeyboardInterrupt:
        _say(f"vsep {args.command}: interrupted (a results folder is left as it was).")
        return EXIT_INTERRUPTED
    except OSError as exc:  # a full disk or device, a closed pipe, an I/O error: not a bug, not bad input
        why = exc.strerror or _one_line(exc)
        if stdout.failed:
            _quiet_stdout()
            return _fail(args.command, f"cannot write to the standard output: {why}.")
        place = getattr(exc, "filename", None) or getattr(args, "out", None)
        where = f" {place}" if place else ""
        return _fail(args.command, f"cannot write{where}: {why}. Earlier results are left as they were.")
    except Exception as exc:  # a bug: one line (the traceback on request), never a wall of text
        if os.environ.get("VSEP_DEBUG"):
            raise
        _fail(
            args.command,
            f"internal error ({type(exc).__name__}: {_one_line(exc)}); please report it "
            "(VSEP_DEBUG=1 shows the traceback).",
        )
        return EXIT_INTERNAL
    finally:
        if sys.stdout is stdout:
            sys.stdout = stdout.stream
        release_all_claims()  # results places this command claimed (normally released already)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _say(line: str) -> None:
    """``line`` on stderr, made safe for a terminal; nothing when stderr itself cannot be written."""
    from .text import terminal_text

    try:
        print(terminal_text(line), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _fail(command: str, message: str) -> int:
    _say(f"vsep {command}: error: {message}")
    return EXIT_BAD_INPUT


class _WatchedOutput:
    """stdout, noting whether writing to it failed (a full device, a closed pipe): that failure is told
    apart from a full results disk, which raises the same OSError."""

    def __init__(self, stream):
        self.stream, self.failed = stream, False

    def write(self, text):
        try:
            return self.stream.write(text)
        except OSError:
            self.failed = True
            raise

    def flush(self):
        try:
            return self.stream.flush()
        except OSError:
            self.failed = True
            raise

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _quiet_stdout() -> None:
    """Point a failed stdout at /dev/null, so Python's own flush at exit prints no "Exception ignored …"."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to quiet
        pass


def _terminate_as_interrupt():
    """Make SIGTERM (``kill``) end a command like Ctrl-C, so its staging folder is removed; the old handler."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        return None


if __name__ == "__main__":
    sys.exit(main())
