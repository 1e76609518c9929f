"""Where the decibels go: a loss waterfall per pair, from an evaluation report.

From the true target down to the mixture, each step is one thing the method gives up:

====================  ==============================  =================================================
from → to             named for                       what it costs
====================  ==============================  =================================================
target → phase_oracle phase                           keeping the mixture's phase (the target's exact
                                                      magnitude in every bin): the level reached
phase_oracle →        band resolution                 shaping each window with 400 bands instead of
exact_eq                                              every bin (the exact EQ, no optimisation)
exact_eq → joint      optimisation                    learning the EQ from fingerprints instead of
                                                      setting it exactly
joint → best seed     fingerprint chain               the seed's chain of passes over slices instead
                                                      of one joint fit
best seed → mixture   separation                      what the best seed run gains over doing nothing
====================  ==============================  =================================================

The first bar is absolute (the target itself is +∞ dB, so the phase step is shown as the level
it leaves); every other step is the difference of two figures of the same report, so the steps
add up exactly: ``phase_oracle + Σ steps = mixture``. A step whose method is not in the report
is merged into the next (e.g. without ``joint``: "optimisation + fingerprint chain"). A step can
be a gain (joint above the exact EQ: the fingerprints' optimum is not the per-window ceiling).
"""

from __future__ import annotations

import math

from .errors import VsepError

#: The waterfall's levels, in order: (method or "best seed", what the step down to it costs).
LEVELS = (
    ("phase_oracle", "phase"),
    ("exact_eq", "band resolution"),
    ("joint", "optimisation"),
    ("best seed run", "fingerprint chain"),
    ("mixture", "separation"),
)

#: One sentence per cost, for captions and the report.
COSTS = {
    "phase": "keeping the mixture's phase: the target's exact magnitude in every bin reaches only this",
    "band resolution": "400 bands per window instead of every bin (the exact EQ, set without optimisation)",
    "optimisation": "learning the EQ from fingerprints (joint) instead of setting it exactly",
    "fingerprint chain": "the seed's chain of passes over slices instead of one joint fit",
    "separation": "what the best seed run gains over offering the mixture itself",
}


def best_seed(report: dict, source: str = "vocal", metric: str = "si_sdr") -> dict | None:
    """The seed run (``seed_*``, not ``joint``) with the highest figure, or ``None``."""
    runs = [
        m
        for m in report.get("methods", [])
        if m.get("kind") == "seed" and m["name"].startswith("seed_") and _finite((m.get(source) or {}).get(metric))
    ]
    return max(runs, key=lambda m: m[source][metric]) if runs else None


def loss_waterfall(report: dict, *, source: str = "vocal", metric: str = "si_sdr") -> list[dict]:
    """The waterfall's steps for one pair.

    Parameters
    ----------
    report : dict
        An evaluation report (:func:`vsep_core.evaluate.evaluate_pair` or
        :func:`~vsep_core.evaluate.evaluate_experiment`) holding ``phase_oracle``,
        ``mixture`` and any of ``exact_eq``, ``joint`` and seed runs.
    source : {"vocal", "instrumental"}
    metric : str
        A figure of every method (``"si_sdr"``, ``"sdr"``).

    Returns
    -------
    list of dict
        ``{"step", "cost", "method", "measure", "value_db", "level_db"}``: the first
        ``measure="absolute"`` (the phase oracle's level), then ``"relative"`` steps
        (``value_db`` = this level − the previous one), then the ``"total"`` (the mixture's
        level, equal to the first plus every step).

    Raises
    ------
    VsepError
        When the report lacks the phase oracle or the mixture, or their figures are not finite.
    """
    by_name = {m["name"]: m for m in report.get("methods", [])}
    seed = best_seed(report, source, metric)
    levels = []  # (method name, costs merged into the step down to it, level)
    pending = []
    for name, cost in LEVELS:
        entry = seed if name == "best seed run" else by_name.get(name)
        value = (entry or {}).get(source, {}).get(metric) if entry else None
        pending.append(cost)
        if not _finite(value):
            if name in ("phase_oracle", "mixture"):
                raise VsepError(
                    f"The waterfall needs the {name} method's {metric} in the report; evaluate it "
                    "with --methods including phase_oracle and mixture."
                )
            continue
        levels.append((entry["name"], " + ".join(pending), float(value)))
        pending = []
    steps = [
        {
            "step": "phase oracle",
            "cost": levels[0][1],
            "method": levels[0][0],
            "measure": "absolute",
            "value_db": levels[0][2],
            "level_db": levels[0][2],
        }
    ]
    for (_, _, previous), (name, cost, level) in zip(levels, levels[1:]):
        steps.append(
            {
                "step": f"→ {name}",
                "cost": cost,
                "method": name,
                "measure": "relative",
                "value_db": level - previous,
                "level_db": level,
            }
        )
    steps.append(
        {
            "step": "mixture",
            "cost": "total",
            "method": "mixture",
            "measure": "total",
            "value_db": levels[-1][2],
            "level_db": levels[-1][2],
        }
    )
    return steps


def format_waterfall(steps: list[dict], *, label: str = "vocal", metric: str = "SI-SDR") -> str:
    """The steps as text lines (for ``evaluate`` and RESULTS.md)."""
    lines = [f"Where the decibels go ({label} {metric}, dB): target → phase oracle → … → mixture"]
    for s in steps:
        if s["measure"] == "absolute":
            lines.append(
                f"  {s['method']:<22} {s['value_db']:8.2f}   level reached; the step from the target "
                f"(+inf) costs: {s['cost']} ({COSTS['phase']})"
            )
        elif s["measure"] == "relative":
            costs = "; ".join(COSTS[c] for c in s["cost"].split(" + "))
            lines.append(f"  {s['cost']:<22} {s['value_db']:+8.2f}   → {s['method']} at {s['level_db']:.2f} ({costs})")
        else:
            lines.append(f"  {'= mixture':<22} {s['value_db']:8.2f}   (phase oracle + every step)")
    return "\n".join(lines)


def waterfall_figure(steps: list[dict], *, title: str = "Where the decibels go"):
    """A plotly waterfall of the steps (one bar per step, the mixture as the total)."""
    import plotly.graph_objects as go

    names = [s["step"] if s["measure"] != "relative" else f"{s['cost']}<br>(→ {s['method']})" for s in steps]
    fig = go.Figure(
        go.Waterfall(
            measure=[s["measure"] for s in steps],
            x=names,
            y=[s["value_db"] for s in steps],
            text=[
                f"{s['value_db']:+.2f} dB" if s["measure"] == "relative" else f"{s['value_db']:.2f} dB" for s in steps
            ],
            textposition="outside",
            connector={"line": {"width": 1}},
            hovertext=[
                COSTS.get(s["cost"].split(" + ")[0], "")
                if s["measure"] != "total"
                else "the mixture as the estimate: the phase oracle plus every step"
                for s in steps
            ],
        )
    )
    fig.update_layout(
        title=title, yaxis_title="dB", showlegend=False, height=420, margin={"l": 60, "r": 20, "t": 60, "b": 80}
    )
    return fig


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
