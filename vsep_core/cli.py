"""Command line: ``python -m vsep_core run|check|evaluate|batch``.

A thin layer: it parses arguments, calls the library, draws a progress bar
and turns :class:`VsepError` into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from .errors import VsepError
from .settings import LEVEL_MODES, PASS_METHODS, POOLED_WINDOW_MODES, Settings

EXIT_BAD_INPUT = 2


class TerminalProgress:
    """A one-line progress bar on a terminal (silent when output is not a terminal)."""

    def __init__(self, stream=None, enabled: bool | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self._last = ""

    def __call__(self, fraction: float, label: str) -> None:
        if not self.enabled:
            return
        filled = int(round(fraction * self.width))
        cols = shutil.get_terminal_size((100, 20)).columns
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}%  {label}"
        line = line[: cols - 1].ljust(len(self._last))
        self._last = line
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._last:
            self.stream.write("\r" + " " * len(self._last) + "\r")
            self.stream.flush()


def _add_audio_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mixture", required=True, help="the song (any format libsndfile or ffmpeg decodes)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--vocal", help="the isolated vocal of the same song (the oracle target)")
    target.add_argument("--instrumental",
                        help="the instrumental of the same song; the vocal is then mixture − instrumental")


def _add_settings_arguments(p: argparse.ArgumentParser) -> None:
    d = Settings()
    g = p.add_argument_group("analysis settings (defaults reproduce the research code)")
    g.add_argument("--start", type=float, default=d.start_s, metavar="S", help="segment start in seconds (%(default)s)")
    g.add_argument("--duration", type=float, default=d.duration_s, metavar="S",
                   help="segment length in seconds (%(default)s)")
    g.add_argument("--full-length", action="store_true", help="analyse the whole file instead of a segment")
    g.add_argument("--hop", type=int, default=d.hop_length, help="STFT hop in samples (%(default)s)")
    g.add_argument("--windows", type=int, default=None,
                   help="choose the hop that gives this many windows (overrides --hop)")
    g.add_argument("--learning-rate", type=float, default=d.learning_rate, help="(%(default)s)")
    g.add_argument("--iterations", type=int, default=d.iterations, help="(%(default)s)")
    g.add_argument("--clip-db", type=float, default=d.clip_db, help="EQ limit in dB, ± (%(default)s)")
    g.add_argument("--level", choices=[m.replace("_", "-") for m in LEVEL_MODES], default=d.level.replace("_", "-"),
                   help="peak normalisation: independent (the research prepare step's quirk), common (one gain, "
                        "keeps the pair's relative level), or as-is (none: how best.py read the files that made "
                        "the golden numbers) (%(default)s)")
    g.add_argument("--pooled-windows", choices=POOLED_WINDOW_MODES, default=d.pooled_windows,
                   help="seed: pooled slices adjust only the first half of the windows (the research quirk); "
                        "expand: pooled window j adjusts windows 2j and 2j+1 (%(default)s)")
    g.add_argument("--pass-method", choices=PASS_METHODS, default=d.pass_method,
                   help="gradient descent: closed form where exact, or the iterative loop (%(default)s)")


def settings_from_args(args) -> Settings:
    """Build :class:`Settings` from parsed arguments (raises VsepError on bad values)."""
    return Settings(
        start_s=args.start, duration_s=None if args.full_length else args.duration, hop_length=args.hop,
        n_windows=args.windows, learning_rate=args.learning_rate, iterations=args.iterations,
        clip_db=args.clip_db, level=args.level.replace("-", "_"), pooled_windows=args.pooled_windows,
        pass_method=args.pass_method,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vsep_core",
        description="Vocal separation by spectrogram fingerprints (an oracle experiment: it needs the true vocal).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="progressive runs and the greedy search; writes WAVs, plots and summary.json",
                         description="Run the research script's workload: progressive runs N = 1 … --slices, the "
                                     "greedy ordering search, and the audio of every run.")
    _add_audio_arguments(run)
    run.add_argument("--slices", type=int, default=18, metavar="N", help="largest number of slices, 1–18 (%(default)s)")
    run.add_argument("--order", default=None,
                     help="comma-separated slice order (names, numbers or short names; default 1,2,…,18)")
    run.add_argument("--greedy", action="store_true", help="also run the greedy ordering search")
    run.add_argument("--out", default="results", metavar="DIR", help="output folder (%(default)s)")
    run.add_argument("--no-plots", action="store_true", help="skip the HTML plots")
    run.add_argument("--report", action="store_true", help="also write report.html (self-contained, opens offline)")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    _add_settings_arguments(run)
    run.set_defaults(func=main_run)

    check = sub.add_parser("check", help="which audio formats and optional parts work on this machine")
    check.set_defaults(func=main_check)

    _add_evaluation_commands(sub)
    return parser


def _add_evaluation_commands(sub) -> None:
    """``evaluate`` and ``batch`` come from :mod:`vsep_core.evaluate` (needs museval, dask)."""
    try:
        from . import evaluate

        ev = sub.add_parser("evaluate", help="SI-SDR and SDR/SIR/SAR of the method, oracle ceilings and blind baselines")
        evaluate.add_evaluate_arguments(ev)
        ev.set_defaults(func=evaluate.main_evaluate)
        batch = sub.add_parser("batch", help="evaluate every pair in a folder on a Dask cluster")
        evaluate.add_batch_arguments(batch)
        batch.set_defaults(func=evaluate.main_batch)
    except ImportError:  # the core commands work without the evaluation extras
        pass


def main_run(args) -> int:
    from .audio import prepare_pair
    from .experiment import run_experiment
    from .report import Outputs, html_report, summary_table

    settings = settings_from_args(args)
    order = None if args.order is None else [s for s in args.order.split(",") if s.strip()]
    bar = TerminalProgress(enabled=False if args.quiet else None)
    t0 = time.perf_counter()
    pair = prepare_pair(args.mixture, vocal=args.vocal, instrumental=args.instrumental, settings=settings)
    out_dir = Path(args.out)
    outputs = Outputs(pair, settings, args.slices, out_dir=out_dir)
    try:
        result = run_experiment(pair, settings, order=order, max_slices=args.slices, greedy=args.greedy,
                                keep_audio=args.report, on_run=outputs.add_run, progress=bar)
    finally:
        bar.close()
    outputs.finish(result, plots=not args.no_plots)
    if args.report:
        (out_dir / "report.html").write_text(html_report(result, pair, spectrograms=outputs.spectrograms))
    if not args.quiet:
        print(summary_table(result))
        print(f"\nwrote {out_dir}/ (summary.json, WAVs{', plots' if not args.no_plots else ''}"
              f"{', report.html' if args.report else ''}) in {time.perf_counter() - t0:.2f} s")
    return 0


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
    for module, purpose in [("museval", "SDR/SIR/SAR (BSS Eval v4)"), ("dask.distributed", "batch evaluation"),
                            ("plotly", "plots"), ("streamlit", "the dashboard"), ("st_audiorec", "recording"),
                            ("playwright", "browser tests")]:
        try:
            importlib.import_module(module)
            print(f"  {module:18s} yes  ({purpose})")
        except Exception as exc:  # any import failure means "not usable here"
            print(f"  {module:18s} no   ({purpose}: {type(exc).__name__}: {exc})")
    for tool in ("ffmpeg", "ffprobe", "chromium"):
        print(f"  {tool:18s} {'yes' if shutil.which(tool) else 'no'}")
    from .experiment import warm_up

    try:
        print(f"Compiled loops: ready ({warm_up():.1f} s; built once, then loaded from numba's cache)")
    except Exception as exc:  # a diagnostic: report, do not crash
        print(f"Compiled loops: no ({type(exc).__name__}: {exc})")
        ok = False
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except VsepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
