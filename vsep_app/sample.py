"""The bundled sample pairs in ``sample_audio/`` (listed in ``sample_audio/pairs.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vsep_core.errors import VsepError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_audio"
INDEX = SAMPLE_DIR / "pairs.json"


@dataclass(frozen=True)
class SamplePair:
    """One bundled pair: a mixture with its isolated vocal and instrumental."""

    folder: str
    title: str
    description: str
    duration_s: float
    files: dict  # role ("vocal", "instrumental", "mixture") → path relative to sample_audio/
    stems: dict = None  # target name ("vocals", "drums", "bass", "chords") → path relative to sample_audio/

    @property
    def stem_names(self) -> list[str]:
        """The stems any of which can be the target, the vocal first."""
        return list(self.stems or {"vocals": self.files["vocal"]})

    def read_stem(self, name: str) -> bytes:
        """The bytes of one stem's file (``"vocals"`` is the vocal)."""
        stems = self.stems or {"vocals": self.files["vocal"]}
        if name not in stems:
            raise VsepError(f"The bundled sample '{self.title}' has no {name} stem; it has {', '.join(stems)}.")
        path = SAMPLE_DIR / stems[name]
        if not path.is_file():
            raise VsepError(f"The bundled sample file {path.name} of '{self.title}' is missing.")
        return path.read_bytes()

    def path(self, role: str) -> Path:
        return SAMPLE_DIR / self.files[role]

    def read(self, role: str) -> bytes:
        """The bytes of one file of the pair."""
        path = self.path(role)
        if not path.is_file():
            raise VsepError(f"The bundled sample file {path.name} of '{self.title}' is missing.")
        return path.read_bytes()


def pairs() -> list[SamplePair]:
    """Every bundled pair, the default first.

    Raises
    ------
    VsepError
        When ``sample_audio/pairs.json`` is missing or unreadable.
    """
    if not INDEX.is_file():
        raise VsepError("The bundled samples are missing (sample_audio/pairs.json not found).")
    try:
        index = json.loads(INDEX.read_text())
        found = [
            SamplePair(
                folder=p["folder"],
                title=p.get("title", p["folder"]),
                description=p.get("description", ""),
                duration_s=float(p.get("duration_s", 0.0)),
                files=dict(p["files"]),
                stems=dict(p.get("stems") or {"vocals": p["files"]["vocal"]}),
            )
            for p in index["pairs"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise VsepError(f"sample_audio/pairs.json cannot be read: {exc}.") from exc
    default = index.get("default")
    found.sort(key=lambda p: p.folder != default)
    return found


def default_pair() -> SamplePair:
    """The pair a first visitor sees (``"default"`` in pairs.json)."""
    found = pairs()
    if not found:
        raise VsepError("sample_audio/pairs.json lists no pairs.")
    return found[0]
