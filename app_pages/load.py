"""Load audio, the first page (URL ``/``): load a pair (bundled sample, uploads or a recording), check it,
choose settings.

This page imports and computes only what it shows; the rest of the engine is imported and warmed up
on a background thread once it is drawn (:mod:`vsep_app.warmup`).
"""

from __future__ import annotations

import streamlit as st

from vsep_app import (
    cache,
    escape,
    figures,
    frame,
    jobs,
    loading,
    players,
    prefetch,
    recorder,
    sample,
    scores_view,
    sidebar,
    state,
    wording,
)
from vsep_core.alignment import is_fixable
from vsep_core.settings import Settings
from vsep_core.stems import TARGET_NAMES, labels

AUDIO_TYPES = ["wav", "flac", "ogg", "mp3", "m4a", "aac", "opus", "aiff", "aif"]
RESEARCH_LENGTH_S = 4.7
ALIGNMENT_METRICS = ["Lag (samples)", "Gain", "Correlation as given", "Correlation at that lag", "Mixture explained"]

st.title("Load audio")
st.markdown(
    "The method needs two signals of the same song: the **mixture** (the full song) and the **true target**, "
    "the part you want out of it, isolated (the vocal, or another stem: drums, bass…), or everything else "
    "(then the target is the mixture minus it). A bundled sample is loaded for you; you can also upload your own "
    "pair, or record your voice and mix it over an instrumental."
)


def applied(message: str) -> None:
    """A new pair or new settings are active: start the Slices page's views now, say ``message``, rerun.

    The views (a few seconds for a whole song) are computed in the background while this page is
    drawn again, rather than only after it.
    """
    if state.source() is not None:
        prefetch.prefetch_slices(state.source(), state.settings())
    state.notify(message)
    st.rerun()


MODES = ["Bundled sample", "Upload files", "Record a vocal"]
mode = st.radio(
    "Where does the audio come from?",
    MODES,
    horizontal=True,
    key="load_mode",
    index=MODES.index(state.remembered("load_mode", MODES[0])),
)
state.remember("load_mode", mode)

# --- loaders ------------------------------------------------------------------------

if mode == "Bundled sample":
    with frame.guard("Loading the sample"):
        pairs = sample.pairs()
        chosen = st.selectbox(
            "Sample", pairs, format_func=lambda p: f"{p.title} · {p.duration_s:g} s", key="sample_choice"
        )
        st.caption(chosen.description)
        # Any stem of the sample can be the target (the mixture is their exact sum); the vocal by default.
        stem = st.selectbox(
            "Target stem",
            chosen.stem_names,
            key="sample_target",
            format_func=lambda s: "vocals (the default)" if s == "vocals" else s,
            help="Which part of the song the method separates; the rest is everything else. "
            "The fingerprints are learned from this stem's isolated file (an oracle).",
        )
        if st.button("Load this sample", icon=":material/library_music:", type="primary"):
            loading.activate(loading.sample_source(chosen, stem), state.settings())
            applied(
                f"Loaded the sample “{chosen.title}”"
                + (f" with the {stem} as the target." if stem != "vocals" else ".")
            )

elif mode == "Upload files":
    upload_target = st.selectbox(
        "Target stem",
        TARGET_NAMES,
        key="upload_target",
        format_func=lambda s: "vocals (the default)" if s == "vocals" else s,
        help="Which part of the song the second file is (or, as everything else, leaves out).",
    )
    words = labels(upload_target)
    kind = st.radio(
        "The second file is",
        ["vocal", "instrumental"],
        horizontal=True,
        key="upload_kind",
        format_func=lambda k: {
            "vocal": f"the isolated {words.target}",
            "instrumental": f"the {words.complement} ({words.target} = mixture − {words.complement})"
            if words.is_vocal
            else f"everything but the {words.target} ({words.target} = mixture − it)",
        }[k],
    )
    c1, c2 = st.columns(2)
    mix_file = c1.file_uploader("Mixture (the full song)", type=AUDIO_TYPES, key="upload_mixture")
    other_file = c2.file_uploader(
        f"Isolated {words.target}" if kind == "vocal" else words.complement.capitalize(),
        type=AUDIO_TYPES,
        key="upload_other",
    )
    for col, chosen_file in ((c1, mix_file), (c2, other_file)):
        if chosen_file is not None:  # what "Load" will read, so a message is never about another file
            col.caption(
                f"Ready: {escape.plain(loading.display_name(chosen_file.name))}, {chosen_file.size / 1e6:.1f} MB"
            )
    st.caption(
        f"WAV, FLAC, OGG, MP3 or M4A, up to {loading.upload_cap_mb()} MB and 20 minutes each, "
        f"{loading.session_upload_total_mb()} MB together (a bigger file is refused with a red mark: send a "
        "FLAC or MP3 copy). The two files must be the same length (the same edit of the song)."
    )
    if st.button("Load these files", icon=":material/upload_file:", type="primary", key="load_uploads"):
        with frame.guard("Loading the files"), st.spinner("Reading and checking the two files…"):
            source = loading.upload_source(mix_file, other_file, kind, upload_target)
            loading.activate(source, state.settings())
            applied(f"Loaded {escape.plain(source.label)}.")

