"""The scores on the page: the metrics table, the first-look table, the loss waterfall, the split notes.

The rows, labels and display rules are :func:`vsep_core.presenter.score_table`'s; this only lays them out.
"""

from __future__ import annotations

import streamlit as st

from vsep_core.stems import possessive

from .glossary import loss_vs_quality, words


def _player_key(entry: dict) -> str | None:
    """Which player a scored run belongs to ("N=3", "greedy", "best_prefix"); ``None`` for other methods."""
    name = entry["name"]
    if name == "seed_greedy":
        return "greedy"
    if name == "seed_greedy_best":
        return "best_prefix"
    if name.startswith("seed_progressive"):
        return f"N={len(entry['info']['slices'])}"
    if name == "joint":
        return "joint"
    return None


def quality_marks(metrics: dict | None) -> dict:
    """The ★ marks by player key: lowest loss among the scored runs, and best vocal SI-SDR when aligned."""
    if metrics is None:
        return {}
    runs = [m for m in metrics["methods"] if m["kind"] == "seed" and not m.get("error") and _player_key(m)]
    marks: dict = {}
    if runs:
        # The joint loss is another measure (its own views and weights): the lowest loss is the research runs'.
        research = [m for m in runs if m["name"] != "joint"]
        if research:
            lowest = min(research, key=lambda m: m["info"]["loss"])
            marks.setdefault(_player_key(lowest), []).append("★ lowest loss")
        if metrics["alignment"]["aligned"]:
            best = max(runs, key=lambda m: m["vocal"]["si_sdr"])
            marks.setdefault(_player_key(best), []).append("★ best SI-SDR")
    return marks


#: The metrics the field reads now (vsep_core.field_metrics), as columns beside BSS Eval's when a report has them.
FIELD_COLUMNS = (("usdr", "uSDR"), ("bleedless", "bleedless"), ("fullness", "fullness"))

NO_LOSS_NOTE = (
    "The other methods (ceilings, blind methods, the mixture) do not match fingerprints, so they have no loss: —."
)


def kind_help(target: str) -> str:
    """The "kind" column's help, naming the target."""
    return (
        f"seed: this method's runs; oracle: ceilings that read the true {target}; blind: methods that never "
        "see it; the mixture itself is the floor."
    )


