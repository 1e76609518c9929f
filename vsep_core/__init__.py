"""vsep_core: spectrogram-fingerprint EQ vocal separation, exact and fast.

An oracle experiment: the method needs the true vocal. Stages, one module each:
``audio`` (decode, prepare) → ``views`` (STFT, 19 views) → ``fingerprint``
(400-point dB profiles, 25 metrics) → ``analysis`` (targets for a pair) →
``optimise`` (passes, chains, progressive runs) → ``search`` (greedy order)
→ ``reconstruct`` (audio with the mixture's phase) → ``experiment`` (all of
it, with progress) → ``report`` / ``cli``.
"""

from .errors import VsepError
from .settings import Settings

__version__ = "0.1.0"
__all__ = ["Settings", "VsepError", "__version__"]
