"""Sharing results by link: the Results page's "Share this result" section and the shared page.

The packing is the engine's (:func:`vsep_core.bundle.pack_result`) and the
storing the store's (:mod:`vsep_core.store`); this module only draws the
widgets, keeps the per-session publish rate limit, and shows a stored result
from its files without computing anything.
"""

from __future__ import annotations

import io
import re
import time

import numpy as np
import streamlit as st

from .escape import plain
from .frame import PAGES, guard, link
from .limits import AB_MAX_S
from .players import ab_player
from .scores_view import metrics_section, quality_marks, ratings_section

#: Publishes one session may make per :data:`RATE_WINDOW_S` (a shared server's store is everybody's).
RATE_LIMIT = 5
RATE_WINDOW_S = 600.0
_RATE_KEY = "vsep_publish_times"
_LAST_KEY = "vsep_last_published"


def escape(text) -> str:
    """A stored text (a visitor's title) as literal HTML: markup, links, maths and icon codes shown as typed.

    Shown through ``st.html``, not Markdown: Markdown turns a bare ``http://…`` into a link whatever is
    escaped. Our own small function until the app's shared escaping helper exists.
    """
    import html

    return html.escape(" ".join(str(text).split()))


def show_text(text: str, tag: str = "p", style: str = "") -> None:
    """One line of our own HTML around already-escaped text (see :func:`escape`)."""
    st.html(f'<{tag} style="{style}">{text}</{tag}>')


def rate_check(times: list, now: float, limit: int = RATE_LIMIT, window_s: float = RATE_WINDOW_S) -> str | None:
    """``None`` when one more publish is allowed, else the sentence that says when it will be."""
    recent = [t for t in times if now - t < window_s]
    if len(recent) < limit:
        return None
    wait = window_s - (now - min(recent))
    return (
        f"You have published {len(recent)} results in the last {window_s / 60:.0f} minutes, the most one "
        f"visitor may; try again in {max(1, int(wait // 60) + 1)} minutes."
    )


def default_title(source) -> str:
    """The sample's name, or plain roles for a visitor's own files (file names are never published)."""
    if source.origin == "sample":
        return source.label
    return f"mixture and {source.names.target}"


def base_url() -> str:
    """The app's address as the visitor's browser sees it (for a link they can copy)."""
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - only a nicety: fall back to the path
        url = ""
    match = re.match(r"(https?://[^/?#]+(?:/[^?#]*)?)", url)
    if not match:
        return ""
    root = match.group(1).rstrip("/")
    for page in ("/results", "/shared", "/slices", "/optimise"):
        root = root.removesuffix(page)
    return root


def share_section(
    source, result, pair, metrics: dict | None, settings, ratings: dict | None = None, full_quality=()
) -> None:
    """ "Share this result" on Results: title, audio or not, which estimates; publish; the two links.

    ``ratings`` (the visitor's listening test of this pair, ``{"rows", "info"}``) and the runs made at full quality
    (``full_quality``: records as :func:`vsep_app.full_quality_view.full_quality_section` returns them) travel with
    the result."""
    from vsep_core.bundle import default_estimates
    from vsep_core.store import Limits

    st.subheader("Share this result")
    days = Limits.from_env().retention_days  # the store itself is opened (and created) at the first publish
    st.caption(
        f"Publish it as a link anyone can open, without an account and without computing anything: the "
        f"scores, charts and (if you choose) the audio. Links last {days:g} days. Your file names are "
        "never published; only the title you type."
    )
    last = st.session_state.get(_LAST_KEY)
    this = (source.identity, settings.to_dict())
    if last and last.get("of") != this:  # the links of a result published before this one was made
        last = None
    if metrics is None:
        st.info(
            "Measure the separation quality above first: a shared result carries its scores.", icon=":material/info:"
        )
        return
    runs = [label for label, _ in result.labelled_runs()]
    names = {
        label: ("N = " + label if label.isdigit() else {"greedy": "greedy order", "best_prefix": "best prefix"}[label])
        for label in runs
    }
    with st.form("share_form", border=True):
        title = st.text_input("Title", value=default_title(source), max_chars=200, key="share_title")
        with_audio = st.toggle(
            "Include the audio (mixture, target and the chosen estimates)",
            value=True,
            key="share_audio",
            help="Without it: the scores and charts only."
            + (" With it, the full-quality audio you made too (its scores go either way)." if full_quality else ""),
        )
        chosen = st.multiselect(
            "Estimates to include",
            runs,
            default=default_estimates(result, metrics),
            format_func=names.get,
            key="share_runs",
            help="By default the runs with the lowest loss and the best SI-SDR and the greedy order; add any other.",
        )
        go = st.form_submit_button("Publish and get a link", icon=":material/share:", type="primary")
    if go:
        times = st.session_state.setdefault(_RATE_KEY, [])
        refusal = rate_check(times, time.time())
        if refusal:
            st.error(refusal, icon=":material/block:")
        elif not chosen:
            st.error("Choose at least one estimate to include.", icon=":material/error:")
        else:
            with st.spinner("Publishing…"):
                last = publish(
                    source,
                    result,
                    pair,
                    metrics,
                    settings,
                    title=title,
                    audio=with_audio,
                    estimates=chosen,
                    ratings=ratings,
                    full_quality=full_quality,
                )
            times.append(time.time())
            last["of"] = this
            st.session_state[_LAST_KEY] = last
    if last:
        base = base_url()
        st.success("Published. Anyone with this link sees the result:", icon=":material/link:")
        st.code(base + last["link"], language=None)
        st.page_link(
            PAGES["shared"].file,
            label="Open the shared page",
            icon=":material/open_in_new:",
            query_params={"id": last["id"]},
        )
        st.caption("Keep this delete link to yourself: it removes the result for everyone.")
        st.code(base + last["delete_link"], language=None)


