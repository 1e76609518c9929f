"""The frame every page shares, applied once by ``app.py`` around the page (Streamlit's ``st.navigation``).

Before the page: page config, navigation links, the default sample on a first visit, a view link's sample and
settings, the notice of the last action. Around it: the error guard. After it: the sidebar's status, the page's
address and background work. The shared page (a published result) gets the page config and the links only.
"""

from __future__ import annotations

import logging
import os
import traceback
from contextlib import contextmanager
from typing import NamedTuple

import streamlit as st

from vsep_core.errors import VsepError

from . import chart_preload, prefetch, state, warmup
from .escape import plain
from .sidebar import sidebar

_LOG = logging.getLogger("vsep_app")


class PageEntry(NamedTuple):
    """One page of the app: its file, its title on screen, its icon in the links and its URL path."""

    file: str  # relative to app.py
    title: str
    icon: str
    url_path: str  # "" for the first page (the app's root, ``/``)
    computes: bool = True  # False: the shared page, which loads no sample and starts no background work


#: The pages, in the order of the sidebar's links: short name → entry. The files live in ``app_pages/``, not
#: ``pages/``: while a folder named ``pages`` exists next to the entry script, a fresh Streamlit server runs its
#: files the legacy way (each file on its own, without this frame) until some session has run ``st.navigation``.
PAGES = {
    "upload": PageEntry("app_pages/load.py", "Load audio", ":material/upload:", ""),
    "slices": PageEntry("app_pages/slices.py", "Slices", ":material/grid_view:", "slices"),
    "optimise": PageEntry("app_pages/optimise.py", "Optimise", ":material/tune:", "optimise"),
    "results": PageEntry("app_pages/results.py", "Results", ":material/headphones:", "results"),
    "listen": PageEntry("app_pages/listen.py", "Listening test", ":material/hearing:", "listen"),
    # Opened from a link (issue #20): a published result, read-only.
    "shared": PageEntry("app_pages/shared.py", "Shared result", ":material/link:", "shared", computes=False),
}


def pages() -> list:
    """One ``st.Page`` per entry of :data:`PAGES`, for ``st.navigation`` (called in a script run).

    No icon on the ``st.Page``: the navigation is :func:`links` (Streamlit's own menu is hidden), and the
    browser tab's icon is the page config's emoji (a Material icon there becomes a favicon fetched from
    the internet).
    """
    return [
        st.Page(entry.file, title=entry.title, icon="", url_path=entry.url_path or None, default=entry.url_path == "")
        for entry in PAGES.values()
    ]


def run(page) -> None:
    """Draw the page ``st.navigation`` chose inside the frame; ``app.py`` calls this once per script run."""
    entry = next((e for e in PAGES.values() if e.title == page.title), PAGES["upload"])
    # The icon is an emoji: a Material icon here becomes a favicon fetched from the internet.
    st.set_page_config(page_title=f"{entry.title} · vsep", page_icon="🎙️", layout="wide")
    links()
    if not entry.computes:
        page.run()
        return
    status = st.sidebar.container()
    before_page()
    with guard(f"The {entry.title} page"):
        page.run()
    after_page(status)


def links() -> None:
    """The sidebar's navigation: the pages' titles and icons."""
    nav = st.sidebar.container(key="vsep_nav")
    for entry in PAGES.values():
        nav.page_link(entry.file, label=entry.title, icon=entry.icon)


def before_page() -> None:
    """The chart library, a view link's sample and settings, the default sample on a first visit, the notice."""
    from . import loading, permalink, sample

    first_run = state.get(state.RUNS, 0) == 0
    if not first_run:  # not while the first page is awaited: see preload_charts_now
        chart_preload.preload_charts_now()
    permalink.open_from_url(first_run=first_run)  # a view link (issue #20): its sample and settings
    # First visit (on any page, also a direct link): the bundled default pair, so everything works at once.
    if state.source() is None and not state.get(state.DEFAULT_TRIED):
        st.session_state[state.DEFAULT_TRIED] = True
        with guard("Loading the bundled sample"):
            loading.activate(loading.sample_source(sample.default_pair()), state.settings())
    notice = state.pop_notice()
    if notice:
        st.toast(notice, icon=":material/check_circle:")


def after_page(status) -> None:
    """The sidebar's pair/settings/results (as the page left them), the address, background work."""
    from . import permalink

    with guard("The sidebar"):
        sidebar(status)
    permalink.write_url()  # the address is a link to this view (bundled samples; issue #20)
    st.session_state[state.RUNS] = state.get(state.RUNS, 0) + 1  # this session's full runs so far
    warmup.start_once()  # after the page is drawn: the rest of the engine, in the background, once per server
    if state.source() is not None:  # the likely next page: compute its pictures while this one is read
        with guard("Preparing the slices"):
            prefetch.prefetch_slices(state.source(), state.settings())
    chart_preload.preload_charts_later()


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
        st.error(
            f"{what} hit an unexpected problem ({type(exc).__name__}). What you loaded and computed is "
            "kept; try again or change the input.",
            icon=":material/error:",
        )
        if os.environ.get(SHOW_TRACEBACKS_ENV) == "1":
            with st.expander("Technical details (shown because VSEP_SHOW_TRACEBACKS=1)"):
                st.code(traceback.format_exc(), language=None)


def link(page: str, label: str, icon: str | None = None) -> None:
    st.page_link(PAGES[page].file, label=label, icon=icon)


def require_source():
    """The active source, or a note pointing to the Load page (``None``)."""
    source = state.source()
    if source is None:
        st.info("No audio is loaded yet. Load a pair (or the bundled sample) first.", icon=":material/info:")
        link("upload", "Go to Load audio", ":material/upload:")
    return source
