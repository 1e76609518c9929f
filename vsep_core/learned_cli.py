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
    p = sub.add_parser("train", help="train the blind method's model (learned_fingerprint) on songs with stems",
                       description="Train a model that predicts the target's fingerprint from the mixture alone, "
                                   "on MUSDB-style song folders (as batch reads them) and/or new songs from the "
                                   "bundled generator. Features are computed per song on a Dask cluster (local "
                                   "by default) and cached beside the model; fitting runs here on the CPU and "
                                   "saves a checkpoint after every epoch, so an interrupted run resumes.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=[], metavar="FOLDER",
                   help="song folders (one sub-folder per song, as batch reads them)")
    p.add_argument("--generate", type=int, default=0, metavar="N", help="also N new songs from the generator")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the generated songs, the weights and the split (%(default)s)")
    p.add_argument("--target", default="vocals", metavar="STEM", help="the stem to predict (%(default)s)")
    p.add_argument("--out", required=True, metavar="MODEL", help="the model file to write (.npz)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="(%(default)s)")
    p.add_argument("--hidden", type=int, default=d.hidden, help="hidden units (%(default)s)")
    p.add_argument("--context", type=int, default=d.context, help="windows either side as features (%(default)s)")
    p.add_argument("--validation", type=float, default=d.validation_share, metavar="SHARE",
                   help="share of the songs held out for the validation curve (%(default)s)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="feature cache (default: MODEL's name + .cache/ beside it)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask cluster for the features")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local Dask workers (default one per core; 0: no Dask, in this process)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or curve")
    p.set_defaults(func=main_train)


def main_train(args) -> int:
    """``train``: songs → features (cached) → fit (checkpointed) → the model file and its curve."""
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
    config = ModelConfig(epochs=args.epochs, hidden=args.hidden, context=args.context,
                         validation_share=args.validation, seed=args.seed)
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
        model = train(songs, target=target, settings=Settings(), config=config, cache_dir=cache,
                      checkpoint=checkpoint, scheduler=args.scheduler, n_workers=args.workers, progress=bar,
                      on_epoch=on_epoch,
                      description={"generate": args.generate, "seed": args.seed,
                                   "data": [Path(d).name for d in args.data]})
    model.save(out)
    curve_path = out.with_name(out.name + ".curve.csv")
    with open(curve_path, "w", encoding="utf-8") as fh:
        fh.write("epoch,train,validation\n")
        for row in model.header["training"]["curve"]:
            fh.write(f"{row['epoch']},{row['train']:.6f},{row['validation']:.6f}\n")
    for item in model.header["training"]["failed_songs"]:
        print(f"vsep train: failed {item['song']}: {item['error']}", file=sys.stderr)
    if not args.quiet:
        t = model.header["training"]
        print(f"\ntrained on {t['songs'] - t['validation_songs']} songs ({t['train_windows']} windows), validated on "
              f"{t['validation_songs']} ({t['validation_windows']} windows) in {time.perf_counter() - t0:.1f} s")
        print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB) and {curve_path}; feature cache and checkpoint "
              f"in {cache}/")
    return 0
