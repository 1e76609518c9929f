"""Results page: full-quality audio (issue #21) beside the analysis-rate audio, with its rate, channels and scores."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from stereo_support import stereo_pair
from streamlit.testing.v1 import AppTest
from test_app import media  # noqa: F401 - the fixture that reads a player's or a download's file

from vsep_core import api
from vsep_core.audio import prepare_pair
from vsep_core.settings import Settings

APP = str(Path(__file__).resolve().parents[1] / "app.py")
RUN_TIMEOUT = 90


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error]


def _scores(at: AppTest):
    """The full-quality scores table (the one with an "audio" column)."""
    return next(d.value for d in at.dataframe if "audio" in d.value.columns)


def _load(mixture: bytes, vocal: bytes) -> AppTest:
    """A session that uploaded ``mixture`` and its ``vocal`` and pressed Load these files."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.radio(key="load_mode").set_value("Upload files").run()
    at.radio(key="upload_kind").set_value("vocal").run()
    at.file_uploader(key="upload_mixture").set_value(("song.wav", mixture, "audio/wav"))
    at.file_uploader(key="upload_other").set_value(("voice.wav", vocal, "audio/wav"))
    at.run()
    at.button[[b.label for b in at.button].index("Load these files")].click().run()
    return at


def _upload_and_run(mixture: bytes, vocal: bytes, n: int = 2) -> AppTest:
    at = _load(mixture, vocal)
    _ok(at)
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(n).run()
    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _ok(at)
    return at


def test_results_plays_and_scores_the_full_quality_audio_of_a_44k_stereo_upload(media):  # noqa: F811
    mixture, vocal, _ = stereo_pair(seconds=6.0)
    at = _upload_and_run(mixture, vocal)
    text = " ".join(m.value for m in at.markdown)
    # Which segment was analysed, and how to choose another.
    assert "Analysed: 0 s to 4.7 s of the song (the song lasts 0:06)**, at 22050 Hz mono" in text
    assert "*Segment start* and *Segment length* under **Analysis settings** on the Load audio page" in text
    assert "Full quality" in [h.value for h in at.subheader]
    captions = " ".join(c.value for c in at.caption)
    assert "**44100 Hz stereo**, against the analysis's 22050 Hz mono" in captions
    assert "Above 9.9 kHz" in captions and "each channel scored on its own and the figures averaged" in captions
    assert "**Vocal at full quality (44100 Hz stereo)**" in text
    assert "**Instrumental at full quality (44100 Hz stereo)**" in text

    # The players and downloads hold 44.1 kHz stereo WAVs of the analysed segment.
    full = [
        info for info in (sf.info(io.BytesIO(media(a.proto.url))) for a in at.get("audio")) if info.samplerate == 44100
    ]
    assert len(full) == 2 and all(i.channels == 2 and i.frames == int(4.7 * 44100) for i in full)
    download = next(b for b in at.download_button if "dl_full_quality_target" in b.proto.id)
    info = sf.info(io.BytesIO(media(download)))
    assert (info.samplerate, info.channels) == (44100, 2)

    # Its scores: the engine's figures for the lowest-loss run, beside the analysis-rate ones.
    table = _scores(at)
    assert list(table["audio"]) == ["Full quality (44100 Hz stereo)", "Analysis rate (22050 Hz mono)"]
    settings = Settings()
    pair = prepare_pair(mixture, vocal=vocal, settings=settings)
    prog = at.session_state["vsep_progressive"].outcome
    best = min(prog.runs, key=lambda r: r.final_loss)
    expected = api.full_quality(mixture, pair, settings, slices=best.slices, target=vocal).scores["vocal"]
    row = table.to_dict("records")[0]
    assert row["SI-SDR (dB)"] == pytest.approx(expected["si_sdr"], abs=1e-6)
    assert row["SAR (dB)"] == pytest.approx(expected["sar"], abs=1e-6)
    assert np.isfinite(table.to_dict("records")[1]["SI-SDR (dB)"])


def test_another_run_can_be_heard_at_full_quality():
    mixture, vocal, _ = stereo_pair(seconds=5.0, seed=2)
    at = _upload_and_run(mixture, vocal, n=2)
    box = at.selectbox(key="full_quality_run")
    others = [o for o in box.options if "lowest loss" not in o]
    box.set_value(others[0]).run(timeout=RUN_TIMEOUT)
    _ok(at)
    assert _scores(at)["audio"][0] == "Full quality (44100 Hz stereo)"


