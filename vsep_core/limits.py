"""Thresholds and limits shared by several modules: each written once, here.

A module that applies one of these imports it from here (and may re-export
it under its old name); the command line reads its defaults from here too,
without importing the heavier modules that apply them.
"""

#: BSS Eval frame length in seconds (SiSEC: 1 s frames, median over frames).
BSS_WINDOW_S = 1.0

#: Furthest lag the alignment check searches by default, in seconds.
MAX_LAG_S = 1.0

#: Below this correlation at the best lag the target explains under 1 % of the
#: mixture's energy: it is not the signal that was mixed (a vocal at −20 dB
#: below its accompaniment would still reach 0.1). Such a pair is unrelated,
#: not misaligned, and has nothing to repair.
MIN_CORRELATION = 0.1

#: Methods an evaluation runs at once (threads; the work is numpy, numba and BLAS, which let go of the GIL):
#: both cores of a small machine. Only joint runs beside the others, which run one at a time for memory
#: (vsep_core.evaluate), so a third thread would have nothing to do.
EVALUATE_WORKERS = 2
MAX_EVALUATE_WORKERS = 2

#: Figures above this (dB) are ratios to rounding noise (e.g. the mixture-as-estimate's SAR): views of the
#: scores show ">150" rather than digits that only reflect float rounding; JSON keeps the number.
NOISE_FLOOR_DB = 150.0

# --- input limits (vsep_core.audio applies them) -------------------------------------------------

#: Longest input accepted by default, in seconds (a whole album side is not a song).
#: ``VSEP_MAX_DURATION_S`` in the environment, or a ``max_duration_s`` argument, overrides it.
MAX_DURATION_S = 20 * 60

#: Most channels accepted (7.1 surround); more is not a song's recording.
MAX_CHANNELS = 8

#: Sample rates accepted, in Hz: telephone speech to high-resolution studio audio.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000

#: Longest analysed segment by default, in seconds at the default STFT (hop 1040, n_fft 2048), so that
#: 18 slices plus the greedy search stay under 1.5 GB with room to spare (measured: BENCHMARKS.md).
#: ``VSEP_MAX_SEGMENT_S`` overrides it; other hops and FFT sizes scale it (the work is windows × bins).
MAX_SEGMENT_S = 6 * 60

#: Share of the segment limit when every run's audio is kept (a report, scores, the dashboard).
KEEP_AUDIO_SHARE = 2 / 3

#: Largest sample magnitude accepted, whatever the level setting: full scale is 1.0, and float files may go a
#: little beyond it (an unlimited master), but 1000 (+60 dB over full scale) is no recording. Above it the
#: engine's float32 powers lose all precision and, near 1e19, overflow: NaN losses and all-zero WAVs.
MAX_SAMPLE_ABS = 1e3

#: Most a pair's lengths may differ by, in seconds, when one analysis frame is less: what lossy codecs add
#: at the ends. An MP3 without a gapless header (piped from an encoder) carries its encoder delay and last
#: frame's padding, up to 3 frames of 1,152 samples (0.08 s at 44.1 kHz, 0.11 s at 32 kHz); AAC 2,048 priming
#: and padding samples (0.13 s at 16 kHz); Opus in WebM, which has no end trim, up to 0.1 s measured. The
#: segments are then cut to the shorter file; the alignment check still finds a real offset.
CODEC_PADDING_S = 0.25

#: Most samples by which stems summed into one source may differ in length (one STFT frame at 2048).
STEM_LENGTH_TOLERANCE = 2048
