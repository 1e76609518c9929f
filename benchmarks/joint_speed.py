"""Time of the joint matching (raw view, default settings) on a 4.7 s pair and on a 3-minute song.

    .venv/bin/python benchmarks/joint_speed.py [--repeat 38]

The song is the vendored 4.7 s real pair tiled ``--repeat`` times (38: 178.6 s, 3,787 windows),
analysed whole; the figure is ``run_joint``'s wall time (the analysis is printed apart).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, as the other benchmarks


from vsep_core.analysis import analyse
from vsep_core.audio import Pair, prepare_pair
from vsep_core.joint import JointSettings, run_joint
from vsep_core.settings import Settings

PAIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "speech_brahms_4.7s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=38)
    args = parser.parse_args()
    settings = Settings(level="as_is")
    pair = prepare_pair(PAIR / "mixture.wav", vocal=PAIR / "vocal.wav", settings=settings)
    short = analyse(pair, settings, views=("slice_0_raw",))
    run_joint(short, JointSettings(steps=2))  # loads the compiled loop once
    t0 = time.perf_counter()
    run_joint(short)
    print(f"4.7 s pair ({short.n_windows} windows): {time.perf_counter() - t0:.2f} s")
    song = Pair(mixture=np.tile(pair.mixture, args.repeat), vocal=np.tile(pair.vocal, args.repeat), sr=pair.sr)
    t0 = time.perf_counter()
    long = analyse(song, settings.replace(duration_s=None), views=("slice_0_raw",))
    t1 = time.perf_counter()
    found = run_joint(long)
    t2 = time.perf_counter()
    print(
        f"{song.duration_s:.1f} s song ({long.n_windows} windows): analyse {t1 - t0:.2f} s, "
        f"joint {t2 - t1:.2f} s (target < 30 s), final loss {found.final_loss:.4f}"
    )


if __name__ == "__main__":
    main()
