"""The frame every page shares (setup, navigation, sidebar), the error guard, players and labels."""

from __future__ import annotations

import logging
import os
import re
import traceback
from contextlib import contextmanager

import numpy as np
import streamlit as st

from vsep_core import ORACLE_NOTE
from vsep_core.errors import VsepError
from vsep_core.settings import Settings

from . import cache, state

_LOG = logging.getLogger("vsep_app")

# Characters that start Markdown, HTML or Streamlit formatting anywhere in a line: emphasis, code, links and
# images ([ ] !), HTML and autolinks (< > &), maths ($), colours, icons and emoji shortcodes (:), tables (|),
# strikethrough (~), directives ({ }), headings (#). A backslash before any ASCII punctuation shows it as is.
_INLINE_SPECIAL = str.maketrans({ch: "\\" + ch for ch in "\\`*_{}[]<>!#$&|~:"})
# At the start of a line: list items, quotes, setext underlines, numbered lists.
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+\.)", re.MULTILINE)
# Bare web addresses and e-mail addresses, which GitHub-flavoured Markdown links after escapes are read:
# a zero-width space after "www", after "://"'s colon and after "@" keeps them text.
_AUTOLINK = re.compile(r"(?i)(www)(?=\\?\.)|(:)(?=//)|(@)")


def plain(text) -> str:
    """``text`` shown literally wherever Streamlit reads Markdown (``st.error``, captions, toasts, titles).

    The one escaping helper for everything a visitor typed or uploaded (file names, labels, messages that
    quote them): no emphasis, link, image, HTML, colour, icon, maths or list comes out of it. Apply it once,
    where the text is drawn.
    """
    out = _AUTOLINK.sub(lambda m: m.group(0) + "\u200b", str(text))
    out = out.translate(_INLINE_SPECIAL)
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), out)

LEVEL_LABELS = {
    "independent": "Normalise each file on its own (the research code's prepare step)",
    "common": "Keep the vocal's level inside the mixture (one gain for both)",
    "as_is": "Analyse as is (as the research script read files)",
}
LEVEL_SHORT = {"independent": "each file normalised on its own", "common": "one gain for both files",
               "as_is": "as is, not normalised"}
POOLED_LABELS = {
    "seed": "Pooled window j adjusts window j (the research code: only the first half of the windows)",
    "expand": "Pooled window j adjusts windows 2j and 2j+1 (covers the whole segment)",
}
POOLED_SHORT = {"seed": "first half only (research code)", "expand": "every window"}
PASS_LABELS = {"auto": "Closed form where exact, else the loop (fast, same numbers)",
               "closed": "Closed form only", "iterative": "Iterative loop (as the research code)"}

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
        cache.warm_up()  # after the page is drawn: the rest of the engine, in the background, once per server
        if state.source() is not None:  # the likely next page: compute its pictures while this one is read
            with guard("Preparing the slices"):
                cache.prefetch_slices(state.source(), state.settings())
        preload_charts_later()


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
    if state.get(RUNS, 0) > 0:  # not while the first page is awaited: see preload_charts_now
        preload_charts_now()
    from . import permalink

    permalink.open_from_url(first_run=state.get(RUNS, 0) == 0)  # a view link (issue #20): its sample and settings
    # First visit (on any page, also a direct link): the bundled default pair, so everything works at once.
    if state.source() is None and not state.get(state.DEFAULT_TRIED):
        st.session_state[state.DEFAULT_TRIED] = True
        with guard("Loading the bundled sample"):
            loading.activate(loading.sample_source(sample.default_pair()), state.settings())
    notice = state.pop_notice()
    if notice:
        st.toast(notice, icon=":material/check_circle:")
    return Frame(status)


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


def slice_label(name: str) -> str:
    from vsep_core.views import VIEWS_BY_NAME  # not at the top: it imports scipy.ndimage (not needed on page 1)

    spec = VIEWS_BY_NAME[name]
    return f"{spec.index}: {spec.label}"


def link(page: str, label: str, icon: str | None = None) -> None:
    st.page_link(PAGES[page][0], label=label, icon=icon)


