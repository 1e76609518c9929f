"""Full-quality output (issue #21): a result's EQ curves on the original mixture at its own rate and channels."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import soundfile as sf
from stereo_support import stereo_pair

from vsep_core import api
from vsep_core import full_quality as fq
from vsep_core.analysis import analyse
from vsep_core.audio import prepare_pair, to_true_scale
from vsep_core.errors import VsepError
from vsep_core.evaluate import load_pair
from vsep_core.metrics import si_sdr
from vsep_core.optimise import run_chain
from vsep_core.reconstruct import vocal_from_db
from vsep_core.settings import Settings
from vsep_core.views import RAW, SLICE_NAMES


@pytest.fixture(scope="module")
def eval_analysis(eval_pair_dir):
    settings = Settings()
    pair = prepare_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav", settings=settings)
    return pair, analyse(pair, settings, views=SLICE_NAMES)


# --- at the analysis rate and mono, it is the analysis's reconstruction --------------------------------


@pytest.mark.parametrize("slices", [(), tuple(SLICE_NAMES[:3]), tuple(SLICE_NAMES)])
def test_without_floors_it_is_the_analysis_reconstruction_to_float32(eval_pair_dir, slices):
    # top_db 1000 switches the optimiser's 80 dB floors off: then the analysis's final spectrogram is exactly
    # the mixture's times the curves read onto its bins, and applying the curves to the mixture's own STFT
    # must give the same audio to float32 rounding (1e-5 relative; measured 2e-7 to 4e-7).
    settings = Settings(top_db=1000.0)
    pair = prepare_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav", settings=settings)
    analysis = analyse(pair, settings, views=(RAW, *slices))
    chain = run_chain(analysis, slices, keep_eq=True)
    reference = vocal_from_db(chain.final_db, analysis)
    out = fq.apply_eq(
        pair.mixture,
        settings.sr,
        api.seed_eq(analysis, slices),
        analysis_sr=settings.sr,
        analysis_hop=analysis.hop_length,
        n_fft=settings.n_fft,
    )
    assert out.shape == (1, pair.n_samples)  # as long as the segment (the analysis's inverse STFT is 675 short)
    error = out[0, : len(reference)] - reference
    assert np.linalg.norm(error) / np.linalg.norm(reference) < 1e-5


@pytest.mark.parametrize("slices", [(), tuple(SLICE_NAMES[:8]), tuple(SLICE_NAMES)])
def test_with_the_seed_floors_it_stays_within_two_percent_and_the_same_si_sdr(eval_analysis, eval_pair_dir, slices):
    # With the default 80 dB floors, every pass lifts bins quieter than the matrix's peak − 80 dB back up to
    # that floor; the curves alone do not. That noise floor is the only difference: measured relative error
    # 3e-4 (polish), 1.7e-3 (8 slices), 1.2e-2 (18 slices), SI-SDR within 0.02 dB.
    pair, analysis = eval_analysis
    chain = run_chain(analysis, slices, keep_eq=True)
    reference = vocal_from_db(chain.final_db, analysis)
    out = fq.apply_eq(
        pair.mixture,
        pair.sr,
        api.seed_eq(analysis, slices),
        analysis_sr=pair.sr,
        analysis_hop=analysis.hop_length,
        n_fft=analysis.settings.n_fft,
    )[0]
    assert np.linalg.norm(out[: len(reference)] - reference) / np.linalg.norm(reference) < 2e-2
    truth = load_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav")
    assert si_sdr(truth.vocal, to_true_scale(out, pair)) == pytest.approx(
        si_sdr(truth.vocal, to_true_scale(reference, pair)), abs=0.05
    )


def test_total_eq_adds_each_pass_over_the_windows_it_covers():
    a = np.ones((4, 10), dtype=np.float32)
    pooled = np.full((4, 5), 2.0, dtype=np.float32)  # seed mode: a pooled pass covers the first half only
    total = fq.total_eq([a, pooled], 10)
    assert total.shape == (4, 10)
    assert np.all(total[:, :5] == 3.0) and np.all(total[:, 5:] == 1.0)
    with pytest.raises(VsepError, match="do not fit"):
        fq.total_eq([a, np.ones((3, 10))], 10)
    with pytest.raises(VsepError, match="at least one pass"):
        fq.total_eq([], 10)


# --- at the original rate and channels -------------------------------------------------------------------


def test_gains_line_up_in_time_and_frequency_at_twice_the_rate():
    # 44.1 kHz over a 22.05 kHz analysis: n_fft 4096, hop 2080, frame f at window f; bin k at bin k's frequency.
    assert fq.full_rate_frame(44100, 22050, 2048, 1040) == (4096, 2080)
    rng = np.random.default_rng(1)
    eq = rng.uniform(-20, 20, (400, 7)).astype(np.float32)
    gains = fq.frame_gains_db(
        eq, analysis_sr=22050, analysis_hop=1040, sr=44100, n_fft=4096, hop_length=2080, n_frames=9
    )
    at_analysis = fq.frame_gains_db(
        eq, analysis_sr=22050, analysis_hop=1040, sr=22050, n_fft=2048, hop_length=1040, n_frames=7
    )
    np.testing.assert_allclose(gains[:1025, :7], at_analysis, rtol=1e-6, atol=1e-5)
    assert np.all(gains[1025:, :7] == gains[1024, :7])  # above the analysis Nyquist: the last band's gain
    assert np.all(gains[:, 7:] == gains[:, 6:7])  # after the last window: its gain
    held = fq.frame_gains_db(
        eq,
        analysis_sr=22050,
        analysis_hop=1040,
        sr=44100,
        n_fft=4096,
        hop_length=2080,
        n_frames=7,
        held_hz=fq.held_frequency(44100, 22050),
    )
    k = int(np.ceil(fq.HELD_SHARE * 11025 / (44100 / 4096)))  # first bin above the held frequency
    assert np.allclose(held[k:], held[k]) and not np.allclose(held[k - 5], held[k])
    np.testing.assert_allclose(held[: k - 1], gains[: k - 1, :7])


def test_gains_are_interpolated_in_time_when_the_hop_does_not_scale_to_whole_samples():
    frame, hop = fq.full_rate_frame(48000, 22050, 2048, 1040)
    assert (frame, hop) == (4458, 2264)
    eq = np.stack([np.arange(5, dtype=np.float32)] * 3)  # 0, 1, 2 … dB over windows, flat over frequency
    gains = fq.frame_gains_db(
        eq, analysis_sr=22050, analysis_hop=1040, sr=48000, n_fft=frame, hop_length=hop, n_frames=5
    )
    expected = np.minimum(np.arange(5) * hop / 48000 * 22050 / 1040, 4)  # the window position of each frame
    np.testing.assert_allclose(gains[0], expected, rtol=1e-5)
    np.testing.assert_allclose(gains, np.broadcast_to(gains[0], gains.shape), rtol=1e-6)


def test_api_full_quality_keeps_the_files_rate_and_channels_and_scores_them():
    mixture, vocal, instrumental = stereo_pair()
    settings = Settings(duration_s=2.5)
    pair = prepare_pair(mixture, vocal=vocal, settings=settings)
    slices = tuple(SLICE_NAMES[:2])
    out = api.full_quality(mixture, pair, settings, slices=slices, target=vocal)
    est = out.estimate
    assert (est.sr, est.channels, est.n_samples) == (44100, 2, int(2.5 * 44100))
    assert est.held_hz == pytest.approx(0.9 * 11025)
    assert est.target_raw.dtype == np.float32 and np.isfinite(est.target_raw).all()
    # The two channels differ (the stereo image is kept, not a copied mono).
    assert not np.allclose(est.target_raw[0], est.target_raw[1])
    # Real content above the analysis Nyquist, where the analysis-rate estimate has none.
    spectrum = np.abs(np.fft.rfft(est.target_raw[0]))
    freqs = np.fft.rfftfreq(est.n_samples, 1 / 44100)
    assert spectrum[freqs > 12000].sum() > 1e-3 * spectrum.sum()
    scores = out.scores
    assert scores["channel_scoring"] == "per channel, averaged" and scores["n_channels"] == 2
    assert len(scores["channels"]) == 2
    for metric in ("si_sdr", "sdr", "sir", "sar"):
        per = [ch["vocal"][metric] for ch in scores["channels"]]
        assert scores["vocal"][metric] == pytest.approx(np.mean(per))
    # Separation happened: well above doing nothing (the mixture itself scores about -2 dB against this vocal).
    assert scores["vocal"]["si_sdr"] > 4.0
    # The same figures from the instrumental file (target = mixture − instrumental, channel by channel).
    again = api.full_quality(mixture, pair, settings, slices=slices, target=instrumental, given="instrumental")
    assert again.scores["vocal"]["si_sdr"] == pytest.approx(scores["vocal"]["si_sdr"], abs=1e-3)


def test_a_mono_target_with_a_stereo_mixture_is_scored_on_the_mono_down_mix():
    mixture, vocal, _ = stereo_pair(seconds=2.0)
    mono = io.BytesIO()
    samples, sr = sf.read(io.BytesIO(vocal), dtype="float32")
    sf.write(mono, samples.mean(axis=1), sr, format="WAV", subtype="FLOAT")
    settings = Settings(duration_s=1.5)
    pair = prepare_pair(mixture, vocal=mono.getvalue(), settings=settings)
    out = api.full_quality(mixture, pair, settings, slices=(), target=mono.getvalue())
    assert out.estimate.channels == 2
    assert out.scores["channel_scoring"] == "mono down-mix" and len(out.scores["channels"]) == 1


def test_the_segment_is_the_one_the_analysis_read():
    mixture, vocal, _ = stereo_pair(seconds=3.0)
    settings = Settings(start_s=1.0, duration_s=1.5)
    pair = prepare_pair(mixture, vocal=vocal, settings=settings)
    out = api.full_quality(mixture, pair, settings, slices=())
    samples, sr = sf.read(io.BytesIO(mixture), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(out.estimate.mixture, samples[sr : sr + int(1.5 * sr)].T)
    assert out.scores is None and out.estimate.start_s == 1.0


# --- bad input: a clear VsepError ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "mixture, match",
    [
        (np.zeros((2, 44100), dtype=np.float32), "silent"),
        (np.full(44100, np.nan, dtype=np.float32), "NaN|finite"),
        (np.ones(1000, dtype=np.float32), "at least one frame, 4096 samples"),
        (np.ones((9, 44100), dtype=np.float32), "1 to 8 channels"),
        (np.ones((2, 3, 4), dtype=np.float32), "channels, samples"),
    ],
)
def test_bad_mixtures_are_refused_with_a_message(mixture, match):
    eq = np.zeros((400, 10), dtype=np.float32)
    with pytest.raises(VsepError, match=match):
        fq.apply_eq(mixture, 44100, eq, analysis_sr=22050, analysis_hop=1040, n_fft=2048)


@pytest.mark.parametrize(
    "eq, kwargs, match",
    [
        (np.full((400, 10), np.nan), {}, "NaN or infinite"),
        (np.zeros(400), {}, "bands ≥ 2"),
        (np.zeros((400, 10)), {"sr": 10}, "sr must be"),
        (np.zeros((400, 10)), {"analysis_hop": 0}, "analysis_hop must be"),
    ],
)
def test_bad_curves_and_rates_are_refused_with_a_message(eq, kwargs, match):
    args = {"sr": 44100, "analysis_sr": 22050, "analysis_hop": 1040, "n_fft": 2048, **kwargs}
    sr = args.pop("sr")
    with pytest.raises(VsepError, match=match):
        fq.apply_eq(np.ones(44100, dtype=np.float32), sr, eq, **args)


def test_the_api_wants_exactly_one_kind_of_eq(synthetic_pair):
    settings = Settings(duration_s=None)
    with pytest.raises(VsepError, match="exactly one"):
        api.full_quality(b"", synthetic_pair, settings)
    with pytest.raises(VsepError, match="exactly one"):
        api.full_quality(b"", synthetic_pair, settings, eq=np.zeros((400, 3)), slices=())


def test_a_file_that_is_not_audio_is_refused(synthetic_pair):
    with pytest.raises(VsepError):
        api.full_quality(b"not audio at all" * 100, synthetic_pair, Settings(duration_s=None), eq=np.zeros((400, 3)))


def test_stereo_wav_bytes_are_what_libsndfile_writes():
    from vsep_core.wavio import wav_bytes

    y = np.random.default_rng(0).uniform(-1.2, 1.2, (5000, 2)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, 44100, format="WAV", subtype="PCM_16")
    assert wav_bytes(y, 44100) == buf.getvalue()


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stereo_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stereo")
    for name, data in zip(("mixture.wav", "vocal.wav", "instrumental.wav"), stereo_pair(seconds=3.0)):
        (folder / name).write_bytes(data)
    return folder


def test_cli_run_full_quality_writes_full_rate_wavs_beside_the_others_and_scores_them(stereo_files, tmp_path, capsys):
    from vsep_core.cli import main

    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--mixture",
                str(stereo_files / "mixture.wav"),
                "--vocal",
                str(stereo_files / "vocal.wav"),
                "--slices",
                "2",
                "--write",
                "2,inputs",
                "--duration",
                "2",
                "--full-quality",
                "--metrics",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    # Which segment was analysed, at what rate, and how to choose another.
    assert "analysed: 0.00 s to 2.00 s of the mixture “mixture.wav” (0:03 long), at 22050 Hz mono" in printed
    assert "--start SECONDS and --duration SECONDS, or --duration all" in printed
    assert re.search(
        r"2: 44100 Hz, 2 channel\(s\); vocal SI-SDR -?\d+\.\d\d dB, SDR .* \(per channel, averaged\)", printed
    ), printed
    for path in (
        "2_slices/extracted_vocal_full_quality.wav",
        "2_slices/extracted_instrumental_full_quality.wav",
        "1_slices/mixture_full_quality.wav",
        "1_slices/target_full_quality.wav",
    ):
        info = sf.info(out / path)
        assert (info.samplerate, info.channels, info.frames) == (44100, 2, 88200), path
    assert sf.info(out / "2_slices/extracted_vocal.wav").samplerate == 22050  # the analysis-rate files stay
    assert not (out / "1_slices" / "extracted_vocal_full_quality.wav").exists()  # only the runs written
    found = json.loads((out / "full_quality.json").read_text())
    assert found["segment"] == {"start_s": 0.0, "duration_s": 2.0}
    entry = found["runs"]["2"]
    assert entry["sr"] == 44100 and entry["channels"] == 2 and entry["scores"]["n_channels"] == 2
    assert np.isfinite(entry["scores"]["vocal"]["si_sdr"])
    # Scored the same way as at the analysis rate: the same metric names for the target and its complement.
    metrics = json.loads((out / "metrics.json").read_text())
    seed = next(m for m in metrics["methods"] if m["name"] == "seed_progressive_2")
    assert set(seed["vocal"]) == set(entry["scores"]["vocal"])


def test_cli_share_of_a_full_quality_folder_carries_its_full_quality_audio_and_scores(stereo_files, tmp_path):
    """``share`` of a ``run --full-quality --metrics`` folder: the runs made at full quality travel with it (their
    scores, and with the audio their FLACs at the file's own rate and channels), as a dashboard's shared result;
    a full_quality.json naming a file outside the folder is refused, not read."""
    import io

    from vsep_core.bundle import bundle_from_folder
    from vsep_core.cli import main
    from vsep_core.errors import VsepError

    out = tmp_path / "shared_out"
    args = ["run", "--mixture", str(stereo_files / "mixture.wav"), "--vocal", str(stereo_files / "vocal.wav")]
    args += ["--slices", "1", "--duration", "2", "--full-quality", "--metrics", "--no-plots", "--out", str(out)]
    assert main(args) == 0
    written = json.loads((out / "full_quality.json").read_text())["runs"]
    files, _ = bundle_from_folder(out)
    share = json.loads(files["share.json"])
    (entry,) = share["full_quality"]
    assert entry["label"] == "1" and (entry["sr"], entry["channels"]) == (44100, 2)
    assert entry["scores"]["vocal"]["si_sdr"] == pytest.approx(written["1"]["scores"]["vocal"]["si_sdr"], abs=1e-9)
    for slot in ("audio", "complement_audio"):
        info = sf.info(io.BytesIO(files[entry[slot]]))
        assert (info.samplerate, info.channels, info.frames) == (44100, 2, 88200)
    files, _ = bundle_from_folder(out, audio=False)  # the scores only
    (entry,) = json.loads(files["share.json"])["full_quality"]
    assert entry["audio"] is None and not any(p.startswith("audio/") for p in files)
    assert entry["scores"] == written["1"]["scores"]

    outside = tmp_path / "secret.wav"
    outside.write_bytes((out / written["1"]["files"][0]).read_bytes())
    written["1"]["files"][0] = "../secret.wav"
    (out / "full_quality.json").write_text(json.dumps({"runs": written}))
    with pytest.raises(VsepError, match="not a file of"):
        bundle_from_folder(out)


def test_cli_joint_full_quality(stereo_files, tmp_path, capsys):
    from vsep_core.cli import main

    out = tmp_path / "joint_out"
    assert (
        main(
            [
                "run",
                "--method",
                "joint",
                "--joint-steps",
                "20",
                "--mixture",
                str(stereo_files / "mixture.wav"),
                "--instrumental",
                str(stereo_files / "instrumental.wav"),
                "--duration",
                "2",
                "--full-quality",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "analysed: 0.00 s to 2.00 s" in printed and "joint: 44100 Hz, 2 channel(s)" in printed
    info = sf.info(out / "joint" / "extracted_vocal_full_quality.wav")
    assert (info.samplerate, info.channels) == (44100, 2)
    assert json.loads((out / "full_quality.json").read_text())["runs"]["joint"]["scores"] is None


def test_cli_full_quality_is_refused_where_it_is_not_offered(stereo_files, tmp_path, capsys):
    from vsep_core.cli import main

    assert (
        main(
            [
                "run",
                "--method",
                "learned_fingerprint",
                "--mixture",
                str(stereo_files / "mixture.wav"),
                "--vocal",
                str(stereo_files / "vocal.wav"),
                "--full-quality",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "--full-quality is offered for the seed and joint methods" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_report_and_readme_show_the_full_quality_runs(stereo_files, tmp_path):
    """``run --full-quality --report``: the report (written after them) holds their scores and players, README.txt
    names their files; one writer (``report.Outputs``) for the folder."""
    from vsep_core.cli import main

    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--mixture",
                str(stereo_files / "mixture.wav"),
                "--vocal",
                str(stereo_files / "vocal.wav"),
                "--slices",
                "2",
                "--duration",
                "2",
                "--full-quality",
                "--metrics",
                "--report",
                "--no-plots",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    found = json.loads((out / "full_quality.json").read_text())
    assert set(found["runs"]) == {"1", "2"}
    report = (out / "report.html").read_text()
    section = report[report.index("<h2>At full quality</h2>") : report.index("<h2>Final loss")]
    for label, entry in found["runs"].items():
        assert (
            f"<td>N = {label}, full quality (44100 Hz stereo)</td><td>full quality</td><td>"
            f"{entry['scores']['vocal']['si_sdr']:.2f}</td>" in section
        )
    assert section.count("<audio") == 2  # one run plays (the lowest loss); the others' WAVs are in the folder
    readme = (out / "README.txt").read_text()
    assert "*_full_quality.wav (in the run folders)" in readme and "Made for: N = 1, N = 2." in readme
    assert "1_slices/mixture_full_quality.wav" in readme and "full_quality.json" in readme