def publish(
    source,
    result,
    pair,
    metrics,
    settings,
    *,
    title: str,
    audio: bool,
    estimates,
    ratings: dict | None = None,
    full_quality=(),
) -> dict:
    """Pack this session's result (with the EQ curves the Results page draws, the listening ratings when there are,
    and the runs made at full quality: their scores always, their audio with the rest) and store it; the links."""
    from vsep_core.bundle import pack_result
    from vsep_core.store import default_store

    from . import cache, jobs
    from .full_quality_view import made_run

    runs = dict(result.labelled_runs())

    def pack() -> dict:  # in the process-wide job pool, like every heavy step of the pages
        eqs = {label: cache.eq_curves(source, settings, runs[label].slices) for label in estimates}
        full = [made_run(made, keep_audio=audio) for made in full_quality]
        return pack_result(
            result,
            pair,
            title=title,
            metrics=metrics,
            audio=audio,
            estimates=estimates,
            eq_curves=eqs,
            ratings=ratings,
            full_quality=full,
        )

    files = jobs.run(pack)
    published = default_store().publish(files, title)
    return {"id": published.id, "link": published.link, "delete_link": published.delete_link}


# --- the shared page -------------------------------------------------------------------------

_ID_IN_LINK = re.compile(r"(?:[?&]id=)?([A-Za-z0-9_-]{22,64})\s*$")


def id_from_link(text: str) -> str | None:
    """The id in a pasted link (``…/shared?id=ID``) or a bare id; ``None`` when there is none."""
    text = str(text or "").strip()
    match = re.search(r"[?&]id=([A-Za-z0-9_-]{22,64})(?:[&#]|$)", text)
    if match:
        return match.group(1)
    match = _ID_IN_LINK.fullmatch(text)
    return match.group(1) if match else None


class Shared:
    """A published result read back from the store (every file read on demand, checked against its hash)."""

    def __init__(self, store, record):
        import json

        self.store, self.record = store, record
        self.share = json.loads(store.read_file(record, "share.json"))
        self.metrics = json.loads(store.read_file(record, "metrics.json")) if "metrics.json" in record.files else None

    def file(self, path: str) -> bytes:
        return self.store.read_file(self.record, path)

    def ratings(self) -> dict | None:
        """The publisher's listening test (``{"rows", "info"}``), or ``None`` when the result has none."""
        from vsep_core.listening import RATINGS_JSON, read_ratings

        return read_ratings(self.file(RATINGS_JSON)) if RATINGS_JSON in self.record.files else None

    def plots(self) -> dict:
        from vsep_core.bundle import load_plots

        return load_plots(self.file("plots.npz")) if "plots.npz" in self.record.files else {}

    def wav(self, path: str) -> bytes:
        """A stored FLAC as WAV bytes (the A/B player plays WAV)."""
        import soundfile as sf

        from vsep_core.audio import wav_bytes

        y, sr = sf.read(io.BytesIO(self.file(path)), dtype="float32")
        return wav_bytes(y, sr)

    def players(self, prefix: str = "") -> dict:
        """Label → stored audio path, for the A/B player."""
        names = self.share["target"]
        out = {}
        if self.share["inputs"].get("mixture"):
            out[f"{prefix}Mixture"] = self.share["inputs"]["mixture"]
        if self.share["inputs"].get("target"):
            out[f"{prefix}Target (true {names['label']})"] = self.share["inputs"]["target"]
        for e in self.share["estimates"]:
            if e.get("audio"):
                out[f"{prefix}{run_title(e)}"] = e["audio"]
        return out