def require_source():
    """The active source, or a note pointing to the Load page (``None``)."""
    source = state.source()
    if source is None:
        st.info("No audio is loaded yet. Load a pair (or the bundled sample) first.", icon=":material/info:")
        link("upload", "Go to Load audio", ":material/upload:")
    return source


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
    lines += [f"Level: {LEVEL_SHORT[settings.level]}",
              f"Pooled slices adjust: {POOLED_SHORT[settings.pooled_windows]}",
              f"Optimiser: learning rate {settings.learning_rate:g}, {settings.iterations} iterations, "
              f"clip ±{settings.clip_db:g} dB"]
    return lines


def seed_badge(settings: Settings, where=st) -> None:
    if settings.is_seed_compatible:
        where.badge("Seed-compatible", icon=":material/verified:", color="green",
                    help="Every quirk of the research code is kept, so its numbers are reproduced.")
    else:
        where.badge("Improved options on", icon=":material/tune:", color="orange",
                    help="Some research-code quirks are fixed; numbers differ from the research code's.")


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
            sb.caption(f"{source.origin} · target: {source.target_label} · analysed {pair.duration_s:.2f} s at {pair.sr} Hz")
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
            what = (f"N = 1…{len(record.outcome.runs)}" if record is prog
                    else f"{len(record.outcome.greedy.sequence)} slices")
            stale = "" if record.matches(source, settings) else " (earlier settings)"
            lines.append(f"{name}: {what} ✓{stale}")
    sb.caption("  \n".join(lines))
    from vsep_core.stems import oracle_note

    sb.expander("An oracle experiment", icon=":material/info:").caption(
        oracle_note(source.names.name) if source is not None else ORACLE_NOTE)


def audio_player(label: str, data, *, sample_rate: int | None = None, fmt: str = "audio/wav",
                 content_digest: str | None = None) -> None:
    st.markdown(f"**{plain(label)}**")
    play(data, fmt, sample_rate=sample_rate, content_digest=content_digest)


def play(data, fmt: str = "audio/wav", *, sample_rate: int | None = None, content_digest: str | None = None,
         where=None) -> None:
    """``st.audio`` whose media URL stands for the whole content, never for another session's file.

    Streamlit names a media file by a hash of its length, its MIME type and, above 1 MiB, only three 64 KiB
    samples of its bytes (head, middle, tail): two different files that agree there got one URL, and one
    visitor's player played another visitor's audio. The MIME type given here carries the SHA-256 of the
    whole content as a parameter (``audio/wav; content=…``, a valid MIME type that browsers play as
    ``audio/wav``), so files that differ anywhere get different URLs. ``content_digest`` is that digest
    when already known (a :class:`~vsep_app.state.Source` keeps its files'); a signal (array) is written
    as a 16-bit WAV first, peak-normalised as Streamlit would.
    """
    from vsep_core import audio

    if not isinstance(data, (bytes, bytearray)):
        if sample_rate is None:
            raise ValueError("a signal needs its sample rate")
        data = audio.wav_bytes(audio.peak_normalise(np.asarray(data, dtype=np.float32)), int(sample_rate))
        fmt, content_digest = "audio/wav", None
    digest = content_digest or state.digest(bytes(data))
    (where or st).audio(bytes(data), format=f"{fmt}; content={digest}")


def mime_for(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else "wav"
    return {"mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac", "m4a": "audio/mp4",
            "aac": "audio/aac", "opus": "audio/ogg", "aiff": "audio/aiff", "aif": "audio/aiff"}.get(ext, "audio/wav")


RUNS = "vsep_runs"


def run_marker() -> None:
    """An invisible mark at the very end of every script run, numbered per session.

    Browser tests and the benchmark wait for a number higher than the one they
    saw before acting: the page is then completely drawn (Streamlit keeps the
    previous run's elements on screen while a new run is under way).
    """
    n = st.session_state.get(RUNS, 0) + 1
    st.session_state[RUNS] = n
    # An empty container whose key (a CSS class "st-key-…" in the page) carries the number: it draws
    # nothing and needs no code the page does not already have (an HTML markdown needed three more
    # JavaScript files on the first page).
    st.container(key=f"vsep-run-done-{n}", height=1, border=False)


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
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines+markers+text", text=["", ""], opacity=0),
                     go.Bar(x=[0], y=[1], text=[""], textposition="outside", opacity=0),
                     go.Heatmap(z=[[0, 1], [1, 0]], showscale=False, opacity=0)],
                    layout=dict(width=10, height=10, margin=dict(l=0, r=0, t=0, b=0), xaxis=hidden, yaxis=hidden,
                                showlegend=False, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                                template="plotly_white"))
    where.plotly_chart(fig, theme=None, config={"staticPlot": True, "displayModeBar": False}, width="content",
                       key="vsep_preload_charts")


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


