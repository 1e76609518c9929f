"""The blind learned_fingerprint method in the dashboard (#23): Slices shows its prediction, Results its scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vsep_core.audio import prepare_pair
from vsep_core.learned import predicted_fingerprints
from vsep_core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
SAMPLE = REPO / "sample_audio" / "sung_vowels_pop"
RUN_TIMEOUT = 90


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error]


def _chart(at: AppTest, key_part: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if key_part in c.proto.id]
    return json.loads(chart.proto.spec)


def test_slices_shows_the_predicted_fingerprint_beside_the_true_one():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/slices.py").run()
    at.session_state["slices_tab"] = "One window up close"
    at.run()
    _ok(at)
    spec = _chart(at, "predicted_fingerprint")
    names = [trace["name"] for trace in spec["data"]]
    assert names == ["mixture", "true vocal", "predicted vocal (blind)"]
    assert "window 50" in spec["layout"]["title"]["text"]
    # The curve is the engine's prediction for window 50 of the loaded pair (from its mixture alone).
    pair = prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=Settings())
    expected = predicted_fingerprints(pair.mixture, Settings())["predicted"][:, 50]
    y = spec["data"][2]["y"]
    if isinstance(y, dict):  # plotly's typed array
        import base64

        y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"]))
    np.testing.assert_allclose(np.asarray(y, dtype=np.float64), expected, rtol=1e-6, atol=1e-6)


def test_settings_the_model_was_not_made_for_are_a_message_on_slices():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state["vsep_settings"] = Settings(hop_length=512)
    at.switch_page("app_pages/slices.py").run()
    at.session_state["slices_tab"] = "One window up close"
    at.run()
    _ok(at)
    assert any("hop_length 512 (the model: 1040)" in i.value for i in at.info)


def test_the_results_table_lists_the_blind_method():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(1).run()
    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _ok(at)
    table = at.dataframe[0].value
    rows = {r["method"]: r for r in table.to_dict("records")}
    assert rows["learned_fingerprint"]["kind"] == "blind"
    assert rows["learned_fingerprint"]["vocal SI-SDR"] > rows["mixture"]["vocal SI-SDR"] + 3
    assert list(table["method"]).index("learned_fingerprint") < list(table["method"]).index("mixture")


@pytest.mark.parametrize("method", ["learned_fingerprint"])
def test_the_run_command_writes_the_blind_estimate(tmp_path, capsys, method):
    from vsep_core.cli import main

    out = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--method",
                method,
                "--mixture",
                str(SAMPLE / "mixture.wav"),
                "--vocal",
                str(SAMPLE / "vocal.wav"),
                "--out",
                str(out),
                "--metrics",
                "--level",
                "as-is",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "learned_fingerprint blind" in printed
    assert sorted(p.name for p in (out / "learned_fingerprint").iterdir()) == [
        "extracted_instrumental.wav",
        "extracted_vocal.wav",
        "mixture.wav",
        "target.wav",
    ]
    summary = json.loads((out / "summary.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert summary["method"] == "learned_fingerprint" and summary["kind"] == "blind"
    # Written by the one writer of results folders (report.Outputs): summary.json names the estimate's files,
    # settings.json is the run's settings, metrics.json evaluate's report.
    assert summary["wav"] == "learned_fingerprint/extracted_vocal.wav" and (out / summary["wav"]).is_file()
    assert (out / summary["instrumental_wav"]).is_file()
    assert json.loads((out / "settings.json").read_text()) == summary["settings"] == Settings(level="as_is").to_dict()
    assert summary["model"] and summary["info"]["round_trip_loss"] > 0
    # The same figure as evaluate's for the same pair and settings.
    from vsep_core.evaluate import evaluate_pair, load_pair

    settings = Settings(level="as_is")
    report = evaluate_pair(
        load_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=settings),
        ["learned_fingerprint"],
        settings=settings,
    )
    assert metrics["methods"][0]["vocal"]["si_sdr"] == pytest.approx(report["methods"][0]["vocal"]["si_sdr"], abs=1e-9)


def test_with_another_stem_as_the_target_the_prediction_says_it_is_the_vocal():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.selectbox(key="sample_target").set_value("drums").run()
    at.button[[b.label for b in at.button].index("Load this sample")].click().run()
    at.switch_page("app_pages/slices.py").run()
    at.session_state["slices_tab"] = "One window up close"
    at.run(timeout=RUN_TIMEOUT)
    _ok(at)
    spec = _chart(at, "predicted_fingerprint")
    assert [trace["name"] for trace in spec["data"]] == ["mixture", "true drums", "predicted vocal (blind)"]
    assert any("predicts the vocal, not the drums" in c.value for c in at.caption)
