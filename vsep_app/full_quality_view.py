"""Full quality on the pages (issue #21): a run's EQ on the original mixture, heard and scored (the Results page's
section, and the joint result on Optimise; both leave the scores out while the pair is not aligned).

The engine analyses a segment at 22 050 Hz, mono; the section plays and offers the same run applied to the
uploaded mixture at its own sample rate and channels (:func:`vsep_core.api.full_quality`, through
:func:`vsep_app.cache.full_quality`), beside its scores and the analysis-rate scores of the same run, and says
which segment was analysed and how to choose another.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import streamlit as st

from vsep_core.metrics import METRIC_NAMES

from . import cache, jobs, players, state
from .escape import plain
from .limits import kept_in_shared_caches

#: Column titles of the scores table.
METRIC_TITLES = {"si_sdr": "SI-SDR (dB)", "sdr": "SDR (dB)", "sir": "SIR (dB)", "sar": "SAR (dB)"}
#: Said instead of the scores while the pair is not aligned (Results and Optimise alike).
NOT_ALIGNED_NOTE = "Scores are left out until the pair is aligned (see the alignment check on Load audio)."


def channels_word(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, f"{n} channels")


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def segment_sentence(pair, settings) -> str:
    """Which part of the song was analysed, at what rate, and how to choose another, in two sentences."""
    whole = pair.info.get("source_durations_s", {}).get("mixture")
    length = f" (the song lasts {_clock(whole)})" if whole and math.isfinite(whole) else ""
    if settings.duration_s is None and settings.start_s == 0:
        part = f"the whole song, {pair.duration_s:.1f} s"
    else:
        part = f"{settings.start_s:g} s to {settings.start_s + pair.duration_s:.1f} s of the song{length}"
    return (
        f"**Analysed: {part}**, at {pair.sr} Hz mono. To hear another part, or the whole song, change "
        "*Segment start* and *Segment length* under **Analysis settings** on the Load audio page, then run "
        "Optimise again."
    )


def run_choices(result) -> dict:
    """Label on screen → the run, the lowest-loss progressive run first."""
    best = result.best_progressive
    out = {f"N = {best.n} (lowest loss)": best}
    out.update({f"N = {r.n}": r for r in result.progressive if r is not best})
    if result.greedy is not None:
        out[f"Greedy order ({len(result.greedy.sequence)})"] = result.greedy_run
        if result.best_prefix_run is not result.greedy_run:
            out[f"Best prefix ({result.greedy.best_prefix_length})"] = result.best_prefix_run
    return out


def _analysis_rate_scores(run, metrics: dict | None, quick: dict | None) -> dict:
    """The same run's analysis-rate figures (metric → dB) from the page's scores, when that run was scored."""
    for report in (metrics, quick):
        for entry in (report or {}).get("methods", []):
            if entry.get("kind") == "seed" and tuple(entry.get("info", {}).get("slices", ())) == tuple(run.slices):
                return entry["vocal"]
    return {}


def _cell(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _made(source, pair, key: str, make, on_wait) -> dict | None:
    """``make()`` in the job pool: at once for a segment the shared caches keep; for a longer one, when its button
    is pressed, then kept in this session (the last one only) so that the page's other widgets do not make it
    again on every rerun."""
    if kept_in_shared_caches(pair.duration_s):
        return jobs.run(make, on_wait)
    kept = _kept(key)
    if kept is None:
        if not st.button(
            f"Make the full-quality audio ({pair.duration_s:.0f} s of audio: this takes a while)",
            key=f"make_full_quality_{key[:8]}",
            icon=":material/high_quality:",
        ):
            st.caption(f"A long segment's full-quality audio is made when you ask for it. {ONE_KEPT}")
            return None
        kept = jobs.run(make, on_wait)
        st.session_state[state.FULL_QUALITY] = (key, kept)
    st.caption(ONE_KEPT)
    return kept


#: What a long segment's full-quality result is kept as (the server's memory: one per session).
ONE_KEPT = (
    "For a segment this long, this session keeps one full-quality result at a time: making another (another "
    "run, or the joint result) replaces it, in the ZIP, the report and a shared result too."
)


def _kept(key: str) -> dict | None:
    """The long segment's full-quality result this session keeps (:func:`_made`), if it is ``key``'s."""
    kept = state.get(state.FULL_QUALITY)
    return kept[1] if kept is not None and kept[0] == key else None


def _players(got: dict, names, file_stem: str, key: str) -> str:
    """The target's and the complement's full-quality players and downloads, side by side; returns the quality
    ("44100 Hz stereo")."""
    quality = f"{got['sr']} Hz {channels_word(got['channels'])}"
    left, right = st.columns(2, vertical_alignment="bottom")  # a wrapped label never lowers one player
    for col, part, label, data in (
        (left, "target", f"{names.target.capitalize()} at full quality ({quality})", got["target_wav"]),
        (right, "complement", f"{names.complement.capitalize()} at full quality ({quality})", got["complement_wav"]),
    ):
        with col:
            st.markdown(f"**{plain(label)}**")
            players.play(data)
            file_name = (
                f"{file_stem}_{(names.target_file if part == 'target' else names.complement_file)}_full_quality.wav"
            )
            st.download_button(
                "WAV",
                data,
                file_name=file_name,
                mime="audio/wav",
                key=f"dl_{key}_{part}",
                icon=":material/download:",
                on_click="ignore",
            )
    return quality


def joint_full_quality(source, settings, joint_settings, outcome, pair, names, *, on_wait=None) -> None:
    """The joint matching's EQ on the original mixture (the Optimise page, under the joint result): players,
    downloads and its scores beside the analysis-rate ones."""
    st.markdown("**At full quality**: the same EQ applied to your mixture file at its own rate and channels.")
    key = _joint_key(source, settings, joint_settings)
    got = _made(
        source,
        pair,
        key,
        lambda: cache.joint_full_quality(source, settings, joint_settings, outcome.result.eq),
        on_wait,
    )
    if got is None:
        return
    quality = _players(got, names, "joint", "joint_full_quality")
    st.caption("The ZIP and the report on Results include it, and so does a result you share.")
    if not cache.alignment(source, settings)["aligned"]:  # as on Results: scores of a misfit mean nothing
        st.caption(NOT_ALIGNED_NOTE)
        return
    full, analysed = got["scores"]["vocal"], outcome.scores["methods"][0]["vocal"]
    rows = [
        {"audio": f"Full quality ({quality})", **{METRIC_TITLES[m]: _cell(full.get(m)) for m in METRIC_NAMES}},
        {
            "audio": f"Analysis rate ({pair.sr} Hz mono)",
            **{METRIC_TITLES[m]: _cell(analysed.get(m)) for m in METRIC_NAMES},
        },
    ]
    st.dataframe(
        rows,
        hide_index=True,
        key="joint_full_quality_scores",
        placeholder="—",
        column_config={t: st.column_config.NumberColumn(format="%.2f") for t in METRIC_TITLES.values()},
    )


def _joint_key(source, settings, joint_settings) -> str:
    """The session's key of a joint result's full-quality audio (a long segment's, kept: :func:`_made`)."""
    return cache.content_key("joint", source.identity, settings.to_dict(), cache.joint_key(joint_settings))


def joint_made(source, settings, joint_run, *, on_wait=None) -> dict | None:
    """The joint matching's full-quality record (as :func:`full_quality_section` returns), for the ZIP, the report
    and a shared result; ``None`` without a joint result (``joint_run``: :func:`vsep_app.state.joint`) or, for a
    segment longer than the shared caches keep, unless it was made on Optimise and is still kept in this session.

    A segment the shared caches keep is made here when needed (Optimise makes it as soon as it shows the joint
    result). Its scores are left out while the pair is not aligned, as on the pages.
    """
    if joint_run is None:
        return None
    joint_settings, outcome = joint_run
    if kept_in_shared_caches(cache.pair(source, settings).duration_s):
        got = jobs.run(lambda: cache.joint_full_quality(source, settings, joint_settings, outcome.result.eq), on_wait)
    else:
        got = _kept(_joint_key(source, settings, joint_settings))
    if got is None:
        return None
    return {"label": "joint", "slices": None, "made": _scores_if_aligned(got, source, settings)}


def _scores_if_aligned(got: dict, source, settings) -> dict:
    """``got`` for the ZIP, the report and a shared result: its scores left out while the pair is not aligned,
    as the pages leave them out (scores of a misfit measure the misfit)."""
    return got if cache.alignment(source, settings)["aligned"] else {**got, "scores": None}


def full_quality_section(
    source,
    settings,
    pair,
    result,
    names,
    *,
    metrics: dict | None = None,
    quick: Callable[[], dict] | None = None,
    on_wait=None,
) -> dict | None:
    """Draw the section: a run to hear at full quality, its players, downloads and scores (the segment is said at
    the top of Listen: :func:`segment_sentence`).

    ``quick`` makes the runs' SI-SDR (:func:`vsep_app.cache.quick_scores`) for the analysis-rate row when
    ``metrics`` is ``None``; it is called only when that row is drawn (not while a long segment's audio waits
    for its button, nor for a pair that is not aligned).

    Returns
    -------
    dict or None
        What was made, for the ZIP, the report and a shared result (:func:`made_run`): ``{"label", "slices",
        "made"}`` (``made``: :func:`vsep_app.cache.full_quality`'s dict); ``None`` when nothing was made.
    """
    st.subheader("Full quality")
    choices = run_choices(result)
    chosen = st.selectbox("Run to hear at full quality", list(choices), key="full_quality_run")
    run = choices[chosen]
    scored = metrics is not None  # measured with the page's scores (a long segment waits for its button)
    key = cache.content_key(source.identity, settings.to_dict(), list(run.slices), scored)
    got = _made(source, pair, key, lambda: cache.full_quality(source, settings, run.slices, scored), on_wait)
    if got is None:
        return None
    made = {
        "label": next(label for label, r in result.labelled_runs() if r is run),
        "slices": tuple(run.slices),
        "made": _scores_if_aligned(got, source, settings),
    }
    _draw(got, chosen, run, pair, names, source, settings, metrics, quick)
    st.caption(
        "The ZIP and the report (downloads below) include this run at full quality, and so does a result you share."
    )
    return made


def made_run(made: dict | None, *, keep_audio: bool = True):
    """The section's record (:func:`full_quality_section`) as the engine's :class:`~vsep_core.full_quality.
    FullQualityRun` (``None`` for ``None``)."""
    if made is None:
        return None
    from vsep_core.full_quality import run_from_wavs

    got = made["made"]
    return run_from_wavs(
        made["label"],
        got["target_wav"],
        got["complement_wav"],
        held_hz=got["held_hz"],
        scores=got["scores"],
        seconds=got["seconds"],
        slices=made["slices"],
        keep_audio=keep_audio,
    )


def _draw(got, chosen, run, pair, names, source, settings, metrics, quick) -> None:
    quality = f"{got['sr']} Hz {channels_word(got['channels'])}"
    same = got["sr"] == pair.sr and got["channels"] == 1
    st.caption(
        f"The run's learned EQ applied to your mixture file at its own rate and channels: **{quality}**"
        + (
            " (this file is already at the analysis rate, so only the length differs: the whole segment)."
            if same
            else f", against the analysis's {pair.sr} Hz mono."
        )
        + (
            f" Above {got['held_hz'] / 1000:.1f} kHz, which the analysis could not hear in full, each window "
            "keeps the gain it learned there."
            if got["held_hz"]
            else ""
        )
    )
    stem = plain(chosen).split(" (")[0].replace(" ", "").replace("=", "")
    _players(got, names, stem, "full_quality")
    if not cache.alignment(source, settings)["aligned"]:  # as the page's own table: scores of a misfit mean nothing
        st.caption(NOT_ALIGNED_NOTE)
        return
    full = (got["scores"] or {}).get("vocal")
    analysed = _analysis_rate_scores(run, metrics, quick() if metrics is None and quick is not None else None)
    rows = []
    if full:
        rows.append(
            {"audio": f"Full quality ({quality})", **{METRIC_TITLES[m]: _cell(full.get(m)) for m in METRIC_NAMES}}
        )
    rows.append(
        {
            "audio": f"Analysis rate ({pair.sr} Hz mono)",
            **{METRIC_TITLES[m]: _cell(analysed.get(m)) for m in METRIC_NAMES},
        }
    )
    st.dataframe(
        rows,
        hide_index=True,
        key="full_quality_scores",
        placeholder="—",
        column_config={t: st.column_config.NumberColumn(format="%.2f") for t in METRIC_TITLES.values()},
    )
    if full:
        how = got["scores"]["channel_scoring"]
        st.caption(
            f"The {names.owns} scores, measured the same way at both rates (higher is better), against "
            f"your {names.target} file at {got['sr']} Hz: "
            + (
                "one channel (mono)."
                if got["channels"] == 1
                else "each channel scored on its own and the figures averaged."
                if how.startswith("per channel")
                else "mixed to mono first, because the target file and the mixture have different channels."
            )
            + (
                ""
                if analysed
                else " This run is not in the analysis-rate table (it scores the lowest-loss "
                "run, the largest N and the greedy runs)."
            )
        )
    else:
        st.caption("Scores at full quality appear once separation quality has been measured (above).")
