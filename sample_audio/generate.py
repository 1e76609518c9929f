"""Synthesise the project's bundled sample audio (vocal / instrumental / mixture pairs).

Everything here is made from scratch by this script: no recorded or downloaded
audio is used anywhere.  The vocal is a source-filter model of a singing voice
(band-limited Rosenberg glottal pulses with vibrato and jitter, aspiration noise,
time-varying vowel formant resonators, consonant noise bursts); the
instrumental is a small synthesised band (drum kit, bass line, chords).

Run from the repository root::

    .venv/bin/python sample_audio/generate.py

It writes, next to this file, one folder per entry of :data:`PAIRS` holding
``vocal.wav``, ``instrumental.wav`` and ``mixture.wav`` (22050 Hz, mono, 16-bit
PCM), each instrument's stem (``drums.wav``, ``bass.wav``, ``chords.wav``: their
sum is the instrumental, exactly in the written samples), plus ``pairs.json``.
:func:`write_musdb` writes the same songs in MUSDB18's layout.  The output is deterministic: every random choice
comes from a fixed seed, so running it again gives byte-identical files.

Only numpy, scipy and soundfile are used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

SR = 22050
"""Sample rate of every file written (Hz)."""

PEAK = 0.9
"""The mixture is scaled so that its absolute peak is this value."""
#: The instrument stems written beside vocal / instrumental / mixture (instrumental = their sum).
STEMS = ("drums", "bass", "chords")
#: The same song in MUSDB18's file names: chords are MUSDB's "other".
MUSDB_NAMES = {"vocal": "vocals", "drums": "drums", "bass": "bass", "chords": "other", "mixture": "mixture"}

NYQ = SR / 2

# --------------------------------------------------------------------------- #
# The pairs                                                                    #
# --------------------------------------------------------------------------- #
# Melodies are lists of (note, beats, syllable).  A note of "-" is a rest.  A
# syllable is an optional consonant (s t k p h m n l) followed by a vowel
# (a e i o u).  Chords are (name, beats).  Drum patterns are one 4/4 bar of
# 16th notes ('x' hit, 'o' soft hit, '.' nothing); bass and chord rhythms are
# one bar of 8th notes ('x'/'r' root, 'f' fifth, 'o' octave, '-' hold,
# '.' rest).  After the loop of chords an ``ending`` chord is struck once (with
# kick and crash) and left to ring until the end of the file.

PAIRS = [
    {
        "folder": "sung_vowels_pop",
        "title": "Pop, female voice (default sample)",
        "description": (
            "4.7 s of an upbeat pop groove at 120 BPM in C major (C-G-Am-F) with a "
            "synthesised female (soprano-range) voice singing a short phrase on "
            "syllables such as la, li, to, su, no, with vibrato; drums, 8th-note bass and syncopated "
            "chord stabs. This is the sample the app loads by default."
        ),
        "duration_s": 4.7,
        "tempo": 120.0,
        "key": "C major",
        "voice": "soprano",
        "seed": 11,
        "melody": [
            ("-", 0.5, ""), ("E5", 0.5, "la"), ("D5", 0.5, "la"), ("C5", 0.5, "li"),
            ("D5", 1.5, "a"), ("B4", 0.5, "to"),
            ("C5", 0.5, "su"), ("E5", 1.0, "no"), ("D5", 0.5, "ke"), ("C5", 1.0, "mi"),
            ("A4", 0.75, "o"), ("-", 0.25, ""),
            ("G4", 0.25, "a"), ("C5", 1.0, "a"),
        ],
        "chords": [("C", 2), ("G", 2), ("Am", 2), ("F", 2)],
        "ending": "C",
        "drums": {
            "kick": "x.....x.x.......",
            "snare": "....x.......x...",
            "hat": "x.o.x.o.x.o.x.oo",
        },
        "bass": "r-rrr-ro",
        "chord_rhythm": "x--xx-x-",
        "chord_style": "keys",
        "arpeggio": None,
    },
    {
        "folder": "sung_phrases_ballad",
        "title": "Ballad, female voice, two phrases",
        "description": (
            "10 s of a slower ballad at 100 BPM in G major (G-Em-C-D) with a "
            "synthesised female voice singing two phrases separated by a rest, "
            "over a soft drum groove, a bass line and a sustained synth pad."
        ),
        "duration_s": 10.0,
        "tempo": 100.0,
        "key": "G major",
        "voice": "soprano",
        "seed": 22,
        "melody": [
            ("-", 1.0, ""), ("B4", 0.5, "a"), ("C5", 0.5, "la"), ("D5", 1.5, "lo"), ("B4", 0.5, "mi"),
            ("B4", 1.0, "a"), ("G4", 0.5, "ne"), ("A4", 0.5, "la"), ("B4", 1.5, "u"), ("-", 0.5, ""),
            ("E5", 1.0, "sa"), ("D5", 0.5, "la"), ("C5", 0.5, "ti"), ("E5", 2.0, "o"),
            ("D5", 1.0, "ha"), ("C5", 0.5, "me"), ("B4", 0.5, "ni"), ("A4", 1.75, "a"),
        ],
        "chords": [("G", 4), ("Em", 4), ("C", 4), ("D", 4)],
        "ending": "G",
        "drums": {
            "kick": "x.......x.x.....",
            "snare": "....x.......x...",
            "hat": "o.o.o.o.o.o.o.o.",
        },
        "bass": "r--.r-f-",
        "chord_rhythm": "x-------",
        "chord_style": "pad",
        "arpeggio": None,
    },
    {
        "folder": "male_voice_sparse",
        "title": "Male voice over a sparse arrangement",
        "description": (
            "7 s at 75 BPM in D minor (Dm-Bb-F-C) with a synthesised male "
            "(baritone-range) voice over a sparse arrangement: kick, rim click, "
            "shaker, sustained bass and an arpeggiated plucked-string part."
        ),
        "duration_s": 7.0,
        "tempo": 75.0,
        "key": "D minor",
        "voice": "male",
        "seed": 33,
        "melody": [
            ("-", 0.5, ""), ("A3", 0.5, "na"), ("D4", 1.0, "o"), ("C4", 0.5, "la"), ("Bb3", 0.5, "ti"),
            ("A3", 1.0, "a"),
            ("F3", 0.5, "mo"), ("G3", 0.5, "a"), ("A3", 1.5, "ke"), ("G3", 0.5, "su"), ("E3", 1.0, "o"),
            ("D3", 0.6, "a"),
        ],
        "chords": [("Dm", 2), ("Bb", 2), ("F", 2), ("C", 2)],
        "ending": "Dm",
        "drums": {
            "kick": "x.........x.....",
            "rim": "........x.......",
            "shaker": "o.x.o.x.o.x.o.x.",
        },
        "bass": "r---r---",
        "chord_rhythm": None,
        "chord_style": None,
        "arpeggio": "01232123",
    },
]

# --------------------------------------------------------------------------- #
# Voices: formant tables (Hz) for the vowels a e i o u                         #
# --------------------------------------------------------------------------- #
# Centre frequencies and bandwidths of F1..F5, after the classic singing-voice
# formant tables (soprano; tenor for F1..F3 of the male voice, whose F4/F5 are
# set to speech-like values so the spectrum does not stop dead at 3.5 kHz),
# with bandwidths widened a little for a less "ringing" sound.

VOICES = {
    "soprano": {
        "formants": {
            "a": ([800, 1150, 2900, 3900, 4950], [80, 90, 120, 130, 140]),
            "e": ([350, 2000, 2800, 3600, 4950], [60, 100, 120, 150, 200]),
            "i": ([270, 2140, 2950, 3900, 4950], [60, 90, 100, 120, 120]),
            "o": ([450, 800, 2830, 3800, 4950], [70, 80, 100, 130, 135]),
            "u": ([325, 700, 2700, 3800, 4950], [50, 60, 170, 180, 200]),
        },
        "bandwidth_scale": 1.5,
        "open_quotient": 0.65,   # softer, rounder pulses: fewer high harmonics
        "tilt": 0.2,             # extra spectral tilt (harmonic k scaled by k**-tilt)
        "presence_db": 8.0,      # high-shelf lift above ~2.5 kHz ("mic presence")
        "breathiness": 0.035,
        "vibrato_rate": 5.6,
        "vibrato_cents": 42.0,
        "formant_tuning": True,  # raise F1 above f0 on high notes, as sopranos do
    },
    "male": {
        "formants": {
            "a": ([650, 1080, 2650, 3350, 4400], [80, 90, 120, 150, 200]),
            "e": ([400, 1700, 2600, 3400, 4400], [70, 80, 100, 150, 200]),
            "i": ([290, 1870, 2800, 3500, 4500], [40, 90, 100, 150, 200]),
            "o": ([400, 800, 2600, 3300, 4300], [40, 80, 100, 150, 200]),
            "u": ([350, 600, 2700, 3300, 4300], [40, 60, 100, 150, 200]),
        },
        "bandwidth_scale": 1.4,
        "open_quotient": 0.55,
        "tilt": 0.1,
        "presence_db": 10.0,
        "breathiness": 0.03,
        "vibrato_rate": 5.3,
        "vibrato_cents": 35.0,
        "formant_tuning": False,
    },
}

# Consonants.  Unvoiced ones ("fric", "stop", "aspirate") silence the voice for a
# moment and add a noise burst; "voiced" ones (nasals, l) keep the voice going
# but move the formants and dip the level.  Times are seconds relative to the
# note start (``pre`` before it, ``post`` after it, where the vowel begins).
CONSONANTS = {
    "s": {"kind": "fric", "pre": 0.085, "post": 0.02, "band": (3800, 9500), "level": 0.09},
    "t": {"kind": "stop", "pre": 0.045, "post": 0.03, "band": (2500, 7500), "level": 0.16},
    "k": {"kind": "stop", "pre": 0.05, "post": 0.04, "band": (1300, 3800), "level": 0.16},
    "p": {"kind": "stop", "pre": 0.05, "post": 0.025, "band": (300, 2500), "level": 0.13},
    "h": {"kind": "aspirate", "pre": 0.07, "post": 0.01, "level": 1.2},
    "m": {"kind": "voiced", "dur": 0.075, "amp": 0.25,
          "formants": ([250, 1100, 2300, 3300, 4200], [100, 300, 300, 400, 400])},
    "n": {"kind": "voiced", "dur": 0.07, "amp": 0.25,
          "formants": ([250, 1600, 2600, 3300, 4200], [100, 300, 300, 400, 400])},
    "l": {"kind": "voiced", "dur": 0.055, "amp": 0.55,
          "formants": ([360, 1050, 2700, 3300, 4200], [80, 150, 200, 250, 300])},
}

NOTE_OFFSETS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

BLOCK = 128
"""Block length (samples) at which the time-varying formant filters are updated."""


# --------------------------------------------------------------------------- #
# Small helpers                                                                #
# --------------------------------------------------------------------------- #

def note_to_midi(name: str) -> int:
    """MIDI number of a note name such as ``"C5"``, ``"Bb3"`` or ``"F#4"``."""
    letter, rest = name[0].upper(), name[1:]
    shift = 0
    while rest and rest[0] in "#b":
        shift += 1 if rest[0] == "#" else -1
        rest = rest[1:]
    return 12 * (int(rest) + 1) + NOTE_OFFSETS[letter] + shift


def midi_to_hz(midi):
    """Frequency in Hz of a (possibly fractional) MIDI note number."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def chord_pitch_classes(name: str) -> tuple[int, list[int]]:
    """Root pitch class and chord-tone pitch classes of ``"C"``, ``"Am"``, ``"Bb"``, ``"G7"``..."""
    accidental = {"#": 1, "b": -1}.get(name[1:2], 0)
    root = (NOTE_OFFSETS[name[0]] + accidental) % 12
    quality = name[1 + abs(accidental):]
    minor = quality.startswith("m")
    tones = [0, 3 if minor else 4, 7]
    if quality.endswith("7"):
        tones.append(10)
    return root, [(root + t) % 12 for t in tones]


