"""The sidebar's status on every page: the active pair, the settings, the results and the oracle note."""

from __future__ import annotations

import streamlit as st

from vsep_core import ORACLE_NOTE
from vsep_core.errors import VsepError
from vsep_core.settings import Settings

from . import cache, state
from .escape import plain
from .wording import LEVEL_SHORT, POOLED_SHORT


def settings_lines(settings: Settings, n_samples: int | None = None) -> list[str]:
    length = "whole song" if settings.duration_s is None else f"{settings.duration_s:g} s"
    lines = [f"Segment: from {settings.start_s:g} s, {length}"]
    if n_samples is not None:
        try:
            hop = settings.hop_for(n_samples)
            lines.append(f"Windows: {1 + n_samples // hop} (hop {hop} samples = {1000 * hop / settings.sr:.1f} ms)")
        except VsepError:
            lines.append(f"Windows: {settings.n_windows} requested (does not fit this segment)")
    elif settings.n_windows:
        lines.append(f"Windows: {settings.n_windows}")
    else:
        lines.append(f"Hop: {settings.hop_length} samples")
    lines += [
        f"Level: {LEVEL_SHORT[settings.level]}",
        f"Pooled slices adjust: {POOLED_SHORT[settings.pooled_windows]}",
        f"Optimiser: learning rate {settings.learning_rate:g}, {settings.iterations} iterations, "
        f"clip ±{settings.clip_db:g} dB",
    ]
    return lines


def seed_badge(settings: Settings, where=st) -> None:
    if settings.is_seed_compatible:
        where.badge(
            "Seed-compatible",
            icon=":material/verified:",
            color="green",
            help="Every quirk of the research code is kept, so its numbers are reproduced.",
        )
    else:
        where.badge(
            "Improved options on",
            icon=":material/tune:",
            color="orange",
            help="Some research-code quirks are fixed; numbers differ from the research code's.",
        )


def sidebar(sb) -> None:
    """The active pair, settings, results and the oracle note, on every page (into container ``sb``)."""
    source, settings = state.source(), state.settings()
    sb.markdown("#### Active pair")
    if source is None:
        sb.caption("Nothing loaded yet.")
    else:
        sb.markdown(f"**{plain(source.label)}**")
        n_samples = None
        try:
            pair = cache.pair(source, settings)
            n_samples = pair.n_samples
            sb.caption(
                f"{source.origin} · target: {source.target_label} · analysed {pair.duration_s:.2f} s at {pair.sr} Hz"
            )
        except VsepError as exc:
            sb.warning(plain(exc))
    sb.markdown("#### Settings")
    seed_badge(settings, sb)
    sb.caption("  \n".join(settings_lines(settings, n_samples if source is not None else None)))
    sb.markdown("#### Results")
    prog, greedy = state.progressive(), state.greedy()
    lines = []
    for name, record in (("Progressive test", prog), ("Greedy search", greedy)):
        if record is None:
            lines.append(f"{name}: not run yet")
        else:
            what = (
                f"N = 1…{len(record.outcome.runs)}"
                if record is prog
                else f"{len(record.outcome.greedy.sequence)} slices"
            )
            stale = "" if record.matches(source, settings) else " (earlier settings)"
            lines.append(f"{name}: {what} ✓{stale}")
    sb.caption("  \n".join(lines))
    from vsep_core.stems import oracle_note

    sb.expander("An oracle experiment", icon=":material/info:").caption(
        oracle_note(source.names.name) if source is not None else ORACLE_NOTE
    )