def run_title(entry: dict) -> str:
    key = entry["key"]
    if key == "greedy":
        return f"Greedy order ({entry['n']})"
    if key == "best_prefix":
        return f"Best prefix ({entry['n']})"
    if key == "joint":
        return "Joint matching"
    return key.replace("=", " = ")


def not_found(sentence: str) -> None:
    st.error(sentence, icon=":material/link_off:")
    link("upload", "Go to the start page", ":material/home:")


def shared_page() -> None:
    """The read-only page of a published result (``/shared?id=…``; ``&delete=TOKEN`` offers deleting it).

    Its frame (``app.py``) gives it the page config and the navigation only: no sample, nothing computed.
    """
    from vsep_core.store import NotFound, default_store

    rid = st.query_params.get("id", "")
    if not rid:
        st.title("Shared result")
        st.info(
            "This page shows a published result: open it from its link (…/shared?id=…). To publish one, "
            "run the optimiser on your pair and use Results → Share this result.",
            icon=":material/link:",
        )
        link("upload", "Go to the start page", ":material/home:")
        return
    with guard("Opening the shared result"):
        store = default_store()
        try:
            record = store.get(rid)
        except NotFound as exc:
            st.title("Shared result")
            not_found(str(exc))
            return
        token = st.query_params.get("delete")
        if token is not None:
            delete_section(store, record, token)
            return
        shown = Shared(store, record)
        show(shown)
        compare_section(store, shown)


def delete_section(store, record, token: str) -> None:
    st.title("Delete a shared result")
    show_text(
        f"<b>{escape(record.title)}</b>, published "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(record.created_at))}."
    )
    if st.button("Delete this result for everyone", icon=":material/delete:", type="primary", key="share_delete"):
        if store.delete(record.id, token):
            st.success("Deleted: the link no longer opens anything.", icon=":material/check_circle:")
        else:
            st.error("This delete link is not valid for this result.", icon=":material/error:")
        link("upload", "Go to the start page", ":material/home:")


