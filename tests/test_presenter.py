"""One way to show scores (issue #18): every view of a drums or bass report follows the presenter's rows.

The report is a real evaluation of a bundled sample with drums or bass as the target; the terminal
table, the HTML report and the dashboard's Results table (an AppTest of ``scores_view.metrics_section``, the
function the Results page draws its scores with) must all name the stem and its complement, dash the
mixture's SAR and a reference method's loss, and hide the complement's columns behind the toggle.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vsep_core.evaluate import evaluate_pair, format_table, load_pair
from vsep_core.presenter import DASH, format_score, score_table
from vsep_core.report import _metrics_html
from vsep_core.settings import Settings

POP = Path(__file__).resolve().parents[1] / "sample_audio" / "sung_vowels_pop"
METHODS = ["seed_progressive_2", "irm", "repet_sim", "mixture"]


@pytest.fixture(scope="module", params=["drums", "bass"])
def stem_report(request):
    stem = request.param
    settings = Settings(level="as_is", duration_s=2.0)
    pair = load_pair(POP / "mixture.wav", vocal=POP / f"{stem}.wav", settings=settings, target_name=stem)
    return stem, evaluate_pair(pair, METHODS, settings=settings)


def test_presenter_rows_name_the_stem_and_follow_the_rules(stem_report):
    stem, report = stem_report
    table = score_table(report)
    assert (table.target, table.complement) == (stem, "everything else")
    assert [c.label for c in table.columns_of("target")] == [f"{stem} {m}" for m in ("SI-SDR", "SDR", "SIR", "SAR")]
    assert [c.label for c in table.columns_of("complement")][0] == "everything else SI-SDR"
    rows = {row.name: row for row in table.rows}
    sar = [i for i, c in enumerate(table.columns) if c.metric == "sar"]
    assert all(rows["mixture"].values[i] is None for i in sar)  # nothing processed: a dash
    assert rows["irm"].loss is None and rows["seed_progressive_2"].loss is not None
    assert rows["repet_sim"].marked_kind == "blind*" and rows["repet_sim"].note
    # The figures themselves are the report's.
    m = next(m for m in report["methods"] if m["name"] == "irm")
    assert rows["irm"].values[0] == m["vocal"]["si_sdr"]
    assert rows["irm"].values[4] == m["instrumental"]["si_sdr"]


def test_format_score_rules():
    assert format_score(None) == DASH
    assert format_score(math.nan) == "n/a"
    assert format_score(231.0) == ">150"
    assert format_score(-3.456) == "-3.46"


def test_terminal_table_names_the_stem(stem_report):
    stem, report = stem_report
    text = format_table(report)
    assert stem in text and "everything else" in text
    assert "instrumental" not in text and " vocal " not in text
    mixture_line = next(line for line in text.splitlines() if line.startswith("mixture "))
    assert mixture_line.count(DASH) == 2  # its SAR, for the stem and for the rest
    assert "repet_sim          blind*" in text


def test_html_report_names_the_stem(stem_report):
    stem, report = stem_report
    page = _metrics_html(report)
    assert f"<th>{stem} SI-SDR</th>" in page and "<th>everything else SAR</th>" in page
    assert "instr." not in page and "vocal SI-SDR" not in page
    # The score table names each method in plain words, its code beside it (the exact figures' table: the code).
    mixture_row = page[page.index("<td>the mixture itself (doing nothing) (mixture)</td>") :].split("</tr>")[0]
    assert mixture_row.count(DASH) == 3  # the two SARs and the loss
    irm_row = page[page.index("<td>ideal ratio mask (ceiling) (irm)</td>") :].split("</tr>")[0]
    assert irm_row.count(DASH) == 1  # a reference method's loss
    assert f"(not for {stem})" in page


def _scores_page(report):
    from vsep_app import scores_view

    scores_view.metrics_section(report, {})


def test_results_table_names_the_stem_and_its_toggle_shows_the_rest(stem_report):
    stem, report = stem_report
    at = AppTest.from_function(_scores_page, args=(report,), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    frame = at.dataframe[0]
    columns = list(frame.value.columns)
    assert f"{stem} SI-SDR" in columns and "everything else SI-SDR" in columns
    assert not any(c.startswith(("vocal", "instrumental")) for c in columns)
    shown = list(frame.proto.column_order)
    assert f"{stem} SAR" in shown and not any(c.startswith("everything else") for c in shown)
    toggle = at.toggle(key="metrics_instrumental")
    assert toggle.label == "Show the everything else estimate's scores too"
    toggle.set_value(True).run()
    assert "everything else SAR" in list(at.dataframe[0].proto.column_order)
    mixture = at.dataframe[0].value.set_index("method").loc["mixture"]
    assert mixture[f"{stem} SAR"] is None or math.isnan(mixture[f"{stem} SAR"])
    assert stem in " ".join(c.value for c in at.caption)
