"""The floor: the mixture itself as the estimate (blind)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Separation, check_mixture, refuse_vocal


@dataclass(frozen=True)
class MixtureAsEstimate:
    """The floor: the mixture itself as both the vocal and the instrumental estimate."""

    name: ClassVar[str] = "mixture"
    kind: ClassVar[str] = "blind"
    description: ClassVar[str] = "The mixture itself as both estimates (the floor)"

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        refuse_vocal(vocal, self.name)
        mixture = check_mixture(mixture, sr, 1)
        return Separation(vocal=mixture.copy(), instrumental=mixture.copy(), info={})
