"""The MUSHRA-style listening test: vsep_core.listening and the Listening test page (AppTest, no browser)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_app import media  # noqa: F401 - the fixture serving what a download button makes

from vsep_core.errors import VsepError
from vsep_core.listening import (
    HIDDEN_REFERENCE,
    LOW_ANCHOR,
    RATINGS_CSV,
    RATINGS_JSON,
    grade,
    low_anchor,
    make_trial,
    post_screening,
    ratings_csv,
    ratings_files,
    ratings_json,
    ratings_rows,
    read_ratings,
)

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SR = 22050


def test_trial_hides_reference_and_anchor_in_a_seeded_shuffle():
    trial = make_trial(["irm", "exact_eq", "hpss"], seed=3)
    assert [t["label"] for t in trial] == ["A", "B", "C", "D", "E"]
    assert sorted(t["name"] for t in trial) == sorted(["irm", "exact_eq", "hpss", HIDDEN_REFERENCE, LOW_ANCHOR])
    assert make_trial(["irm", "exact_eq", "hpss"], seed=3) == trial
    orders = {tuple(t["name"] for t in make_trial(["irm", "exact_eq", "hpss"], seed=s)) for s in range(20)}
    assert len(orders) > 5  # the order really changes with the seed
    with pytest.raises(VsepError):
        make_trial([], seed=0)
    with pytest.raises(VsepError):
        make_trial(["irm", "irm"], seed=0)


def test_low_anchor_keeps_below_and_removes_above_3_5_khz():
    t = np.arange(SR) / SR
    low, high = np.sin(2 * np.pi * 500 * t), np.sin(2 * np.pi * 8000 * t)
    out = low_anchor(low + high, SR)
    middle = slice(2000, -2000)
    assert np.max(np.abs(out[middle] - low[middle])) < 0.01


def test_rows_csv_json_and_post_screening():
    trial = make_trial(["irm", "hpss"], seed=1)
    ratings = {t["label"]: {"irm": 70, "hpss": 30, HIDDEN_REFERENCE: 85, LOW_ANCHOR: 10}[t["name"]] for t in trial}
    rows = ratings_rows(trial, ratings, {"irm": {"si_sdr": 13.9}})
    by_item = {r["item"]: r for r in rows}
    assert by_item["irm"]["rating"] == 70 and by_item["irm"]["grade"] == "good" and by_item["irm"]["si_sdr"] == 13.9
    assert grade(100) == "excellent" and grade(0) == "bad"
    table = list(csv.DictReader(io.StringIO(ratings_csv(rows))))
    assert [r["label"] for r in table] == [t["label"] for t in trial] and table[0]["rating"]
    data = json.loads(ratings_json(rows, seed=1))
    assert data["seed"] == 1 and len(data["ratings"]) == 4
    assert "below 90" in post_screening(rows)
    with pytest.raises(VsepError):
        ratings_rows(trial, {**ratings, trial[0]["label"]: 101})


def _rated(seed: int = 1):
    trial = make_trial(["irm", "hpss", "exact_eq"], seed=seed)
    values = {"irm": 70, "hpss": 30, "exact_eq": 55, HIDDEN_REFERENCE: 95, LOW_ANCHOR: 10}
    rows = ratings_rows(
        trial,
        {t["label"]: values[t["name"]] for t in trial},
        {"irm": {"si_sdr": 13.9}, "hpss": {"si_sdr": float("nan")}},
    )
    return rows, {"pair": "Pop", "seed": seed, "order": [t["label"] for t in trial]}


def test_ratings_files_read_back_and_a_results_folder_holds_them(tmp_path):
    from vsep_core.audio import Pair
    from vsep_core.report import Outputs
    from vsep_core.settings import Settings

    rows, info = _rated()
    files = ratings_files(rows, info)
    assert set(files) == {RATINGS_CSV, RATINGS_JSON}
    back = read_ratings(files[RATINGS_JSON])
    assert [(r["label"], r["item"], r["rating"]) for r in back["rows"]] == [
        (r["label"], r["item"], r["rating"]) for r in rows
    ]
    assert back["info"]["seed"] == 1 and back["info"]["order"] == info["order"]
    by_item = {r["item"]: r for r in back["rows"]}
    assert by_item["irm"]["si_sdr"] == 13.9 and by_item["hpss"]["si_sdr"] is None  # NaN is null in JSON
    table = list(csv.DictReader(io.StringIO(files[RATINGS_CSV].decode())))
    assert [float(r["rating"]) for r in table] == [r["rating"] for r in rows]
    # The one writer of results folders writes the same files, in memory (the ZIP) and on disk.
    pair = Pair(mixture=np.zeros(SR, np.float32), vocal=np.zeros(SR, np.float32), sr=SR, info={})
    memory = Outputs(pair, Settings(), 1, inputs=False)
    memory.add_ratings(rows, info)
    assert memory.files == files
    import zipfile

    with zipfile.ZipFile(io.BytesIO(memory.zip_bytes())) as zf:
        assert zf.read(RATINGS_JSON) == files[RATINGS_JSON]
    disk = Outputs(pair, Settings(), 1, out_dir=tmp_path, inputs=False)
    disk.add_ratings(rows, info)
    assert (tmp_path / RATINGS_CSV).read_bytes() == files[RATINGS_CSV]


@pytest.mark.parametrize(
    "text",
    [
        b"not json",
        b"[]",
        b'{"ratings": []}',
        b'{"ratings": [{"label": "A"}]}',
        b'{"ratings": [{"label": "A", "item": "x", "rating": 101}]}',
    ],
)
def test_a_file_that_is_not_ratings_is_refused_in_a_sentence(text):
    with pytest.raises(VsepError, match="listening ratings"):
        read_ratings(text)


def test_read_ratings_keeps_words_and_numbers_only():
    stored = json.dumps(
        {
            "ratings": [
                {"label": "A", "item": "<b>x</b>", "rating": 80, "grade": "<img>", "si_sdr": 3.5, "note": "<script>"}
            ]
        }
    ).encode()
    row = read_ratings(stored)["rows"][0]
    assert row == {"label": "A", "item": "<b>x</b>", "rating": 80.0, "grade": "excellent", "si_sdr": 3.5}


def test_page_rates_three_results_and_offers_the_ratings():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/listen.py").run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="listen_methods").value == ["irm", "exact_eq", "hpss"]
    sliders = [s for s in at.slider if s.key and s.key.startswith("listen_")]
    assert sorted(s.label for s in sliders) == ["Item A", "Item B", "Item C", "Item D", "Item E"]
    chosen = {"Item A": 90, "Item B": 40, "Item C": 65, "Item D": 20, "Item E": 75}
    for s in sliders:
        s.set_value(chosen[s.label])
    at.run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value  # the page's one table (in the "which was which" expander)
    ratings = dict(zip(table["label"], table["rating"]))
    assert ratings == {"A": 90, "B": 40, "C": 65, "D": 20, "E": 75}
    assert set(table["item"]) == {"irm", "exact_eq", "hpss", HIDDEN_REFERENCE, LOW_ANCHOR}
    labels = [b.label for b in at.get("download_button")]
    assert {"Ratings (CSV)", "Ratings (JSON)"} <= set(labels)


def test_the_page_keeps_ratings_only_once_a_slider_moved_and_shows_them_again_on_return():
    from vsep_app import state

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/listen.py").run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    assert state.RATINGS not in at.session_state  # sliders at their start: no ratings of the visitor's
    sliders = {s.label: s for s in at.slider if s.key and s.key.startswith("listen_")}
    chosen = {"Item A": 85, "Item B": 15, "Item C": 60}
    for label, value in chosen.items():
        sliders[label].set_value(value)
    at.run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    kept = at.session_state[state.RATINGS]
    table = at.dataframe[0].value
    assert [r["rating"] for r in kept["rows"]] == list(table["rating"])
    assert {r["label"]: r["rating"] for r in kept["rows"]} == {"A": 85, "B": 15, "C": 60, "D": 50, "E": 50}
    assert kept["info"]["order"] == list("ABCDE")
    # Away to another page (the sliders leave the screen) and back: the same ratings, kept and shown.
    at.switch_page("app_pages/slices.py").run(timeout=120)
    at.switch_page("app_pages/listen.py").run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    shown = {s.label: s.value for s in at.slider if s.key and s.key.startswith("listen_")}
    assert shown == {"Item A": 85, "Item B": 15, "Item C": 60, "Item D": 50, "Item E": 50}
    assert {r["label"]: r["rating"] for r in at.session_state[state.RATINGS]["rows"]}["A"] == 85


def test_the_results_zip_holds_this_visitors_ratings_and_no_one_elses(media):  # noqa: F811 - the fixture
    """Ratings made on Listening test go into the Results page's ZIP (the page's numbers, CSV and JSON); another
    visitor with the same pair and results, who rated nothing, gets a ZIP without them (the ZIPs are cached
    across sessions by content)."""
    import zipfile

    from test_app import _run_and_open_results

    from vsep_app import state

    rater = AppTest.from_file(APP, default_timeout=60)
    rater.run()
    rater.switch_page("app_pages/listen.py").run(timeout=120)
    sliders = {s.label: s for s in rater.slider if s.key and s.key.startswith("listen_")}
    for label, value in {"Item A": 90, "Item B": 10, "Item C": 70}.items():
        sliders[label].set_value(value)
    rater.run(timeout=120)
    assert not rater.exception, [e.value for e in rater.exception]
    page_csv = media(rater.download_button(key="listen_csv")).decode()
    page_json = json.loads(media(rater.download_button(key="listen_json")))
    other = AppTest.from_file(APP, default_timeout=60)
    other.run()

    def results_zip(at) -> dict:
        _run_and_open_results(at, 2)
        labels = [b.label for b in at.download_button]
        with zipfile.ZipFile(io.BytesIO(media(at.download_button[labels.index("Download everything (ZIP)")]))) as zf:
            return {name: zf.read(name) for name in zf.namelist()}

    rated, unrated = results_zip(rater), results_zip(other)
    assert rated[RATINGS_CSV].decode() == page_csv
    assert json.loads(rated[RATINGS_JSON]) == page_json
    assert [r["rating"] for r in page_json["ratings"]] == [90, 10, 70, 50, 50]
    assert "Your listening test's ratings" in " ".join(c.value for c in rater.caption)
    assert not any(name.startswith("listening") for name in unrated)
    assert "listening" not in " ".join(c.value for c in other.caption).lower()
    assert state.RATINGS not in other.session_state
    assert set(rated) - {RATINGS_CSV, RATINGS_JSON} == set(unrated)