def place_in_range(pitch_class: int, low: int) -> int:
    """The MIDI note of ``pitch_class`` in the octave ``[low, low + 12)``."""
    return low + (pitch_class - low) % 12


def raised_cosine_box(t, start, end, rise, fall):
    """A gate that is 1 between ``start`` and ``end`` with raised-cosine ramps centred on them.

    Two boxes that meet (``end`` of one == ``start`` of the next, same ramp
    length) sum to exactly 1, which gives clean legato cross-fades.
    """
    up = np.clip((t - (start - rise / 2)) / max(rise, 1e-9), 0.0, 1.0)
    down = np.clip(((end + fall / 2) - t) / max(fall, 1e-9), 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * up)) * (0.5 - 0.5 * np.cos(np.pi * down))


def smooth_noise(rng: np.random.Generator, n: int, cutoff_hz: float, sr: int = SR) -> np.ndarray:
    """Unit-RMS low-pass filtered Gaussian noise (a slowly wandering random signal)."""
    sos = signal.butter(2, cutoff_hz, fs=sr, output="sos")
    pad = int(sr / cutoff_hz) * 4
    x = signal.sosfilt(sos, rng.standard_normal(n + pad))[pad:]
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def band_noise(rng: np.random.Generator, n: int, band, sr: int = SR, order: int = 2) -> np.ndarray:
    """Unit-RMS Gaussian noise band-passed to ``band`` (Hz); ``band[1] >= Nyquist`` means high-pass."""
    lo, hi = band
    if hi >= 0.98 * sr / 2:
        sos = signal.butter(order, lo, btype="highpass", fs=sr, output="sos")
    elif lo <= 0:
        sos = signal.butter(order, hi, btype="lowpass", fs=sr, output="sos")
    else:
        sos = signal.butter(order, [lo, hi], btype="bandpass", fs=sr, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(n))
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def one_pole_smooth(x: np.ndarray, tau_samples: float, passes: int = 2) -> np.ndarray:
    """Smooth ``x`` along axis 0 with ``passes`` cascaded one-pole low-pass filters.

    The filter starts settled at ``x[0]``, so there is no initial transient.
    """
    a = np.exp(-1.0 / max(tau_samples, 1e-9))
    y = np.asarray(x, dtype=float)
    for _ in range(passes):
        y0 = y[0]
        y = signal.lfilter([1.0 - a], [1.0, -a], y - y0, axis=0) + y0
    return y


