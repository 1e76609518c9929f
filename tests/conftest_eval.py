"""Fixtures of the evaluation tests (metrics, baselines, alignment, evaluate, batch).

Imported explicitly by those test modules (``from conftest_eval import ...``)
rather than living in ``conftest.py``. The real pair and the golden numbers are
vendored in ``tests/data`` (see its README), so these tests run from a plain clone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

DATA_DIR = Path(__file__).resolve().parent / "data"
EVAL_4_7S = DATA_DIR / "speech_brahms_4.7s"
GOLDEN_DIR = DATA_DIR / "golden"


@pytest.fixture(scope="module")
def eval_dir() -> Path:
    """The folder of the 4.7 s real pair (speech over Brahms), vendored in tests/data."""
    return EVAL_4_7S


@pytest.fixture(scope="module")
def eval_pair(eval_dir):
    """The 4.7 s real pair at its true level (``level="as_is"``), as evaluation loads it."""
    from vsep_core.evaluate import load_pair

    return load_pair(eval_dir / "mixture.wav", vocal=eval_dir / "vocal.wav")


def make_sources(seconds: float = 2.0, sr: int = 22050, seed: int = 0):
    """A made-up (vocal, instrumental) pair: a gliding harmonic 'voice' with pauses over chords and noise.

    Returns
    -------
    vocal, instrumental : np.ndarray [shape=(n,), dtype=float32]
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 200 * 2 ** ((0.5 * np.sin(2 * np.pi * 0.7 * t) + 0.2 * np.sin(2 * np.pi * 5.5 * t)) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 10))
    envelope = np.clip(np.sin(2 * np.pi * 0.9 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    chords = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (110.0, 138.6, 164.8, 220.0))
    noise = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 2 * t) > 0.9)
    vocal = 0.3 * voice * envelope / np.max(np.abs(voice))
    instrumental = 0.08 * chords + 0.1 * noise
    return vocal.astype(np.float32), instrumental.astype(np.float32)


def write_pair(
    folder: Path, *, seconds: float = 2.0, seed: int = 0, sr: int = 22050, names=("mixture", "vocal")
) -> tuple:
    """Write a made-up pair into ``folder`` (mixture = vocal + instrumental exactly, float WAV).

    ``names`` picks which files to write, from mixture, vocal, vocals,
    instrumental; returns (vocal, instrumental, mixture) arrays.
    """
    vocal, instrumental = make_sources(seconds, sr, seed)
    mixture = (vocal + instrumental).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    signals = {"mixture": mixture, "vocal": vocal, "vocals": vocal, "instrumental": instrumental}
    for name in names:
        sf.write(folder / f"{name}.wav", signals[name], sr, subtype="FLOAT")
    return vocal, instrumental, mixture
