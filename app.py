"""vsep dashboard: see, hear and measure how spectrogram fingerprints separate a vocal.

Run with ``streamlit run app.py``. Four pages (``pages/``): load audio, look
at the 19 slice views, run the optimiser, and listen to / download results.
The first visit loads the bundled default sample, so everything works
without an upload.

This script is the app's frame: ``st.navigation`` over the pages, the sidebar,
and the default sample. A folder called ``pages/`` makes Streamlit 1.67 serve
the first request after a server start in its legacy multipage mode, running a
linked page (``/slices``) without this script; every page (and this script)
starts with :func:`vsep_app.ui.run_through_app`, which leaves that mode and
reruns through here. ``tests/test_browser.py::test_a_direct_link_after_a_server_start``
checks it.

The first page imports and computes only what it shows; the rest of the engine
is imported and warmed up on a background thread once it is drawn
(:mod:`vsep_app.warmup`).
"""

from __future__ import annotations

import streamlit as st

from vsep_app.ui import run_through_app

run_through_app()  # first: leave Streamlit's legacy multipage mode if it is on (see the function)

st.set_page_config(page_title="vsep · vocal separation by fingerprints", page_icon=":material/graphic_eq:",
                   layout="wide")

from vsep_app import cache, loading, sample, state, ui  # noqa: E402  (after set_page_config)

# First visit: load the bundled default pair so the whole method works without an upload.
if state.source() is None and not state.get(state.DEFAULT_TRIED):
    st.session_state[state.DEFAULT_TRIED] = True
    with ui.guard("Loading the bundled sample"):
        loading.activate(loading.sample_source(sample.default_pair()), state.settings())

page = st.navigation([
    st.Page(ui.PAGE_FILES["upload"], title="Load audio", icon=":material/upload:", url_path="upload", default=True),
    st.Page(ui.PAGE_FILES["slices"], title="Slices", icon=":material/grid_view:", url_path="slices"),
    st.Page(ui.PAGE_FILES["optimise"], title="Optimise", icon=":material/tune:", url_path="optimise"),
    st.Page(ui.PAGE_FILES["results"], title="Results", icon=":material/headphones:", url_path="results"),
])
sidebar = st.sidebar.container()
if state.get(ui.RUNS, 0) > 0:  # not while the first page is awaited: see ui.preload_charts_now
    ui.preload_charts_now()
notice = state.pop_notice()
if notice:
    st.toast(notice, icon=":material/check_circle:")
with ui.guard("This page"):
    page.run()
with ui.guard("The sidebar"):
    ui.sidebar(sidebar)
ui.run_marker()
cache.warm_up()  # after the page is drawn: the rest of the engine, in the background, once per server
if state.source() is not None:  # the likely next page: compute its pictures while this one is read
    with ui.guard("Preparing the slices"):
        cache.prefetch_slices(state.source(), state.settings())
ui.preload_charts_later()
