"""The dashboard, page by page, with streamlit.testing's AppTest (no browser).

The walk: the first visit loads the default sample → Slices (19 views, one
window's fingerprints and measurements) → Optimise (progressive test, greedy
search) → Results (players, scores, downloads: a valid ZIP with summary.json,
an HTML report) → switching pages keeps the results and re-running comes from
the cache. Error paths: a file that is not audio, an empty file, silence, NaN
samples, a mismatched pair, a file over the length limit, bad settings, an empty recording, an unexpected
exception; one session's upload is not seen by another.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from vsep_app import cache, escape, limits, prefetch
from vsep_app.escape import plain
from vsep_core import views
from vsep_core.audio import prepare_pair
from vsep_core.evaluate import evaluate_experiment
from vsep_core.experiment import run_experiment
from vsep_core.fingerprint import window_metrics
from vsep_core.presenter import score_table
from vsep_core.settings import Settings
from vsep_core.verdict import verdict

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
SAMPLE = REPO / "sample_audio" / "sung_vowels_pop"
SAMPLE_LABEL = "Pop, female voice (default sample)"
RUN_TIMEOUT = 60


def _new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    _assert_no_exception(at)
    return at


def _assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _subheaders(at: AppTest) -> list[str]:
    return [h.value for h in at.subheader]


def _charts(at: AppTest) -> list:
    """The page's charts (not the blank one that preloads the chart library)."""
    return [c for c in at.get("plotly_chart") if "vsep_preload_charts" not in c.proto.id]


def _chart_titles(at: AppTest) -> list[str]:
    """Every chart's title, and the titles of its subplots."""
    titles = []
    for chart in _charts(at):
        layout = json.loads(chart.proto.spec).get("layout", {})
        title = layout.get("title", {})
        titles.append(title.get("text", "") if isinstance(title, dict) else str(title))
        titles += [a.get("text", "") for a in layout.get("annotations", [])]
    return [t for t in titles if t]


