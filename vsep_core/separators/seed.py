"""The seed method: progressive runs over the first N slices, and the greedy search's order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import VsepError
from ..optimise import run_chain
from ..settings import Settings
from ..views import RAW, SLICE_NAMES
from .base import EVALUATION_SETTINGS, Separation, check_mixture, check_vocal, method_pair, separation_from_db
from .caches import analysis_for, greedy_for


@dataclass(frozen=True)
class SeedProgressive:
    """The seed method: passes over the first N slices of an order, then the polish.

    Parameters
    ----------
    n_slices : int
        N (1 … len(order)); the research code's runs are N = 1 … 18.
    order : tuple of str
        Slice order (default 1, 2, …, 18).
    settings : Settings
        Analysis and optimiser settings (hop, learning rate, pooled windows,
        level …); see :data:`EVALUATION_SETTINGS`.
    """

    n_slices: int = len(SLICE_NAMES)
    order: tuple = SLICE_NAMES
    settings: Settings = EVALUATION_SETTINGS
    kind: ClassVar[str] = "seed"

    def __post_init__(self):
        if not 1 <= self.n_slices <= len(self.order):
            raise VsepError(f"The seed method's N must be from 1 to {len(self.order)}, got {self.n_slices}.")

    @property
    def name(self) -> str:
        return progressive_name(self.n_slices, self.order)

    @property
    def description(self) -> str:
        return f"Fingerprint EQ, progressive run over {self.n_slices} slice(s) then the polish"

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = check_mixture(mixture, sr, self.settings.n_fft)
        vocal = check_vocal(vocal, mixture, self.name)
        pair = method_pair(mixture, vocal, sr, self.settings)
        slices = tuple(self.order[: self.n_slices])
        analysis = analysis_for(pair, self.settings, (RAW, *slices))
        chain = run_chain(analysis, slices)
        return separation_from_db(
            chain.final_db, analysis, mixture, pair, {"slices": list(slices), "loss": chain.final_loss}
        )


def progressive_name(n_slices: int, order=SLICE_NAMES) -> str:
    """The evaluation name of the progressive run over ``order[:n_slices]``.

    ``"seed_progressive"`` for the research code's run (all 18 slices in the
    default order), ``"seed_progressive_N"`` otherwise; the same name in
    ``evaluate --methods`` and in :func:`vsep_core.evaluate.evaluate_experiment`.
    """
    if n_slices == len(SLICE_NAMES) and tuple(order) == SLICE_NAMES:
        return "seed_progressive"
    return f"seed_progressive_{n_slices}"


@dataclass(frozen=True)
class SeedGreedy:
    """The seed method with the greedy search's order.

    Parameters
    ----------
    prefix : {"full", "best"}
        ``"full"``: the whole sequence, as the research code reports it;
        ``"best"``: the prefix with the lowest loss over all steps.
    settings : Settings
    candidates : tuple of str
        The slices the search orders (default all 18; ``run --slices N``
        orders the first N of its order).
    """

    prefix: str = "full"
    settings: Settings = EVALUATION_SETTINGS
    candidates: tuple = SLICE_NAMES
    kind: ClassVar[str] = "seed"

    def __post_init__(self):
        if self.prefix not in ("full", "best"):
            raise VsepError(f"prefix must be 'full' or 'best', got {self.prefix!r}.")
        if not self.candidates:
            raise VsepError("The greedy search needs at least one slice to order.")

    @property
    def name(self) -> str:
        return "seed_greedy" if self.prefix == "full" else "seed_greedy_best"

    @property
    def description(self) -> str:
        if self.prefix == "full":
            return "Fingerprint EQ, greedy slice order (full sequence, as the research code reports)"
        return "Fingerprint EQ, greedy slice order (best prefix over all steps)"

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = check_mixture(mixture, sr, self.settings.n_fft)
        vocal = check_vocal(vocal, mixture, self.name)
        pair = method_pair(mixture, vocal, sr, self.settings)
        analysis, greedy = greedy_for(pair, self.settings, self.candidates)
        slices = greedy.sequence if self.prefix == "full" else greedy.best_prefix
        chain = run_chain(analysis, slices)
        return separation_from_db(
            chain.final_db,
            analysis,
            mixture,
            pair,
            {
                "slices": list(slices),
                "loss": chain.final_loss,
                "greedy_loss": greedy.loss,
                "best_prefix_loss": greedy.best_prefix_loss,
            },
        )
