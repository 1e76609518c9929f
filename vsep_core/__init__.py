"""vsep_core: spectrogram-fingerprint EQ vocal separation, exact and fast.

An oracle experiment: the method needs the true vocal. Stages, one module each:
``audio`` (decode, prepare) → ``views`` (STFT, 19 views) → ``fingerprint``
(400-point dB profiles, 25 metrics) → ``analysis`` (targets for a pair) →
``optimise`` (passes, chains, progressive runs) → ``search`` (greedy order)
→ ``reconstruct`` (audio with the mixture's phase) → ``experiment`` (all of
it, with progress) → ``report`` / ``cli``. ``api`` holds one call per workflow
(what the CLI, the dashboard, Dask tasks and batch call); ``baselines`` is the
registry of the separation methods in ``separators/``; ``presenter`` turns a
metrics report into rows for every view. The target need not be the vocal:
``stems`` names any stem (drums, bass …) and its complement, "everything else".
"""

from .errors import VsepError
from .settings import Settings

__version__ = "0.1.0"

#: What every result screen and report says about the method (it reads the true vocal).
ORACLE_NOTE = (
    "This is an oracle experiment: the fingerprint-EQ method learns from the true isolated vocal, "
    "which a real separator never has. Its scores say how far the method can go with perfect "
    "knowledge; compare them with the ideal masks (the ceiling) and the blind methods (what works "
    "without the vocal), not with real separators' published scores."
)
__all__ = ["ORACLE_NOTE", "Settings", "VsepError", "__version__"]