def test_a_take_longer_than_the_segment_is_kept_and_the_page_says_which_part_is_analysed():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.radio(key="load_mode").set_value("Record a vocal").run()
    # The default sample's instrumental is 4.7 s: the take is cut to it, and the page says so.
    sr = 48000
    t = np.arange(int(6.2 * sr)) / sr
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    buf = io.BytesIO()
    sf.write(buf, voice.astype(np.float32), sr, format="WAV")
    at.audio_input(key="recorder").set_value(("take.wav", buf.getvalue(), "audio/wav")).run()
    _ok(at)
    assert any(
        "Your take is 6.2 s long but the instrumental only 4.7 s: the mix keeps the first 4.7 s" in i.value
        for i in at.info
    ), [i.value for i in at.info]
    # Over a 10 s instrumental, the whole take is mixed and kept; the analysed segment is said.
    from vsep_app import sample

    ballad = next(p for p in sample.pairs() if p.title.startswith("Ballad"))
    at.selectbox(key="rec_sample").set_value(ballad).run()
    _ok(at)
    note = "Your take is 6.2 s long. All of it is kept; the analysis reads 0 s to 4.7 s of it"
    assert any(note in i.value for i in at.info), [i.value for i in at.info]
    at.button(key="use_take").click().run()
    _ok(at)
    source = at.session_state["vsep_source"]
    kept = sf.info(io.BytesIO(source.mixture))
    assert kept.duration == pytest.approx(6.2, abs=0.01)  # the whole take, not the segment
    shown = " ".join(t.value for t in at.toast)  # the notice after loading
    assert "Your recording is the active pair. " + note in shown
    from vsep_app import cache

    whole = cache.pair(source, at.session_state["vsep_settings"].replace(duration_s=None))
    assert whole.duration_s == pytest.approx(6.2, abs=0.01)  # "Whole song" analyses all of it


def test_a_long_segment_is_made_at_full_quality_when_asked_and_kept_in_the_session_only(monkeypatch, media):  # noqa: F811
    from vsep_app import limits

    monkeypatch.setattr(limits, "SHARED_MAX_S", 3.0)  # the 4.7 s segment counts as long: out of the shared caches
    mixture, vocal, _ = stereo_pair(seconds=5.0, seed=3)
    at = _upload_and_run(mixture, vocal, n=1)

    def full_players() -> int:
        return sum(sf.info(io.BytesIO(media(a.proto.url))).samplerate == 44100 for a in at.get("audio"))

    assert full_players() == 0 and "vsep_full_quality" not in at.session_state
    # The page says that a long segment keeps one full-quality result at a time, before and after it is made.
    from vsep_app.full_quality_view import ONE_KEPT

    assert sum(ONE_KEPT in c.value for c in at.caption) == 1
    next(b for b in at.button if b.key.startswith("make_full_quality")).click().run(timeout=RUN_TIMEOUT)
    _ok(at)
    assert full_players() == 2 and _scores(at)["audio"][0] == "Full quality (44100 Hz stereo)"
    assert sum(c.value == ONE_KEPT for c in at.caption) == 1
    # Another rerun (a page visit and back) shows it again without the button: kept in this session.
    at.switch_page("app_pages/optimise.py").run()
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _ok(at)
    assert full_players() == 2 and not [b for b in at.button if b.key.startswith("make_full_quality")]
    assert at.session_state["vsep_full_quality"][1]["sr"] == 44100


def test_the_joint_result_is_offered_at_full_quality_on_optimise(media):  # noqa: F811
    mixture, vocal, _ = stereo_pair(seconds=5.0, seed=4)
    at = _load(mixture, vocal)
    at.switch_page("app_pages/optimise.py").run()
    at.number_input(key="joint_steps").set_value(30)
    at.button(key="run_joint").click().run(timeout=RUN_TIMEOUT)
    _ok(at)
    assert any(m.value.startswith("**At full quality**") for m in at.markdown)
    table = _scores(at)
    assert list(table["audio"]) == ["Full quality (44100 Hz stereo)", "Analysis rate (22050 Hz mono)"]
    outcome = at.session_state["vsep_joint"][3]
    settings = Settings()
    expected = api.full_quality(
        mixture, prepare_pair(mixture, vocal=vocal, settings=settings), settings, eq=outcome.result.eq, target=vocal
    ).scores["vocal"]
    assert table["SI-SDR (dB)"][0] == pytest.approx(expected["si_sdr"], abs=1e-6)
    assert table["SI-SDR (dB)"][1] == pytest.approx(outcome.scores["methods"][0]["vocal"]["si_sdr"], abs=1e-6)
    download = next(b for b in at.download_button if "dl_joint_full_quality_target" in b.proto.id)
    info = sf.info(io.BytesIO(media(download)))
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, int(4.7 * 44100))