def _wav(y: np.ndarray, sr: int = 22050, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _upload(at: AppTest, mixture: tuple, other: tuple, kind: str = "vocal") -> AppTest:
    at.radio(key="load_mode").set_value("Upload files").run()
    at.radio(key="upload_kind").set_value(kind).run()
    at.file_uploader(key="upload_mixture").set_value((*mixture, "audio/wav"))
    at.file_uploader(key="upload_other").set_value((*other, "audio/wav"))
    at.run()
    at.button[[b.label for b in at.button].index("Load these files")].click().run()
    _assert_no_exception(at)
    return at


@pytest.fixture()
def media(monkeypatch):
    """What a download button serves in AppTest runs: its URL's file, or what its deferred callable makes.

    Results' buttons make their data when pressed (a callable); pressing one in a browser runs it through
    the media file manager, as :meth:`MediaFileManager.execute_deferred` does here.
    """
    managers: list[MediaFileManager] = []
    stores: list[MemoryMediaFileStorage] = []

    class RecordingManager(MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    class RecordingStorage(MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stores.append(self)

    monkeypatch.setattr("streamlit.testing.v1.app_test.MediaFileManager", RecordingManager)
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", RecordingStorage)

    def read(target) -> bytes:
        proto = getattr(target, "proto", None)
        if proto is not None and proto.HasField("deferred_file_id"):
            for manager in reversed(managers):
                try:
                    url = manager.execute_deferred(proto.deferred_file_id)
                    break
                except Exception:  # noqa: BLE001 - a file this manager does not hold: try the next
                    continue
            else:
                raise KeyError(proto.deferred_file_id)
        else:
            url = proto.url if proto is not None else target
        for store in reversed(stores):
            try:
                return store.get_file(url.rsplit("/", 1)[-1]).content
            except Exception:  # noqa: BLE001 - not in this store: try the next
                continue
        raise KeyError(url)

    return read


@pytest.fixture(scope="module")
def sample_pair():
    return prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=Settings())


# --- the walk on the default sample ---------------------------------------------------


def test_first_visit_loads_the_default_sample():
    at = _new_app()
    assert not _errors(at)
    assert f"Loaded: {SAMPLE_LABEL}" in _subheaders(at)
    assert len(at.get("audio")) == 3  # mixture, vocal, instrumental
    assert len(at.get("image")) == 1 and not _charts(at)  # the waveforms, as an SVG picture
    # No chart at all: the chart library is preloaded 2 s later by a timed fragment (checked in the browser test).
    assert len(at.get("plotly_chart")) == 0
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Lag (samples)"] == "0"
    assert float(metrics["Correlation as given"]) > 0.5
    assert any("aligned with the mixture" in s.value for s in at.success)
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert SAMPLE_LABEL in sidebar
    assert at.session_state["vsep_settings"] == Settings()  # seed-compatible defaults


def test_every_page_has_the_frame_and_our_navigation():
    """st.navigation: each page, opened directly in a new session, is drawn inside app.py's frame (our
    navigation, the default sample, the sidebar's status) under its own title."""
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    # A folder named pages/ beside the entry script makes a fresh server run its files without the frame.
    assert not (REPO / "pages").exists(), "remove the folder pages/ (the pages are in app_pages/)"
    for path, title in [
        ("app_pages/load.py", "Load audio"),
        ("app_pages/slices.py", "Slices"),
        ("app_pages/optimise.py", "Optimise"),
        ("app_pages/results.py", "Results"),
        ("app_pages/listen.py", "Listening test"),
    ]:
        at = AppTest.from_file(APP, default_timeout=30)
        at.switch_page(path).run()  # a new session's first run, on that page (a direct link)
        _assert_no_exception(at)
        links = [e.proto.label for e in at.sidebar.get("page_link")]
        assert links == ["Load audio", "Slices", "Optimise", "Results", "Listening test", "Shared result"], path
        assert at.title[0].value == title, path
        assert len(at.title) == 1, path  # one page's content, not two
        sidebar = " ".join(m.value for m in at.sidebar.markdown)
        assert "Active pair" in sidebar and SAMPLE_LABEL in sidebar, path  # the default sample, on any page
    assert not any("PagesManager" in f.read_text() for f in (REPO / "vsep_app").glob("*.py"))  # no private API


def test_a_spawned_process_that_re_imports_the_entry_script_draws_nothing(tmp_path):
    """multiprocessing's spawn re-runs the parent's main script as ``__mp_main__`` (Streamlit's script runner leaves
    ``app.py`` as ``__main__``, so a local Dask cluster started after a page run does so): outside a session,
    ``app.py`` must do nothing rather than fail (the worker would not start)."""
    probe = (
        "import runpy, sys; sys.argv = ['x']; "
        f"runpy.run_path({str(REPO / 'app.py')!r}, run_name='__mp_main__'); print('imported')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0 and out.stdout.strip() == "imported", out.stderr[-2000:]


def test_pages_name_the_sessions_keys_through_the_state_module():
    """The session's own entries (``vsep_…``) are written and read through :mod:`vsep_app.state`'s names, so a
    page and the module that reads the entry (Results, the ZIP, the report) cannot drift apart."""
    import re

    by_hand = re.compile(r"session_state(?:\[|\.get\(|\.pop\()\s*[\"']vsep_")
    found = [
        f"{f.name}:{n}"
        for f in sorted((REPO / "app_pages").glob("*.py"))
        for n, line in enumerate(f.read_text().splitlines(), 1)
        if by_hand.search(line)
    ]
    assert not found, found


def test_the_first_page_imports_only_what_it_needs():
    """What app.py and the Load page import leaves the optimiser (numba), the views (scipy.ndimage),
    figures, the STFT and pandas for later (the background warm-up), so a server's first visitor does not wait."""
    code = (
        "import sys, streamlit\n"
        "import vsep_app.cache, vsep_app.figures, vsep_app.loading, vsep_app.recorder, vsep_app.sample, "
        "vsep_app.state, vsep_app.frame, vsep_app.escape, vsep_app.players, vsep_app.prefetch, "
        "vsep_app.scores_view, vsep_app.sidebar\n"
        "heavy = ('numba', 'scipy.ndimage', 'pandas', 'librosa.core.spectrum', 'vsep_core.plots', "
        "'vsep_core.optimise', 'plotly.graph_objs._figure')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported on the first page: {out.stdout.strip()}"


def test_the_warm_up_runs_every_stage(monkeypatch):
    """The background warm-up swallows errors (it only saves time), so check here that it really works."""
    from vsep_app import warmup

    monkeypatch.setattr(warmup, "LATER_S", 0.0)
    warmup.warm_up_engine()  # raises if a call no longer fits the engine


def test_the_chart_library_is_preloaded_from_the_second_run_on():
    at = _new_app()
    assert not at.get("plotly_chart")  # not while the first page is awaited (a timed fragment does it later)
    at.switch_page("app_pages/optimise.py").run()
    _assert_no_exception(at)
    preload = [c for c in at.sidebar.get("plotly_chart") if "vsep_preload_charts" in c.proto.id]
    assert len(preload) == 1 and at.session_state["vsep_charts_ready"]
    at.run()  # once per session: this browser has the library now
    assert not [c for c in at.get("plotly_chart") if "vsep_preload_charts" in c.proto.id]


def test_slices_page_draws_every_view_and_one_window(sample_pair):
    at = _new_app()
    at.switch_page("app_pages/slices.py").run()
    _assert_no_exception(at)
    assert not _errors(at)
    assert len(_charts(at)) == 5  # a row of four views per chart
    titles = _chart_titles(at)
    assert titles == [f"{v.index}: {v.label}" for v in views.VIEWS]  # 19 heatmaps, in view order
    heatmaps = [t for c in _charts(at) for t in json.loads(c.proto.spec)["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 19
    kernels = [m for m in at.markdown if "<table" in m.value]
    assert len(kernels) == 19

    at.session_state["slices_tab"] = "Mixture"
    at.run()
    assert _chart_titles(at) == [f"{v.index}: {v.label}" for v in views.VIEWS]

    at.session_state["slices_tab"] = "One window up close"
    at.run()
    _assert_no_exception(at)
    table = at.dataframe[0].value
    assert len(table) == 25 and list(table.columns) == ["measurement", "unit", "vocal", "mixture"]
    # The table is the engine's measurement of window 50 (the default) of the raw view.
    settings = Settings()
    mag = views.magphase(views.stft(sample_pair.vocal, settings))[0]
    expected = window_metrics(mag[:, [50]], sample_pair.sr)[0]
    np.testing.assert_allclose(table["vocal"].to_numpy(), expected, rtol=1e-9)
    assert any("Fingerprints at window 50" in t for t in _chart_titles(at))


def test_the_load_page_prefetches_the_slices_views_into_the_memo(monkeypatch):
    """The Load page computes the Slices page's views on a background thread (jobs.prefetch, which calls no
    Streamlit and runs under AppTest as on a server); Slices then draws them without computing a view again."""
    import threading

    from vsep_app import state

    cache._slice_figures.clear()  # an earlier test in this process may have computed these very views
    cache._magnitude.clear()
    real = views.compute_view
    calls = []

    def counting(*args, **kwargs):
        if threading.current_thread().name != "vsep-warmup":  # the warm-up's tiny pair is not the page's work
            calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "compute_view", counting)
    at = _new_app()
    key, done = at.session_state[state.SLICES_PREFETCH][:2]
    assert key == prefetch.slices_key(at.session_state["vsep_source"], at.session_state["vsep_settings"])
    assert done["vocal"].wait(120), "the prefetch did not finish"
    assert sorted(calls) == sorted(views.VIEW_NAMES)  # the vocal's 19 views, computed in the background
    at.switch_page("app_pages/slices.py").run()
    _assert_no_exception(at)
    assert _chart_titles(at) == [f"{v.index}: {v.label}" for v in views.VIEWS]
    assert len(calls) == len(views.VIEW_NAMES)  # served from the memo: not one view computed again
    at.session_state["slices_tab"] = "Mixture"  # not prefetched: computed now, and counted
    at.run()
    assert len(calls) == 2 * len(views.VIEW_NAMES)


@pytest.mark.slow  # every run, the greedy search, the scores and every download
def test_walk_optimise_results_and_downloads(media, sample_pair):
    at = _new_app()
    at.switch_page("app_pages/optimise.py").run()
    _assert_no_exception(at)
    assert at.slider(key="opt_n").value == 8

    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    assert not _errors(at)
    assert any("Progressive test done: N = 1 … 8" in p.proto.text for p in at.get("progress"))
    titles = _chart_titles(at)
    assert "Loss curves" in titles
    curves = next(c for c in _charts(at) if "Loss curves" in json.dumps(json.loads(c.proto.spec)["layout"]))
    best_n = min(at.session_state["vsep_progressive"].outcome.runs, key=lambda r: r.final_loss).n
    assert [t["name"] for t in json.loads(curves.proto.spec)["data"]] == [f"N={k}" for k in sorted({1, best_n, 8})]
    assert "Final loss per number of slices" in titles

    at.button(key="run_greedy").click().run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    assert any("Greedy search done: 8 steps" in p.proto.text for p in at.get("progress"))
    assert "Greedy search: every candidate's polish loss" in _chart_titles(at)

    # The numbers on screen are the engine's.
    expected = run_experiment(sample_pair, Settings(), max_slices=8)
    record = at.session_state["vsep_progressive"]
    assert [r.final_loss for r in record.outcome.runs] == pytest.approx(
        [r.final_loss for r in expected.progressive], rel=1e-12
    )
    greedy = at.session_state["vsep_greedy"].outcome.greedy
    assert greedy.sequence == expected.greedy.sequence
    shown = {m.label: m.value for m in at.metric}
    assert shown["Full greedy sequence (8 slices)"] == f"{expected.greedy.loss:.2f} dB²"

    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    assert not _errors(at)
    # mixture, target, complement; N = 1 … 8; greedy (and best prefix); the full-quality target and complement
    n_players = 3 + 8 + 2 + (expected.greedy.best_prefix_length != 8) + 2
    assert len(at.get("audio")) == n_players
    assert at.selectbox(key="results_ab_a").options[:2] == ["Mixture", "Target (true vocal)"]
    assert len(at.selectbox(key="results_ab_b").options) == 2 + 8 + 1 + (expected.greedy.best_prefix_length != 8) + 3
    assert any(o.startswith("Oracle irm") for o in at.selectbox(key="results_ab_b").options)
    labels = [b.label for b in at.download_button]
    assert labels.count("WAV") == n_players
    every_wav = [b for b in at.download_button if b.key and b.key.startswith("dl_all_")]
    assert len(every_wav) == 2 + 2 * 8 + 2 + 2 * (expected.greedy.best_prefix_length != 8)
    assert "N = 3: instrumental" in [b.label for b in every_wav]
    assert {f"Oracle {name} vocal (WAV)" for name in ("irm", "ibm", "wiener")} <= set(labels)  # the A/B's masks too
    assert {"Spectrograms", "Learned EQ curves", "Separation quality", "Take it with you"} <= set(_subheaders(at))
    # The scores are exactly the engine's evaluation of this experiment (the evaluate --json report).
    expected_metrics = evaluate_experiment(
        expected, prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=Settings(level="as_is"))
    )
    scores = at.dataframe[0].value
    assert list(scores["method"]) == [m["name"] for m in expected_metrics["methods"]]
    assert {
        "seed_greedy",
        "seed_greedy_best",
        "exact_eq",
        "irm",
        "ibm",
        "wiener",
        "repet_sim",
        "hpss",
        "mixture",
    } <= set(scores["method"])
    for row, m in zip(scores.to_dict("records"), expected_metrics["methods"]):
        for part in ("vocal", "instrumental"):
            for metric, label in (("si_sdr", "SI-SDR"), ("sdr", "SDR"), ("sir", "SIR"), ("sar", "SAR")):
                if m["name"] == "mixture" and metric == "sar":
                    assert row[f"{part} {label}"] is None or np.isnan(row[f"{part} {label}"])  # shown as "—"
                else:
                    assert row[f"{part} {label}"] == pytest.approx(m[part][metric], abs=1e-6), (m["name"], part, metric)
    # Missing values (no loss for reference methods, no SAR for the mixture) are shown as "—".
    assert at.dataframe[0].proto.placeholder == "—"
    assert all(np.isnan(loss) for loss, kind in zip(scores["loss"], scores["kind"]) if kind != "seed")
    # ★ marks: the lowest loss and the best SI-SDR among the scored runs (the pair is aligned).
    seed = [m for m in expected_metrics["methods"] if m["kind"] == "seed"]
    by_name = dict(zip(scores["method"], scores["mark"]))
    assert "★ lowest loss" in by_name[min(seed, key=lambda m: m["info"]["loss"])["name"]]
    assert "★ best SI-SDR" in by_name[max(seed, key=lambda m: m["vocal"]["si_sdr"])["name"]]
    assert any(e.label.startswith("Glossary") for e in at.expander)
    assert any("lowest loss and the best SI-SDR can be different" in c.value for c in at.caption)

    zip_button = at.download_button[labels.index("Download everything (ZIP)")]
    with zipfile.ZipFile(io.BytesIO(media(zip_button))) as zf:
        names = set(zf.namelist())
        summary = json.loads(zf.read("summary.json"))
        settings_json = json.loads(zf.read("settings.json"))
        metrics_json = json.loads(zf.read("metrics.json"))
        wav = zf.read("3_slices/extracted_vocal.wav")
    assert {
        "1_slices/mixture.wav",
        "1_slices/target.wav",
        "best_sequence_found/extracted_vocal_best_sequence.wav",
        "plots/loss_curves.html",
        "plots/greedy_search.html",
    } <= names
    assert [e["final_loss"] for e in summary["progressive"]] == pytest.approx(
        [r.final_loss for r in expected.progressive]
    )
    assert summary["greedy"]["sequence"] == expected.greedy.sequence
    # metrics.json: the evaluate --json report (its shape and numbers), with this session's file names.
    assert set(metrics_json) == set(expected_metrics)
    assert [m["name"] for m in metrics_json["methods"]] == [m["name"] for m in expected_metrics["methods"]]
    for got, want in zip(metrics_json["methods"], expected_metrics["methods"]):
        assert got["vocal"]["si_sdr"] == pytest.approx(want["vocal"]["si_sdr"], abs=1e-6)
        assert got["instrumental"]["sdr"] == pytest.approx(want["instrumental"]["sdr"], abs=1e-6)
    assert metrics_json["pair"]["mixture"] == "mixture.wav" and metrics_json["pair"]["vocal"] == "vocal.wav"
    assert settings_json == Settings().to_dict()
    assert sf.info(io.BytesIO(wav)).frames == 102_960  # 99 windows × hop 1040, as the research code

    html = media(at.download_button[labels.index("Download the report (HTML)")]).decode()
    assert html.startswith("<!DOCTYPE html>") and html.count("<audio") >= 4 + 8  # a player for every N too
    assert "Analysed the mixture (mixture.wav) and the isolated vocal (vocal.wav)" in html and "<noscript>" in html
    assert "Oracle experiment" in html and "Separation quality" in html
    greedy_entry = next(m for m in expected_metrics["methods"] if m["name"] == "seed_greedy")
    assert f"{greedy_entry['vocal']['si_sdr']:.2f}" in html  # the report shows the same figures

    # Results survive page switches, and the same run again comes from the cache.
    at.switch_page("app_pages/load.py").run()
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    assert len(at.get("audio")) == n_players
    at.switch_page("app_pages/optimise.py").run()
    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    assert any("(from the cache)" in p.proto.text for p in at.get("progress"))


# --- error paths ----------------------------------------------------------------------


def _sample_bytes(role: str) -> bytes:
    return (SAMPLE / f"{role}.wav").read_bytes()


@pytest.mark.parametrize(
    "mixture, other, message",
    [
        (("song.mp3", b"this is a text file, not a song " * 20), ("vocal.wav", None), "is not audio"),
        (("song.wav", b""), ("vocal.wav", None), "empty (0 bytes)"),
        (("song.wav", None), ("vocal.wav", _wav(np.zeros(103_635))), "silent"),
        (("song.wav", None), ("vocal.wav", _wav(np.full(103_635, np.nan), subtype="FLOAT")), "NaN"),
        (("song.wav", None), ("vocal.wav", _wav(0.1 * np.sin(np.arange(22050 * 2)))), "same length"),
        (("long.wav", _wav(np.zeros(8000 * 60 * 21), 8000, "PCM_U8")), ("vocal.wav", None), "the limit is 20 minutes"),
    ],
)
def test_bad_uploads_are_messages_and_keep_the_loaded_pair(mixture, other, message):
    mixture = (mixture[0], mixture[1] if mixture[1] is not None else _sample_bytes("mixture"))
    other = (other[0], other[1] if other[1] is not None else _sample_bytes("vocal"))
    at = _upload(_new_app(), mixture, other)
    assert any(message in e for e in _errors(at)), _errors(at)
    assert f"Loaded: {SAMPLE_LABEL}" in _subheaders(at)  # what was loaded before is kept


def test_instrumental_upload_and_alignment_fix():
    mixture = _sample_bytes("mixture")
    inst, sr = sf.read(io.BytesIO(_sample_bytes("instrumental")), dtype="float32")
    delayed = np.concatenate([np.zeros(40, dtype=np.float32), inst[:-40]])
    at = _upload(_new_app(), ("mix.wav", mixture), ("inst.wav", _wav(delayed, sr, "FLOAT")), kind="instrumental")
    assert not _errors(at)
    assert "Loaded: mix.wav + inst.wav" in _subheaders(at)
    assert {m.label: m.value for m in at.metric}["Lag (samples)"] == "-40"
    fix = [b for b in at.button if b.label.startswith("Fix it")]
    assert fix and not any("aligned with the mixture" in s.value for s in at.success)
    fix[0].click().run()
    _assert_no_exception(at)
    assert {m.label: m.value for m in at.metric}["Lag (samples)"] == "0"
    assert any("aligned with the mixture" in s.value for s in at.success)


def test_settings_apply_change_the_badge_and_reject_what_does_not_fit():
    at = _new_app()
    at.radio(key="set_level").set_value("common")
    at.radio(key="set_pooled").set_value("expand")
    at.button[[b.label for b in at.button].index("Apply settings")].click().run()
    _assert_no_exception(at)
    settings = at.session_state["vsep_settings"]
    assert settings.level == "common" and settings.pooled_windows == "expand"
    assert not settings.is_seed_compatible

    at.radio(key="set_window_mode").set_value("count")
    at.number_input(key="set_n_windows").set_value(100000)
    at.button[[b.label for b in at.button].index("Apply settings")].click().run()
    assert any("windows cannot be made" in e for e in _errors(at))
    assert at.session_state["vsep_settings"] == settings  # unchanged


def test_empty_recording_is_a_plain_message():
    at = _new_app()
    at.radio(key="load_mode").set_value("Record a vocal").run()
    at.audio_input(key="recorder").set_value(("take.wav", _wav(np.zeros(0)), "audio/wav")).run()
    _assert_no_exception(at)
    assert any("The recording came back empty" in e for e in _errors(at))
    assert f"Loaded: {SAMPLE_LABEL}" in _subheaders(at)


def test_a_recording_becomes_the_active_pair():
    at = _new_app()
    at.radio(key="load_mode").set_value("Record a vocal").run()
    sr = 48000
    t = np.arange(int(2.5 * sr)) / sr
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    at.audio_input(key="recorder").set_value(("take.wav", _wav(voice, sr), "audio/wav")).run()
    _assert_no_exception(at)
    assert any("Got a take: 2.5 s, 48000 Hz, mono" in s.value for s in at.success)
    at.button(key="use_take").click().run()
    _assert_no_exception(at)
    assert any(h.startswith("Loaded: Your recording over") for h in _subheaders(at))
    pair = cache.pair(at.session_state["vsep_source"], at.session_state["vsep_settings"])
    assert pair.duration_s == pytest.approx(2.5, abs=0.01)


def test_sessions_do_not_see_each_others_uploads():
    first, second = _new_app(), _new_app()
    _upload(first, ("mine.wav", _sample_bytes("mixture")), ("my_vocal.wav", _sample_bytes("vocal")))
    assert "Loaded: " + escape.plain("mine.wav + my_vocal.wav") in _subheaders(first)
    second.run()
    assert f"Loaded: {SAMPLE_LABEL}" in _subheaders(second)
    assert second.session_state["vsep_source"].label == SAMPLE_LABEL


def _run_and_open_results(at: AppTest, n: int) -> None:
    """Run the progressive test over N = 1 … n on Optimise, then open Results (no error either time)."""
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(n).run()
    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    assert not _errors(at)


def _results_downloads(at: AppTest, media) -> tuple[dict, str]:
    """Run a short progressive test, open Results; the ZIP's summary.json and the HTML report."""
    _run_and_open_results(at, 2)
    labels = [b.label for b in at.download_button]
    with zipfile.ZipFile(io.BytesIO(media(at.download_button[labels.index("Download everything (ZIP)")]))) as zf:
        summary = json.loads(zf.read("summary.json"))
    html = media(at.download_button[labels.index("Download the report (HTML)")]).decode()
    return summary, html


def test_identical_bytes_under_other_names_never_show_the_first_visitors_names(media):
    """Caches are keyed on content: a second visitor with the same bytes must still see only their own names."""
    mixture, vocal = _sample_bytes("mixture"), _sample_bytes("vocal")
    names = {"first": ("alpha_song.wav", "alpha_voice.wav"), "second": ("beta_song.wav", "beta_voice.wav")}
    apps = {who: _upload(_new_app(), (mix, mixture), (voc, vocal)) for who, (mix, voc) in names.items()}
    seen = {who: _results_downloads(at, media) for who, at in apps.items()}  # the second one from the caches
    for who, at in apps.items():
        other = "second" if who == "first" else "first"
        mine, theirs = names[who], names[other]
        summary, html = seen[who]
        assert summary["pair"]["mixture"] == mine[0] and summary["pair"]["vocal"] == mine[1]
        assert summary["pair"]["label"] == f"{mine[0]} + {mine[1]}"
        text = json.dumps(summary) + html + " ".join(m.value for m in at.sidebar.markdown)
        assert mine[0] in html and mine[0].replace("_", "\\_") in " ".join(m.value for m in at.sidebar.markdown)
        assert not any(name in text or name.replace("_", "\\_") in text for name in theirs), who
        # The same engine numbers for both: only the names differ.
    assert seen["first"][0]["progressive"] == seen["second"][0]["progressive"]


def test_an_unexpected_error_is_a_short_message(monkeypatch):
    def broken(*args):
        raise RuntimeError("something deep inside broke")

    monkeypatch.setattr(cache, "waveforms", broken)
    at = _new_app()
    assert any("unexpected problem" in e and "RuntimeError" in e for e in _errors(at))
    assert not any(e.label.startswith("Technical details") for e in at.expander)  # no traceback for visitors
    assert not any("something deep inside" in e for e in _errors(at))
    assert not at.code  # no traceback for a visitor


def test_the_person_running_the_server_can_ask_for_tracebacks(monkeypatch):
    def broken(*args):
        raise RuntimeError("something deep inside broke")

    monkeypatch.setattr(cache, "waveforms", broken)
    monkeypatch.setenv("VSEP_SHOW_TRACEBACKS", "1")
    at = _new_app()
    details = [e for e in at.expander if e.label.startswith("Technical details")]
    assert len(details) == 1 and "something deep inside broke" in details[0].code[0].value
    assert f"Loaded: {SAMPLE_LABEL}" in _subheaders(at)  # the rest of the page is still there


# --- app-side helpers -----------------------------------------------------------------


def test_choices_survive_a_visit_to_another_page():
    at = _new_app()
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(5).run()
    at.radio(key="opt_method").set_value("iterative").run()
    at.switch_page("app_pages/load.py").run()
    at.radio(key="load_mode").set_value("Upload files").run()
    at.switch_page("app_pages/optimise.py").run()
    assert at.slider(key="opt_n").value == 5
    assert at.radio(key="opt_method").value == "iterative"
    at.switch_page("app_pages/load.py").run()
    assert at.radio(key="load_mode").value == "Upload files"


@pytest.mark.parametrize("level", ["independent", "common", "as_is"])
def test_the_scores_table_is_the_engines_evaluation_at_every_level(level):
    """For each level, Results shows exactly evaluate_experiment's report for the same pair and settings."""
    at = _new_app()
    if level != "independent":
        at.radio(key="set_level").set_value(level)
        at.button[[b.label for b in at.button].index("Apply settings")].click().run()
    settings = at.session_state["vsep_settings"]
    assert settings.level == level
    _run_and_open_results(at, 3)

    engine_pair = prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=settings)
    result = run_experiment(engine_pair, settings, max_slices=3, greedy=False)
    truth = prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=settings.replace(level="as_is"))
    expected = evaluate_experiment(result, truth)
    table = at.dataframe[0].value
    assert list(table["method"]) == [m["name"] for m in expected["methods"]]
    for row, m in zip(table.to_dict("records"), expected["methods"]):
        assert row["vocal SI-SDR"] == pytest.approx(m["vocal"]["si_sdr"], abs=1e-6), m["name"]
        assert row["vocal SDR"] == pytest.approx(m["vocal"]["sdr"], abs=1e-6), m["name"]
        assert row["instrumental SI-SDR"] == pytest.approx(m["instrumental"]["si_sdr"], abs=1e-6), m["name"]
    # Above the table, the verdict in plain words (the presenter's rows said in sentences), its figures one
    # click away.
    said = verdict(score_table(expected))
    assert [i.value for i in at.info][:1] == [plain(said.text)] and "the vocal" in said.text
    behind = next(e for e in at.expander if e.label == "The numbers behind this sentence")
    assert [tuple(r) for r in behind.table[0].value.itertuples(index=False)] == list(said.numbers)


def test_results_scores_a_result_once_the_prefetch_and_every_rerun_share_it(monkeypatch):
    """The scores prefetched on Optimise are the ones Results shows, and a rerun of Results (a widget moved)
    does not score the runs again: the engine's scoring is called once per result."""
    from vsep_app import dispatch, memo

    memo.clear_all()  # a result another test scored would be found already
    calls = []
    scoring = dispatch.evaluation
    monkeypatch.setattr(dispatch, "evaluation", lambda *a, **k: calls.append(1) or scoring(*a, **k))
    at = _new_app()
    _run_and_open_results(at, 2)
    first = at.dataframe[0].value
    at.run(timeout=RUN_TIMEOUT)  # another run of the page, as any widget causes
    _assert_no_exception(at)
    assert at.dataframe[0].value.equals(first)
    assert len(calls) == 1, f"the runs were scored {len(calls)} times"


def test_a_long_segment_plays_the_run_chosen_and_makes_only_the_wavs_it_plays(monkeypatch):
    """Over EVERY_RUN_PLAYED_MAX_S, Results plays one run at a time (a player per run would make and hold ~22 WAVs
    of the whole segment): the runs' WAVs are made when read (report.Files), so a run of the page makes only the
    ones it plays, and choosing another run plays that run's WAV."""
    from vsep_app import limits
    from vsep_core import report

    monkeypatch.setattr(limits, "EVERY_RUN_PLAYED_MAX_S", 3.0)  # the 4.7 s sample counts as long
    at = _new_app()
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(3).run()
    at.button(key="run_both").click().run(timeout=RUN_TIMEOUT)
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    heard = at.selectbox(key="results_run_heard")
    # Every run: the progressive test's, then the greedy search's (its order, its complement, a best prefix).
    assert [o.split(" ·")[0] for o in heard.options][:4] == ["N = 1", "N = 2", "N = 3", "Greedy order (3 slices)"]
    assert heard.options[4] == "Greedy instrumental estimate" and len(heard.options) in (5, 6)
    assert "★ lowest loss" in heard.value
    players = len(at.get("audio"))
    made = []
    writer = report.wav_bytes
    monkeypatch.setattr(report, "wav_bytes", lambda y, sr: made.append(len(y)) or writer(y, sr))
    at.run(timeout=RUN_TIMEOUT)  # another run of the page, as any widget causes
    _assert_no_exception(at)
    assert len(made) == 2, made  # the best run's complement (a top player) and the run heard
    before = {a.proto.url for a in at.get("audio")}
    other = next(o for o in heard.options if o != heard.value)
    at.selectbox(key="results_run_heard").set_value(other).run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    assert len(at.get("audio")) == players
    assert len({a.proto.url for a in at.get("audio")} - before) == 1  # that run's WAV in the one player


def test_results_of_a_pair_that_is_not_aligned_show_the_verdict_first_and_hide_the_scores():
    t = np.arange(103_635) / 22050
    unrelated = 0.3 * np.sin(2 * np.pi * 330 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t))
    at = _upload(_new_app(), ("song.wav", _sample_bytes("mixture")), ("other_vocal.wav", _wav(unrelated)))
    assert not _errors(at)
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(1).run()
    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    assert at.warning and "mean nothing until the pair is aligned" in at.warning[0].value  # the first alert
    hidden = [e for e in at.expander if e.label.startswith("Scores of the pair as it is")]
    assert len(hidden) == 1 and len(hidden[0].dataframe) == 1  # the table is inside it
    assert "★ best SI-SDR" not in " ".join(at.dataframe[0].value["mark"])  # no quality mark without alignment


def test_runs_of_a_long_segment_stay_out_of_the_shared_caches():
    """Over limits.SHARED_MAX_S, the runs (every run's audio) live in the session only: never computed for another."""
    seconds = limits.SHARED_MAX_S + 5
    tiled = {}
    for role in ("mixture", "vocal"):
        y, sr = sf.read(SAMPLE / f"{role}.wav", dtype="float32")
        tiled[role] = _wav(np.tile(y, int(np.ceil(seconds * sr / len(y))))[: int(seconds * sr)], sr)
    at = _upload(_new_app(), ("long_song.wav", tiled["mixture"]), ("long_vocal.wav", tiled["vocal"]))
    at.radio(key="set_length_mode").set_value("whole")
    at.button[[b.label for b in at.button].index("Apply settings")].click().run(timeout=RUN_TIMEOUT)
    assert not _errors(at)
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(1).run()
    for _ in range(2):
        at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
        _assert_no_exception(at)
        done = [p.proto.text for p in at.get("progress") if "Progressive test done" in p.proto.text]
        assert done and "(from the cache)" not in done[0]  # computed again: nothing of it was kept to share
    assert at.session_state["vsep_progressive"].outcome.runs[0].n == 1


def test_the_st_audiorec_recorder_is_drawn_when_the_server_asks_for_it(monkeypatch):
    """VSEP_RECORDER=st-audiorec: the Load page draws st-audiorec's component instead of st.audio_input."""
    monkeypatch.setenv("VSEP_RECORDER", "st-audiorec")
    at = _new_app()
    at.radio(key="load_mode").set_value("Record a vocal").run()
    _assert_no_exception(at)
    assert not at.get("audio_input")  # the default recorder is not drawn
    (component,) = at.get("component_instance")
    assert "st_audiorec" in component.proto.component_name and "recorder_audiorec" in component.proto.id


def test_joint_matching_and_which_slices_help_on_optimise(sample_pair):
    """Issue #12 in the dashboard: the joint method's scores and the attribution are the engine's."""
    from vsep_core.analysis import analyse
    from vsep_core.attribute import attribute_slices
    from vsep_core.evaluate import evaluate_joint
    from vsep_core.joint import JointSettings, run_joint

    at = _new_app()
    at.switch_page("app_pages/optimise.py").run()
    _assert_no_exception(at)
    at.number_input(key="joint_steps").set_value(40)
    at.button(key="run_joint").click().run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    assert not _errors(at)
    assert any(p.proto.text.startswith("Joint matching done") for p in at.get("progress"))
    truth = prepare_pair(SAMPLE / "mixture.wav", vocal=SAMPLE / "vocal.wav", settings=Settings(level="as_is"))
    joint = JointSettings(steps=40)
    analysis = analyse(sample_pair, Settings(), views=("slice_0_raw",))
    expected = evaluate_joint(run_joint(analysis, joint), analysis, truth, joint=joint, methods=())
    shown = {m.label: m.value for m in at.metric}
    assert shown["Vocal SI-SDR"] == f"{expected['methods'][0]['vocal']['si_sdr']:.2f} dB"
    assert any(b.label == "Download the joint vocal (WAV)" for b in at.download_button)

    at.slider(key="opt_n").set_value(3)
    at.button(key="run_attribution").click().run(timeout=RUN_TIMEOUT)
    _assert_no_exception(at)
    assert not _errors(at)
    found = at.session_state["vsep_attribution"][1]
    order = list(at.multiselect(key="opt_order").value)[:3]
    engine = attribute_slices(truth, Settings(), order=order)
    assert found == engine
    assert any("The chain of 3 slices scores" in t for t in _chart_titles(at))
    (table,) = [d.value for d in at.dataframe if "loss_without" in d.value.columns]  # the losses beside the figures
    assert list(table["loss_without"]) == pytest.approx([row["loss_without"] for row in engine["slices"]])
