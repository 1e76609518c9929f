"""The frame every page shares: page config, navigation, default sample, notices, and after the content the
sidebar, the page's address and background work."""

from __future__ import annotations

import logging
import os
import traceback
from contextlib import contextmanager

import streamlit as st

from vsep_core.errors import VsepError

from . import chart_preload, prefetch, state, warmup
from .escape import plain
from .sidebar import sidebar

_LOG = logging.getLogger("vsep_app")

#: The pages: short name → (file, title on screen, icon). Streamlit's native multipage mode: ``app.py``
#: is the first page (URL ``/``), each file in ``pages/`` another (URL: the file name without its number
#: and ``.py``, e.g. ``/slices``). Its automatic page list (raw file names) is hidden by
#: ``client.showSidebarNavigation = false`` in ``.streamlit/config.toml``; :func:`setup_page` draws this one.
PAGES = {
    "upload": ("app.py", "Load audio", ":material/upload:"),
    "slices": ("pages/1_slices.py", "Slices", ":material/grid_view:"),
    "optimise": ("pages/2_optimise.py", "Optimise", ":material/tune:"),
    "results": ("pages/3_results.py", "Results", ":material/headphones:"),
    "listen": ("pages/5_listen.py", "Listening test", ":material/hearing:"),
    "shared": ("pages/4_shared.py", "Shared result", ":material/link:"),  # opened from a link (issue #20)
}

#: Set to 1 by the person running the server to see Python tracebacks of unexpected errors in the page.
SHOW_TRACEBACKS_ENV = "VSEP_SHOW_TRACEBACKS"


@contextmanager
def guard(what: str = "This step"):
    """Show a :class:`VsepError` as a message, anything else as a short note; never a traceback to visitors.

    The traceback of an unexpected error goes to the server's log, and into the page only when the person
    running the server sets ``VSEP_SHOW_TRACEBACKS=1`` (visitors of a shared server must not see the
    server's paths and code).
    """
    try:
        yield
    except VsepError as exc:
        st.error(plain(exc), icon=":material/error:")  # messages quote file names: shown literally
    except Exception as exc:  # noqa: BLE001 - the page must stay up
        _LOG.exception("%s hit an unexpected problem", what)
        st.error(f"{what} hit an unexpected problem ({type(exc).__name__}). What you loaded and computed is "
                 "kept; try again or change the input.", icon=":material/error:")
        if os.environ.get(SHOW_TRACEBACKS_ENV) == "1":
            with st.expander("Technical details (shown because VSEP_SHOW_TRACEBACKS=1)"):
                st.code(traceback.format_exc(), language=None)


class Frame:
    """What :func:`setup_page` drew around a page; :meth:`finish` completes it after the page's content."""

    def __init__(self, status):
        self._status = status

    def finish(self) -> None:
        """The sidebar's pair/settings/results (as they are after this run), the run marker, background work.

        Call it last in every page: the sidebar then shows what the page just computed.
        """
        with guard("The sidebar"):
            sidebar(self._status)
        from . import permalink

        permalink.write_url()  # the address is a link to this view (bundled samples; issue #20)
        run_marker()
        warmup.start_once()  # after the page is drawn: the rest of the engine, in the background, once per server
        if state.source() is not None:  # the likely next page: compute its pictures while this one is read
            with guard("Preparing the slices"):
                prefetch.prefetch_slices(state.source(), state.settings())
        chart_preload.preload_charts_later()


def setup_page(title: str) -> Frame:
    """The frame every page starts with (``app.py`` too): page config, navigation, default sample, notices.

    Call it first in a page file; call the returned frame's :meth:`Frame.finish` last.
    """
    from . import loading, sample

    # The icon is an emoji: a Material icon here becomes a favicon fetched from the internet.
    st.set_page_config(page_title=f"{title} · vsep", page_icon="🎙️", layout="wide")
    nav = st.sidebar.container(key="vsep_nav")
    for file, label, icon in PAGES.values():
        nav.page_link(file, label=label, icon=icon)
    status = st.sidebar.container()
    if state.get(state.RUNS, 0) > 0:  # not while the first page is awaited: see preload_charts_now
        chart_preload.preload_charts_now()
    from . import permalink

    permalink.open_from_url(first_run=state.get(state.RUNS, 0) == 0)  # a view link (issue #20): its sample and settings
    # First visit (on any page, also a direct link): the bundled default pair, so everything works at once.
    if state.source() is None and not state.get(state.DEFAULT_TRIED):
        st.session_state[state.DEFAULT_TRIED] = True
        with guard("Loading the bundled sample"):
            loading.activate(loading.sample_source(sample.default_pair()), state.settings())
    notice = state.pop_notice()
    if notice:
        st.toast(notice, icon=":material/check_circle:")
    return Frame(status)


def link(page: str, label: str, icon: str | None = None) -> None:
    st.page_link(PAGES[page][0], label=label, icon=icon)


def require_source():
    """The active source, or a note pointing to the Load page (``None``)."""
    source = state.source()
    if source is None:
        st.info("No audio is loaded yet. Load a pair (or the bundled sample) first.", icon=":material/info:")
        link("upload", "Go to Load audio", ":material/upload:")
    return source



def run_marker() -> None:
    """An invisible mark at the very end of every script run, numbered per session.

    Browser tests and the benchmark wait for a number higher than the one they
    saw before acting: the page is then completely drawn (Streamlit keeps the
    previous run's elements on screen while a new run is under way).
    """
    n = st.session_state.get(state.RUNS, 0) + 1
    st.session_state[state.RUNS] = n
    # An empty container whose key (a CSS class "st-key-…" in the page) carries the number: it draws
    # nothing and needs no code the page does not already have (an HTML markdown needed three more
    # JavaScript files on the first page).
    st.container(key=f"vsep-run-done-{n}", height=1, border=False)
