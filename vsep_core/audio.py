"""Audio in and out: the public face of :mod:`~vsep_core.decode` (probing and decoding what the user gave),
:mod:`~vsep_core.prepare` (a pair ready for the engine), :mod:`~vsep_core.validation` (checks on signals and
pairs) and :mod:`~vsep_core.wavio` (writing WAV).

Callers import from here; each concern lives in its own module.
"""

from .decode import (  # noqa: F401 - re-exported
    FFMPEG_FORMATS,
    STREAM_SCAN_S,
    AudioInfo,
    Decoded,
    available_formats,
    decode,
    duration_limit_s,
    probe,
    to_mono,
)
from .limits import (  # noqa: F401 - re-exported: the input limits the modules above apply
    CODEC_PADDING_S,
    KEEP_AUDIO_SHARE,
    MAX_CHANNELS,
    MAX_DURATION_S,
    MAX_SAMPLE_ABS,
    MAX_SAMPLE_RATE,
    MAX_SEGMENT_S,
    MIN_SAMPLE_RATE,
)
from .prepare import (  # noqa: F401 - re-exported
    NORMALISE_EPS,
    Pair,
    check_workload,
    engine_pair,
    normalise_levels,
    peak_normalise,
    prepare_pair,
    segment,
    segment_limit_s,
    to_true_scale,
)
from .validation import SILENCE_PEAK, check_signal  # noqa: F401 - re-exported
from .wavio import wav_bytes, write_wav  # noqa: F401 - re-exported
