"""The MUSHRA-style listening test: vsep_core.listening and the Listening test page (AppTest, no browser)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vsep_core.errors import VsepError
from vsep_core.listening import (HIDDEN_REFERENCE, LOW_ANCHOR, grade, low_anchor, make_trial, post_screening,
                                 ratings_csv, ratings_json, ratings_rows)

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


def test_page_rates_three_results_and_offers_the_ratings():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/5_listen.py").run(timeout=120)
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