else:
    st.info(recorder.SECURE_ORIGIN_NOTE, icon=":material/mic:")
    with frame.guard("Recording"):
        c1, c2 = st.columns([3, 2])
        with c1:
            backing = st.radio(
                "Instrumental to sing over",
                ["A bundled sample's instrumental", "Upload an instrumental"],
                horizontal=True,
                key="rec_backing",
            )
            instrumental, inst_name = None, ""
            if backing.startswith("A bundled"):
                chosen = st.selectbox("Sample", sample.pairs(), format_func=lambda p: p.title, key="rec_sample")
                data, inst_name = chosen.read("instrumental"), f"the instrumental of “{chosen.title}”"
            else:
                up = st.file_uploader("Instrumental", type=AUDIO_TYPES, key="rec_instrumental")
                data, inst_name = (up.getvalue(), loading.display_name(up.name)) if up is not None else (None, "")
            if data is not None:
                players.play(data, "audio/wav" if backing.startswith("A bundled") else players.mime_for(inst_name))
                # As long as the longest take, in the job pool: never a whole upload decoded (bounded memory).
                instrumental = jobs.run(lambda: cache.decode(data, "instrumental", inst_name, recorder.MAX_TAKE_S))
        with c2:
            level_db = st.slider(
                "Vocal level against the instrumental (dB)",
                -20.0,
                10.0,
                0.0,
                0.5,
                key="rec_level",
                help="RMS level of your voice relative to the instrumental in the mix: 0 dB is "
                "equally loud, −6 dB half the amplitude.",
            )
        take = recorder.draw(instrumental, data)  # with the backing playing, or (folded away) without
        if take is not None:
            st.success(f"Got a take: {take.describe()}.", icon=":material/mic:")
            longer = recorder.segment_note(
                take.duration_s,
                state.settings(),  # longer than the backing or segment
                None if instrumental is None else instrumental.duration_s,
            )
            if longer:
                st.info(longer, icon=":material/content_cut:")
            if instrumental is None:
                st.warning("Choose an instrumental to mix the take over.")
            elif st.button("Mix and use this take", icon=":material/merge:", type="primary", key="use_take"):
                with st.spinner("Mixing the take over the instrumental…"):
                    source = loading.recording_source(take, instrumental, inst_name, level_db)
                    loading.activate(source, state.settings())
                applied("Your recording is the active pair." + (f" {longer}" if longer else ""))

# --- what is loaded -----------------------------------------------------------------

source = state.source()
settings = state.settings()
alignment_box = wave_box = None  # where the alignment check and the waveforms go (drawn last, see the end)
st.divider()
if source is None:
    st.info("Nothing is loaded yet.")
