"""The joint method: every window's EQ learned at once (:mod:`vsep_core.joint`) as a separator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..analysis import analyse
from ..joint import JointSettings, run_joint
from ..settings import Settings
from ..views import RAW
from .base import EVALUATION_SETTINGS, Separation, check_mixture, check_vocal, method_pair, separation_from_db


@dataclass(frozen=True)
class JointMatching:
    """The fingerprint method with every window's EQ learned at once (see :mod:`vsep_core.joint`).

    Parameters
    ----------
    settings : Settings
        Analysis settings and the level the engine sees.
    joint : JointSettings
        Adam's steps and step size, the views in the loss with their weights, an optional clip.
    """

    settings: Settings = EVALUATION_SETTINGS
    joint: JointSettings = field(default_factory=JointSettings)
    name: ClassVar[str] = "joint"
    kind: ClassVar[str] = "seed"

    @property
    def description(self) -> str:
        views = ", ".join(f"{name} ×{weight:g}" for name, weight in self.joint.views)
        return (
            f"Fingerprint EQ learned jointly through the round trip (Adam, {self.joint.steps} steps; loss over {views})"
        )

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = check_mixture(mixture, sr, self.settings.n_fft)
        vocal = check_vocal(vocal, mixture, self.name)
        pair = method_pair(mixture, vocal, sr, self.settings)
        analysis = analyse(pair, self.settings, views=(RAW, *self.joint.view_names))
        result = run_joint(analysis, self.joint)
        return separation_from_db(
            result.final_db,
            analysis,
            mixture,
            pair,
            {
                "views": [list(v) for v in self.joint.views],
                "loss": result.final_loss,
                "steps": self.joint.steps,
                "step_size": self.joint.step_size,
                "clip_db": self.joint.clip_db,
            },
        )
