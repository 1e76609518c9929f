"""Loading the chart library in the browser before the first chart is due (a blank, tiny chart)."""

from __future__ import annotations

import streamlit as st

from .state import RUNS


def preload_charts(where=st) -> None:
    """A blank, tiny chart (in ``where``) that makes the browser load the chart library.

    The first page draws no chart (its waveform is a plain picture, so it
    appears at once); this makes the browser fetch and start the plotly
    library, and set up the trace types the other pages use, while the
    visitor reads a page or the server computes, rather than when the first
    real chart is due (seconds on a machine without a GPU: BENCHMARKS.md).
    """
    import plotly.graph_objects as go

    hidden = dict(visible=False, fixedrange=True)
    # One tiny trace of each type the later pages draw: plotly sets each type up on its first
    # use, which is slow, so that happens now, unseen.
    # Drawn fully transparent: set up, not seen.
    fig = go.Figure(
        [
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines+markers+text", text=["", ""], opacity=0),
            go.Bar(x=[0], y=[1], text=[""], textposition="outside", opacity=0),
            go.Heatmap(z=[[0, 1], [1, 0]], showscale=False, opacity=0),
        ],
        layout=dict(
            width=10,
            height=10,
            margin=dict(l=0, r=0, t=0, b=0),
            xaxis=hidden,
            yaxis=hidden,
            showlegend=False,
            paper_bgcolor="rgba(0,0,0,0)",
            plot_bgcolor="rgba(0,0,0,0)",
            template="plotly_white",
        ),
    )
    where.plotly_chart(
        fig,
        theme=None,
        config={"staticPlot": True, "displayModeBar": False},
        width="content",
        key="vsep_preload_charts",
    )


def preload_charts_quietly(where=st) -> None:
    """:func:`preload_charts`, and nothing at all if it fails (it only saves time later)."""
    try:
        preload_charts(where)
    except Exception:  # noqa: BLE001 - an optimisation must never show an error
        pass


CHARTS_READY = "vsep_charts_ready"
PRELOAD_SEEN = "vsep_preload_seen_run"


def mark_charts_ready() -> None:
    """This session's browser has drawn a chart: the chart library is loaded, no preload needed."""
    st.session_state[CHARTS_READY] = True


def preload_charts_now() -> None:
    """Preload the chart library now, unless this browser has it (a blank chart at the sidebar's bottom).

    Called at the start of every script run after the first page: the browser
    loads the library (megabytes of JavaScript) while the
    server computes the page the visitor asked for (a run, the slice views,
    an upload), rather than after the page's first chart arrives. Not on the
    first page, which is what a visitor waits for first (see
    :func:`preload_charts_later` for a visitor who stays on it).
    """
    if not st.session_state.get(CHARTS_READY):
        preload_charts_quietly(st.sidebar)
        mark_charts_ready()


def preload_charts_later() -> None:
    """Preload the chart library 2 s after this page is drawn, unless this browser already has it."""
    if not st.session_state.get(CHARTS_READY):
        _preload_fragment()


@st.fragment(run_every=2.0)
def _preload_fragment() -> None:
    """:func:`preload_charts_quietly` on this fragment's first timed run, 2 s after the page.

    Loading the chart library (4.7 MB of JavaScript) while a page is still being
    drawn delayed the first page; two seconds later the page is on
    screen and the visitor is reading it. Its first call, inside a full run of the
    script, only notes that run; the timer's runs (the full run's number has not
    changed) draw the blank chart. It ticks (a few milliseconds every 2 s) only
    while a page without charts is shown.
    """
    run = st.session_state.get(RUNS, 0)
    if st.session_state.get(PRELOAD_SEEN) != run:
        st.session_state[PRELOAD_SEEN] = run
        return
    preload_charts_quietly()
    mark_charts_ready()