def high_shelf(x: np.ndarray, gain_db: float, corner_hz: float) -> np.ndarray:
    """First-order high shelf: ``x`` plus a 1st-order high-passed copy, lifting the top by ``gain_db``."""
    b, a = signal.butter(1, corner_hz, btype="highpass", fs=SR)
    return x + (10.0 ** (gain_db / 20.0) - 1.0) * signal.lfilter(b, a, x)


def polyblep_saw(freq, n: int, phase0: float = 0.0, sr: int = SR) -> np.ndarray:
    """Band-limited (PolyBLEP) sawtooth, -1..1, with constant or per-sample frequency."""
    dt = np.broadcast_to(np.asarray(freq, dtype=float) / sr, (n,))
    phase = np.mod(phase0 + np.cumsum(dt), 1.0)
    y = 2.0 * phase - 1.0
    lo = phase < dt
    t = phase[lo] / dt[lo]
    y[lo] -= t + t - t * t - 1.0
    hi = phase > 1.0 - dt
    t = (phase[hi] - 1.0) / dt[hi]
    y[hi] -= t * t + t + t + 1.0
    return y


def place(buffer: np.ndarray, sound: np.ndarray, start: int) -> None:
    """Add ``sound`` into ``buffer`` starting at sample ``start`` (clipped at both ends)."""
    if start < 0:
        sound, start = sound[-start:], 0
    end = min(len(buffer), start + len(sound))
    if end > start:
        buffer[start:end] += sound[: end - start]


def rms(x: np.ndarray) -> float:
    """Root-mean-square value of ``x``."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# --------------------------------------------------------------------------- #
# The voice                                                                    #
# --------------------------------------------------------------------------- #

def rosenberg_harmonics(open_quotient: float, n_harmonics: int, tilt: float = 0.0):
    """Amplitudes and phases of the harmonics of a Rosenberg glottal-flow-derivative pulse.

    One period of the Rosenberg (type C) glottal flow pulse -- a raised-cosine
    opening phase (60 % of the open time) and a quarter-cosine closing phase
    ending abruptly at glottal closure -- is sampled finely, Fourier
    transformed, and differentiated (lip radiation).  Its spectrum falls at
    about -6 dB/octave; ``tilt`` adds a further ``k**-tilt`` roll-off.
    Returns ``(amp, phase)`` arrays indexed by harmonic number (index 0 unused).
    """
    m = 4096
    t = np.arange(m) / m
    tp, tn = 0.6 * open_quotient, 0.4 * open_quotient
    g = np.zeros(m)
    opening = t < tp
    g[opening] = 0.5 * (1.0 - np.cos(np.pi * t[opening] / tp))
    closing = (t >= tp) & (t < tp + tn)
    g[closing] = np.cos(0.5 * np.pi * (t[closing] - tp) / tn)
    spectrum = np.fft.rfft(g) / m
    k = np.arange(n_harmonics + 1)
    derivative = 1j * k * spectrum[: n_harmonics + 1]
    amp = 2.0 * np.abs(derivative) * np.where(k > 0, np.maximum(k, 1) ** -tilt, 0.0)
    amp /= amp[1:].max()
    return amp, np.angle(derivative)


def glottal_source(f0: np.ndarray, active: np.ndarray, voice: dict, rng: np.random.Generator):
    """Band-limited glottal pulse train following the per-sample pitch ``f0`` (Hz).

    The waveform is a sum of harmonics of the Rosenberg pulse (so it never
    aliases: each harmonic fades out as it nears Nyquist), plus aspiration
    noise that is louder during the open phase of each glottal cycle
    (breathiness).  Only samples where ``active`` is true are computed.
    Returns ``(harmonic_part, aspiration_noise)``.
    """
    n = len(f0)
    theta = 2.0 * np.pi * np.cumsum(f0) / SR
    idx = np.flatnonzero(active)
    harmonic = np.zeros(n)
    noise = np.zeros(n)
    if idx.size == 0:
        return harmonic, noise
    f_sub, th_sub = f0[idx], theta[idx]
    f_lo, f_hi = 0.80 * NYQ, 0.93 * NYQ
    n_harm = int(np.ceil(f_hi / f_sub.min()))
    amp, phase = rosenberg_harmonics(voice["open_quotient"], n_harm, voice["tilt"])
    out = np.zeros(idx.size)
    f_max = f_sub.max()
    for k in range(1, n_harm + 1):
        partial = amp[k] * np.cos(k * th_sub + phase[k])
        if k * f_max > f_lo:       # near Nyquist: fade the harmonic out
            taper = np.clip((f_hi - k * f_sub) / (f_hi - f_lo), 0.0, 1.0)
            if not taper.any():
                break
            partial *= taper
        out += partial
    harmonic[idx] = out
    # Aspiration: white noise, gated by the glottal cycle (strongest while open).
    open_phase = (0.5 + 0.5 * np.cos(theta - 0.8 * np.pi)) ** 2
    noise = rng.standard_normal(n) * (0.35 + 0.65 * open_phase) * voice["breathiness"]
    return harmonic, noise


def formant_filter(x: np.ndarray, freqs: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Pass ``x`` through a cascade of time-varying 2nd-order formant resonators.

    ``freqs`` and ``bandwidths`` have shape ``(n_blocks, n_formants)``: one set
    of F1..Fn per block of :data:`BLOCK` samples.  Each resonator is the
    classic digital resonator ``y[n] = A x[n] + B y[n-1] + C y[n-2]`` with
    ``C = -exp(-2 pi BW / sr)``, ``B = 2 exp(-pi BW / sr) cos(2 pi F / sr)``,
    ``A = 1 - B - C`` (unity gain at DC).  The cascade is run block by block with
    ``scipy.signal.sosfilt``, carrying the filter state across blocks, so the
    formants can glide smoothly from one vowel to the next.
    """
    n_blocks, n_form = freqs.shape
    c = -np.exp(-2.0 * np.pi * bandwidths / SR)
    b = 2.0 * np.exp(-np.pi * bandwidths / SR) * np.cos(2.0 * np.pi * freqs / SR)
    a = 1.0 - b - c
    sos = np.zeros((n_blocks, n_form, 6))
    sos[..., 0] = a
    sos[..., 3] = 1.0
    sos[..., 4] = -b
    sos[..., 5] = -c
    y = np.empty_like(x)
    zi = np.zeros((n_form, 2))
    for i in range(n_blocks):
        s = slice(i * BLOCK, min((i + 1) * BLOCK, len(x)))
        y[s], zi = signal.sosfilt(sos[i], x[s], zi=zi)
    return y


