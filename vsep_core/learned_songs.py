"""Training songs for the learned fingerprint: new songs from the bundled generator, or song folders.

The bundled generator (``sample_audio/generate.py``) synthesises a sung voice
over a small band from a *spec* (tempo, key, chords, melody, drum patterns …).
:func:`random_song_spec` draws a new spec from a seed — never one of the
bundled samples' specs or seeds, so a model trained on generated songs has
not seen the samples people try first. :func:`synthesise` renders one in
memory (no files written). :func:`folder_songs` lists MUSDB-style folders as
``batch`` reads them (:func:`vsep_core.batch.discover_songs`).

A song to train on is a :class:`TrainingSong`: a name and a recipe
(``("generated", spec)`` or ``("folder", mixture path, target path or
None, instrumental path or None)``), small enough to send to a Dask worker,
which renders or decodes it there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import VsepError

#: Where the bundled generator lives, relative to the repository.
GENERATOR_PATH = Path(__file__).resolve().parent.parent / "sample_audio" / "generate.py"

_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
#: Chord progressions as (scale degree 0–6, minor?) for major and minor keys.
_MAJOR_PROGRESSIONS = (
    ((0, 0), (4, 0), (5, 1), (3, 0)),
    ((0, 0), (5, 1), (3, 0), (4, 0)),
    ((5, 1), (3, 0), (0, 0), (4, 0)),
    ((0, 0), (3, 0), (4, 0), (3, 0)),
    ((0, 0), (2, 1), (3, 0), (4, 0)),
)
_MINOR_PROGRESSIONS = (
    ((0, 1), (5, 0), (2, 0), (6, 0)),
    ((0, 1), (3, 1), (4, 1), (0, 1)),
    ((0, 1), (6, 0), (5, 0), (6, 0)),
    ((0, 1), (5, 0), (3, 1), (4, 0)),
)
_BASS_RHYTHMS = ("r-rrr-ro", "r--.r-f-", "r---r---", "rfrfrfro", "r.r.r.r.", "r-r-f-o-", "rr.rrr.f")
_CHORD_RHYTHMS = ("x--xx-x-", "x-------", "x---x---", "x.x.x.x.", "x-x-x-x-", ".x.x.x.x")
_ARPEGGIOS = ("01232123", "01230123", "02130213", "0123")
_SYLLABLE_CONSONANTS = ("", "", "", "s", "t", "k", "p", "h", "m", "n", "l")
_VOWELS = "aeiou"
#: Voices and their melody ranges (MIDI notes).
_VOICE_RANGES = {"soprano": (60, 79), "male": (45, 64)}


@lru_cache(maxsize=1)
def generator():
    """The bundled generator module (``sample_audio/generate.py``), imported from its file."""
    if not GENERATOR_PATH.is_file():
        raise VsepError(
            f"The bundled song generator is not at {GENERATOR_PATH}; --generate needs the "
            "repository's sample_audio/generate.py."
        )
    spec = importlib.util.spec_from_file_location("vsep_sample_generator", GENERATOR_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vsep_sample_generator", module)
    spec.loader.exec_module(module)
    return module


def bundled_seeds() -> frozenset:
    """The random seeds of the bundled samples (never used for a generated training song)."""
    return frozenset(int(p["seed"]) for p in generator().PAIRS)


def _pattern(rng: np.random.Generator, p_hit: float, p_soft: float = 0.0, *, first: bool = False) -> str:
    draws = rng.random(16)
    out = ["x" if d < p_hit else ("o" if d < p_hit + p_soft else ".") for d in draws]
    if first:
        out[0] = "x"
    return "".join(out)


def random_song_spec(seed: int, index: int) -> dict:
    """A new song spec (the generator's :data:`PAIRS` format) drawn from ``(seed, index)``.

    Tempo 70–140 BPM, any of 24 keys, a four-chord progression, a random
    melody in a soprano or male range on random syllables with rests, random
    drum, bass and chord patterns, and a vocal-to-accompaniment ratio from
    −6 to +6 dB (``var_db``; the bundled samples are all at 0 dB). The
    song's own synthesis seed is derived from ``(seed, index)`` and is never
    a bundled sample's.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), 23]))
    song_seed = int(rng.integers(1_000, 2**31 - 1))
    while song_seed in bundled_seeds():
        song_seed += 1
    tempo = float(np.round(rng.uniform(70.0, 140.0), 1))
    minor = bool(rng.random() < 0.4)
    root = int(rng.integers(12))
    scale = _MINOR_SCALE if minor else _MAJOR_SCALE
    progressions = _MINOR_PROGRESSIONS if minor else _MAJOR_PROGRESSIONS
    progression = progressions[int(rng.integers(len(progressions)))]
    beat = 60.0 / tempo
    beats_per_chord = 4 if (16 * beat <= 10.0 and rng.random() < 0.5) else 2
    chords = [
        (_NOTE_NAMES[(root + scale[degree]) % 12] + ("m" if is_minor else ""), beats_per_chord)
        for degree, is_minor in progression
    ]
    loop_s = 4 * beats_per_chord * beat
    duration_s = float(np.round(loop_s + rng.uniform(0.5, 1.2), 2))

    voice = "soprano" if rng.random() < 0.55 else "male"
    low, high = _VOICE_RANGES[voice]
    pitches = [m for m in range(low, high + 1) if (m - root) % 12 in scale]
    melody, t, position = [], 0.0, int(rng.integers(len(pitches) // 3, 2 * len(pitches) // 3))
    rest_p = float(rng.uniform(0.05, 0.3))
    while t < loop_s:
        beats = float(rng.choice((0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0)))
        if rng.random() < rest_p:
            melody.append(("-", beats, ""))
        else:
            position = int(np.clip(position + rng.integers(-2, 3), 0, len(pitches) - 1))
            midi = pitches[position]
            name = _NOTE_NAMES[midi % 12] + str(midi // 12 - 1)
            syllable = (
                _SYLLABLE_CONSONANTS[int(rng.integers(len(_SYLLABLE_CONSONANTS)))]
                + _VOWELS[int(rng.integers(len(_VOWELS)))]
            )
            melody.append((name, beats, syllable))
        t += beats * beat

    if rng.random() < 0.6:
        drums = {
            "kick": _pattern(rng, 0.18, first=True),
            "snare": "....x.......x..." if rng.random() < 0.7 else _pattern(rng, 0.12),
            "hat": _pattern(rng, 0.35, 0.3),
        }
    else:
        drums = {"kick": _pattern(rng, 0.12, first=True), "rim": _pattern(rng, 0.1), "shaker": _pattern(rng, 0.3, 0.4)}
    style = str(rng.choice(("pad", "keys")))
    chord_rhythm = None if rng.random() < 0.2 else str(rng.choice(_CHORD_RHYTHMS))
    arpeggio = str(rng.choice(_ARPEGGIOS)) if (chord_rhythm is None or rng.random() < 0.3) else None
    return {
        "folder": f"generated_{seed}_{index:05d}",
        "duration_s": duration_s,
        "tempo": tempo,
        "key": f"{_NOTE_NAMES[root]} {'minor' if minor else 'major'}",
        "voice": voice,
        "seed": song_seed,
        "melody": melody,
        "chords": chords,
        "ending": chords[0][0] if rng.random() < 0.7 else None,
        "drums": drums,
        "bass": str(rng.choice(_BASS_RHYTHMS)),
        "chord_rhythm": chord_rhythm,
        "chord_style": style if chord_rhythm else None,
        "arpeggio": arpeggio,
        "var_db": float(np.round(rng.uniform(-6.0, 6.0), 2)),
    }


def synthesise(spec: dict, target: str = "vocals") -> tuple[np.ndarray, np.ndarray, int]:
    """Render a generated song in memory: ``(mixture, target stem, sr)``, float32, mixture peak 0.9.

    The same synthesis as the generator's ``make_pair`` (voice, then the
    band from one random generator; fades), with the voice set to ``var_db``
    relative to the band's RMS. ``target`` is ``vocals`` or one of the band's
    stems (``drums``, ``bass``, ``chords``; ``other`` is the chords).
    """
    gen = generator()
    n = int(round(spec["duration_s"] * gen.SR))
    rng = np.random.default_rng(spec["seed"])
    vocal, _ = gen.sung_voice(spec["melody"], spec["tempo"], n, spec["voice"], rng)
    parts = gen.instrumental_parts(spec, n, rng)
    inst = gen.fade(sum(x for _, x in parts))
    vocal = gen.fade(vocal)
    vocal *= gen.rms(inst) / gen.rms(vocal) * 10.0 ** (spec.get("var_db", 0.0) / 20.0)
    mixture = vocal + inst
    gain = gen.PEAK / np.max(np.abs(mixture))
    if target == "vocals":
        stem = vocal
    else:
        name = "chords" if target == "other" else target
        stems = gen.stem_tracks(parts)
        if name not in stems:
            raise VsepError(f"The generated song {spec['folder']} has no {target} stem.")
        stem = gen.fade(stems[name])
    return (mixture * gain).astype(np.float32), (stem * gain).astype(np.float32), gen.SR


@dataclass(frozen=True)
class TrainingSong:
    """One song to learn from: a name and how to get its audio (see the module docstring)."""

    name: str
    recipe: tuple

    @property
    def key(self) -> str:
        """A hash of the recipe: names the song's cached features and enters the training list's hash."""
        text = json.dumps(self.recipe, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def generated_songs(n: int, seed: int) -> list[TrainingSong]:
    """``n`` new songs from the generator, drawn from ``seed``."""
    if not (isinstance(n, int) and 1 <= n <= 100_000):
        raise VsepError(f"--generate takes a number of songs from 1 to 100000, got {n!r}.")
    return [TrainingSong(f"generated_{seed}_{i:05d}", ("generated", random_song_spec(seed, i))) for i in range(n)]


def folder_songs(folders, target: str) -> list[TrainingSong]:
    """Every usable song under MUSDB-style ``folders`` (as ``batch`` finds them) with ``target`` as the stem.

    Songs without that stem, or that ``batch`` would refuse, are left out
    (their names and reasons are returned beside, for the command to print).

    Returns
    -------
    songs : list of TrainingSong
    skipped : list of (str, str)
    """
    from .batch import discover_songs
    from .stems import DEFAULT_TARGET

    songs, skipped = [], []
    for folder in folders:
        for song in discover_songs(folder):
            if song.problem is not None:
                skipped.append((song.name, song.problem))
                continue
            if target not in song.targets:
                skipped.append((song.name, f"no {target} file"))
                continue
            if target == DEFAULT_TARGET and song.vocal is None:
                if song.instrumental is None:
                    skipped.append((song.name, "the vocal would be a sum of stems; give a vocal or instrumental"))
                    continue
                recipe = ("folder", str(song.mixture), None, str(song.instrumental))
            else:
                recipe = ("folder", str(song.mixture), str(song.targets[target]), None)
            songs.append(TrainingSong(f"{Path(folder).name}/{song.name}", recipe))
    return songs, skipped


def song_audio(song: TrainingSong, target: str, settings) -> tuple[np.ndarray, np.ndarray]:
    """``(mixture, target)`` of a training song at ``settings.sr``, at their true level, float32."""
    kind = song.recipe[0]
    if kind == "generated":
        mixture, stem, sr = synthesise(song.recipe[1], target)
        if sr != settings.sr:
            import librosa

            mixture = librosa.resample(mixture, orig_sr=sr, target_sr=settings.sr).astype(np.float32)
            stem = librosa.resample(stem, orig_sr=sr, target_sr=settings.sr).astype(np.float32)
        return mixture, stem
    from .evaluate import load_pair

    _, mixture_path, target_path, instrumental_path = song.recipe
    pair = load_pair(
        mixture_path,
        vocal=target_path,
        instrumental=instrumental_path,
        settings=settings.replace(start_s=0.0, duration_s=None),
        target_name=target,
    )
    return pair.mixture, pair.vocal