_MEASUREMENT_NAMES = {
    "ratio_mid_bass": "Ratio mid / bass", "ratio_high_mid": "Ratio high / mid", "rolloff_85": "Roll-off (85 %)",
    "top10_energy_share": "Energy share of the top 10 % of bins", "peak_to_rms": "Peak to RMS",
    "formant_f1": "Formant F1", "formant_f2": "Formant F2", "formant_f3": "Formant F3",
}


def measurement_label(name: str) -> str:
    """A readable name for one of the 25 measurements ("energy_250_500hz" → "Energy 250–500 Hz")."""
    if name in _MEASUREMENT_NAMES:
        return _MEASUREMENT_NAMES[name]
    import re

    match = re.fullmatch(r"energy_(\d+)_(\d+)hz", name)
    if match:
        return f"Energy {match.group(1)}–{match.group(2)} Hz"
    text = re.sub(r"(\d+)hz", r"\1 Hz", name).replace("_", " ")
    return text[:1].upper() + text[1:]


def remembered(key: str, default):
    """The value a widget with ``key`` had when this session last drew it (else ``default``).

    Streamlit forgets a widget's value when its page is not shown; pass this
    as the widget's default and call :func:`remember` after drawing it, and
    the choice survives a visit to another page.
    """
    return st.session_state.get(f"vsep_keep_{key}", default)


def remember(key: str, value) -> None:
    st.session_state[f"vsep_keep_{key}"] = value


# --- the Results page's scores -------------------------------------------------------

