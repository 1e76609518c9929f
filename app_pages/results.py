"""Results page: listen, compare spectrograms and EQ curves, measure, download."""

from __future__ import annotations

from collections import ChainMap

import numpy as np
import streamlit as st

from vsep_app import (
    cache,
    chart_preload,
    frame,
    full_quality_view,
    jobs,
    limits,
    players,
    prefetch,
    scores_view,
    sharing,
    state,
    wording,
)
from vsep_core import plots, report
from vsep_core.stems import labels, oracle_note, pair_target

st.title("Results")
st.markdown("Listen to what each run extracted, see where it put energy, and take everything with you.")


def wav_label(path: str, target: str = "vocal") -> str:
    """A readable name for a report path ("3_slices/extracted_vocal.wav" → "N = 3: vocal")."""
    folder, name = path.split("/", 1)
    # "extracted_vocal.wav" → "vocal", "extracted_everything_else_best_prefix.wav" → "everything else"
    what = name.removeprefix("extracted_").removesuffix(".wav").removesuffix("_best_sequence")
    what = what.removesuffix("_best_prefix").replace("_", " ")
    if name == "mixture.wav":
        return "Mixture"
    if name == "target.wav":
        return f"Target (true {target})"
    if folder == "best_sequence_found":
        return f"Greedy order: {what}"
    if folder == "best_prefix_found":
        return f"Best prefix: {what}"
    if folder == "joint":
        return f"Joint matching: {what}"
    return f"N = {folder.split('_')[0]}: {what}"


def wav_order(path: str):
    folder = path.split("/", 1)[0]
    head = folder.split("_")[0]
    return (0 if "mixture" in path or "target" in path else 1, int(head) if head.isdigit() else 999, folder, path)


source = frame.require_source()
prog, greedy = state.progressive(), state.greedy()
if source is not None and prog is None:
    if greedy is None:
        st.info(
            "Nothing has been run yet. Run the progressive test (and the greedy search) first.", icon=":material/info:"
        )
    else:
        st.info(
            "The greedy search is done; run the progressive test too for the full results and the downloads.",
            icon=":material/info:",
        )
    frame.link("optimise", "Go to Optimise", ":material/tune:")