def show(shown: Shared) -> None:
    """Title, dates, oracle note, scores, players, charts and downloads, all from the stored files."""
    from vsep_core import plots
    from vsep_core.bundle import LIBRARY_FILES, report_html
    from vsep_core.report import zip_files

    share, record = shown.share, shown.record
    names = share["target"]
    show_text(
        escape(record.title), "h1", "font-size:2.75rem;font-weight:700;line-height:1.2;padding:1.25rem 0 1rem;margin:0"
    )
    st.caption(
        f"A published vsep result (from the {'command line' if share.get('source') == 'command line' else 'dashboard'}): "
        f"{float(share.get('duration_s') or 0):.2f} s at {int(share.get('sr') or 0)} Hz, target: "
        f"{plain(names['label'])}. "
        f"Published {time.strftime('%Y-%m-%d', time.gmtime(record.created_at))}; this link works until "
        f"{time.strftime('%Y-%m-%d', time.gmtime(record.expires_at))} "
        f"(results are kept {shown.store.limits.retention_days:g} days). Read-only: nothing is computed."
    )
    from vsep_core.stems import oracle_note

    st.info(oracle_note(names["name"]), icon=":material/info:")  # made here from the target's name, not stored text
    st.subheader("Separation quality")
    metrics = shown.metrics
    if metrics is not None:
        metrics_section(metrics, quality_marks(metrics))
    else:
        st.caption("This result was published without scores.")
    rated = shown.ratings()
    if rated is not None:
        st.subheader("Listening test")
        st.caption(
            "The publisher's ratings by ear (MUSHRA style, 0–100, with a hidden reference and a 3.5 kHz low "
            "anchor among the items), beside each item's SI-SDR."
        )
        ratings_section(rated["rows"], key="shared_ratings")

    st.subheader("Listen")
    players = shown.players()
    if not players:
        st.caption("Published without audio: the scores and charts only.")
    else:
        duration = share.get("duration_s") or 0.0
        if duration <= AB_MAX_S:
            st.markdown("##### A/B: compare any two at the same moment")
            ab_player({label: shown.wav(path) for label, path in players.items()}, duration, key="shared_ab")
        per_row = 3
        items = list(players.items())
        for e in share["estimates"]:
            if e.get("complement_audio"):
                items.append((f"{names['complement'].capitalize()} estimate ({run_title(e)})", e["complement_audio"]))
        for start in range(0, len(items), per_row):
            for col, (label, path) in zip(st.columns(per_row), items[start : start + per_row]):
                with col:
                    st.markdown(f"**{plain(label)}**")
                    st.audio(shown.file(path), format="audio/flac")

    full_quality_section(shown)

    arrays = shown.plots()
    estimates = [e for e in share["estimates"] if f"spec/{e['key']}" in arrays]
    if estimates and share.get("hop"):
        sr, hop = share["sr"], share["hop"]
        st.subheader("Spectrograms")
        chosen = st.selectbox(f"Extracted {names['label']} of", [run_title(e) for e in estimates], key="shared_run")
        entry = next(e for e in estimates if run_title(e) == chosen)

        def mag(key):  # the stored display dB back to a magnitude: the figure takes it to dB again
            return np.power(10.0, arrays[key] / 20.0)

        st.plotly_chart(
            plots.spectrograms_figure(
                {
                    f"target (true {names['label']})": mag("spec/target"),
                    "mixture": mag("spec/mixture"),
                    f"extracted ({chosen})": mag(f"spec/{entry['key']}"),
                },
                sr,
                hop * share.get("spec_col_factor", 1),
            ),
            theme=None,
            key="shared_spectrograms",
        )
        if f"eq/{entry['key']}" in arrays:
            st.subheader("Learned EQ curves")
            st.plotly_chart(
                plots.eq_heatmap_figure(
                    arrays[f"eq/{entry['key']}"],
                    sr,
                    hop * entry.get("eq_col_factor", 1),
                    title=f"EQ of every pass added up, {chosen}",
                ),
                theme=None,
                key="shared_eq",
            )
    st.subheader("Take it with you")
    c1, c2 = st.columns(2)

    def everything() -> bytes:
        files = {p: shown.file(p) for p in record.files if p not in LIBRARY_FILES}
        if "report.html" in files:
            files["report.html"] = report_html(shown.file)
        return zip_files(files)

    c1.download_button(
        "Download everything (ZIP)",
        everything,
        file_name="vsep_shared_result.zip",
        mime="application/zip",
        icon=":material/folder_zip:",
        type="primary",
        key="shared_zip",
        on_click="ignore",
    )
    c1.caption(
        "metrics.json (as `python -m vsep_core evaluate --json` writes it), summary.json, settings.json, "
        "the plots' data and the audio that was published"
        + (", and the listening test's ratings." if rated is not None else ".")
    )
    if "report.html" in record.files:
        c2.download_button(
            "Download the report (HTML)",
            lambda: report_html(shown.file),
            file_name="vsep_report.html",
            mime="text/html",
            icon=":material/description:",
            key="shared_html",
            on_click="ignore",
        )


