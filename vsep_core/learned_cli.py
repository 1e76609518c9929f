"""``python -m vsep_core train``: the command that trains the blind method's model (:mod:`vsep_core.learned`).

:func:`vsep_core.cli.build_parser` calls :func:`add_train_parser`; the library
(features, fitting, the model file) is :mod:`vsep_core.learned`, the songs
:mod:`vsep_core.learned_songs`. The command prints each epoch's training and
validation error (the curve) and writes it beside the model as
``MODEL.curve.csv``; the feature cache and the per-epoch checkpoint live in
``MODEL.cache/`` (or ``--cache``), so an interrupted command run again
resumes where it stopped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .errors import VsepError
from .learned import ModelConfig, train
from .settings import Settings


def add_train_parser(sub) -> None:
    """``python -m vsep_core train``'s arguments (called from :func:`vsep_core.cli.build_parser`)."""
    import argparse

    d = ModelConfig()
    p = sub.add_parser(
        "train",
        help="train the blind method's model (learned_fingerprint) on songs with stems",
        description="Train a model that predicts the target's fingerprint from the mixture alone, "
        "on MUSDB-style song folders (as batch reads them) and/or new songs from the "
        "bundled generator. Features are computed per song on a Dask cluster (local "
        "by default) and cached beside the model; fitting runs here on the CPU and "
        "saves a checkpoint after every epoch, so an interrupted run resumes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        nargs="+",
        default=[],
        metavar="FOLDER",
        help="song folders (one sub-folder per song, as batch reads them)",
    )
    p.add_argument("--generate", type=int, default=0, metavar="N", help="also N new songs from the generator")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the generated songs, the weights and the split (%(default)s)"
    )
    p.add_argument("--target", default="vocals", metavar="STEM", help="the stem to predict (%(default)s)")
    p.add_argument("--out", required=True, metavar="MODEL", help="the model file to write (.npz)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="(%(default)s)")
    p.add_argument("--hidden", type=int, default=d.hidden, help="hidden units (%(default)s)")
    p.add_argument("--context", type=int, default=d.context, help="windows either side as features (%(default)s)")
    p.add_argument(
        "--validation",
        type=float,
        default=d.validation_share,
        metavar="SHARE",
        help="share of the songs held out for the validation curve (%(default)s)",
    )
    p.add_argument(
        "--cache", default=None, metavar="DIR", help="feature cache (default: MODEL's name + .cache/ beside it)"
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="an existing Dask cluster for the features (default: $VSEP_DASK_SCHEDULER when set, as batch)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="local Dask workers (default one per core; 0: no Dask, in this process)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or curve")
    p.set_defaults(func=main_train)


def main_train(args) -> int:
    """``train``: songs → features (cached) → fit (checkpointed) → the model file and its curve."""
    from .cluster import scheduler_address
    from .learned_songs import folder_songs, generated_songs
    from .progress import TerminalProgress
    from .stems import target_name

    t0 = time.perf_counter()
    target = target_name(args.target)
    out = Path(args.out)
    if out.is_dir():
        raise VsepError(f"--out {str(out)!r} is a folder; give the model file's name (e.g. model.npz).")
    if args.generate < 0 or (args.workers is not None and args.workers < 0):
        raise VsepError("--generate and --workers cannot be negative.")
    config = ModelConfig(
        epochs=args.epochs, hidden=args.hidden, context=args.context, validation_share=args.validation, seed=args.seed
    )
    songs, skipped = folder_songs(args.data, target) if args.data else ([], [])
    if args.generate:
        songs += generated_songs(args.generate, args.seed)
    for name, why in skipped:
        print(f"vsep train: skipped {name}: {why}", file=sys.stderr)
    cache = Path(args.cache) if args.cache else out.with_name(out.name + ".cache")
    checkpoint = cache / "checkpoint.npz"
    lines = []

    def on_epoch(epoch, train_loss, val_loss):
        line = f"epoch {epoch:3d}/{config.epochs}  train {train_loss:.5f}  validation {val_loss:.5f}  (weighted mask error)"
        lines.append(line)
        if not args.quiet:
            print(line, flush=True)

    with TerminalProgress(enabled=False if args.quiet else None) as bar:
        model = train(
            songs,
            target=target,
            settings=Settings(),
            config=config,
            cache_dir=cache,
            checkpoint=checkpoint,
            scheduler=args.scheduler or scheduler_address(),
            n_workers=args.workers,
            progress=bar,
            on_epoch=on_epoch,
            description={"generate": args.generate, "seed": args.seed, "data": [Path(d).name for d in args.data]},
        )
    model.save(out)
    curve_path = out.with_name(out.name + ".curve.csv")
    with open(curve_path, "w", encoding="utf-8") as fh:
        fh.write("epoch,train,validation\n")
        fh.writelines(
            f"{row['epoch']},{row['train']:.6f},{row['validation']:.6f}\n" for row in model.header["training"]["curve"]
        )
    for item in model.header["training"]["failed_songs"]:
        print(f"vsep train: failed {item['song']}: {item['error']}", file=sys.stderr)
    if not args.quiet:
        t = model.header["training"]
        print(
            f"\ntrained on {t['songs'] - t['validation_songs']} songs ({t['train_windows']} windows), validated on "
            f"{t['validation_songs']} ({t['validation_windows']} windows) in {time.perf_counter() - t0:.1f} s"
        )
        print(
            f"wrote {out} ({out.stat().st_size / 1024:.0f} KB) and {curve_path}; feature cache and checkpoint "
            f"in {cache}/"
        )
    return 0


#: What a ``run --method learned_fingerprint`` results folder holds (a run's entries and the method's folder).
LEARNED_RUN_ENTRIES = r"^(summary\.json|settings\.json|metrics\.json|learned_fingerprint)$"


def main_run_learned(args) -> int:
    """``run --method learned_fingerprint``: the blind estimate's WAVs, summary.json and (with --metrics) metrics.json.

    The method reads the mixture only; the target file is read for ``--metrics``
    (the scores, as ``evaluate`` makes them) and for the ``inputs`` copies.
    """
    import re

    from .audio import prepare_pair
    from .cli import _checked_settings, _with_file_names
    from .learned import BUNDLED_MODEL, LearnedFingerprint
    from .reconstruct import Estimate
    from .report import Outputs
    from .staging import StagedFolder, check_out_dir
    from .stems import labels

    t0 = time.perf_counter()
    settings, _, _ = _checked_settings(args, "run")
    runs = args.write
    if runs is not None and runs - {"inputs", "best"}:
        raise VsepError(
            "run --method learned_fingerprint makes one estimate: --write takes all, none, inputs or "
            "best (the estimate)."
        )
    target = check_out_dir(args.out, entries=re.compile(LEARNED_RUN_ENTRIES))
    method = LearnedFingerprint(settings)
    if args.metrics:
        from .evaluate import evaluate_pair, format_table, load_pair, reference_methods  # needs museval: fail early
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
        names = labels(args.target_name)
        separation = method.separate(pair.mixture, pair.sr)
        estimate = Estimate(vocal_raw=separation.vocal, mixture=pair.mixture, sr=pair.sr)
        outputs = Outputs(pair, settings, 1, out_dir=staged.path, inputs=False)  # the one writer of results folders
        wavs = outputs.add_method(
            method.name,
            estimate,
            estimate_files=runs is None or "best" in runs,
            inputs=runs is None or "inputs" in runs,
        )
        metrics = None
        if args.metrics:
            truth = load_pair(
                args.mixture,
                vocal=args.vocal,
                instrumental=args.instrumental,
                settings=settings,
                target_name=args.target_name,
            )
            others = [name for name in reference_methods(names.name) if name != method.name]
            from .baselines import resolve_methods

            metrics = evaluate_pair(truth, [method, *resolve_methods(others, settings)], settings=settings)
        outputs.finish_method(
            {
                "method": method.name,
                "kind": method.kind,
                "target": names.to_dict(),
                "pair": pair.info,
                "settings": settings.to_dict(),
                "model": str(BUNDLED_MODEL.name),
                "info": separation.info,
                **wavs,
                "seconds": time.perf_counter() - t0,
            },
            metrics=metrics,
        )
    if not args.quiet:
        print(
            f"learned_fingerprint (blind): the {names.target} predicted from the mixture alone; joint loss "
            f"{separation.info['round_trip_loss']:.2f}"
        )
        if metrics is not None:
            print("\n" + format_table(metrics))
        made = "summary.json, learned_fingerprint/ WAVs" + (", metrics.json" if metrics is not None else "")
        print(f"\nwrote {args.out}/ ({made}) in {time.perf_counter() - t0:.2f} s")
    return 0