#: Plain words for every method, metric and term the scores use (the glossary on Results).
GLOSSARY = {
    "seed": "This method (fingerprint EQ): it learns, window by window, a 400-band EQ that makes the mixture's "
            "fingerprint look like the true vocal's. It reads the true vocal, so it is an oracle experiment.",
    "seed_progressive_N": "The progressive run over the first N slices of your order, then the polish.",
    "seed_greedy / seed_greedy_best": "The greedy search's order: the whole sequence, and its best prefix "
                                      "(the steps up to the lowest loss).",
    "polish": "The last pass of every run: one more EQ pass on the plain (raw) spectrogram.",
    "joint": "The improved method (Optimise page, and `evaluate --methods joint`): every window's EQ learned at "
             "once against the fingerprint of the result, with Adam. Also an oracle: it reads the true vocal.",
    "loss": "How far the mixture's fingerprints still are from the vocal's after a run (mean squared difference "
            "of the dB profiles, dB²). Lower is closer; it measures fingerprints, not sound.",
    "exact_eq": "Ceiling (oracle): the best 400-band EQ per window, computed exactly from the true vocal. "
                "Shows the most any per-window EQ could reach.",
    "irm": "Ceiling (oracle): the ideal ratio mask, each time-frequency cell scaled by vocal ÷ (vocal + rest).",
    "ibm": "Ceiling (oracle): the ideal binary mask, each cell kept whole or muted, whichever the vocal dominates.",
    "wiener": "Ceiling (oracle): the ideal Wiener filter, like irm with energies (squared magnitudes).",
    "repet_sim": "Blind: REPET-SIM keeps what repeats (the backing) and calls the rest vocal; it never sees the "
                 "true vocal.",
    "hpss": "Blind: harmonic/percussive separation in two stages; the middle layer is called vocal.",
    "mixture": "The floor: the mixture itself offered as the vocal. Its SAR (artefacts) means nothing: "
               "nothing was processed, so it shows as —.",
    "SI-SDR": "Scale-invariant signal-to-distortion ratio (dB): how much of the estimate is the true vocal, "
              "whatever its loudness. Every 3 dB more is half the error energy. Higher is better.",
    "SDR": "Signal-to-distortion ratio (dB, BSS Eval): like SI-SDR but the estimate may be filtered a little "
           "to fit; counts everything wrong (leftover backing, artefacts). Higher is better.",
    "SIR": "Signal-to-interference ratio (dB): how little of the other source (for the vocal: the backing) "
           "leaks into the estimate. Higher is better.",
    "SAR": "Signal-to-artefacts ratio (dB): how little new noise or distortion the method itself added. "
           "Higher is better.",
    "phase_oracle": "Ceiling (oracle): the true vocal's magnitude in every bin with the mixture's phase. What "
                    "any method that keeps the mixture's phase (as this one does) could reach at most.",
    "uSDR": "Whole-signal SDR (dB) as the Music Demixing challenges (2021, 2023) and the MVSep leaderboard "
            "report it: 10·log10(Σ s² / Σ (s − ŝ)²) over the whole signal, no filters, no frames (ε = 1e-8 "
            "as Music-Source-Separation-Training's utils/metrics.py). The SDR column is BSS Eval's instead "
            "(median over 1 s frames, as SiSEC 2018). Higher is better.",
    "bleedless": "Music-Source-Separation-Training's bleedless (0–100, utils/metrics.py bleed_full): the mel "
                 "spectrograms (512 bands, STFT 4096/1024) of estimate and truth in dB, and 100 / (1 + the mean "
                 "of the positive differences): 100 when the estimate has no energy the truth lacks (no "
                 "bleed). Used on the MVSep leaderboard because metrics and ears disagree.",
    "fullness": "Music-Source-Separation-Training's fullness (0–100): 100 / (1 + the mean of the negative "
                "differences' size), as bleedless: 100 when the estimate lost none of the truth's energy.",
    "SIR/SAR split": "Whether BSS Eval's split of the error into interference (SIR) and artefacts (SAR) passed "
                     "its stability check (vsep_core.bss_split): the split must be possible for an estimate with "
                     "that SDR, and must not move by more than 2 dB when the last quarter of the signal is left "
                     "out. Where it fails, read SDR and SI-SDR; the split is an artefact of the filter fit.",
}

LOSS_VS_QUALITY = ("Why the lowest loss and the best SI-SDR can be different runs: the loss compares "
                   "fingerprints (each window's 400-point dB profile, range-normalised) with the vocal's, while "
                   "SI-SDR compares the rebuilt waveform with the true vocal, so a run can match the fingerprints "
                   "more closely and still sound less like the vocal.")


def _player_key(entry: dict) -> str | None:
    """Which player a scored run belongs to ("N=3", "greedy", "best_prefix"); ``None`` for other methods."""
    name = entry["name"]
    if name == "seed_greedy":
        return "greedy"
    if name == "seed_greedy_best":
        return "best_prefix"
    if name.startswith("seed_progressive"):
        return f"N={len(entry['info']['slices'])}"
    return None


def quality_marks(metrics: dict | None) -> dict:
    """The ★ marks by player key: lowest loss among the scored runs, and best vocal SI-SDR when aligned."""
    if metrics is None:
        return {}
    runs = [m for m in metrics["methods"] if m["kind"] == "seed" and not m.get("error") and _player_key(m)]
    marks: dict = {}
    if runs:
        lowest = min(runs, key=lambda m: m["info"]["loss"])
        marks.setdefault(_player_key(lowest), []).append("★ lowest loss")
        if metrics["alignment"]["aligned"]:
            best = max(runs, key=lambda m: m["vocal"]["si_sdr"])
            marks.setdefault(_player_key(best), []).append("★ best SI-SDR")
    return marks


#: The metrics the field reads now (vsep_core.field_metrics), as columns beside BSS Eval's when a report has them.
FIELD_COLUMNS = (("usdr", "uSDR"), ("bleedless", "bleedless"), ("fullness", "fullness"))

NO_LOSS_NOTE = ("The other methods (ceilings, blind methods, the mixture) do not match fingerprints, so they "
                "have no loss: —.")
