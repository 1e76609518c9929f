"""Settings of one experiment: how audio is prepared and how the method runs.

The defaults are the research code's ("seed-compatible"): they reproduce the
golden numbers in ``shared/reference/golden``. Every improvement is an option
beside them, never a changed default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .errors import VsepError

#: Pooled slices (17, 18) have half as many windows as the working matrix.
#: ``"seed"``: their window j adjusts working window j (the research code's quirk:
#: only the first half of the song is touched). ``"expand"``: pooled window j
#: adjusts working windows 2j and 2j+1.
POOLED_WINDOW_MODES = ("seed", "expand")

#: ``"independent"``: mixture and vocal are each peak-normalised on their own,
#: as the research code's prepare step does (its quirk: their relative level is
#: lost). ``"common"``: one gain for both, so the vocal keeps its level inside
#: the mixture. ``"as_is"``: no normalisation, as the research script ``best.py``
#: reads files that did not go through the prepare step; the golden numbers
#: were made this way from the evaluation pair.
LEVEL_MODES = ("independent", "common", "as_is")

#: learning_rate from here on makes each step overshoot by the whole gap or more (refused).
MAX_LEARNING_RATE = 1.0

#: Largest EQ limit of a pass, in dB (refused above).
MAX_CLIP_DB = 200.0

#: ``"auto"`` uses the closed form where it is exact (0 < 2·lr ≤ 1) and the
#: iterative loop elsewhere; the other two force one of them.
PASS_METHODS = ("auto", "closed", "iterative")


@dataclass(frozen=True)
class Settings:
    """Everything that decides an experiment's numbers.

    Parameters
    ----------
    sr : int
        Analysis sample rate in Hz (22050).
    start_s : float
        Start of the analysed segment, in seconds.
    duration_s : float or None
        Length of the segment in seconds (4.7); ``None`` analyses the whole file.
    n_fft : int
        STFT frame length (2048).
    hop_length : int
        STFT hop (1040: 4.7 s gives exactly 100 windows).
    n_windows : int or None
        If set, the hop is chosen so that the segment gives this many windows
        (overrides ``hop_length``).
    n_points : int
        Points in a fingerprint profile (400).
    learning_rate, iterations, clip_db : float, int, float
        Gradient descent settings of one pass (0.01, 100, ±20 dB).
    top_db : float
        Dynamic range kept by every dB conversion (80).
    pooled_windows : {"seed", "expand"}
        How the pooled slices' windows map onto working windows.
    level : {"independent", "common", "as_is"}
        How the mixture and the vocal are peak-normalised (see :data:`LEVEL_MODES`).
    pass_method : {"auto", "closed", "iterative"}
        How a pass's gradient descent is computed.
    """

    sr: int = 22050
    start_s: float = 0.0
    duration_s: float | None = 4.7
    n_fft: int = 2048
    hop_length: int = 1040
    n_windows: int | None = None
    n_points: int = 400
    learning_rate: float = 0.01
    iterations: int = 100
    clip_db: float = 20.0
    top_db: float = 80.0
    pooled_windows: str = "seed"
    level: str = "independent"
    pass_method: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`VsepError` naming the first setting out of range."""
        _check_range("sr", self.sr, 1000, 192000, integer=True)
        _check_range("start_s", self.start_s, 0.0, 24 * 3600.0)
        if self.duration_s is not None:
            _check_range("duration_s", self.duration_s, 0.05, 24 * 3600.0)
        _check_range("n_fft", self.n_fft, 64, 65536, integer=True)
        _check_range("hop_length", self.hop_length, 1, 65536, integer=True)
        if self.n_windows is not None:
            _check_range("n_windows", self.n_windows, 2, 10_000_000, integer=True)
        _check_range("n_points", self.n_points, 2, 100_000, integer=True)
        if not (
            isinstance(self.learning_rate, (int, float))
            and not isinstance(self.learning_rate, bool)
            and math.isfinite(self.learning_rate)
            and self.learning_rate > 0
        ):
            raise VsepError(f"learning_rate must be a positive number, got {self.learning_rate!r}.")
        if self.learning_rate >= MAX_LEARNING_RATE:
            # Each step moves the EQ by 2·lr times the gap: from lr = 1 on it overshoots by at least the
            # whole gap, so the loop never settles and the EQ swings between the clips.
            raise VsepError(
                f"learning_rate must be below {MAX_LEARNING_RATE:g}, got {self.learning_rate!r}: "
                "each step moves the EQ by 2 × rate × the gap, so from 1 on it overshoots by the whole "
                "gap or more and swings between the clips instead of settling."
            )
        _check_range("iterations", self.iterations, 1, 100_000, integer=True)
        if not (
            isinstance(self.clip_db, (int, float))
            and not isinstance(self.clip_db, bool)
            and math.isfinite(self.clip_db)
            and 0 <= self.clip_db <= MAX_CLIP_DB
        ):
            raise VsepError(
                f"clip_db must be a number from 0 to {MAX_CLIP_DB:g}, got {self.clip_db!r}: a pass's EQ "
                f"beyond ±{MAX_CLIP_DB:g} dB means nothing (every profile spans top_db, 80 dB) and "
                "18 such passes overflow float32 on the way back to amplitude."
            )
        _check_range("top_db", self.top_db, 1.0, 1000.0)
        _check_choice("pooled_windows", self.pooled_windows, POOLED_WINDOW_MODES)
        _check_choice("level", self.level, LEVEL_MODES)
        _check_choice("pass_method", self.pass_method, PASS_METHODS)

    def warnings(self) -> list[str]:
        """Values that are legal but make dubious results, one sentence each saying why.

        The command line prints them on stderr, the dashboard beside its
        settings. Seed defaults give none.
        """
        out = []
        if self.learning_rate > 0.5:
            out.append(
                f"learning_rate {self.learning_rate:g} is above 0.5: each step overshoots the gap "
                "(by 2 × rate − 1 of it), so the EQ alternates around its goal while it converges, and "
                "the exact closed form does not apply (the slower iterative loop runs)."
            )
        if self.clip_db == 0:
            out.append("clip_db 0 allows no EQ at all: every run returns the mixture unchanged.")
        elif self.clip_db > self.top_db:
            out.append(
                f"clip_db {self.clip_db:g} is above top_db ({self.top_db:g} dB, the range every "
                "profile keeps): the clip no longer limits anything."
            )
        if self.learning_rate * self.iterations < 0.05:
            out.append(
                f"learning_rate × iterations is {self.learning_rate * self.iterations:g}: a pass moves the "
                "EQ by under 10 % of the gap, so the runs barely change the mixture."
            )
        n_bins = self.n_fft // 2 + 1
        if self.n_points > n_bins:
            out.append(
                f"n_points {self.n_points} is more than the STFT's {n_bins} bins: the profiles "
                "interpolate between bins and add nothing."
            )
        if self.n_windows is None and self.hop_length > self.n_fft:
            out.append(
                f"hop_length {self.hop_length} is longer than n_fft {self.n_fft}: samples between the "
                "frames are never analysed, and the rebuilt audio has gaps."
            )
        return out

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (validated)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise VsepError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain-JSON form, for ``summary.json`` and the dashboard."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        return cls().replace(**values)

    @property
    def is_seed_compatible(self) -> bool:
        """True when every quirk of the research code is kept."""
        return self.pooled_windows == "seed" and self.level == "independent"

    def hop_for(self, n_samples: int) -> int:
        """The hop used for a signal of ``n_samples`` samples.

        ``hop_length`` unless ``n_windows`` is set; then the largest hop whose
        centred STFT gives exactly ``n_windows`` frames (``1 + n // hop``).
        """
        if self.n_windows is None:
            return self.hop_length
        hop = n_samples // (self.n_windows - 1)
        if hop < 1 or 1 + n_samples // hop != self.n_windows:
            raise VsepError(
                f"{self.n_windows} windows cannot be made from {n_samples} samples "
                f"({n_samples / self.sr:.2f} s); choose at most {n_samples + 1} windows."
            )
        return hop


def _check_range(name, value, low, high, *, integer=False) -> None:
    kind = "a whole number" if integer else "a number"
    ok_type = (
        isinstance(value, int) and not isinstance(value, bool)
        if integer
        else (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))
    )
    if not ok_type or not (low <= value <= high):
        raise VsepError(f"{name} must be {kind} from {low} to {high}, got {value!r}.")


def _check_choice(name, value, choices) -> None:
    if value not in choices:
        raise VsepError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
