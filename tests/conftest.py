"""Shared fixtures: the evaluation pairs and golden numbers in ../shared (when present)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EVAL = SHARED / "eval"
GOLDEN = SHARED / "reference" / "golden"
NO_SHARED = "../shared (evaluation audio and golden numbers) is not beside this checkout"


@pytest.fixture(scope="session")
def eval_pair_dir() -> Path:
    """The 4.7 s real evaluation pair (speech over Brahms)."""
    path = EVAL / "speech_brahms_4.7s"
    if not (path / "mixture.wav").exists():
        pytest.skip(NO_SHARED)
    return path


@pytest.fixture(scope="session")
def golden():
    """Loader of a golden file by slice count (8 or 18)."""
    def load(n_slices: int) -> dict:
        path = GOLDEN / f"speech_brahms_4.7s_{n_slices}slices.json"
        if not path.exists():
            pytest.skip(NO_SHARED)
        return json.loads(path.read_text())
    return load


@pytest.fixture(scope="session")
def synthetic_pair():
    """A small made-up pair (2 s): a vibrato 'voice' over a chord and noise bursts.

    Built here so the suite stands alone without ../shared.
    """
    from vsep_core.audio import Pair

    sr = 22050
    t = np.arange(int(2.0 * sr)) / sr
    f0 = 220 * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2)
    rng = np.random.default_rng(0)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (130.8, 164.8, 196.0)) * 0.3
    bursts = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 4 * t) > 0.95) * 0.3
    vocal = (0.4 * voice / np.max(np.abs(voice))).astype(np.float32)
    mixture = (vocal + chord + bursts).astype(np.float32)
    return Pair(mixture=mixture, vocal=vocal, sr=sr, info={"mixture": "synthetic"})
