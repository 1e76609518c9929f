"""Optimise page: choose the slices and the optimiser's settings, run the progressive test and the greedy search."""

from __future__ import annotations

import re
import time

import streamlit as st

from vsep_app import (
    cache,
    chart_preload,
    figures,
    frame,
    full_quality_view,
    glossary,
    jobs,
    limits,
    players,
    prefetch,
    state,
    wording,
)
from vsep_app.state import RunRecord
from vsep_core import audio, plots
from vsep_core.joint import JointSettings, parse_views
from vsep_core.jsonio import json_text
from vsep_core.views import SLICE_NAMES, VIEWS_BY_NAME

st.title("Optimise")
st.markdown(
    "A **pass** learns one EQ curve per window (400 bands, each clipped to ±clip dB) by gradient descent, so "
    "that the mixture's fingerprint in one slice moves toward the target's, then applies it. The **progressive "
    "test** runs N = 1, 2, … passes over the slices in your order, each followed by a final *polish* pass on "
    "the raw spectrogram; its **loss** is the polish's mean squared fingerprint difference (dB²; lower is "
    "closer to the target). The **greedy search** builds its own order: at each step it tries every unused "
    "slice and keeps the one with the lowest loss."
)


def friendly(label: str) -> str:
    """Engine progress labels with canonical slice names replaced by their short labels."""
    return re.sub(
        r"slice_\d+_[a-z0-9_]+",
        lambda m: wording.slice_label(m.group(0)) if m.group(0) in VIEWS_BY_NAME else m.group(0),
        label,
    )


#: The live loss chart appears once a progressive test has run this long, and is redrawn at most this often;
#: progress bars move at most this often (every update costs the browser a re-render).
LIVE_AFTER_S, LIVE_EVERY_S, PROGRESS_EVERY_S = 0.75, 1.0, 0.4
#: The dashboard's most iterations per pass (the engine takes up to 100,000 from the command line). The engine
#: reports progress once per pass, where a job is stopped (its tab closed, its time budget spent): one pass of
#: the iterative loop at 1000 iterations on a 50 s segment took 1.7 s here (2 cores), at 100,000 about 170 s.
MAX_ITERATIONS = 1000

