"""Audio in and out: the public face of :mod:`~vsep_core.decode` (probing and decoding what the user gave),
:mod:`~vsep_core.prepare` (a pair ready for the engine), :mod:`~vsep_core.validation` (checks on signals and
pairs) and :mod:`~vsep_core.wavio` (writing WAV).

Callers import from here; each concern lives in its own module.
"""

from .decode import (  # noqa: F401 - re-exported
    STREAM_SCAN_S, FFMPEG_FORMATS, duration_limit_s, AudioInfo, Decoded, probe, decode, to_mono, available_formats)
from .prepare import (  # noqa: F401 - re-exported
    NORMALISE_EPS, segment_limit_s, Pair, segment, peak_normalise, normalise_levels, engine_pair, to_true_scale, check_workload, prepare_pair)
from .validation import (  # noqa: F401 - re-exported
    SILENCE_PEAK, check_signal)
from .wavio import (  # noqa: F401 - re-exported
    wav_bytes, write_wav)
from .limits import (  # noqa: F401 - re-exported: the input limits the modules above apply
    CODEC_PADDING_S, KEEP_AUDIO_SHARE, MAX_CHANNELS, MAX_DURATION_S, MAX_SAMPLE_ABS, MAX_SAMPLE_RATE,
    MAX_SEGMENT_S, MIN_SAMPLE_RATE)