def verdict_section(scores) -> None:
    """The scores in one or two plain sentences (:func:`vsep_core.verdict.verdict`), the figures behind them one
    click away; nothing when there is no result to judge."""
    from vsep_core.verdict import verdict

    from .escape import plain

    said = verdict(scores)
    if said is None:
        return
    st.info(plain(said.text), icon=":material/hearing:")
    with st.expander("The numbers behind this sentence", icon=":material/calculate:"):
        st.table({"": [what for what, _ in said.numbers], "score": [value for _, value in said.numbers]})


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
    glossary, loss_note = words(scores.target), loss_vs_quality(scores.target)
    rows = []
    for m, r in zip(metrics["methods"], scores.rows):
        key = _player_key(m)
        row = {
            "method": r.name,
            "kind": r.marked_kind,
            "mark": " ".join(marks.get(key, [])) if key else "",
            "loss": r.loss,
        }
        row.update({c.label: value for c, value in zip(scores.columns, r.values)})
        for part, slot in ((scores.target, "vocal"), (scores.complement, "instrumental")):
            for metric, label in FIELD_COLUMNS:  # the metrics the field reads now, when the report has them
                if metric in m[slot]:
                    row[f"{part} {label}"] = m[slot][metric]
        row["SIR/SAR split"] = split_column(m, slot_names)
        row["what it is"] = (
            r.description
            + (f" (failed: {r.error})" if r.error else "")
            + (f" — * not for this target: {r.note}" if not r.suited else "")
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    config = {
        c.label: st.column_config.NumberColumn(c.label, format="%.2f", help=glossary.get(c.metric_label), width=95)
        for c in scores.columns
    }
    for part in (scores.target, scores.complement):
        for _, label in FIELD_COLUMNS:
            config[f"{part} {label}"] = st.column_config.NumberColumn(
                f"{part} {label}", format="%.2f", help=glossary.get(label), width=95
            )
    config["loss"] = st.column_config.NumberColumn(
        "loss (dB²)", format="%.1f", width=80, help=glossary["loss"] + " " + NO_LOSS_NOTE
    )
    config["method"] = st.column_config.TextColumn("method", help="See the glossary below for each name.")
    config["kind"] = st.column_config.TextColumn("kind", width="small", help=kind_help(scores.target))
    config["SIR/SAR split"] = st.column_config.TextColumn("SIR/SAR split", width=120, help=glossary["SIR/SAR split"])
    config["mark"] = st.column_config.TextColumn("mark", width=110, help=loss_note)
    complement = {c.label for c in scores.columns_of("complement")}
    complement |= {f"{scores.complement} {label}" for _, label in FIELD_COLUMNS}

    def draw() -> None:
        # The target's scores first, so the table fits the page; its complement's on request.
        with_complement = st.toggle(
            f"Show the {scores.complement} estimate's scores too",
            key="metrics_instrumental",
            help=f"The {scores.complement} estimate is the mixture minus the extracted {scores.target}.",
        )
        order = [c for c in table.columns if with_complement or c not in complement]
        # The numbers stay numbers (sortable); what means nothing (a reference method's loss, the mixture's
        # SAR) is missing, shown as "—".
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            height=36 * (len(table) + 1) + 4,
            column_config=config,
            column_order=order,
            placeholder="—",
            key="metrics_table",
        )
        st.caption(
            f"All in dB; higher is better. *seed*: this method; *oracle*: ceilings that read the true "
            f"{scores.target}; "
            "*blind*: methods that never see it; *mixture*: the mixture itself, the floor (its SAR means "
            "nothing, shown as —). *loss* is only for this method's runs: "
            + NO_LOSS_NOTE
            + " Measured on the files as they are (level as is): an estimate made on a normalised pair is "
            f"brought back by undoing the {possessive(scores.target)} gain. "
            f"BSS Eval: {metrics['bss_eval']['implementation']}, {metrics['bss_eval']['aggregation']}. " + loss_note
        )
        split_notes_section(metrics, slot_names)

    if align["aligned"]:
        verdict_section(scores)  # is it good? in words, above the numbers
        st.success(align["verdict"], icon=":material/check_circle:")
        draw()
    else:
        st.warning(
            plain_verdict(align["verdict"]) + " The scores below compare waveforms sample by sample, so they mean "
            "nothing until the pair is aligned: fix it on Load audio (the alignment check offers the fix).",
            icon=":material/warning:",
        )
        with st.expander("Scores of the pair as it is (not meaningful until it is aligned)"):
            draw()
    with st.expander("Glossary: methods, metrics and terms", icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{term}**: {text}" for term, text in glossary.items()))


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
    with st.expander(
        f"Where the decibels go: true {target} → phase oracle → … → mixture",
        expanded=False,
        icon=":material/waterfall_chart:",
    ):
        st.plotly_chart(
            waterfall_figure(steps, title=f"{target} SI-SDR, step by step (dB)"), theme=None, key="loss_waterfall"
        )
        st.caption(
            "Each step is named for what it costs: "
            + "; ".join(f"**{k}**: {v}" for k, v in COSTS.items())
            + ". The steps add up: the phase oracle plus every step is the mixture's SI-SDR. A step the "
            "scores lack (e.g. joint, measured on Optimise) is merged into the next."
        )


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
        st.warning(headline(metrics["methods"]) + "\n\n" + "\n".join(f"- {n}" for n in notes), icon=":material/help:")
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
        st.warning(
            plain_verdict(alignment["verdict"]) + " Waveform scores mean nothing until the pair is aligned: fix it on "
            "Load audio (the alignment check offers the fix).",
            icon=":material/warning:",
        )
        return
    from vsep_core.presenter import score_table

    marks = quality_marks({"methods": quick["methods"], "alignment": alignment})
    scores = score_table(quick, metrics=("si_sdr",))
    rows = [
        {
            "method": r.name,
            "mark": " ".join(marks.get(_player_key(m), [])),
            "loss": r.loss,
            **{c.label: value for c, value in zip(scores.columns, r.values)},
        }
        for m, r in zip(quick["methods"], scores.rows)
    ]
    target, complement = (c.label for c in scores.columns)
    glossary = words(scores.target)
    verdict_section(scores)
    st.dataframe(
        rows,
        hide_index=True,
        key="quick_scores_table",
        placeholder="—",
        column_config={
            "loss": st.column_config.NumberColumn("loss (dB²)", format="%.1f", help=glossary["loss"]),
            target: st.column_config.NumberColumn(format="%.2f", help=glossary["SI-SDR"]),
            complement: st.column_config.NumberColumn(format="%.2f"),
            "mark": st.column_config.TextColumn(width=110, help=loss_vs_quality(scores.target)),
        },
    )
    st.caption(
        "First look: your runs' SI-SDR (dB, higher is better). SDR, SIR, SAR and the ceilings and blind "
        "methods beside them are being measured and replace this table in a moment."
    )