def parse_syllable(syllable: str) -> tuple[str | None, str]:
    """Split ``"la"`` into ``("l", "a")`` and ``"o"`` into ``(None, "o")``."""
    if not syllable or syllable[-1] not in "aeiou":
        raise ValueError(f"syllable {syllable!r} must end in a vowel a/e/i/o/u")
    cons = syllable[:-1] or None
    if cons is not None and cons not in CONSONANTS:
        raise ValueError(f"unknown consonant {cons!r} in {syllable!r}")
    return cons, syllable[-1]


def melody_events(melody, tempo: float) -> list[dict]:
    """Turn a ``(note, beats, syllable)`` list into timed note events (seconds).

    Each event gets ``start``, ``end``, ``midi``, ``cons``, ``vowel`` and
    ``legato_in`` (the previous note ends exactly where this one starts).
    """
    beat = 60.0 / tempo
    events, t, prev_was_note = [], 0.0, False
    for note, beats, syllable in melody:
        dur = beats * beat
        if note == "-":
            prev_was_note = False
        else:
            cons, vowel = parse_syllable(syllable)
            events.append({"start": t, "end": t + dur, "midi": note_to_midi(note),
                           "cons": cons, "vowel": vowel, "legato_in": prev_was_note})
            prev_was_note = True
        t += dur
    for a, b in zip(events, events[1:]):
        a["legato_out"] = b["legato_in"]
    if events:
        events[-1]["legato_out"] = False
    return events


