"""Separation methods behind one small interface, for evaluation.

Every method takes the mixture (and, unless it is blind, the true vocal) and
returns a vocal and an instrumental estimate on the mixture's scale, never
peak-normalised, so an evaluation loop treats the seed method, its ceilings
and its floors alike (as nussl's benchmark separators do).

Kinds:

``"seed"``
    The fingerprint-EQ method itself: progressive runs over N slices, the
    greedy ordering search, and the joint matching of every window's EQ
    (:mod:`vsep_core.joint`). It needs the true vocal (its fingerprints).
``"oracle"``
    Ceilings that read the true vocal: the method's exact 400-band EQ (each
    window's EQ set to the full gap, no iterations, no clipping), and the
    ideal ratio, binary and Wiener-style masks.
``"blind"``
    Methods that never see the vocal: REPET-SIM, a two-stage HPSS, and the
    mixture itself as the estimate (the floor); for drums, the percussive
    part of a one-stage HPSS.

The target need not be the vocal (:mod:`vsep_core.stems`): the ``vocal``
argument and output slot then hold the target stem (drums, bass …) and
``instrumental`` everything else. Seed and oracle methods work for any
target. A blind method built for one kind of source says so with
``suited_targets`` (and ``unsuited_note``); evaluation flags its figures for
any other target rather than present them as a fair baseline.

Use :func:`get_method` to build one by name and :func:`run_method` to run
it; ``run_method`` is what guarantees that a blind method never receives the
vocal.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Callable

from .errors import VsepError
from .experiment import resolve_order
from .joint import JointSettings
from .separators.base import EVALUATION_SETTINGS, KINDS, Separation, Separator, run_method
from .separators.exact_eq import ExactEQ, exact_eq_db
from .separators.hpss import PercussiveHPSS, TwoStageHPSS
from .separators.ideal_mask import IdealMask
from .separators.joint_matching import JointMatching
from .separators.mixture import MixtureAsEstimate
from .separators.repet_sim import RepetSim
from .separators.seed import SeedGreedy, SeedProgressive, progressive_name
from .settings import Settings

__all__ = [
    "KINDS",
    "EVALUATION_SETTINGS",
    "Separation",
    "Separator",
    "run_method",
    "METHODS",
    "method_names",
    "get_method",
    "resolve_methods",
    "progressive_name",
    "exact_eq_db",
    "SeedProgressive",
    "SeedGreedy",
    "JointMatching",
    "ExactEQ",
    "IdealMask",
    "RepetSim",
    "TwoStageHPSS",
    "PercussiveHPSS",
    "MixtureAsEstimate",
]


# --- registry -------------------------------------------------------------------

#: Every method by name → a factory taking the engine settings and the slices
#: the seed methods use (the order, and its first ``--slices`` for N and the greedy candidates).
METHODS: "OrderedDict[str, Callable[..., Separator]]" = OrderedDict(
    [
        ("seed_progressive", lambda settings, order, used, joint: SeedProgressive(len(used), order, settings)),
        ("seed_greedy", lambda settings, order, used, joint: SeedGreedy("full", settings, used)),
        ("seed_greedy_best", lambda settings, order, used, joint: SeedGreedy("best", settings, used)),
        ("joint", lambda settings, order, used, joint: JointMatching(settings, joint or JointSettings())),
        (
            "phase_oracle",
            lambda settings, order, used, joint: (  # (its own module: vsep_core.oracle_phase)
                __import__("oracle_phase", globals(), None, ["PhaseOracle"], 1).PhaseOracle(settings)
            ),
        ),
        ("exact_eq", lambda settings, order, used, joint: ExactEQ(settings=settings)),
        ("irm", lambda settings, order, used, joint: IdealMask("irm")),
        ("ibm", lambda settings, order, used, joint: IdealMask("ibm")),
        ("wiener", lambda settings, order, used, joint: IdealMask("wiener")),
        ("repet_sim", lambda settings, order, used, joint: RepetSim()),
        ("hpss", lambda settings, order, used, joint: TwoStageHPSS()),
        ("hpss_percussive", lambda settings, order, used, joint: PercussiveHPSS()),
        (
            "learned_fingerprint",
            lambda settings, order, used, joint: __import__("learned", globals(), None, ["_"], 1).LearnedFingerprint(
                settings
            ),
        ),
        ("mixture", lambda settings, order, used, joint: MixtureAsEstimate()),
    ]
)

#: Methods that "all" lists only for targets other than the vocal: the vocal's list (and every figure
#: in it) stays what it always was; for other targets the drums baseline sits beside the rest.
_NOT_IN_ALL_FOR_VOCALS = ("hpss_percussive",)

_PROGRESSIVE_N = re.compile(r"^seed_progressive_(\d+)$")


def method_names(target_name: str | None = None) -> list[str]:
    """The method names ``"all"`` stands for with this target (default the vocal), in table order.

    Every method runs for any target; this only decides the default list.
    """
    from .stems import DEFAULT_TARGET
    from .stems import target_name as canonical

    if canonical(target_name) == DEFAULT_TARGET:
        return [name for name in METHODS if name not in _NOT_IN_ALL_FOR_VOCALS]
    return list(METHODS)


def get_method(
    name: str,
    settings: Settings | None = None,
    *,
    order=None,
    max_slices: int | None = None,
    joint: JointSettings | None = None,
) -> Separator:
    """Build a method by name.

    Parameters
    ----------
    name : str
        A key of :data:`METHODS`, or ``"seed_progressive_N"`` for the
        progressive run over the first N slices of ``order``.
    settings : Settings, optional
        Engine settings for the seed and exact-EQ methods
        (:data:`EVALUATION_SETTINGS` if omitted).
    order, max_slices : optional
        As ``run --order`` and ``--slices``: the seed methods' slice order;
        ``seed_progressive`` runs over ``order[:max_slices]`` and the greedy
        methods order those slices (see :func:`vsep_core.experiment.resolve_order`).
    joint : JointSettings, optional
        The ``joint`` method's optimiser settings (default :class:`JointSettings`).

    Raises
    ------
    VsepError
        For an unknown name.
    """
    settings = settings or EVALUATION_SETTINGS
    order, used = resolve_order(order, max_slices)
    key = str(name).strip().lower()
    if key in METHODS:
        return METHODS[key](settings, order, used, joint)
    match = _PROGRESSIVE_N.match(key)
    if match:
        return SeedProgressive(n_slices=int(match.group(1)), order=order, settings=settings)
    raise VsepError(
        f"Unknown method {name!r}. Methods: {', '.join(METHODS)}, or seed_progressive_N for N = 1 … {len(order)}."
    )


def resolve_methods(
    names,
    settings: Settings | None = None,
    *,
    order=None,
    max_slices: int | None = None,
    joint: JointSettings | None = None,
    target_name: str | None = None,
) -> list[Separator]:
    """Methods for a list of names (``"all"`` = :func:`method_names` for the target; commas split names).

    ``order``, ``max_slices`` and ``joint`` as in :func:`get_method`;
    ``target_name`` (default the vocal) only decides what ``"all"`` means.

    Raises
    ------
    VsepError
        For an unknown name or a method listed twice.
    """
    keys = []
    for item in names or ["all"]:
        keys.extend(part.strip() for part in str(item).split(",") if part.strip())
    if not keys or keys == ["all"]:
        keys = method_names(target_name)
    methods = [get_method(key, settings, order=order, max_slices=max_slices, joint=joint) for key in keys]
    seen = set()
    for m in methods:
        if m.name in seen:
            raise VsepError(f"Method {m.name} is listed twice.")
        seen.add(m.name)
    return methods