elif source is not None:
    with frame.guard("Showing the results"):
        if not prog.matches(source, state.settings()):
            st.warning(
                "These results were computed with earlier settings or another pair; they are shown with "
                "the settings they were made with (below).",
                icon=":material/history:",
            )
        settings = prog.settings
        waiting = st.empty()  # "Waiting: N jobs ahead of yours" while other visitors' work runs

        def on_wait(ahead: int) -> None:
            waiting.caption(jobs.waiting_text(ahead))

        result = jobs.run(lambda: cache.experiment_result(source, prog, greedy), on_wait)
        pair = cache.pair(source, settings)
        greedy_used = greedy if result.greedy is not None else None
        joint_run = state.joint(source, settings)  # the joint matching run on Optimise, when it was
        sr = pair.sr
        names = labels(pair_target(result.pair_info))  # what the target and everything else are called
        complement = names.complement.capitalize()

        def wav_paths(label: str) -> dict:
            return report.run_wav_paths(label, names.name)

        # --- separation quality: first, where the visitor looks ----------------------------
        st.subheader("Separation quality")
        st.caption(oracle_note(names.name))
        metrics = None
        scores_box = st.empty()  # the runs' SI-SDR at once, then the whole table in its place
        if pair.duration_s <= limits.AUTO_MEASURE_S or st.button(
            f"Measure separation quality ({pair.duration_s:.0f} s of audio: this takes a while)",
            key="measure_quality",
            icon=":material/analytics:",
        ):
            if not prefetch.results_ready(prog, greedy, "metrics"):
                with scores_box.container():
                    scores_view.quick_scores_section(
                        cache.with_joint(cache.quick_scores(source, prog, greedy_used), joint_run),
                        cache.alignment(source, settings),
                    )
            bar = st.progress(0.0, text="Measuring SDR, SIR and SAR: checking the alignment…")
            if prefetch.results_pending(prog, greedy, "metrics"):  # started on Optimise, not done yet
                bar.progress(0.5, text="Measuring SDR, SIR and SAR (started while you were on Optimise)…")
                prefetch.wait_for_results(prog, greedy, "metrics", on_wait)

            def show(events, elapsed, done):
                last = [e for e in events if e[0] == "progress"]
                if last and not done:
                    bar.progress(last[-1][1], text=f"Measuring SDR, SIR and SAR: {last[-1][2]}")

            metrics = jobs.run_with_events(lambda emit: cache.evaluation(source, prog, greedy_used, emit), show)
            metrics = cache.with_joint(metrics, joint_run)
            bar.empty()
        marks = scores_view.quality_marks(metrics)
        if metrics is not None:
            with scores_box.container():
                scores_view.metrics_section(metrics, marks)
                scores_view.waterfall_section(metrics)

        prefetch.wait_for_results(prog, greedy, "files", on_wait)
        files = jobs.run(lambda: cache.run_files(source, prog, greedy_used)["files"], on_wait)
        files = ChainMap(cache.joint_files(source, settings, joint_run), files)  # no WAV made until read
        waiting.empty()

        # --- listen ------------------------------------------------------------------
        st.subheader("Listen")
        st.markdown(full_quality_view.segment_sentence(pair, settings))  # which part, and how to choose another
        st.caption(
            f"Every extracted {names.target} file is peak-normalised (its loudest moment at full scale), as the "
            "research code saved them. Each player has its WAV download below it."
        )

        def player(label: str, path: str, key: str, col) -> None:
            with col:
                st.markdown(f"**{label}**")
                players.play(files[path])
                st.download_button(
                    "WAV",
                    lambda: files[path],
                    file_name=path.replace("/", "_"),
                    mime="audio/wav",
                    key=f"dl_{key}",
                    icon=":material/download:",
                    on_click="ignore",
                )

        top = st.columns(3, vertical_alignment="bottom")  # a wrapped label never lowers one player
        player("Mixture (analysed segment)", "1_slices/mixture.wav", "mixture", top[0])
        player(f"Target: the true {names.target}", "1_slices/target.wav", "target", top[1])
        best = result.best_progressive
        player(
            f"{complement} estimate (mixture − {names.target}, N = {best.n})",
            wav_paths(str(best.n))["instrumental"],
            "instrumental_best",
            top[2],
        )

        st.markdown("##### A/B: compare any two at the same moment")
        ab = {"Mixture": "1_slices/mixture.wav", f"Target (true {names.target})": "1_slices/target.wav"}
        ab.update(
            {
                f"N = {r.n}" + (" (lowest loss)" if r is best else ""): wav_paths(str(r.n))["vocal"]
                for r in result.progressive
            }
        )
        if result.greedy is not None:
            ab[f"Greedy order ({len(result.greedy.sequence)})"] = wav_paths("greedy")["vocal"]
            if result.best_prefix_run is not result.greedy_run:
                ab[f"Best prefix ({result.greedy.best_prefix_length})"] = wav_paths("best_prefix")["vocal"]
        if joint_run is not None:
            ab["Joint matching"] = f"joint/extracted_{names.target_file}.wav"
        choices = {}  # a longer segment has no A/B player (ab_player says so): no WAV made for it
        if pair.duration_s <= limits.AB_MAX_S:  # the ceilings too: how close could a mask get?
            choices = {label: (lambda path=path: files[path]) for label, path in ab.items()}  # made when picked
            oracle = cache.oracle_wavs(source, settings)
            choices.update(
                {f"Oracle {name} (ideal mask, reads the true {names.target})": wav for name, wav in oracle.items()}
            )
        players.ab_player(choices, pair.duration_s, key="results_ab")
        if pair.duration_s <= limits.AB_MAX_S:
            masks = st.container(horizontal=True)
            for name, wav in oracle.items():
                masks.download_button(
                    f"Oracle {name} {names.target} (WAV)",
                    wav,
                    file_name=f"oracle_{name}_{names.target_file}.wav",
                    mime="audio/wav",
                    key=f"dl_oracle_{name}",
                    icon=":material/download:",
                    on_click="ignore",
                )

        per_row = 3  # wide enough players to seek in
        runs = result.progressive
        every_n = []  # (label, WAV path, key) of each run's player, then the greedy search's
        for run in runs:
            mark = "".join(f" {m}" for m in marks.get(f"N={run.n}", [])) or (" ★ lowest loss" if run is best else "")
            every_n.append(
                (f"N = {run.n} · loss {run.final_loss:.1f}{mark}", wav_paths(str(run.n))["vocal"], f"vocal_{run.n}")
            )
        greedy_players = []
        if result.greedy is not None:
            greedy_players.append(
                (
                    f"Greedy order ({len(result.greedy.sequence)} slices) · loss {result.greedy.loss:.1f}"
                    + "".join(f" {m}" for m in marks.get("greedy", [])),
                    wav_paths("greedy")["vocal"],
                    "vocal_greedy",
                )
            )
            greedy_players.append(
                (f"Greedy {names.complement} estimate", wav_paths("greedy")["instrumental"], "instrumental_greedy")
            )
            if result.best_prefix_run is not result.greedy_run:
                greedy_players.append(
                    (
                        f"Best prefix ({result.greedy.best_prefix_length}) · loss {result.greedy.best_prefix_loss:.1f}"
                        + "".join(f" {m}" for m in marks.get("best_prefix", [])),
                        wav_paths("best_prefix")["vocal"],
                        "vocal_best_prefix",
                    )
                )
        if pair.duration_s <= limits.EVERY_RUN_PLAYED_MAX_S:
            st.markdown(f"##### Extracted {names.target} for every N")
            for start in range(0, len(every_n), per_row):
                for col, item in zip(
                    st.columns(per_row, vertical_alignment="bottom"), every_n[start : start + per_row]
                ):
                    player(*item, col)
            if greedy_players:
                st.markdown("##### Greedy search")
                for col, item in zip(st.columns(per_row, vertical_alignment="bottom"), greedy_players):
                    player(*item, col)
        else:  # a player for each run would make and hold ~22 WAVs of the whole segment at every page run
            st.markdown(f"##### Extracted {names.target}: one run at a time")
            st.caption(
                f"A {pair.duration_s:.0f} s segment: choose the run to hear. Every run's WAV is under "
                "*Every WAV file, one by one* below, and in the ZIP."
            )
            runs_to_hear = {label: (path, key) for label, path, key in every_n + greedy_players}
            lowest = next(label for (label, _, _), run in zip(every_n, runs) if run is best)
            heard = st.selectbox(
                "Run to hear", list(runs_to_hear), index=list(runs_to_hear).index(lowest), key="results_run_heard"
            )
            player(heard, *runs_to_hear[heard], st.container())
        if result.greedy is None and greedy is not None:
            st.caption("The greedy search was run with other settings; run it again to add it here.")
        if joint_run is not None:
            st.markdown("##### Joint matching (run on Optimise)")
            cols = st.columns(per_row, vertical_alignment="bottom")
            player(
                "Joint matching · every window learned at once" + "".join(f" {m}" for m in marks.get("joint", [])),
                f"joint/extracted_{names.target_file}.wav",
                "vocal_joint",
                cols[0],
            )
            player(
                f"Joint {names.complement} estimate",
                f"joint/extracted_{names.complement_file}.wav",
                "instrumental_joint",
                cols[1],
            )

        # --- full quality: a run's EQ on the original mixture at its own rate and channels (issue #21) ----
        chosen_full = full_quality_view.full_quality_section(
            source,
            settings,
            pair,
            result,
            names,
            metrics=metrics,
            on_wait=on_wait,
            quick=lambda: cache.quick_scores(source, prog, greedy_used),
        )  # made only if its table is shown
        # What was made at full quality goes into the ZIP, the report and a shared result: the run chosen above
        # and the joint result's (shown on Optimise).
        joint_full = full_quality_view.joint_made(source, settings, joint_run, on_wait=on_wait)
        made_full = [made for made in (chosen_full, joint_full) if made is not None]

        # --- spectrograms and EQ -----------------------------------------------------------
        choices = {f"N = {r.n}": (str(r.n), r) for r in runs}
        if result.greedy is not None:
            choices[f"greedy order ({len(result.greedy.sequence)})"] = ("greedy", result.greedy_run)
            if result.best_prefix_run is not result.greedy_run:
                choices[f"best prefix ({result.greedy.best_prefix_length})"] = ("best_prefix", result.best_prefix_run)
        st.subheader("Spectrograms")
        chosen = st.selectbox(
            f"Extracted {names.target} of", list(choices), index=list(choices).index(f"N = {best.n}"), key="results_run"
        )
        label, run = choices[chosen]
        run_key = cache.content_key(cache.result_key(prog, greedy), label)
        target, mixture = cache.magnitude(source, settings, "vocal"), cache.magnitude(source, settings, "mixture")
        hop = target["hop"]
        extracted = cache.run_magnitude(run_key, run.estimate.vocal_raw, settings, pair.n_samples)
        st.plotly_chart(
            plots.spectrograms_figure(
                {
                    f"target (true {names.target})": target["mag"],
                    "mixture": mixture["mag"],
                    f"extracted ({chosen})": extracted,
                },
                sr,
                hop,
            ),
            theme=None,
            key="spectrograms",
        )
        st.caption("Magnitude in dB, one colour scale for the three. " + wording.good_extraction(names))

        chart_preload.mark_charts_ready()
        st.subheader("Learned EQ curves")
        eqs = cache.eq_curves(source, settings, run.slices)
        pass_names = [
            f"pass {i + 1}: {wording.slice_label(view)}" + (" (polish)" if i == len(eqs) - 1 else "")
            for i, (view, _) in enumerate(eqs)
        ]
        which = st.selectbox("Pass", ["all passes added up"] + pass_names, key="results_eq_pass")
        n_windows = eqs[-1][1].shape[1]
        if which == "all passes added up":
            total = np.zeros((settings.n_points, n_windows), dtype=np.float32)
            for _, eq in eqs:
                total[:, : eq.shape[1]] += eq[:, :n_windows]
            eq, title = total, f"EQ of every pass added up, {chosen}"
        else:
            eq, title = eqs[pass_names.index(which)][1], f"EQ learned in {which}, {chosen}"
        st.plotly_chart(plots.eq_heatmap_figure(eq, sr, hop, title=title), theme=None, key="eq_heatmap")
        st.caption(
            f"{settings.n_points} bands (rows, 0 Hz to {sr // 2} Hz) × {n_windows} windows (columns): how many "
            f"dB each pass added (red) or removed (blue) to make the mixture's fingerprint match the {names.owns}. "
            "Pooled slices learn half as many windows."
        )

        # --- downloads ---------------------------------------------------------------------
        st.subheader("Take it with you")
        # Made when a button is pressed (a callable as the data), not on every visit: a long song's ZIP and
        # report are hundreds of MB that would otherwise sit in the server's memory for each session.

        ratings = state.ratings(source, settings)  # the visitor's listening test of this pair and segment

        def bundle(part: str):
            return lambda: jobs.run(
                lambda: cache.downloads(source, prog, greedy_used, metrics, ratings, joint_run, made_full)
            )[part]

        n_wavs = sum(p.endswith(".wav") for p in files)
        c1, c2 = st.columns(2)
        with c1:
            st.download_button(
                "Download everything (ZIP)",
                bundle("zip"),
                file_name="vsep_results.zip",
                mime="application/zip",
                icon=":material/folder_zip:",
                type="primary",
                key="dl_zip",
                on_click="ignore",
            )
            st.caption(
                f"README.txt (what each folder is), the report, every WAV ({n_wavs}: {names.target} and "
                f"{names.complement} per run), the plots, summary.json, "
                "settings.json"
                + (
                    " and metrics.json (the scores, as `python -m vsep_core evaluate --json` writes them)."
                    if metrics is not None
                    else "."
                )
                + (" Your listening test's ratings (listening_ratings.csv and .json)." if ratings else "")
                + (" The full-quality audio you made (*_full_quality.wav) and its scores." if made_full else "")
                + " Packed when you press the button (a few seconds for a long song)."
            )
        with c2:
            st.download_button(
                "Download the report (HTML)",
                bundle("html"),
                file_name="vsep_report.html",
                mime="text/html",
                icon=":material/description:",
                key="dl_html",
                on_click="ignore",
            )
            st.caption(
                "One page that opens offline in any browser: the players, the plots and the numbers, for "
                "people who do not program. Made when you press the button: it shows a spinner for the "
                "few seconds this takes, then the file downloads."
            )
        wavs = sorted((p for p in files if p.endswith(".wav")), key=wav_order)
        with st.expander(f"Every WAV file, one by one ({len(wavs)})", icon=":material/library_music:"):
            for start in range(0, len(wavs), 4):
                for col, path in zip(st.columns(4), wavs[start : start + 4]):
                    col.download_button(
                        wav_label(path, names.target),
                        lambda path=path: files[path],
                        file_name=path.replace("/", "_"),
                        mime="audio/wav",
                        key=f"dl_all_{path}",
                        icon=":material/download:",
                        on_click="ignore",
                        width="stretch",
                    )
        with st.expander("Settings of these results"):
            st.json(settings.to_dict())

        sharing.share_section(
            source, result, pair, metrics, settings, ratings, made_full
        )  # "Share this result" (issue #20)
