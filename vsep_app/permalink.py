"""View permalinks (issue #20): a bundled sample's view lives in the page's URL.

The sample, its target stem, every setting that differs from the defaults and
the Slices page's chosen view and window are written into the address
(``st.query_params``) at the end of each run, so the address bar is always a
link that reopens this view. Opening such a link in a new session loads that
sample with those settings before the page is drawn. A visitor's own files are
never put in a URL: for them the sidebar says to publish the result instead.

Example: ``/slices?sample=sung_phrases_ballad&stem=drums&tab=window&window=42&slice=slice_6_diagonal_down``.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from vsep_core.errors import VsepError
from vsep_core.settings import Settings

from . import state

_EXTRAS = "vsep_permalink_extras"  # what the page noted in this run (view, window, tab)
#: Settings kept out of URLs: fixed by the engine, not chosen on the Load page.
_FIXED = {"sr", "n_fft", "n_points", "top_db"}
#: The Slices page's widget keys the link sets before they are drawn.
SLICES_TAB, SLICES_TIME, SLICES_VIEW = "slices_tab", "vsep_keep_slices_time", "metrics_view"


def settings_params(settings: Settings) -> dict:
    """The settings that differ from the defaults, as URL parameters (``duration_s=all`` for a whole song)."""
    default = Settings().to_dict()
    out = {}
    for name, value in settings.to_dict().items():
        if name in _FIXED or value == default[name]:
            continue
        out[name] = "all" if (name == "duration_s" and value is None) else ("none" if value is None else str(value))
    return out


def settings_from_params(params: dict) -> Settings:
    """Inverse of :func:`settings_params` (unknown or bad values raise :class:`VsepError`)."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    default = Settings()
    changes = {}
    for name, text in params.items():
        if name not in fields or name in _FIXED:
            continue
        base = getattr(default, name)
        try:
            if text in ("none", "all"):
                value = None
            elif isinstance(base, bool):
                value = text == "True"
            elif isinstance(base, int) or name == "n_windows":
                value = int(text)
            elif isinstance(base, float) or name == "duration_s":
                value = float(text)
            else:
                value = str(text)
        except ValueError:
            raise VsepError(f"The link's setting {name}={text!r} is not a valid value.") from None
        changes[name] = value
    return default.replace(**changes)


def note(**values) -> None:
    """A page notes its view (e.g. ``window=42``) for the URL written at the end of this run."""
    st.session_state.setdefault(_EXTRAS, {}).update({k: str(v) for k, v in values.items()})


def open_from_url(first_run: bool) -> bool:
    """On a session's first run: load the sample, stem and settings the URL names; ``True`` when it did.

    The Slices page's tab, window time and view are put where its widgets read them.
    """
    params = st.query_params.to_dict()
    if not first_run or "sample" not in params:
        return False
    from . import loading, sample

    try:
        chosen = next((p for p in sample.pairs() if p.folder == params["sample"]), None)
        if chosen is None:
            raise VsepError("This link names a sample this server does not have.")
        settings = settings_from_params(params)
        from . import cache

        source = loading.activate(loading.sample_source(chosen, params.get("stem", "vocals")), settings)
        state.set_settings(settings)
        st.session_state[state.DEFAULT_TRIED] = True
        if params.get("tab") == "window":
            st.session_state[SLICES_TAB] = "One window up close"
        if "window" in params:  # the slider is in seconds: window k starts at k hops
            pair = cache.pair(source, settings)
            st.session_state[SLICES_TIME] = int(params["window"]) * settings.hop_for(pair.n_samples) / pair.sr
        if "slice" in params:
            from vsep_core.views import VIEWS_BY_NAME

            if params["slice"] not in VIEWS_BY_NAME:
                raise VsepError(f"there is no slice {params['slice']!r}")
            st.session_state[SLICES_VIEW] = params["slice"]
        return True
    except (VsepError, ValueError) as exc:
        st.warning(
            f"This link's view could not be opened ({exc}); the page shows the default instead.",
            icon=":material/link_off:",
        )
        return False


def write_url() -> None:
    """At the end of a run: the URL carries this view (bundled samples), or nothing (a visitor's own files,
    or the default sample with the default settings, which the bare address opens)."""
    extras = st.session_state.pop(_EXTRAS, {})
    source = state.source()
    if source is None or source.origin != "sample":
        for key in list(st.query_params):
            del st.query_params[key]
        if source is not None:
            st.sidebar.caption(
                "This page's address does not carry your own files. To send this result to "
                "someone, publish it: Results → Share this result."
            )
        return
    from . import sample

    folder = next((p.folder for p in sample.pairs() if source.label.startswith(p.title)), None)
    if folder is None:
        return
    params = {"sample": folder}
    if source.target_name != "vocals":
        params["stem"] = source.target_name
    params.update(settings_params(state.settings()))
    params.update(extras)
    if params == {"sample": sample.pairs()[0].folder}:  # the default view: the bare address already opens it
        params = {}
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