else:
    st.subheader(f"Loaded: {escape.plain(source.label)}")
    if source.note and source.origin != "sample":  # a sample's description is shown where it is chosen
        st.caption(escape.plain(source.note))
    with frame.guard("Showing the loaded pair"):
        pair = cache.pair(source, settings)
        loaded = [
            ("Mixture", source.mixture, source.mixture_name, source.mixture_digest),
            (
                f"{source.other_label.capitalize()} (the target)"
                if source.other_kind == "vocal"
                else source.other_label.capitalize(),
                source.other,
                source.other_name,
                source.other_digest,
            ),
        ]
        if source.instrumental is not None and source.other_kind == "vocal":
            loaded.append(("Instrumental", source.instrumental, "instrumental.wav", None))
        cols = st.columns(len(loaded) + (source.other_kind == "instrumental"))
        for col, (label, data, name, known) in zip(cols, loaded):
            with col:
                players.audio_player(label, data, fmt=players.mime_for(name), content_digest=known or None)
        if source.other_kind == "instrumental":
            with cols[-1]:
                players.audio_player(
                    "Vocal (mixture − instrumental, analysed segment)", pair.vocal, sample_rate=pair.sr
                )

        # Drawn last (see the end of the page): made in the job pool, from the analysed segment only.
        wave_box = st.empty()
        wave_box.caption("Drawing the waveforms of the analysed segment…")

        st.markdown("##### Alignment check")
        st.caption(
            f"Does the {source.other_label} sit sample-exactly inside the mixture? The method itself compares "
            "spectra window by window, but the separation scores (SI-SDR, SDR) need the very signal that "
            "was mixed, at the same time and level."
        )
        # Filled at the end of the page: the check is the page's slowest part (its first use in a server
        # imports scipy.signal), and the browser can set up the widgets below while it runs.
        alignment_box = st.container()
        with alignment_box:
            metric_slots = [col.empty() for col in st.columns(5)]
            for slot, label in zip(metric_slots, ALIGNMENT_METRICS):
                slot.metric(label, "…")

# --- analysis settings --------------------------------------------------------------

st.divider()
st.subheader("Analysis settings")
c_title, c_badge = st.columns([4, 1])
c_title.caption(
    "Which part of the song is analysed, how finely it is cut into windows, and whether the research "
    "code's quirks are kept (seed-compatible: its numbers are reproduced) or fixed."
)
with c_badge:
    sidebar.seed_badge(settings)

LENGTHS = ["research", "custom", "whole"]
length_mode = (
    "whole" if settings.duration_s is None else ("research" if settings.duration_s == RESEARCH_LENGTH_S else "custom")
)
with st.form("analysis_settings"):
    c1, c2, c3 = st.columns(3)
    with c1:
        start_s = st.number_input(
            "Segment start (s)",
            min_value=0.0,
            value=float(settings.start_s),
            step=0.5,
            key="set_start",
            help="Where in the song the analysed part starts, in seconds.",
        )
        length_choice = st.radio(
            "Segment length",
            LENGTHS,
            index=LENGTHS.index(length_mode),
            key="set_length_mode",
            help="How much of the song is analysed. Longer takes longer (about linearly) "
            "and needs more memory; the research code used the first 4.7 s.",
            format_func=lambda k: {
                "research": "4.7 s (the research code)",
                "custom": "Custom length (below)",
                "whole": "Whole song",
            }[k],
        )
        custom_len = st.number_input(
            "Custom length (s)",
            min_value=0.1,
            max_value=1200.0,
            value=float(settings.duration_s or 30.0),
            step=1.0,
            key="set_length",
        )
    with c2:
        window_choice = st.radio(
            "Windows",
            ["hop", "count"],
            index=0 if settings.n_windows is None else 1,
            key="set_window_mode",
            help="A window is one short slice of time (2048 samples, 93 ms) that gets its own "
            "EQ curve; the hop is the step between windows.",
            format_func=lambda k: {
                "hop": "Fixed hop (below); 1040 samples gives the research code's 100 windows for 4.7 s",
                "count": "A number of windows (hop chosen to fit)",
            }[k],
        )
        hop = st.number_input(
            "Hop (samples)", min_value=64, max_value=16384, value=int(settings.hop_length), step=16, key="set_hop"
        )
        n_windows = st.number_input(
            "Number of windows",
            min_value=2,
            max_value=100000,
            value=int(settings.n_windows or 100),
            step=10,
            key="set_n_windows",
        )
    with c3:
        level = st.radio(
            "Level of the two files",
            list(wording.LEVEL_LABELS),
            key="set_level",
            help="How loud the two files are made before the analysis. Scores are always measured "
            "on the files as they are; this only changes what the method sees.",
            index=list(wording.LEVEL_LABELS).index(settings.level),
            format_func=wording.LEVEL_LABELS.get,
        )
        pooled = st.radio(
            "Pooled slices (17 max pool, 18 average pool)",
            list(wording.POOLED_LABELS),
            key="set_pooled",
            help="Slices 17 and 18 shrink the spectrogram 2× in time, so they have half as many "
            "windows. The research code applied their EQ to the first half of the song's windows "
            "only; “every window” stretches it over the whole segment.",
            index=list(wording.POOLED_LABELS).index(settings.pooled_windows),
            format_func=wording.POOLED_LABELS.get,
        )
    st.caption(
        "Seed-compatible means: normalise each file on its own, and pooled window j adjusts window j. "
        "The golden numbers of the research code were made with “analyse as is”."
    )
    submitted = st.form_submit_button("Apply settings", icon=":material/check:", type="primary")