def full_quality_section(shown: Shared) -> None:
    """The runs the publisher made at full quality (``share.json``'s ``full_quality``): their players and their
    scores, as rows of the one presenter (:func:`vsep_core.presenter.score_table`); nothing for a result without."""
    from vsep_core.full_quality import FullQualityRun, scores_report
    from vsep_core.presenter import score_table

    entries = shown.share.get("full_quality") or []
    if not entries:
        return
    names = shown.share["target"]
    st.subheader("At full quality")
    qualities = " and ".join(sorted({str(e["quality"]) for e in entries}))
    st.caption(
        f"The learned EQ applied to the song file itself, at its own rate and channels ({plain(qualities)}), "
        f"instead of the analysis' {int(shown.share.get('sr') or 0)} Hz mono."
    )
    for e in entries:
        if e.get("audio"):
            cols = st.columns(2)
            for col, path, part in (
                (cols[0], e["audio"], names["label"]),
                (cols[1], e.get("complement_audio"), names["complement"]),
            ):
                if path:
                    with col:
                        st.markdown(
                            f"**{plain(part.capitalize())}, {plain(e['title'])}, full quality ({plain(e['quality'])})**"
                        )
                        st.audio(shown.file(path), format="audio/flac")
    runs = [
        FullQualityRun(label=e["label"], sr=int(e["sr"]), channels=int(e["channels"]), scores=e.get("scores"))
        for e in entries
    ]
    report = scores_report(runs, {"vocal": names["label"], "instrumental": names["complement"]})
    if not report["methods"]:
        st.caption("Published without full-quality scores.")
        return
    table = score_table(report)
    rows = [{"result": row.name, **{c.label: v for c, v in zip(table.columns, row.values)}} for row in table.rows]
    st.dataframe(
        rows,
        hide_index=True,
        key="shared_full_quality_scores",
        placeholder="—",
        column_config={c.label: st.column_config.NumberColumn(c.label, format="%.2f") for c in table.columns},
    )
    st.caption("dB, higher is better: the same scores as above, measured on the full-quality audio at its rate.")


def compare_section(store, shown: Shared) -> None:
    """Add another published result: the two score tables side by side with their differences, and an A/B across."""
    import pandas as pd

    from vsep_core.store import NotFound

    st.subheader("Compare with another result")
    pasted = st.text_input(
        "Paste the link of another published result", key="compare_link", placeholder="…/shared?id=…"
    )
    if not pasted:
        return
    other_id = id_from_link(pasted)
    try:
        if other_id is None:
            raise NotFound("That is not a link to a published result.")
        other = Shared(store, store.get(other_id))
    except NotFound as exc:
        st.error(str(exc), icon=":material/link_off:")
        return
    show_text(f"<b>A</b>: {escape(shown.record.title)} · <b>B</b>: {escape(other.record.title)}")
    if shown.metrics is None or other.metrics is None:
        st.caption("One of the two has no scores to compare.")
    else:
        st.dataframe(
            pd.DataFrame(compare_rows(shown.metrics, other.metrics)),
            hide_index=True,
            width="stretch",
            placeholder="—",
            key="compare_table",
            column_config={c: st.column_config.NumberColumn(c, format="%.2f") for c in ("A", "B", "B − A")},
        )
        st.caption(
            "dB, higher is better; B − A above zero means B scored higher. Methods either result lacks "
            "show — on that side."
        )
    a, b = shown.players("A: "), other.players("B: ")
    if a and b:
        duration = max(shown.share.get("duration_s") or 0, other.share.get("duration_s") or 0)
        if duration <= AB_MAX_S:
            st.markdown("##### A/B across the two results")
            choices = {label: shown.wav(path) for label, path in a.items()}
            choices.update({label: other.wav(path) for label, path in b.items()})
            ab_player(choices, duration, key="compare_ab")


def compare_rows(a: dict, b: dict) -> list[dict]:
    """Rows of method × slot × metric with A's and B's figure and B − A (``None`` where one is missing)."""
    from vsep_core.evaluate import source_labels

    slots_a = source_labels(a)
    by_a = {m["name"]: m for m in a.get("methods", [])}
    by_b = {m["name"]: m for m in b.get("methods", [])}
    rows = []
    for name in list(by_a) + [n for n in by_b if n not in by_a]:
        for slot in ("vocal", "instrumental"):
            for metric, label in (("si_sdr", "SI-SDR"), ("sdr", "SDR"), ("sir", "SIR"), ("sar", "SAR")):
                va = ((by_a.get(name) or {}).get(slot) or {}).get(metric)
                vb = ((by_b.get(name) or {}).get(slot) or {}).get(metric)
                rows.append(
                    {
                        "method": name,
                        "estimate": slots_a[slot],
                        "metric": label,
                        "A": va,
                        "B": vb,
                        "B − A": (vb - va) if va is not None and vb is not None else None,
                    }
                )
    return rows
