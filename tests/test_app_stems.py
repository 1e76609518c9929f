"""Any target stem in the dashboard (issue #13), with streamlit.testing's AppTest (no browser).

Load a bundled sample with its drums as the target → the Load page names the
stem and checks its alignment → Slices shows the drums' 19 views beside the
vocal's → Optimise's "Which slices help?" and Results' scores are the
engine's for that target, with the blind methods made for vocals flagged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vsep_app import limits
from vsep_app.escape import plain
from vsep_core import plots, views
from vsep_core.attribute import attribute_slices
from vsep_core.audio import prepare_pair
from vsep_core.evaluate import evaluate_experiment
from vsep_core.experiment import run_experiment
from vsep_core.presenter import score_table
from vsep_core.settings import Settings
from vsep_core.verdict import verdict

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
SAMPLE = REPO / "sample_audio" / "sung_vowels_pop"
RUN_TIMEOUT = 90


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error]


def _charts(at: AppTest) -> list:
    return [c for c in at.get("plotly_chart") if "vsep_preload_charts" not in c.proto.id]


def _array(z) -> np.ndarray:
    """A heatmap's z as plotly sends it: a list, or a typed array ``{"dtype", "bdata" (base64), "shape"}``."""
    if isinstance(z, dict):
        import base64

        flat = np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"]))
        shape = [int(n) for n in str(z.get("shape", len(flat))).split(",")]
        return flat.reshape(shape).astype(np.float32)
    return np.asarray(z, dtype=np.float32)


def _load_with_target(stem: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    _ok(at)
    assert at.selectbox(key="sample_target").options == ["vocals (the default)", "drums", "bass", "chords"]
    at.selectbox(key="sample_target").set_value(stem).run()
    at.button[[b.label for b in at.button].index("Load this sample")].click().run()
    _ok(at)
    return at


def test_load_page_picks_a_stem_as_the_target():
    at = _load_with_target("drums")
    source = at.session_state["vsep_source"]
    assert source.target_name == "drums" and source.other == (SAMPLE / "drums.wav").read_bytes()
    assert "target: drums" in source.label
    assert [s.value for s in at.subheader if s.value.startswith("Loaded:")] == [
        "Loaded: Pop, female voice (default sample) · target\\: drums"
    ]  # the label, Markdown-escaped
    assert "**Drums (the target)**" in " ".join(m.value for m in at.markdown)
    # The alignment check runs on the drum stem: exact stems sit at lag 0.
    verdicts = [s.value for s in at.success]
    assert any(v.startswith("The drums are aligned with the mixture: lag 0") for v in verdicts), verdicts


def test_slices_page_shows_the_stem_beside_the_vocal():
    at = _load_with_target("drums")
    at.switch_page("app_pages/slices.py").run()
    _ok(at)
    at.session_state["slices_tab"] = "Drums beside the vocal"
    at.run(timeout=RUN_TIMEOUT)
    _ok(at)
    charts = _charts(at)
    assert len(charts) == len(views.VIEWS)  # one chart per view, the two stems side by side
    settings = Settings()
    expected = {}
    for role, file in (("drums", "drums.wav"), ("vocal", "vocal.wav")):
        pair = prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / file, settings=settings)
        hop = settings.hop_for(pair.n_samples)
        mag = views.magphase(views.stft(pair.vocal, settings, hop_length=hop))[0]
        expected[role] = {
            name: plots.view_display(
                views.compute_view(mag, name),
                name,
                pair.sr,
                hop,
                max_rows=limits.DISPLAY_CELLS[0],
                max_cols=limits.DISPLAY_CELLS[1],
            )
            for name in ("slice_0_raw", "slice_2_vertical")
        }
    for i in (0, 2):  # the raw view and the vertical one, each the engine's picture of that stem
        spec = json.loads(charts[i].proto.spec)
        titles = [a["text"] for a in spec["layout"]["annotations"]]
        assert titles == [
            f"drums · {views.VIEWS[i].index}: {views.VIEWS[i].label}",
            f"vocal · {views.VIEWS[i].index}: {views.VIEWS[i].label}",
        ]
        left, right = (_array(t["z"]) for t in spec["data"])
        name = views.VIEWS[i].name
        np.testing.assert_allclose(left, np.asarray(expected["drums"][name]["z"], dtype=np.float32), atol=1e-3)
        np.testing.assert_allclose(right, np.asarray(expected["vocal"][name]["z"], dtype=np.float32), atol=1e-3)
        assert np.abs(left - right).mean() > 1.0  # two different sources, not one picture twice