def _delayed(wav: bytes, seconds: float) -> bytes:
    """The same file ``seconds`` late (silence first, the end cut): a pair that is not aligned."""
    x, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    late = np.concatenate([np.zeros((int(seconds * sr), x.shape[1]), np.float32), x])[: len(x)]
    buf = io.BytesIO()
    sf.write(buf, late, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def test_optimise_leaves_out_the_joint_full_quality_scores_of_a_pair_that_is_not_aligned():
    """As Results does: the full-quality audio is offered, its scores are not (they would measure the misfit)."""
    from vsep_app.full_quality_view import NOT_ALIGNED_NOTE

    mixture, vocal, _ = stereo_pair(seconds=5.0, seed=5)
    at = _load(mixture, _delayed(vocal, 0.1))
    _ok(at)
    assert not _aligned(at)  # the app's own check says so (and Load audio offers to fix it)
    at.switch_page("app_pages/optimise.py").run()
    at.number_input(key="joint_steps").set_value(20)
    at.button(key="run_joint").click().run(timeout=RUN_TIMEOUT)
    _ok(at)
    assert any(m.value.startswith("**At full quality**") for m in at.markdown)
    assert any("dl_joint_full_quality_target" in b.proto.id for b in at.download_button)  # the audio is offered
    assert NOT_ALIGNED_NOTE in [c.value for c in at.caption]
    assert not [d for d in at.dataframe if "audio" in d.value.columns]  # no full-quality scores table


def test_the_zip_leaves_out_the_full_quality_scores_of_a_pair_that_is_not_aligned(media):  # noqa: F811
    """Results offers the full-quality audio of a misfit pair without its scores; the ZIP, its report and
    full_quality.json say the same (the audio, no scores), as they do for the joint result."""
    import json
    import zipfile

    from vsep_app.full_quality_view import NOT_ALIGNED_NOTE

    mixture, vocal, _ = stereo_pair(seconds=6.0, seed=7)
    at = _upload_and_run(mixture, _delayed(vocal, 0.1))
    assert not _aligned(at)
    assert NOT_ALIGNED_NOTE in [c.value for c in at.caption]
    assert not [d for d in at.dataframe if "audio" in d.value.columns]  # the page: no full-quality scores
    zipped = zipfile.ZipFile(io.BytesIO(media(next(b for b in at.download_button if "dl_zip" in b.proto.id))))
    best = str(min(at.session_state["vsep_progressive"].outcome.runs, key=lambda r: r.final_loss).n)
    assert f"{best}_slices/extracted_vocal_full_quality.wav" in zipped.namelist()  # the audio travels
    stored = json.loads(zipped.read("full_quality.json"))["runs"][best]
    assert stored["scores"] is None, stored["scores"]
    report = zipped.read("report.html").decode()
    assert f"<td>N = {best}, full quality (44100 Hz stereo)</td>" not in report  # no row of scores for it


def _aligned(at: AppTest) -> bool:
    """The app's own alignment check of the active pair with the active settings."""
    from vsep_app import cache

    return cache.alignment(at.session_state["vsep_source"], at.session_state["vsep_settings"])["aligned"]


def test_results_makes_the_quick_scores_only_when_the_full_quality_table_shows_them(monkeypatch):
    """A long segment (its scores and its full-quality audio each wait for a button): the runs' SI-SDR is not
    computed for a table that is not drawn; once the audio is made, its analysis-rate row shows them."""
    from vsep_app import cache, limits

    monkeypatch.setattr(limits, "SHARED_MAX_S", 3.0)  # the 4.7 s segment counts as long
    monkeypatch.setattr(limits, "AUTO_MEASURE_S", 3.0)  # and its scores wait for their button
    calls = []
    quick_scores = cache.quick_scores
    monkeypatch.setattr(cache, "quick_scores", lambda *a: calls.append(a) or quick_scores(*a))
    mixture, vocal, _ = stereo_pair(seconds=5.0, seed=6)
    at = _upload_and_run(mixture, vocal, n=1)
    assert [b for b in at.button if b.key == "measure_quality"]  # nothing measured
    assert calls == []
    next(b for b in at.button if b.key.startswith("make_full_quality")).click().run(timeout=RUN_TIMEOUT)
    _ok(at)
    assert len(calls) >= 1
    row = _scores(at).to_dict("records")[-1]
    assert row["audio"] == "Analysis rate (22050 Hz mono)" and np.isfinite(row["SI-SDR (dB)"])


def test_the_zip_and_the_report_hold_the_full_quality_audio_made_on_results(media):  # noqa: F811
    import json
    import zipfile

    mixture, vocal, _ = stereo_pair(seconds=6.0)
    at = _upload_and_run(mixture, vocal)
    zipped = zipfile.ZipFile(io.BytesIO(media(next(b for b in at.download_button if "dl_zip" in b.proto.id))))
    names = zipfile.ZipFile.namelist(zipped)
    best = str(min(at.session_state["vsep_progressive"].outcome.runs, key=lambda r: r.final_loss).n)
    wav = f"{best}_slices/extracted_vocal_full_quality.wav"
    assert wav in names and f"{best}_slices/extracted_instrumental_full_quality.wav" in names
    info = sf.info(io.BytesIO(zipped.read(wav)))
    assert (info.samplerate, info.channels) == (44100, 2)
    readme = zipped.read("README.txt").decode()
    assert f"Made for: N = {best}." in readme and "(44100 Hz stereo)" in readme
    stored = json.loads(zipped.read("full_quality.json"))["runs"][best]
    table = _scores(at).to_dict("records")[0]  # the page's figures
    assert stored["scores"]["vocal"]["si_sdr"] == pytest.approx(table["SI-SDR (dB)"], abs=1e-9)
    report = zipped.read("report.html").decode()
    assert f"<td>N = {best}, full quality (44100 Hz stereo)</td>" in report
    assert f"{table['SI-SDR (dB)']:.2f}" in report[report.index("At full quality") :]
    assert any("full-quality audio you made" in c.value for c in at.caption)


def test_the_joint_result_at_full_quality_goes_into_the_zip_the_report_and_a_shared_result(
    media,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """Issue #21: "every result including joint". The joint result made at full quality on Optimise travels with
    the results: its WAVs at the file's own rate and channels in the ZIP (named in full_quality.json with the
    scores Optimise showed), its row in the report's full-quality table, and its audio in a shared result."""
    import json
    import zipfile

    from vsep_core.store import Store, read_json

    monkeypatch.setenv("VSEP_STORE", str(tmp_path / "store"))
    mixture, vocal, _ = stereo_pair(seconds=5.0, seed=6)
    at = _load(mixture, vocal)
    at.switch_page("app_pages/optimise.py").run()
    at.number_input(key="joint_steps").set_value(20)
    at.button(key="run_joint").click().run(timeout=RUN_TIMEOUT)
    at.slider(key="opt_n").set_value(1).run()
    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    _ok(at)
    shown = _scores(at)  # the joint's full-quality scores on Optimise
    at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
    _ok(at)

    labels = [b.label for b in at.download_button]
    with zipfile.ZipFile(io.BytesIO(media(at.download_button[labels.index("Download everything (ZIP)")]))) as zf:
        names = zf.namelist()
        found = json.loads(zf.read("full_quality.json"))
        joint_wav = zf.read("joint/extracted_vocal_full_quality.wav")
    assert "joint/extracted_instrumental_full_quality.wav" in names
    info = sf.info(io.BytesIO(joint_wav))
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, int(4.7 * 44100))
    assert set(found["runs"]) == {"1", "joint"}  # the run chosen on Results (the default) and the joint result
    assert found["runs"]["joint"]["scores"]["vocal"]["si_sdr"] == pytest.approx(shown["SI-SDR (dB)"][0], abs=1e-6)
    html = media(at.download_button[labels.index("Download the report (HTML)")]).decode()
    full_table = html[html.index("<h2>At full quality</h2>") :]
    assert "joint matching" in full_table and "N = 1" in full_table

    at.button[[b.label for b in at.button].index("Publish and get a link")].click().run(timeout=RUN_TIMEOUT)
    _ok(at)
    store = Store()
    record = store.get(at.session_state["vsep_last_published"]["id"])
    share = read_json(store, record, "share.json")
    entries = {e["label"]: e for e in share["full_quality"]}
    assert set(entries) == {"1", "joint"} and entries["joint"]["audio"]
    flac = sf.info(io.BytesIO(store.read_file(record, entries["joint"]["audio"])))
    assert (flac.samplerate, flac.channels) == (44100, 2)