def sung_voice(melody, tempo: float, n: int, voice_name: str, rng: np.random.Generator):
    """Synthesise a sung vocal line.

    Steps:

    1. timing -- each note gets a voiced span; an unvoiced consonant (s, t, k,
       p, h) cuts the voice just before the note and the vowel starts just
       after the beat; legato notes cross-fade with a small articulation dip;
    2. pitch -- the note pitches, glided (portamento) between legato notes,
       a small scoop up into notes that start a phrase, vibrato that fades in
       on each note, slow pitch drift and fast jitter;
    3. source -- band-limited Rosenberg glottal pulses at that pitch, with
       shimmer and breath (aspiration) noise;
    4. filter -- vowel formants F1..F5 moving smoothly from vowel to vowel
       (and through nasal / l consonant shapes);
    5. consonant noise bursts (s hiss, t/k/p bursts with aspiration) and a
       quiet breath intake before each phrase.

    Returns ``(vocal, voicing_gate)``; the vocal is normalised so its 99.9th
    percentile absolute value is about 1.
    """
    voice = VOICES[voice_name]
    t = np.arange(n) / SR
    events = melody_events(melody, tempo)

    def span(a: float, b: float) -> slice:
        """Sample indices covering the times ``a``..``b`` (seconds)."""
        return slice(max(0, int(np.floor(a * SR))), max(0, min(n, int(np.ceil(b * SR)) + 1)))

    # 1. Timing: voiced spans, amplitude gate, articulation dips.
    gate = np.zeros(n)
    dips = np.ones(n)
    vib_depth = np.zeros(n)
    scoop = np.zeros(n)
    h_env = np.zeros(n)
    for i, ev in enumerate(events):
        cons = CONSONANTS.get(ev["cons"]) if ev["cons"] else None
        v_on = ev["start"]
        if cons and cons["kind"] in ("fric", "stop", "aspirate"):
            v_on = ev["start"] + cons["post"]
        elif cons and not ev["legato_in"]:
            v_on = ev["start"] - 0.6 * cons["dur"]     # nasal / l hummed into the note
        nxt = events[i + 1] if i + 1 < len(events) else None
        if ev["legato_out"] and nxt is not None:
            ncons = CONSONANTS.get(nxt["cons"]) if nxt["cons"] else None
            if ncons and ncons["kind"] in ("fric", "stop", "aspirate"):
                v_off, fall = nxt["start"] - ncons["pre"], 0.025
            else:
                v_off, fall = nxt["start"], 0.04      # cross-fades with the next note
        else:
            v_off, fall = ev["end"] - 0.07, 0.12      # phrase end: soft release
        if ev["legato_in"] and not (cons and cons["kind"] in ("fric", "stop", "aspirate")):
            rise = 0.04
        elif cons and cons["kind"] == "stop":
            rise = 0.02
        else:
            rise = 0.06
        ev["v_on"], ev["v_off"] = v_on, v_off
        length = max(v_off - v_on, 1e-3)
        sl = span(v_on - rise / 2, v_off + fall / 2)
        ts = t[sl]
        swell = 1.0 + 0.12 * np.clip((ts - v_on) / max(length, 0.3), 0.0, 1.0)  # slight crescendo
        gate[sl] += raised_cosine_box(ts, v_on, v_off, rise, fall) * swell
        # Vibrato fades in after ~0.1 s; short notes keep a little.
        ramp = np.clip((ts - (v_on + 0.08)) / 0.22, 0.0, 1.0)
        full = voice["vibrato_cents"] if length > 0.3 else 0.35 * voice["vibrato_cents"]
        vib_depth[sl] += raised_cosine_box(ts, v_on, v_off, 0.04, 0.04) * (0.3 + 0.7 * ramp) * full
        if not ev["legato_in"] or (cons and cons["kind"] != "voiced"):
            # scoop: start ~35 cents flat and slide up over ~90 ms
            sl = span(v_on - 0.05, v_on + 0.09)
            scoop[sl] += -35.0 * (1.0 - np.clip((t[sl] - v_on) / 0.09, 0.0, 1.0)) ** 2
        s = ev["start"]
        if cons and cons["kind"] == "voiced":
            sl = span(s - 0.6 * cons["dur"] - 0.02, s + 0.4 * cons["dur"] + 0.02)
            bump = raised_cosine_box(t[sl], s - 0.6 * cons["dur"], s + 0.4 * cons["dur"], 0.03, 0.04)
            dips[sl] *= 1.0 - (1.0 - cons["amp"]) * bump
        elif ev["legato_in"] and not cons:
            sl = span(s - 0.1, s + 0.1)
            dips[sl] *= 1.0 - 0.3 * np.exp(-0.5 * ((t[sl] - s) / 0.02) ** 2)
        if cons and cons["kind"] == "aspirate":
            sl = span(s - cons["pre"] - 0.015, v_on + 0.015)
            h_env[sl] += raised_cosine_box(t[sl], s - cons["pre"], v_on, 0.03, 0.03) * cons["level"]
    gate *= dips
    vib_depth = np.minimum(vib_depth, voice["vibrato_cents"])

    # 2. Pitch: note targets (rests take the next note's pitch), glides, vibrato, jitter.
    target = np.full(n, float(events[0]["midi"]))
    for i, ev in enumerate(events):
        lo = int(round(ev["start"] * SR)) if ev["legato_in"] else 0 if i == 0 else \
            int(round(events[i - 1]["end"] * SR))
        target[lo:] = ev["midi"]
    midi = one_pole_smooth(target, 0.018 * SR)
    vib_rate = voice["vibrato_rate"] * (1.0 + 0.04 * smooth_noise(rng, n, 0.7))
    vib_phase = 2.0 * np.pi * np.cumsum(vib_rate) / SR
    drift = 6.0 * smooth_noise(rng, n, 0.8)
    jitter = 4.0 * smooth_noise(rng, n, 60.0)
    cents = vib_depth * np.sin(vib_phase) + drift + jitter + scoop
    f0 = midi_to_hz(midi + cents / 100.0)

    # 3. Source: glottal pulses with shimmer + breath noise.
    active = (gate > 1e-4) | (h_env > 1e-4)
    harmonic, aspiration = glottal_source(f0, gate > 1e-4, voice, rng)
    shimmer = 1.0 + 0.04 * smooth_noise(rng, n, 40.0)
    h_noise = rng.standard_normal(n) * 0.08 * h_env
    source = (harmonic * shimmer + aspiration) * gate + h_noise
    source[~active] = 0.0

    # 4. Filter: formant tracks per block, smoothed between vowels.
    n_blocks = -(-n // BLOCK)
    tb = (np.arange(n_blocks) * BLOCK + BLOCK / 2) / SR
    first = voice["formants"][events[0]["vowel"]]
    freqs = np.tile(np.array(first[0], float), (n_blocks, 1))
    bws = np.tile(np.array(first[1], float), (n_blocks, 1))
    for ev in events:
        fv, bv = voice["formants"][ev["vowel"]]
        sel = tb >= ev["start"] - (0.05 if ev["legato_in"] else 0.12)
        freqs[sel], bws[sel] = fv, bv
        cons = CONSONANTS.get(ev["cons"]) if ev["cons"] else None
        if cons and cons["kind"] == "voiced":
            sel = (tb >= ev["start"] - 0.6 * cons["dur"]) & (tb < ev["start"] + 0.4 * cons["dur"])
            freqs[sel], bws[sel] = cons["formants"]
    bws = bws * voice["bandwidth_scale"]
    if voice["formant_tuning"]:
        f0_block = midi_to_hz(np.interp(tb, t, midi))
        freqs[:, 0] = np.maximum(freqs[:, 0], 1.08 * f0_block)
        freqs[:, 1] = np.maximum(freqs[:, 1], freqs[:, 0] + 250.0)
    tau_blocks = 0.028 * SR / BLOCK
    freqs = np.exp(one_pole_smooth(np.log(freqs), tau_blocks))
    bws = one_pole_smooth(bws, tau_blocks)
    voiced = formant_filter(source, freqs, bws)
    voiced = high_shelf(voiced, voice["presence_db"], 2500.0)
    voiced = signal.sosfilt(signal.butter(2, 70.0, "highpass", fs=SR, output="sos"), voiced)
    voiced /= np.percentile(np.abs(voiced), 99.9) + 1e-12

    # 5. Consonant noise and breaths (added after the vocal tract filter).
    extra = np.zeros(n)
    for i, ev in enumerate(events):
        cons = CONSONANTS.get(ev["cons"]) if ev["cons"] else None
        s = ev["start"]
        if cons and cons["kind"] == "fric":
            m = int((cons["pre"] + cons["post"]) * SR)
            env = np.sin(np.pi * np.linspace(0, 1, m)) ** 1.5
            place(extra, band_noise(rng, m, cons["band"], order=3) * env * cons["level"],
                  int((s - cons["pre"]) * SR))
        elif cons and cons["kind"] == "stop":
            m = int((cons["post"] + 0.01) * SR)
            tt = np.arange(m) / SR
            burst = np.exp(-tt / 0.004) + 0.25 * np.exp(-tt / 0.02)
            place(extra, band_noise(rng, m, cons["band"]) * burst * cons["level"],
                  int((s - 0.008) * SR))
        if not ev["legato_in"] and ev["start"] > 0.35:
            # quiet breath intake before a phrase
            m = int(0.28 * SR)
            env = np.sin(np.pi * np.linspace(0, 1, m)) ** 2
            breath = band_noise(rng, m, (700, 5000), order=2) * env * 0.012
            place(extra, breath, int((s - 0.05 - (cons or {}).get("pre", 0.0)) * SR) - m)
    vocal = voiced + extra
    return vocal, np.clip(gate, 0.0, None)


# --------------------------------------------------------------------------- #
# The band                                                                     #
# --------------------------------------------------------------------------- #

def _pattern_hits(pattern: str, bar_start: float, step: float):
    """``(time, velocity)`` of each hit in a one-bar pattern ('x' = 1.0, 'o' = 0.55)."""
    for j, ch in enumerate(pattern):
        if ch in "xo":
            yield bar_start + j * step, 1.0 if ch == "x" else 0.55


def drum_sounds(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot drum samples: kick, snare, closed hat, rim click, shaker and crash."""
    def tt(seconds):
        return np.arange(int(seconds * SR)) / SR

    t = tt(0.45)
    kick_f = 48.0 + 100.0 * np.exp(-t / 0.04)
    kick = np.sin(2 * np.pi * np.cumsum(kick_f) / SR) * np.exp(-t / 0.22)
    kick += 0.35 * band_noise(rng, len(t), (0, 3000)) * np.exp(-t / 0.004)
    kick = np.tanh(1.6 * kick) / np.tanh(1.6)

    t = tt(0.3)
    snare = (0.55 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05)
             + 0.3 * np.sin(2 * np.pi * 330 * t) * np.exp(-t / 0.03)
             + 0.5 * band_noise(rng, len(t), (1500, 9000)) * np.exp(-t / 0.07))

    t = tt(0.12)
    hat = 0.5 * band_noise(rng, len(t), (7000, NYQ), order=4) * np.exp(-t / 0.03)

    t = tt(0.08)
    rim = (0.6 * np.sin(2 * np.pi * 1650 * t) * np.exp(-t / 0.012)
           + 0.4 * np.sin(2 * np.pi * 820 * t) * np.exp(-t / 0.02)
           + 0.3 * band_noise(rng, len(t), (2000, 8000)) * np.exp(-t / 0.005))

    t = tt(0.12)
    shaker = 0.4 * band_noise(rng, len(t), (4500, 10000)) * (1 - np.exp(-t / 0.012)) * np.exp(-t / 0.035)

    t = tt(2.0)
    crash = 0.35 * band_noise(rng, len(t), (3500, NYQ), order=2) * (1 - np.exp(-t / 0.002)) * np.exp(-t / 0.7)
    return {"kick": kick, "snare": snare, "hat": hat, "rim": rim, "shaker": shaker, "crash": crash}


def drum_kit(patterns: dict, tempo: float, n_bars: int, n: int, rng: np.random.Generator,
             ending: bool = True) -> np.ndarray:
    """Render drum patterns (one 16-step bar each, repeated ``n_bars`` times).

    Each drum is an impulse train (hit times, lightly humanised in timing and
    velocity) convolved with its one-shot sample.  With ``ending`` a final
    kick + crash is struck on the downbeat after the last bar.
    """
    sounds = drum_sounds(rng)
    levels = {"kick": 0.7, "snare": 0.75, "hat": 0.5, "rim": 1.4, "shaker": 0.7, "crash": 0.6}
    step = 60.0 / tempo / 4
    out = np.zeros(n)
    for name, pattern in patterns.items():
        hits = [h for bar in range(n_bars) for h in _pattern_hits(pattern, bar * 16 * step, step)]
        if ending and name == "kick":
            hits.append((n_bars * 16 * step, 1.0))
        train = np.zeros(n)
        for time, vel in hits:
            jitter = 0.0 if name == "kick" else rng.normal(0.0, 0.004)
            k = int(round((time + jitter) * SR))
            if 0 <= k < n:
                train[k] += vel * (1.0 + rng.normal(0.0, 0.08))
        out += levels[name] * signal.fftconvolve(train, sounds[name])[:n]
    if ending:
        place(out, levels["crash"] * sounds["crash"], int(round(n_bars * 16 * step * SR)))
    return out


def _rhythm_events(rhythm: str, chords, tempo: float, n_bars: int):
    """Notes ``(start, dur, symbol, chord)`` from a one-bar 8th-note rhythm over the chord loop.

    A held note ('-') is re-struck when the chord changes underneath it.
    """
    beat = 60.0 / tempo
    eighth = beat / 2
    changes, t = [], 0.0
    for name, beats in chords:
        changes.append((t, name))
        t += beats * beat

    def chord_at(time):
        name = changes[0][1]
        for c, nm in changes:
            if c <= time + 1e-9:
                name = nm
        return name

    steps = [(bar * 4 * beat + j * eighth, ch) for bar in range(n_bars) for j, ch in enumerate(rhythm)]
    events, current = [], None
    for time, ch in steps:
        if ch == "-" and current is not None:
            if chord_at(time) != current[3]:
                events.append(current)
                current = (time, eighth, current[2], chord_at(time))
            else:
                current = (current[0], current[1] + eighth, current[2], current[3])
        else:
            if current is not None:
                events.append(current)
            current = None if ch in ".-" else (time, eighth, ch, chord_at(time))
    if current is not None:
        events.append(current)
    return events


def bass_line(chords, rhythm: str, tempo: float, n_bars: int, n: int, ending: str | None,
              rng: np.random.Generator) -> np.ndarray:
    """A bass line following the chord roots (roots between E1 and D#2).

    Each note is a PolyBLEP sawtooth plus a sine at the fundamental for weight,
    through a 2nd-order low-pass at 700 Hz, with a quick attack, a decay to
    sustain and a short release.
    """
    out = np.zeros(n)
    events = _rhythm_events(rhythm, chords, tempo, n_bars)
    if ending:
        events.append((n_bars * 4 * 60.0 / tempo, 2 * 60.0 / tempo, "r", ending))
    lp = signal.butter(2, 700.0, fs=SR, output="sos")
    for start, dur, sym, chord in events:
        root, _ = chord_pitch_classes(chord)
        midi = place_in_range(root, 28) + {"r": 0, "x": 0, "f": 7, "o": 12}[sym]
        f = float(midi_to_hz(midi))
        m = int((dur + 0.06) * SR)
        tt = np.arange(m) / SR
        tone = 0.6 * polyblep_saw(f, m, rng.uniform()) + 0.8 * np.sin(2 * np.pi * f * tt)
        env = (1 - np.exp(-tt / 0.004)) * (0.7 + 0.3 * np.exp(-tt / 0.12))
        env *= np.clip((dur - tt) / 0.05 + 1.0, 0.0, 1.0)         # 50 ms release after dur
        place(out, signal.sosfilt(lp, tone * env), int(round(start * SR)))
    return out


def chord_pad(chords, rhythm: str, tempo: float, n_bars: int, n: int, ending: str | None,
              style: str, rng: np.random.Generator) -> np.ndarray:
    """Chords: three detuned PolyBLEP saws per chord tone through a low-pass filter.

    ``style="pad"`` is a slow-attack sustained pad (low-pass ~1.4 kHz);
    ``style="keys"`` is brighter with a fast attack and decay, for rhythmic
    stabs.  Chord tones are voiced close together between G3 and F#4.
    """
    attack, decay, sustain, release, cutoff = {
        "pad": (0.25, 0.6, 0.9, 0.5, 1400.0),
        "keys": (0.006, 0.25, 0.45, 0.12, 2600.0),
    }[style]
    out = np.zeros(n)
    events = _rhythm_events(rhythm, chords, tempo, n_bars)
    if ending:
        events.append((n_bars * 4 * 60.0 / tempo, n / SR, "x", ending))
    for start, dur, _, chord in events:
        _, pcs = chord_pitch_classes(chord)
        m = int(min(dur + release * 3, n / SR - start + 0.01) * SR)
        if m <= 0:
            continue
        tt = np.arange(m) / SR
        env = (1 - np.exp(-tt / (attack / 3))) * (sustain + (1 - sustain) * np.exp(-tt / decay))
        env *= np.where(tt > dur, np.exp(-(tt - dur) / (release / 3)), 1.0)
        tone = np.zeros(m)
        for pc in pcs:
            f = float(midi_to_hz(place_in_range(pc, 55)))
            for cents in (-9.0, 0.0, 8.0):
                tone += polyblep_saw(f * 2 ** (cents / 1200), m, rng.uniform())
        place(out, tone * env, int(round(start * SR)))
    return signal.sosfilt(signal.butter(4, cutoff, fs=SR, output="sos"), out)


def pluck(freq: float, m: int, rng: np.random.Generator) -> np.ndarray:
    """A plucked-string tone: harmonics of a string plucked near one end, higher ones dying faster."""
    tt = np.arange(m) / SR
    out = np.zeros(m)
    pos = 0.18
    for k in range(1, int(6000 / freq) + 1):
        decay = 1.6 + 0.9 * k
        mk = min(m, int(9.0 / decay * SR))          # until the partial is ~80 dB down
        a = np.sin(np.pi * k * pos) / k ** 1.6
        fk = k * freq * (1.0 + 0.00003 * k * k)     # slight string inharmonicity
        out[:mk] += a * np.sin(2 * np.pi * fk * tt[:mk] + rng.uniform(0, 0.3)) * np.exp(-tt[:mk] * decay)
    return out * (1 - np.exp(-tt / 0.0015))


def arpeggio(chords, pattern: str, tempo: float, n_bars: int, n: int, ending: str | None,
             rng: np.random.Generator) -> np.ndarray:
    """Arpeggiated plucked chord tones, one per 8th note (``pattern`` indexes root/5th/8ve/10th)."""
    out = np.zeros(n)
    beat = 60.0 / tempo
    events = _rhythm_events("x" * len(pattern), chords, tempo, n_bars)
    for j, (start, _, _, chord) in enumerate(events):
        root, pcs = chord_pitch_classes(chord)
        r = place_in_range(root, 45)
        tones = [r, r + 7, r + 12, r + 12 + (pcs[1] - root) % 12]
        f = float(midi_to_hz(tones[int(pattern[j % len(pattern)])]))
        place(out, pluck(f, int(1.2 * SR), rng) * (1.0 if j % 2 == 0 else 0.75), int(round(start * SR)))
    if ending:
        root, pcs = chord_pitch_classes(ending)
        r = place_in_range(root, 45)
        for d, midi in enumerate([r, r + 7, r + 12, r + 12 + (pcs[1] - root) % 12]):
            place(out, pluck(float(midi_to_hz(midi)), int(1.5 * SR), rng),
                  int(round((n_bars * 4 * beat + 0.03 * d) * SR)))
    return out


def instrumental_parts(spec: dict, n: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """The band's parts for one pair, each at its level in the mix: ``[(stem, signal), ...]``.

    Stems are ``"drums"``, ``"bass"`` and ``"chords"`` (the pad or keys, and/or
    the plucked arpeggio: a pair may have two chord parts, both in that stem).
    The order is the order they are mixed in, and the random draws are the
    same as ever, so the instrumental is unchanged sample for sample.
    """
    tempo, chords, ending = spec["tempo"], spec["chords"], spec["ending"]
    beat = 60.0 / tempo
    loop_beats = sum(b for _, b in chords)
    n_bars = int(round(loop_beats / 4))
    parts = [
        ("drums", 1.0, drum_kit(spec["drums"], tempo, n_bars, n, rng, ending=bool(ending))),
        ("bass", 0.55, bass_line(chords, spec["bass"], tempo, n_bars, n, ending, rng)),
    ]
    if spec.get("chord_rhythm"):
        level = 0.14 if spec["chord_style"] == "pad" else 0.13
        parts.append(("chords", level, chord_pad(chords, spec["chord_rhythm"], tempo, n_bars, n, ending,
                                                 spec["chord_style"], rng)))
    if spec.get("arpeggio"):
        parts.append(("chords", 0.55, arpeggio(chords, spec["arpeggio"], tempo, n_bars, n, ending, rng)))
    assert loop_beats * beat <= n / SR
    return [(stem, level * x) for stem, level, x in parts]


def instrumental_track(spec: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """Mix drums, bass and chords (pad/keys and/or arpeggio) for one pair."""
    # Summed in mixing order from 0, as it always was: the bundled instrumentals stay byte-identical.
    return sum(x for _, x in instrumental_parts(spec, n, rng))


def stem_tracks(parts: list[tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The parts grouped by stem (``STEMS`` order), chord parts summed."""
    out: dict[str, np.ndarray] = {}
    for stem, x in parts:
        out[stem] = out[stem] + x if stem in out else x
    return {stem: out[stem] for stem in STEMS if stem in out}


# --------------------------------------------------------------------------- #
# Pairs and files                                                              #
# --------------------------------------------------------------------------- #

def fade(x: np.ndarray, fade_in: float = 0.005, fade_out: float = 0.08) -> np.ndarray:
    """Short raised-cosine fade-in and fade-out so files start and end at zero."""
    x = x.copy()
    a, b = int(fade_in * SR), int(fade_out * SR)
    x[:a] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    x[len(x) - b:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(b) / b)
    return x


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Quantise floats in [-1, 1) to int16 (scale 32768, round to nearest)."""
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def quantised_stems(parts, inst16: np.ndarray, gain: float) -> dict[str, np.ndarray]:
    """Each instrument stem in 16 bit, summing exactly to the quantised instrumental.

    Every stem but the last is rounded on its own; the last is the
    instrumental minus the others, in integers, so it carries the rounding
    (at most a couple of LSB) and drums + bass + chords == instrumental
    sample for sample in the written files.
    """
    tracks = {stem: fade(x) * gain for stem, x in stem_tracks(parts).items()}
    names = list(tracks)
    out = {stem: to_pcm16(tracks[stem]) for stem in names[:-1]}
    last = inst16.astype(np.int32) - sum(out[stem].astype(np.int32) for stem in names[:-1])
    assert np.abs(last - np.round(tracks[names[-1]] * 32768.0)).max() <= 3
    assert last.min() >= -32768 and last.max() <= 32767
    out[names[-1]] = last.astype(np.int16)
    return out


def make_pair(spec: dict, out_dir: Path, *, layout: str = "pairs") -> dict:
    """Synthesise one pair and write its WAV files into ``out_dir / spec["folder"]``.

    The vocal is scaled to the same RMS as the instrumental (0 dB
    vocal-to-accompaniment ratio); the mixture is their sum; all three are then
    multiplied by one common gain so the mixture peaks at :data:`PEAK`.  The
    stems are quantised to 16 bit and the mixture is written as the exact sum
    of the quantised stems, so mixture == vocal + instrumental sample for
    sample.  Each instrument stem (:data:`STEMS`) is written too, quantised so
    that drums + bass + chords == instrumental exactly (:func:`quantised_stems`),
    hence mixture == vocal + drums + bass + chords.  The files are read back
    and checked.  Returns some statistics.

    With ``layout="musdb"`` the folder holds MUSDB18's names instead
    (:data:`MUSDB_NAMES`: mixture, vocals, drums, bass, other) and no
    instrumental, for testing folder evaluation on songs whose truth is known.
    """
    n = int(round(spec["duration_s"] * SR))
    rng = np.random.default_rng(spec["seed"])
    vocal, gate = sung_voice(spec["melody"], spec["tempo"], n, spec["voice"], rng)
    parts = instrumental_parts(spec, n, rng)
    inst = sum(x for _, x in parts)  # as instrumental_track sums them
    vocal, inst = fade(vocal), fade(inst)
    vocal *= rms(inst) / rms(vocal)
    mixture = vocal + inst
    gain = PEAK / np.max(np.abs(mixture))
    vocal, inst, mixture = vocal * gain, inst * gain, mixture * gain

    v16, i16 = to_pcm16(vocal), to_pcm16(inst)
    m16 = (v16.astype(np.int32) + i16.astype(np.int32))
    assert np.abs(m16 - np.round(mixture * 32768.0)).max() <= 1
    m16 = m16.astype(np.int16)
    stems16 = quantised_stems(parts, i16, gain)

    folder = out_dir / spec["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    written = {"vocal": v16, "instrumental": i16, "mixture": m16, **stems16}
    if layout == "musdb":
        written = {MUSDB_NAMES[k]: v for k, v in written.items() if k in MUSDB_NAMES}
    elif layout != "pairs":
        raise ValueError(f"layout is 'pairs' or 'musdb', not {layout!r}")
    for name, data in written.items():
        sf.write(folder / f"{name}.wav", data, SR, subtype="PCM_16", format="WAV")

    # Read back and verify.
    back_all = {}
    for name in written:
        data, sr = sf.read(folder / f"{name}.wav", dtype="float64")
        assert sr == SR and data.ndim == 1 and len(data) == n, (name, sr, data.shape)
        back_all[name] = data
    if layout == "musdb":
        back_all = {k: back_all[MUSDB_NAMES[k]] for k in ("vocal", "mixture", *stems16)}
        back_all["instrumental"] = sum(back_all[stem] for stem in stems16)
    back = {name: back_all[name] for name in ("vocal", "instrumental", "mixture")}
    err = np.abs(back["mixture"] - (back["vocal"] + back["instrumental"])).max()
    assert err < 3 / 32768, f"mixture != vocal + instrumental (max error {err})"
    # Exact in the written integers: the stems add up to the instrumental, and with the vocal to the mixture.
    stem_sum = sum(np.round(back_all[stem] * 32768).astype(np.int64) for stem in stems16)
    assert np.array_equal(stem_sum, np.round(back["instrumental"] * 32768).astype(np.int64))

    v, i, m = back["vocal"], back["instrumental"], back["mixture"]
    return {
        "folder": spec["folder"],
        "duration_s": n / SR,
        "samples": n,
        "rms_dbfs": {k: round(20 * np.log10(rms(x)), 2) for k, x in back.items()},
        "peak": {k: round(float(np.max(np.abs(x))), 4) for k, x in back.items()},
        "vocal_to_accompaniment_db": round(20 * np.log10(rms(v) / rms(i)), 3),
        "voiced_fraction": round(float(np.mean(gate > 0.25)), 3),
        "max_sum_error": float(err),
        "mixture_peak": float(np.max(np.abs(m))),
        "stems": list(stems16),
    }


def pairs_manifest() -> list[dict]:
    """The ``pairs.json`` content: one entry per pair."""
    return [
        {
            "folder": p["folder"],
            "title": p["title"],
            "description": p["description"],
            "duration_s": round(int(round(p["duration_s"] * SR)) / SR, 6),
            "sample_rate": SR,
            "files": {"vocal": f"{p['folder']}/vocal.wav",
                      "instrumental": f"{p['folder']}/instrumental.wav",
                      "mixture": f"{p['folder']}/mixture.wav"},
            # Every stem the mixture is the exact sum of, by target name (vsep_core.stems).
            "stems": {"vocals": f"{p['folder']}/vocal.wav",
                      **{stem: f"{p['folder']}/{stem}.wav" for stem in STEMS}},
            "chords": " and ".join(filter(None, [p.get("chord_style"), "plucked arpeggio" if p.get("arpeggio")
                                                 else None])),
            "tempo_bpm": p["tempo"],
            "key": p["key"],
        }
        for p in PAIRS
    ]


def main(out_dir: str | Path | None = None, verbose: bool = True) -> list[dict]:
    """Generate every pair in :data:`PAIRS` plus ``pairs.json`` into ``out_dir``.

    ``out_dir`` defaults to the folder holding this script.  Returns the
    per-pair statistics.
    """
    out = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    stats = [make_pair(spec, out) for spec in PAIRS]
    with open(out / "pairs.json", "w", encoding="utf-8", newline="\n") as fh:
        json.dump({"sample_rate": SR, "default": PAIRS[0]["folder"], "pairs": pairs_manifest()},
                  fh, indent=2)
        fh.write("\n")
    if verbose:
        for s in stats:
            print(f"{s['folder']:<22} {s['duration_s']:6.3f} s  {s['samples']:7d} samples  "
                  f"RMS vocal/inst/mix {s['rms_dbfs']['vocal']:6.1f}/{s['rms_dbfs']['instrumental']:6.1f}/"
                  f"{s['rms_dbfs']['mixture']:6.1f} dBFS  peak mix {s['mixture_peak']:.3f}  "
                  f"VAR {s['vocal_to_accompaniment_db']:+.2f} dB  voiced {s['voiced_fraction']:.2f}  "
                  f"max|m-(v+i)| {s['max_sum_error'] * 32768:.1f} LSB")
    return stats


def write_musdb(out_dir: str | Path, pairs=None) -> list[Path]:
    """Write songs in MUSDB18-HQ's layout (``song/mixture.wav vocals.wav drums.wav bass.wav other.wav``).

    The same synthesis as the bundled pairs (default: all of :data:`PAIRS`),
    so every stem's truth is known and mixture == vocals + drums + bass + other
    sample for sample. Returns the song folders.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = PAIRS if pairs is None else pairs
    for spec in chosen:
        make_pair(spec, out, layout="musdb")
    return [out / spec["folder"] for spec in chosen]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
