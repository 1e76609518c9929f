"""Slices page: the 19 views of the vocal and the mixture, and one window's fingerprints."""

from __future__ import annotations

import streamlit as st

from vsep_app import cache, chart_preload, figures, frame, jobs, loading, permalink, prefetch, state, wording
from vsep_core.errors import VsepError
from vsep_core.fingerprint import METRICS
from vsep_core.stems import labels
from vsep_core.views import VIEWS

st.title("Slices")
st.markdown(
    "**19 ways to look at a spectrogram.** Each **slice** filters the magnitude spectrogram with a small 3×3 kernel (rows: frequency, columns: time) "
    "and keeps a different kind of detail: steady tones, onsets, pitch glides, edges. The method matches the "
    "mixture to the target's **fingerprint** (the stem chosen on Load audio) in one slice after another. "
    "Colours are dB of the filtered "
    "magnitude (80 dB range) against time (s) and frequency (Hz); the pictures are reduced for display, the "
    "method uses every bin. Drag to zoom, double-click to reset."
)

source = frame.require_source()
if source is not None:
    settings = state.settings()
    with frame.guard("Drawing the slices"):
        pair = cache.pair(source, settings)
        hop = settings.hop_for(pair.n_samples)
        n_windows = 1 + pair.n_samples // hop
        cols_per_row = st.select_slider(
            "Views per row", options=[2, 3, 4, 5], value=state.remembered("slices_per_row", 4), key="slices_per_row"
        )
        state.remember("slices_per_row", cols_per_row)
        target = source.names.target
        # With another stem as the target, its views beside the vocal's (same song, same settings).
        companion = loading.companion_vocal_source(source)
        tab_names = [f"{target.capitalize()} (the target)", "Mixture", "One window up close"]
        if companion is not None:
            tab_names.insert(1, f"{target.capitalize()} beside the vocal")
        tabs = dict(zip(tab_names, st.tabs(tab_names, key="slices_tab", on_change="rerun")))
        tab_vocal, tab_mix, tab_window = tabs[tab_names[0]], tabs["Mixture"], tabs["One window up close"]

        def grid(signal: str) -> None:
            jobs.wait_for_prefetch(prefetch.slices_key(source, settings), state.SLICES_PREFETCH, signal)
            figs = cache.slice_figures(source, settings, signal)
            for row_start in range(0, len(VIEWS), cols_per_row):
                specs = VIEWS[row_start : row_start + cols_per_row]
                st.plotly_chart(
                    figures.view_row(figs[row_start : row_start + cols_per_row], cols_per_row),
                    theme=None,
                    config={"displayModeBar": False},
                    key=f"views_{signal}_{row_start}",
                )
                for col, spec in zip(st.columns(cols_per_row, gap="small"), specs):
                    k, d = col.columns([2, 3], vertical_alignment="center")
                    k.markdown(figures.kernel_html(spec), unsafe_allow_html=True)
                    d.caption(spec.description)
            chart_preload.mark_charts_ready()

        def side_by_side() -> None:
            """Each view of the target stem (left) and of the vocal (right): one row per view."""
            stem_figs = cache.slice_figures(source, settings, "vocal")
            vocal_figs = cache.slice_figures(companion, settings, "vocal")
            st.caption(
                f"Left: the {target}; right: the vocal of the same song, each in the same view. "
                "A view that keeps a source's shape (onsets for drums, steady lines for sustained notes) "
                "gives the optimiser a fingerprint worth matching."
            )
            for i, _spec in enumerate(VIEWS):
                pair_figs = [
                    dict(stem_figs[i], title=f"{target} · {stem_figs[i]['title']}"),
                    dict(vocal_figs[i], title=f"vocal · {vocal_figs[i]['title']}"),
                ]
                st.plotly_chart(
                    figures.view_row(pair_figs, 2),
                    theme=None,
                    config={"displayModeBar": False},
                    key=f"stem_vs_vocal_{i}",
                )
            chart_preload.mark_charts_ready()

        if tab_vocal.open:
            with tab_vocal:
                grid("vocal")
        if companion is not None and tabs[tab_names[1]].open:
            with tabs[tab_names[1]]:
                side_by_side()
        if tab_mix.open:
            with tab_mix:
                grid("mixture")
        if tab_window.open:
            with tab_window:
                st.caption(
                    f"{n_windows} windows of {1000 * hop / pair.sr:.1f} ms. Pick one to compare the {source.names.owns} "
                    "and the mixture's 400-point fingerprint (the curve the optimiser matches, in dB, from "
                    "0 Hz to half the sample rate) in every view, and the 25 measurements made from it."
                )
                last_s = float((n_windows - 1) * hop / pair.sr)
                t = st.slider(
                    "Time of the window (s)",
                    0.0,
                    last_s,
                    min(state.remembered("slices_time", float(n_windows // 2 * hop / pair.sr)), last_s),
                    step=float(hop / pair.sr),
                    format="%.2f s",
                    key="slices_time",
                )
                state.remember("slices_time", t)
                window = min(int(round(t * pair.sr / hop)), n_windows - 1)
                detail = cache.window_detail(source, settings, window)
                st.plotly_chart(
                    figures.profiles_grid(detail, pair.sr, window, t, target=target),
                    theme=None,
                    config={"displayModeBar": False},
                    key="profiles_grid",
                )
                try:  # the blind method's view of this window (the bundled model predicts the raw view)
                    guess = cache.predicted_fingerprints(source, settings)
                    st.plotly_chart(
                        figures.predicted_fingerprint_figure(
                            detail["slice_0_raw"]["vocal_profile"],
                            guess["predicted"][:, window],
                            guess["mixture"][:, window],
                            pair.sr,
                            window,
                            t,
                            target=target,
                            predicted=labels(guess["target"]).target,
                        ),
                        theme=None,
                        config={"displayModeBar": False},
                        key="predicted_fingerprint",
                    )
                    if guess["target"] != source.names.name:
                        st.caption(
                            f"The bundled model predicts the {labels(guess['target']).target}, not the "
                            f"{target}: its curve is shown for comparison only."
                        )
                except VsepError as exc:
                    st.info(f"No learned prediction for these settings: {exc}")
                chart_preload.mark_charts_ready()
                st.markdown("##### The 25 measurements of this window")
                view = st.selectbox(
                    "View", [v.name for v in VIEWS], format_func=wording.slice_label, key="metrics_view"
                )
                permalink.note(tab="window", window=window, slice=view)  # the URL reopens this window and slice
                import pandas as pd  # here: only this tab needs it (~0.3 s to import)

                table = pd.DataFrame(
                    {
                        "measurement": [wording.measurement_label(name) for name, _ in METRICS],
                        "unit": [unit for _, unit in METRICS],
                        target: detail[view]["vocal_metrics"],
                        "mixture": detail[view]["mixture_metrics"],
                    }
                )
                st.dataframe(
                    table,
                    hide_index=True,
                    width="stretch",
                    height=35 * 26,
                    column_config={
                        target: st.column_config.NumberColumn(format="%.4g"),
                        "mixture": st.column_config.NumberColumn(format="%.4g"),
                    },
                )
                st.caption(
                    "Energies are sums of squared magnitudes in the band; ratios have no unit; frequencies "
                    "are 0 where no peak was found."
                )
    frame.link("optimise", "Next: run the optimiser", ":material/arrow_forward:")