def test_optimise_and_results_score_the_drums_as_the_engine_does():
    at = _load_with_target("drums")
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(2).run()
    at.button(key="run_attribution").click().run(timeout=RUN_TIMEOUT)
    _ok(at)
    truth = prepare_pair(
        SAMPLE / "mixture.wav", vocal=SAMPLE / "drums.wav", settings=Settings(level="as_is"), target_name="drums"
    )
    found = at.session_state["vsep_attribution"][1]
    order = list(at.multiselect(key="opt_order").value)[:2]
    assert found == attribute_slices(truth, Settings(), order=order) and found["target"] == "drums"

    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _ok(at)
    settings = Settings()
    engine_pair = prepare_pair(
        SAMPLE / "mixture.wav", vocal=SAMPLE / "drums.wav", settings=settings, target_name="drums"
    )
    expected = evaluate_experiment(run_experiment(engine_pair, settings, max_slices=2, greedy=False), truth)
    table = at.dataframe[0].value
    assert "drums SI-SDR" in table.columns and "everything else SI-SDR" in table.columns
    assert not any(c.startswith("vocal ") or c.startswith("instrumental ") for c in table.columns)
    assert list(table["method"]) == [m["name"] for m in expected["methods"]]
    for row, m in zip(table.to_dict("records"), expected["methods"]):
        assert row["drums SI-SDR"] == pytest.approx(m["vocal"]["si_sdr"], abs=1e-6), m["name"]
        assert row["everything else SDR"] == pytest.approx(m["instrumental"]["sdr"], abs=1e-6), m["name"]
        assert row["kind"].endswith("*") == (m["suited"] is False), m["name"]
    # The verdict in plain words above the table names the drums and says what the engine's scores say.
    said = verdict(score_table(expected))
    assert (
        [i.value for i in at.info][:1] == [plain(said.text)] and "the drums" in said.text and "vocal" not in said.text
    )
    kinds = dict(zip(table["method"], table["kind"]))
    assert kinds["repet_sim"] == "blind*" and kinds["hpss_percussive"] == "blind"
    labels = [m.value for m in at.markdown]
    assert any("Target: the true drums" in v for v in labels)
    assert any("Everything else estimate (mixture − drums" in v for v in labels)
    # The oracle note names what the method reads: the true drums, not a vocal.
    notes = [c.value for c in at.caption] + [c.value for c in at.sidebar.caption]
    assert any("learns from the true isolated drums" in v for v in notes), notes
    assert not any("learns from the true isolated vocal" in v for v in notes)


def test_one_window_up_close_names_the_stem():
    at = _load_with_target("drums")
    at.switch_page("app_pages/slices.py").run()
    at.session_state["slices_tab"] = "One window up close"
    at.run(timeout=RUN_TIMEOUT)
    _ok(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["measurement", "unit", "drums", "mixture"]
    spec = json.loads(_charts(at)[0].proto.spec)
    assert "drums (red) and mixture (blue)" in spec["layout"]["title"]["text"]
    assert {t["name"] for t in spec["data"]} == {"drums", "mixture"}


def test_uploads_name_their_stem_and_refuse_a_stem_of_another_length():
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.radio(key="load_mode").set_value("Upload files").run()
    at.selectbox(key="upload_target").set_value("bass").run()
    assert at.radio(key="upload_kind").options == ["the isolated bass", "everything but the bass (bass = mixture − it)"]
    assert "Isolated bass" in [u.label for u in at.get("file_uploader")]

    def upload(other: bytes) -> AppTest:
        at.file_uploader(key="upload_mixture").set_value(
            ("song.wav", (SAMPLE / "mixture.wav").read_bytes(), "audio/wav")
        )
        at.file_uploader(key="upload_other").set_value(("my_bass.wav", other, "audio/wav"))
        at.run()
        at.button[[b.label for b in at.button].index("Load these files")].click().run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    import io

    import soundfile as sf

    bass, sr = sf.read(SAMPLE / "bass.wav", dtype="float32")
    short = io.BytesIO()
    sf.write(short, bass[: len(bass) // 2], sr, format="WAV")
    upload(short.getvalue())
    (message,) = [e.value for e in at.error]
    assert "The mixture (4.700 s) is longer than the bass (2.350 s)" in message and "my\\_bass.wav" in message
    assert at.session_state["vsep_source"].target_name == "vocals"  # the loaded pair stayed as it was

    upload((SAMPLE / "bass.wav").read_bytes())
    _ok(at)
    source = at.session_state["vsep_source"]
    assert source.target_name == "bass" and source.other_label == "bass"
    assert "The bass is aligned with the mixture: lag 0" in " ".join(s.value for s in at.success)