KIND_HELP = ("seed: this method's runs; oracle: ceilings that read the true vocal; blind: methods that never "
             "see it; the mixture itself is the floor.")


def metrics_section(metrics: dict, marks: dict) -> None:
    """The scores as :func:`vsep_core.evaluate.evaluate_experiment` returned them, with the verdict first.

    The rows, labels and rules are :func:`vsep_core.presenter.score_table`'s; this only lays them out.
    A pair that is not aligned gets its warning first and the table tucked into an expander: its
    waveform scores mean nothing until the pair is aligned.
    """
    import pandas as pd

    from vsep_core.presenter import score_table

    align = metrics["alignment"]
    scores = score_table(metrics)
    slot_names = {"vocal": scores.target, "instrumental": scores.complement}
    rows = []
    for m, r in zip(metrics["methods"], scores.rows):
        key = _player_key(m)
        row = {"method": r.name, "kind": r.marked_kind, "mark": " ".join(marks.get(key, [])) if key else "",
               "loss": r.loss}
        row.update({c.label: value for c, value in zip(scores.columns, r.values)})
        for part, slot in ((scores.target, "vocal"), (scores.complement, "instrumental")):
            for metric, label in FIELD_COLUMNS:  # the metrics the field reads now, when the report has them
                if metric in m[slot]:
                    row[f"{part} {label}"] = m[slot][metric]
        row["SIR/SAR split"] = split_column(m, slot_names)
        row["what it is"] = (r.description + (f" (failed: {r.error})" if r.error else "")
                             + (f" — * not for this target: {r.note}" if not r.suited else ""))
        rows.append(row)
    table = pd.DataFrame(rows)
    config = {c.label: st.column_config.NumberColumn(c.label, format="%.2f", help=GLOSSARY.get(c.metric_label),
                                                     width=95) for c in scores.columns}
    for part in (scores.target, scores.complement):
        for _, label in FIELD_COLUMNS:
            config[f"{part} {label}"] = st.column_config.NumberColumn(f"{part} {label}", format="%.2f",
                                                                       help=GLOSSARY.get(label), width=95)
    config["loss"] = st.column_config.NumberColumn("loss (dB²)", format="%.1f", width=80,
                                                   help=GLOSSARY["loss"] + " " + NO_LOSS_NOTE)
    config["method"] = st.column_config.TextColumn("method", help="See the glossary below for each name.")
    config["kind"] = st.column_config.TextColumn("kind", width="small", help=KIND_HELP)
    config["SIR/SAR split"] = st.column_config.TextColumn("SIR/SAR split", width=120, help=GLOSSARY["SIR/SAR split"])
    config["mark"] = st.column_config.TextColumn("mark", width=110, help=LOSS_VS_QUALITY)
    complement = {c.label for c in scores.columns_of("complement")}
    complement |= {f"{scores.complement} {label}" for _, label in FIELD_COLUMNS}

    def draw() -> None:
        # The target's scores first, so the table fits the page; its complement's on request.
        with_complement = st.toggle(f"Show the {scores.complement} estimate's scores too", key="metrics_instrumental",
                                    help=f"The {scores.complement} estimate is the mixture minus the extracted "
                                         f"{scores.target}.")
        order = [c for c in table.columns if with_complement or c not in complement]
        # The numbers stay numbers (sortable); what means nothing (a reference method's loss, the mixture's
        # SAR) is missing, shown as "—".
        st.dataframe(table, hide_index=True, width="stretch", height=36 * (len(table) + 1) + 4,
                     column_config=config, column_order=order, placeholder="—", key="metrics_table")
        st.caption(f"All in dB; higher is better. *seed*: this method; *oracle*: ceilings that read the true "
                   f"{scores.target}; "
                   "*blind*: methods that never see it; *mixture*: the mixture itself, the floor (its SAR means "
                   "nothing, shown as —). *loss* is only for this method's runs: " + NO_LOSS_NOTE
                   + " Measured on the files as they are (level as is): an estimate made on a normalised pair is "
                   f"brought back by undoing the {scores.target}'s gain. "
                   f"BSS Eval: {metrics['bss_eval']['implementation']}, {metrics['bss_eval']['aggregation']}. "
                   + LOSS_VS_QUALITY)
        split_notes_section(metrics, slot_names)

    if align["aligned"]:
        st.success(align["verdict"], icon=":material/check_circle:")
        draw()
    else:
        st.warning(plain_verdict(align["verdict"])
                   + " The scores below compare waveforms sample by sample, so they mean "
                   "nothing until the pair is aligned: fix it on Load audio (the alignment check offers the fix).",
                   icon=":material/warning:")
        with st.expander("Scores of the pair as it is (not meaningful until it is aligned)"):
            draw()
    with st.expander("Glossary: methods, metrics and terms", icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{term}**: {text}" for term, text in GLOSSARY.items()))


def waterfall_section(metrics: dict) -> None:
    """Where the decibels go: the loss waterfall of the target's SI-SDR (:mod:`vsep_core.waterfall`)."""
    from vsep_core.errors import VsepError
    from vsep_core.evaluate import source_labels
    from vsep_core.waterfall import COSTS, loss_waterfall, waterfall_figure

    try:
        steps = loss_waterfall(metrics)
    except VsepError:
        return  # a report without the phase oracle or the mixture (e.g. an older one): no waterfall
    target = source_labels(metrics)["vocal"]
    with st.expander(f"Where the decibels go: true {target} → phase oracle → … → mixture", expanded=False,
                     icon=":material/waterfall_chart:"):
        st.plotly_chart(waterfall_figure(steps, title=f"{target} SI-SDR, step by step (dB)"), theme=None,
                        key="loss_waterfall")
        st.caption("Each step is named for what it costs: " + "; ".join(f"**{k}**: {v}" for k, v in COSTS.items())
                   + ". The steps add up: the phase oracle plus every step is the mixture's SI-SDR. A step the "
                   "scores lack (e.g. joint, measured on Optimise) is merged into the next.")


def ratings_section(rows: list[dict], key: str = "listen") -> None:
    """A listening test's ratings beside the metrics: the chart, the table and MUSHRA's post-screening note
    (the Listening test page and a shared result draw the same)."""
    from vsep_core.listening import post_screening
    from vsep_core.plots import ratings_figure

    st.plotly_chart(ratings_figure(rows), theme=None, key=f"{key}_chart")
    st.dataframe(rows, hide_index=True, key=f"{key}_table")
    note = post_screening(rows)
    if note:
        st.caption(note)


def split_column(method: dict, slot_names: dict) -> str:
    """The metrics table's "SIR/SAR split" cell: "checked", or which sources' splits are not to be trusted."""
    from vsep_core.bss_split import is_untrusted

    if not method.get("bss_split") or not any(method["bss_split"].values()):
        return "not checked"
    bad = [slot_names[s] for s in ("vocal", "instrumental") if is_untrusted(method, s)]
    return "untrusted: " + ", ".join(bad) if bad else "checked"


def split_notes_section(metrics: dict, slot_names: dict) -> None:
    """Under the metrics table: whether BSS Eval's SIR/SAR split passed its check, and why not where it failed."""
    from vsep_core.bss_split import headline, report_notes

    notes = report_notes(metrics["methods"], slot_names)
    if notes:
        st.warning(headline(metrics["methods"]) + "\n\n" + "\n".join(f"- {n}" for n in notes),
                   icon=":material/help:")
    else:
        st.caption(headline(metrics["methods"]))


def plain_verdict(verdict: str) -> str:
    """The alignment check's verdict without its pointer to the command line (the page offers the fix)."""
    return verdict.replace(" (apply_alignment, or --apply-alignment)", "")


def quick_scores_section(quick: dict, alignment: dict) -> None:
    """The runs' SI-SDR (:func:`vsep_app.cache.quick_scores`), shown at once while the full table is measured.

    A pair that is not aligned gets its verdict instead: its waveform scores mean nothing.
    """
    if not alignment["aligned"]:
        st.warning(plain_verdict(alignment["verdict"])
                   + " Waveform scores mean nothing until the pair is aligned: fix it on "
                   "Load audio (the alignment check offers the fix).", icon=":material/warning:")
        return
    from vsep_core.presenter import score_table

    marks = quality_marks({"methods": quick["methods"], "alignment": alignment})
    scores = score_table(quick, metrics=("si_sdr",))
    rows = [{"method": r.name, "mark": " ".join(marks.get(_player_key(m), [])), "loss": r.loss,
             **{c.label: value for c, value in zip(scores.columns, r.values)}}
            for m, r in zip(quick["methods"], scores.rows)]
    target, complement = (c.label for c in scores.columns)
    st.dataframe(rows, hide_index=True, key="quick_scores_table", placeholder="—",
                 column_config={"loss": st.column_config.NumberColumn("loss (dB²)", format="%.1f",
                                                                      help=GLOSSARY["loss"]),
                                target: st.column_config.NumberColumn(format="%.2f", help=GLOSSARY["SI-SDR"]),
                                complement: st.column_config.NumberColumn(format="%.2f"),
                                "mark": st.column_config.TextColumn(width=110, help=LOSS_VS_QUALITY)})
    st.caption("First look: your runs' SI-SDR (dB, higher is better). SDR, SIR, SAR and the ceilings and blind "
               "methods beside them are being measured and replace this table in a moment.")


# --- listening: an A/B player ---------------------------------------------------------

#: Longest segment offered in the A/B player: both WAVs travel inside the page (base64), 60 s ≈ 3.5 MB.
AB_MAX_S = 60.0

#: One player, several sources: switching keeps the play position (and playing or paused), for the A/B player
#: and the listening test. Plain JavaScript, inserted into their pages.
SWITCH_KEEPING_PLACE_JS = """function switchKeepingPlace(player, url) {
  const t = player.currentTime, playing = !player.paused;
  player.src = url;
  player.addEventListener("loadedmetadata", function once() {
    player.removeEventListener("loadedmetadata", once);
    player.currentTime = Math.min(t, player.duration || t);
    if (playing) player.play();
  });
}"""

_AB_HTML = """<div style="font-family:sans-serif;font-size:14px">
<audio id="ab" controls preload="auto" style="width:100%"></audio>
<div style="margin-top:6px;display:flex;gap:8px;align-items:center">
<button id="a" style="padding:6px 16px;border-radius:6px;border:1px solid #999;cursor:pointer">A: {label_a}</button>
<button id="b" style="padding:6px 16px;border-radius:6px;border:1px solid #999;cursor:pointer">B: {label_b}</button>
<span id="now" style="color:#555"></span></div></div>
<script>
const src = {{a: "data:audio/wav;base64,{data_a}", b: "data:audio/wav;base64,{data_b}"}};
const names = {{a: "A", b: "B"}};
const player = document.getElementById("ab");
{switch_js}
function pick(which) {{
  switchKeepingPlace(player, src[which]);
  for (const k of ["a", "b"]) document.getElementById(k).style.background = k === which ? "#ffe0e0" : "";
  document.getElementById("now").textContent = "Playing " + names[which] + " (the position is kept when you switch)";
}}
document.getElementById("a").onclick = () => pick("a");
document.getElementById("b").onclick = () => pick("b");
pick("a");
</script>"""


def ab_player(choices: dict, duration_s: float, key: str = "ab") -> None:
    """Pick any two signals (label → WAV bytes) and switch between them at the same position."""
    import base64
    import html as html_lib

    if duration_s > AB_MAX_S:
        st.caption(f"The A/B player is offered for segments up to {AB_MAX_S:.0f} s (both files travel inside the "
                   "page); use the players below.")
        return
    labels = list(choices)
    c1, c2 = st.columns(2)
    a = c1.selectbox("A", labels, index=0, key=f"{key}_a")
    b = c2.selectbox("B", labels, index=min(1, len(labels) - 1), key=f"{key}_b")
    # Our own markup (labels escaped, no visitor text): st.iframe runs its script in a frame.
    st.iframe(_AB_HTML.format(switch_js=SWITCH_KEEPING_PLACE_JS, label_a=html_lib.escape(a), label_b=html_lib.escape(b),
                              data_a=base64.b64encode(choices[a]).decode(), data_b=base64.b64encode(choices[b]).decode()),
              height=110)