if submitted:
    with frame.guard("Applying the settings"):
        new = settings.replace(
            start_s=float(start_s),
            duration_s={"research": RESEARCH_LENGTH_S, "custom": float(custom_len), "whole": None}[length_choice],
            hop_length=int(hop),
            n_windows=None if window_choice == "hop" else int(n_windows),
            level=level,
            pooled_windows=pooled,
        )
        if source is not None:
            prepared = cache.pair(source, new)  # fails here, with a message, if the settings do not fit the pair
            new.hop_for(prepared.n_samples)
        state.set_settings(new)
        applied("Settings applied." + (" They are seed-compatible." if new.is_seed_compatible else ""))

if st.button("Reset to the research code's settings", icon=":material/restart_alt:"):
    defaults = Settings()
    state.set_settings(
        settings.replace(
            **{
                k: getattr(defaults, k)
                for k in ("start_s", "duration_s", "hop_length", "n_windows", "level", "pooled_windows")
            }
        )
    )
    for key in (
        "set_start",
        "set_length_mode",
        "set_length",
        "set_window_mode",
        "set_hop",
        "set_n_windows",
        "set_level",
        "set_pooled",
    ):
        st.session_state.pop(key, None)
    st.rerun()

frame.link("slices", "Next: look at the 19 slice views", ":material/arrow_forward:")

# --- the waveforms, into their place above ------------------------------------------------

if wave_box is not None:
    with frame.guard("The waveforms"):
        # In the job pool like any work on the files (a busy server shows this visitor's place in line), and
        # from the bounded segment the engine decoded for the pair: never from the whole files, whose decoded
        # size a small upload can make huge (19.9 min at 192 kHz × 8 channels is 0.5 MB of FLAC, 7 GB decoded).
        waves = jobs.run(
            lambda: cache.waveforms(source, settings), lambda ahead: wave_box.caption(jobs.waiting_text(ahead))
        )
        with wave_box.container():
            st.image(figures.waveform_svg(waves), width="stretch")
            durations = " · ".join(
                f"{k} {w['duration_s']:.2f} s, {w['sr']} Hz, {w['channels']} ch" for k, w in waves.items()
            )
            first = next(iter(waves.values()))
            st.caption(
                f"Files: {durations}. Analysed (drawn above): {first['segment_s']:.2f} s from "
                f"{settings.start_s:g} s at {first['analysis_sr']} Hz, mono."
            )

# --- the alignment check, into its place above -----------------------------------------

if alignment_box is not None:
    with alignment_box, frame.guard("The alignment check"):
        found = cache.alignment(source, settings)
        values = [
            f"{found['lag_samples']}",
            f"{found['gain']:.3f}",
            f"{found['correlation']:.3f}",
            f"{found['correlation_at_lag']:.3f}",
            f"{100 * found['explained']:.1f} %",
        ]
        helps = {
            "Lag (samples)": f"{found['lag_ms']:.1f} ms at {found['sr']} Hz. "
            f"Positive: the {source.names.target} file is late and must be delayed."
        }
        for slot, label, value in zip(metric_slots, ALIGNMENT_METRICS, values):
            slot.metric(label, value, help=helps.get(label))
        if found["excerpt_s"] < found["segment_s"]:
            st.caption(f"Measured on the first {found['excerpt_s']:.0f} s of the {found['segment_s']:.0f} s segment.")
        if found["aligned"]:
            st.success(found["verdict"], icon=":material/check_circle:")
        else:
            st.warning(scores_view.plain_verdict(found["verdict"]), icon=":material/warning:")
            fixable = is_fixable(found)
            if fixable and st.button(
                f"Fix it: delay the {source.other_label} by {found['lag_samples']} samples "
                f"and scale it by {found['gain']:.3f}",
                icon=":material/auto_fix_high:",
            ):
                fixed = loading.aligned_source(source, found, settings)
                loading.activate(fixed, settings)
                applied(f"The {source.other_label} is now aligned with the mixture.")