source = frame.require_source()
if source is not None:
    settings = state.settings()
    with frame.guard("The optimiser settings"):
        # The order on a row of its own, so that all its slices show (the test uses its first N).
        order = st.multiselect(
            "Slice order (the progressive test uses the first N, in this order)",
            list(SLICE_NAMES),
            default=state.remembered("opt_order", list(SLICE_NAMES)),
            key="opt_order",
            format_func=wording.slice_label,
            help="Remove slices and add them back to change the order; the greedy search "
            "tries the first N as its candidates.",
        )
        state.remember("opt_order", order)
        c1, c2, c3 = st.columns([3, 2, 2])
        with c1:
            max_n = max(1, len(order))
            n = st.slider(
                "Number of slices N (the test runs N = 1 … this)",
                1,
                max_n,
                min(state.remembered("opt_n", 8), max_n),
                key="opt_n",
                disabled=len(order) < 2,
            )
            state.remember("opt_n", n)
        with c2:
            lr = st.number_input(
                "Learning rate",
                0.0001,
                0.99,
                float(settings.learning_rate),
                step=0.005,
                format="%.4f",
                key="opt_lr",
                help="How far each gradient step moves the EQ (the research code: 0.01). Above "
                "0.5 the steps overshoot and swing between the clips; 1 and more diverge.",
            )
            iterations = st.number_input(
                "Iterations per pass",
                1,
                MAX_ITERATIONS,
                min(int(settings.iterations), MAX_ITERATIONS),
                step=10,
                key="opt_iterations",
                help="Gradient steps per pass (the research code: 100; at most "
                f"{MAX_ITERATIONS} here). More steps move each band closer to its "
                "goal, up to the clip.",
            )
            clip = st.number_input(
                "EQ clip (± dB)",
                0.0,
                200.0,
                float(settings.clip_db),
                step=1.0,
                key="opt_clip",
                help="The most any band of a window's EQ may boost or cut, in dB (the research code: 20).",
            )
        with c3:
            method = st.radio(
                "How a pass is computed",
                list(wording.PASS_LABELS),
                key="opt_method",
                help="The same numbers either way: the closed form jumps straight to where the "
                "steps end, the loop takes them one by one (slower).",
                index=list(wording.PASS_LABELS).index(settings.pass_method),
                format_func=wording.PASS_LABELS.get,
            )
            st.caption(
                f"Pooled slices adjust: {wording.POOLED_SHORT[settings.pooled_windows]}; level: "
                f"{wording.LEVEL_SHORT[settings.level]} (change these on *Load audio*)."
            )
        wanted = settings.replace(
            learning_rate=float(lr), iterations=int(iterations), clip_db=float(clip), pass_method=method
        )
        if wanted != settings:
            state.set_settings(wanted)
            settings = wanted
        for warning in settings.warnings():
            st.warning(warning, icon=":material/warning:")
        if not order:
            st.warning("Choose at least one slice.")

    used = tuple(order[:n]) if order else ()
    buttons = st.container(horizontal=True)
    run_prog = buttons.button(
        "Run the progressive test",
        type="primary",
        icon=":material/play_arrow:",
        disabled=not used,
        key="run_progressive",
    )
    run_greedy = buttons.button("Run the greedy search", icon=":material/route:", disabled=not used, key="run_greedy")
    run_both = buttons.button("Run both", icon=":material/fast_forward:", disabled=not used, key="run_both")
    st.caption(
        f"Uses {len(used)} slice{'s' if len(used) != 1 else ''}: "
        + ", ".join(wording.slice_label(s) for s in used)
        + f". Results of segments up to {limits.SHARED_MAX_S:.0f} s are cached: the same "
        "inputs and settings are not computed twice."
    )

    if run_prog or run_both:
        with frame.guard("The progressive test"):
            bar = st.progress(0.0, text="Starting the progressive test…")
            chart = st.empty()
            curves: dict = {}
            drawn = {"at": None}
            t0 = time.perf_counter()

            def show(events: list, elapsed: float, done: bool) -> None:
                progress = [e for e in events if e[0] == "progress"]
                for e in events:
                    if e[0] == "run":
                        curves[f"N={e[2].n}"] = e[2].loss_curve
                if progress and not done:
                    bar.progress(progress[-1][1], text=friendly(progress[-1][2]))
                # The live chart only for runs long enough to watch (each redraw costs the browser ~0.5 s).
                if (
                    curves
                    and not done
                    and elapsed > LIVE_AFTER_S
                    and (drawn["at"] is None or elapsed - drawn["at"] >= LIVE_EVERY_S)
                ):
                    chart.plotly_chart(figures.live_loss(curves), theme=None, config={"displayModeBar": False})
                    drawn["at"] = elapsed

            outcome = jobs.run_with_events(
                lambda emit: cache.progressive(source, settings, used, len(used), emit), show, interval=PROGRESS_EVERY_S
            )
            seconds = time.perf_counter() - t0
            state.set_progressive(RunRecord(source.identity, settings, used, outcome, seconds))
            bar.progress(
                1.0,
                text=f"Progressive test done: N = 1 … {len(used)} in {seconds:.2f} s"
                + ("" if curves else " (from the cache)"),
            )
            if drawn["at"] is not None:
                chart.empty()  # the full loss curves are drawn below

    if run_greedy or run_both:
        with frame.guard("The greedy search"):
            bar = st.progress(0.0, text="Starting the greedy search…")
            t0 = time.perf_counter()
            seen = []

            def show_greedy(events: list, elapsed: float, done: bool) -> None:
                seen.extend(events)
                progress = [e for e in events if e[0] == "progress"]
                if progress and not done:
                    bar.progress(progress[-1][1], text=friendly(progress[-1][2]))

            outcome = jobs.run_with_events(
                lambda emit: cache.greedy(source, settings, used, emit), show_greedy, interval=PROGRESS_EVERY_S
            )
            seconds = time.perf_counter() - t0
            state.set_greedy(RunRecord(source.identity, settings, used, outcome, seconds))
            bar.progress(
                1.0,
                text=f"Greedy search done: {len(used)} steps in {seconds:.2f} s"
                + ("" if seen else " (from the cache)"),
            )

    # --- what has been computed ------------------------------------------------------
    prog, greedy = state.progressive(), state.greedy()
    if prog is None and greedy is None:
        st.info("Nothing has been run yet for this pair. Press a button above.", icon=":material/info:")
    for record in (prog, greedy):
        if record is not None and not record.matches(source, settings):
            st.warning(
                "Some results below were computed with other settings (see the sidebar); run again to update them.",
                icon=":material/history:",
            )
            break

    if prog is not None:
        st.subheader("Progressive test")
        runs = prog.outcome.runs
        greedy_bars = {}
        if prefetch.matching_greedy(prog, greedy) is not None:
            g = greedy.outcome.greedy
            greedy_bars = {
                f"greedy ({len(g.sequence)})": g.loss,
                f"best prefix ({g.best_prefix_length})": g.best_prefix_loss,
            }
        best = min(runs, key=lambda r: r.final_loss)
        c1, c2 = st.columns(2)
        with c1:
            # A few curves at a time: 18 tangled lines cannot be read. The lowest loss and the largest N first.
            all_n = [r.n for r in runs]
            shown = st.pills(
                "Loss curves of",
                all_n,
                selection_mode="multi",
                key=f"loss_curves_shown_{len(runs)}",
                default=sorted({1, best.n, all_n[-1]} & set(all_n)),
                format_func=lambda k: f"N={k}",
            )
            c1.plotly_chart(
                plots.loss_curves_figure({f"N={r.n}": r.loss_curve for r in runs if r.n in shown}),
                theme=None,
                key="loss_curves",
            )
        c2.plotly_chart(
            plots.final_loss_figure({r.n: r.final_loss for r in runs}, greedy_bars), theme=None, key="final_loss"
        )
        st.caption(
            f"Lowest loss: N = {best.n} ({best.final_loss:.2f} dB²). Each run's loss curve shows its passes "
            "end to end; the polish is the last segment."
        )
        with st.expander("Table: final loss per N"):
            st.markdown(
                "| N | slice added | final loss (dB²) |\n|---:|---|---:|\n"
                + "\n".join(f"| {r.n} | {wording.slice_label(r.slices[-1])} | {r.final_loss:.3f} |" for r in runs)
            )

    if greedy is not None:
        g = greedy.outcome.greedy
        st.subheader("Greedy search")
        fig = plots.greedy_heatmap_figure(g.steps, g.sequence, g.best_prefix_length)
        st.plotly_chart(fig, theme=None, key="greedy_heatmap")
        c1, c2 = st.columns(2)
        c1.metric(
            f"Full greedy sequence ({len(g.sequence)} slices)",
            f"{g.loss:.2f} dB²",
            help="What the research code reports.",
        )
        c2.metric(
            f"Best prefix ({g.best_prefix_length} slice{'s' if g.best_prefix_length > 1 else ''})",
            f"{g.best_prefix_loss:.2f} dB²",
            help="The lowest loss over all steps of the search.",
        )
        st.caption(
            "Order found: "
            + " → ".join(wording.slice_label(s) for s in g.sequence)
            + ". Rows are steps, columns the candidate slices; circles mark the chosen slice at each step, "
            "the star the step with the lowest loss."
        )

    if prog is not None and prog.matches(source, settings):
        with frame.guard("Preparing the results"):
            prefetch.prefetch_results(source, prog, greedy)  # Results opens with its scores ready
    if prog is not None or greedy is not None:
        chart_preload.mark_charts_ready()
        frame.link("results", "Next: listen to the results and download them", ":material/arrow_forward:")

    # --- the improved method and which slices help (issue #12) ----------------------------
    st.divider()
    st.subheader("Joint matching (an improved method, beside the research one)")
    st.markdown(
        "Instead of one slice after another, each clipped to ±20 dB, **joint matching** learns every window's "
        "400-band EQ at once, against the fingerprint of the *result* (the EQ, applied to the mixture, read back "
        "as a 400-point profile), with the Adam optimiser. Measured on five songs' vocals it beats the research "
        "method's best run by 1.9–3.9 dB SI-SDR and the exact 400-band EQ on every one (RESULTS.md). It is still "
        f"an oracle: it learns from the true {source.names.target}."
    )
    jc1, jc2, jc3 = st.columns([2, 2, 3])
    with jc1:
        joint_steps = st.number_input(
            "Adam steps",
            10,
            5000,
            300,
            step=50,
            key="joint_steps",
            help="Updates of every EQ curve (300 by default: the loss has levelled off).",
        )
        joint_step = st.number_input(
            "Step size (dB)",
            0.05,
            20.0,
            1.0,
            step=0.25,
            key="joint_step",
            help="How far one update may move an EQ value, roughly, in dB.",
        )
    with jc2:
        joint_views_choice = st.radio(
            "Views in the loss",
            ["raw", "smooth"],
            key="joint_views",
            format_func={
                "raw": "The raw spectrogram only (fast)",
                "smooth": "Raw + the smoothing slices 3, 4, 6, 8, 17, 18 (slower; +0.3–0.6 dB measured)",
            }.get,
            help="Which fingerprints the result must match. The smoothing slices helped on every pair measured; "
            "edge-like slices (vertical, high-pass, the oriented edges, laplacian) lowered the score.",
        )
        joint_clip_on = st.checkbox(
            "Limit the EQ",
            value=False,
            key="joint_clip_on",
            help="Bound every EQ value, as the research method's ±20 dB clip does.",
        )
        joint_clip = st.number_input(
            "EQ limit (± dB)", 1.0, 60.0, 20.0, step=1.0, key="joint_clip", disabled=not joint_clip_on
        )
    joint_settings = None
    with frame.guard("The joint matching settings"):
        joint_settings = JointSettings(
            steps=int(joint_steps),
            step_size=float(joint_step),
            views=parse_views(joint_views_choice),
            clip_db=float(joint_clip) if joint_clip_on else None,
        )
    with jc3:
        run_joint = st.button(
            "Run joint matching", icon=":material/auto_awesome:", key="run_joint", disabled=joint_settings is None
        )
    if run_joint and joint_settings is not None:
        with frame.guard("The joint matching"):
            bar = st.progress(0.0, text="Starting the joint matching…")
            t0 = time.perf_counter()

            def show_joint(events: list, elapsed: float, done: bool) -> None:
                progress = [e for e in events if e[0] == "progress"]
                if progress and not done:
                    bar.progress(progress[-1][1], text=friendly(progress[-1][2]))

            outcome = jobs.run_with_events(
                lambda emit: cache.joint(source, settings, joint_settings, emit), show_joint, interval=PROGRESS_EVERY_S
            )
            state.set_joint(source.identity, settings, joint_settings, outcome)
            bar.progress(1.0, text=f"Joint matching done in {time.perf_counter() - t0:.2f} s")
    kept = state.get(state.JOINT)
    if kept is not None and kept[0] == source.identity:
        _, joint_run_settings, joint_used, outcome = kept
        scores = outcome.scores["methods"][0]
        found = outcome.result
        m1, m2, m3, m4 = st.columns(4)
        target, rest = source.names.target.capitalize(), source.names.complement.capitalize()
        m1.metric(
            f"{target} SI-SDR", f"{scores['vocal']['si_sdr']:.2f} dB", help=glossary.words(source.names.name)["SI-SDR"]
        )
        m2.metric(f"{target} SDR", f"{scores['vocal']['sdr']:.2f} dB", help=glossary.words(source.names.name)["SDR"])
        m3.metric(f"{rest} SI-SDR", f"{scores['instrumental']['si_sdr']:.2f} dB")
        m4.metric(
            "Final loss",
            f"{found.final_loss:.2f} dB²",
            help="Mean squared fingerprint difference over "
            "the views in the loss, weighted; not comparable with the research method's loss.",
        )
        estimate = outcome.estimate
        joint_wav = audio.wav_bytes(estimate.vocal, estimate.sr)
        players.play(joint_wav)
        st.download_button(
            f"Download the joint {source.names.target} (WAV)",
            joint_wav,
            file_name=f"joint_extracted_{source.names.target_file}.wav",
            mime="audio/wav",
            key="joint_download",
            icon=":material/download:",
        )
        if joint_run_settings != settings or joint_used != joint_settings:
            st.caption("These figures were computed with other settings; run again to update them.")
        with frame.guard("The joint result at full quality"):  # its EQ on the original mixture (issue #21)
            full_quality_view.joint_full_quality(
                source, joint_run_settings, joint_used, outcome, cache.pair(source, joint_run_settings), source.names
            )

    st.divider()
    st.subheader("Which slices help?")
    st.markdown(
        f"For the research method: the {source.names.target} SI-SDR of the progressive chain over the slices above, of the same "
        "chain **without** each slice (delta = chain − without: positive means the slice helps) and of each slice "
        "**alone** followed by the polish. For joint matching: each slice **added** to its loss. Losses are in the "
        "hover text: loss and quality often disagree, which is the point of measuring quality."
    )
    ac1, ac2 = st.columns([3, 2])
    attribution_method = ac1.radio(
        "Method",
        ["seed", "joint"],
        horizontal=True,
        key="attr_method",
        format_func={
            "seed": f"Research method, chain of the {len(used)} slices above",
            "joint": f"Joint matching + each of the {len(used)} slices",
        }.get,
    )
    run_attribution = ac2.button(
        "Measure which slices help",
        icon=":material/insights:",
        key="run_attribution",
        disabled=not used or (attribution_method == "joint" and joint_settings is None),
    )
    if run_attribution:
        with frame.guard("The slice attribution"):
            bar = st.progress(0.0, text="Starting…")

            def show_attr(events: list, elapsed: float, done: bool) -> None:
                progress = [e for e in events if e[0] == "progress"]
                if progress and not done:
                    bar.progress(progress[-1][1], text=friendly(progress[-1][2]))

            found_attr = jobs.run_with_events(
                lambda emit: cache.attribution(source, settings, attribution_method, used, joint_settings, emit),
                show_attr,
                interval=PROGRESS_EVERY_S,
            )
            st.session_state[state.ATTRIBUTION] = (source.identity, found_attr)
            bar.progress(1.0, text="Attribution done")
    kept_attr = state.get(state.ATTRIBUTION)
    if kept_attr is not None and kept_attr[0] == source.identity:
        found_attr = kept_attr[1]
        st.plotly_chart(figures.attribution_figure(found_attr, wording.slice_label), theme=None, key="attribution")
        # The figures and the losses beside them (loss and quality often disagree).
        st.dataframe(
            [
                {"slice": wording.slice_label(row["name"]), **{k: v for k, v in row.items() if k != "name"}}
                for row in found_attr["slices"]
            ],
            hide_index=True,
            column_config={
                k: st.column_config.NumberColumn(format="%.2f") for k in found_attr["slices"][0] if k != "name"
            }
            if found_attr["slices"]
            else None,
        )
        st.download_button(
            "Download these figures (JSON)",
            json_text(found_attr).encode(),
            file_name="attribution.json",
            mime="application/json",
            key="attribution_download",
            icon=":material/download:",
        )
