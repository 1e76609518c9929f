"""Blind mode (#23): the learned fingerprint's training, model file, method and command."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from vsep_core import learned
from vsep_core.baselines import get_method, run_method
from vsep_core.errors import VsepError
from vsep_core.learned import BUNDLED_MODEL, LearnedFingerprint, ModelConfig, load_model, predicted_fingerprints, train
from vsep_core.learned_songs import bundled_seeds, generated_songs, random_song_spec, synthesise
from vsep_core.metrics import si_sdr
from vsep_core.settings import Settings

#: A tiny network and schedule: seconds, not minutes.
TINY = ModelConfig(hidden=8, epochs=2, batch_size=64, context=1, seed=7)


@pytest.fixture(scope="module")
def tiny_songs():
    return generated_songs(3, 41)


@pytest.fixture(scope="module")
def tiny_model(tiny_songs, tmp_path_factory):
    cache = tmp_path_factory.mktemp("features")
    return train(tiny_songs, config=TINY, cache_dir=cache, n_workers=0), cache


def _fitted(estimate: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[: min(n, len(estimate))] = estimate[:n]
    return out


# --- songs ------------------------------------------------------------------------------------


def test_generated_songs_are_new_and_reproducible():
    a, b = random_song_spec(3, 0), random_song_spec(3, 0)
    assert a == b
    assert random_song_spec(3, 1) != a and random_song_spec(4, 0) != a
    specs = [random_song_spec(0, i) for i in range(30)]
    assert not {s["seed"] for s in specs} & bundled_seeds()
    mixture, vocal, sr = synthesise(a)
    assert sr == 22050 and mixture.shape == vocal.shape == (round(a["duration_s"] * sr),)
    assert np.max(np.abs(mixture)) == pytest.approx(0.9, abs=1e-6)
    assert 0 < np.sqrt(np.mean(vocal**2)) < np.sqrt(np.mean(mixture**2)) * 3


# --- training and the model file ------------------------------------------------------------------


def test_training_is_deterministic_and_the_file_round_trips(tiny_songs, tiny_model, tmp_path):
    model, cache = tiny_model
    again = train(tiny_songs, config=TINY, n_workers=0)  # no cache: every feature computed anew
    assert model.to_bytes() == again.to_bytes()
    for name, array in model.arrays.items():
        np.testing.assert_array_equal(array, again.arrays[name])
    path = model.save(tmp_path / "m.npz")
    assert path.read_bytes() == model.to_bytes()
    back = load_model(path, settings=Settings(), target="vocals")
    assert back.header == json.loads(json.dumps(model.header))
    for name, array in model.arrays.items():
        np.testing.assert_array_equal(array, back.arrays[name])
    training = back.header["training"]
    assert training["songs"] == 3 and training["validation_songs"] == 1
    assert len(training["curve"]) == TINY.epochs and len(training["list_sha256"]) == 64
    assert back.header["settings"] == {"sr": 22050, "n_fft": 2048, "hop_length": 1040, "n_points": 400, "top_db": 80.0}
    # Another seed gives other weights, another song list another hash.
    other = train(tiny_songs[:2], config=TINY, cache_dir=cache, n_workers=0)
    assert other.header["training"]["list_sha256"] != training["list_sha256"]


def test_an_interrupted_fit_resumes_to_the_same_model(tiny_songs, tiny_model, tmp_path):
    model, cache = tiny_model
    config = ModelConfig(hidden=8, epochs=3, batch_size=64, context=1, seed=7)
    whole = train(tiny_songs, config=config, cache_dir=cache, n_workers=0)

    def stop_after_first(epoch, *_):
        if epoch == 1:
            raise KeyboardInterrupt

    checkpoint = tmp_path / "checkpoint.npz"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_songs, config=config, cache_dir=cache, n_workers=0, checkpoint=checkpoint, on_epoch=stop_after_first)
    assert checkpoint.is_file()
    epochs_run = []
    resumed = train(
        tiny_songs,
        config=config,
        cache_dir=cache,
        n_workers=0,
        checkpoint=checkpoint,
        on_epoch=lambda epoch, *_: epochs_run.append(epoch),
    )
    assert epochs_run == [2, 3]  # epoch 1 came from the checkpoint
    assert resumed.to_bytes() == whole.to_bytes()


def test_features_on_the_dask_cluster_equal_local_ones(tiny_songs, tiny_model):
    model, cache = tiny_model
    local, _ = learned.extract_features(tiny_songs[:2], "vocals", Settings(), TINY, n_workers=0)
    remote, failures = learned.extract_features(tiny_songs[:2], "vocals", Settings(), TINY, n_workers=1)
    assert failures == []
    for a, b in zip(local, remote):
        for key in ("x", "mixture_fp", "target_fp"):
            np.testing.assert_array_equal(a[key], b[key])


def test_a_model_for_other_settings_or_targets_is_refused(tiny_model, tmp_path):
    model, _ = tiny_model
    path = model.save(tmp_path / "m.npz")
    with pytest.raises(VsepError, match=r"hop_length 512 \(the model: 1040\)"):
        load_model(path, settings=Settings(hop_length=512))
    with pytest.raises(VsepError, match=r"sr 16000 .*n_fft 1024"):
        load_model(path, settings=Settings(sr=16000, n_fft=1024))
    with pytest.raises(VsepError, match="predicts vocals, not drums"):
        load_model(path, target="drums")
    # The method refuses too, naming the setting: --windows changes the hop.
    method = LearnedFingerprint(Settings(level="as_is", n_windows=50), model_path=str(path))
    mixture, _, sr = synthesise(random_song_spec(5, 0))
    with pytest.raises(VsepError, match="hop_length"):
        method.separate(mixture, sr)


def test_damaged_or_foreign_files_are_refused(tiny_model, tmp_path):
    model, _ = tiny_model
    with pytest.raises(VsepError, match="No learned model"):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not a model")
    with pytest.raises(VsepError, match="not a learned-fingerprint model file"):
        load_model(tmp_path / "text.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(VsepError, match="no readable model header"):
        load_model(tmp_path / "plain.npz")
    future = learned.LearnedModel(header={**model.header, "version": 99}, arrays=model.arrays)
    future.save(tmp_path / "future.npz")
    with pytest.raises(VsepError, match="version 99"):
        load_model(tmp_path / "future.npz")
    short = learned.LearnedModel(header=model.header, arrays={**model.arrays, "w2": model.arrays["w2"][:, :10]})
    short.save(tmp_path / "short.npz")
    with pytest.raises(VsepError, match="w2"):
        load_model(tmp_path / "short.npz")
    # The header is JSON in a uint8 array: nothing in a model file needs pickle.
    with zipfile.ZipFile(model.save(tmp_path / "m.npz")) as zf:
        assert sorted(zf.namelist()) == sorted(f"{n}.npy" for n in ("header", *learned._ARRAY_NAMES))


# --- the bundled model and the method ------------------------------------------------------------


def test_the_bundled_model_beats_the_mixture_on_songs_it_never_saw():
    model = load_model(BUNDLED_MODEL, settings=Settings(), target="vocals")
    assert model.header["training"]["seed"] == 2026
    method = get_method("learned_fingerprint")
    assert method.kind == "blind"
    gains = []
    for spec in (random_song_spec(777, i) for i in range(3)):  # seed 777: not the training seed
        mixture, vocal, sr = synthesise(spec)
        with pytest.raises(VsepError, match="blind"):
            method.separate(mixture, sr, vocal=vocal)
        estimate = run_method(method, mixture, sr, vocal)  # run_method never passes the vocal to a blind method
        learned_db = si_sdr(vocal.astype(np.float64), _fitted(estimate.vocal, len(mixture)))
        mixture_db = si_sdr(vocal.astype(np.float64), mixture.astype(np.float64))
        gains.append(learned_db - mixture_db)
        np.testing.assert_allclose(estimate.instrumental, mixture - _fitted(estimate.vocal, len(mixture)), atol=1e-5)
    assert min(gains) > 3.0, gains


def test_the_predicted_fingerprint_is_a_fingerprint():
    mixture, _, sr = synthesise(random_song_spec(778, 0))
    found = predicted_fingerprints(mixture, Settings())
    predicted, mixture_fp = found["predicted"], found["mixture"]
    assert predicted.shape == mixture_fp.shape and predicted.shape[0] == 400
    assert found["target"] == "vocals"
    # At most the mixture (a mask), within 80 dB of each window's peak.
    assert np.all(predicted <= mixture_fp + 1e-9)
    assert np.all(predicted >= predicted.max(axis=0) - 80.0 - 1e-9)


def test_evaluate_and_batch_list_and_run_the_blind_method(tmp_path):
    from vsep_core.baselines import method_names
    from vsep_core.batch import run_batch
    from vsep_core.evaluate import REFERENCE_METHODS, evaluate_pair, format_table, load_pair

    assert "learned_fingerprint" in method_names() and "learned_fingerprint" in REFERENCE_METHODS
    import soundfile as sf

    song = tmp_path / "songs" / "new_song"
    song.mkdir(parents=True)
    mixture, vocal, sr = synthesise(random_song_spec(779, 0))
    sf.write(song / "mixture.wav", mixture, sr, subtype="FLOAT")
    sf.write(song / "vocals.wav", vocal, sr, subtype="FLOAT")
    pair = load_pair(song / "mixture.wav", vocal=song / "vocals.wav")
    report = evaluate_pair(pair, ["learned_fingerprint", "mixture"])
    rows = {m["name"]: m for m in report["methods"]}
    assert rows["learned_fingerprint"]["kind"] == "blind" and rows["learned_fingerprint"]["error"] is None
    assert rows["learned_fingerprint"]["vocal"]["si_sdr"] > rows["mixture"]["vocal"]["si_sdr"] + 3
    assert "learned_fingerprint blind" in format_table(report)
    result = run_batch(tmp_path / "songs", methods=["learned_fingerprint"], n_workers=1)
    assert result.failures == []
    (row,) = [r for r in result.rows() if r["method"] == "learned_fingerprint"]
    assert row["kind"] == "blind"
    assert row["vocal_si_sdr"] == pytest.approx(rows["learned_fingerprint"]["vocal"]["si_sdr"], abs=1e-6)


# --- the command -------------------------------------------------------------------------------------


def test_the_train_command_writes_a_model_its_curve_and_resumes(tmp_path, capsys):
    from vsep_core.cli import main

    out = tmp_path / "model.npz"
    args = [
        "train",
        "--generate",
        "3",
        "--seed",
        "41",
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--context",
        "1",
        "--workers",
        "0",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "epoch   1/2" in printed and "validation" in printed
    curve = (tmp_path / "model.npz.curve.csv").read_text().splitlines()
    assert curve[0] == "epoch,train,validation" and len(curve) == 3
    model = load_model(out)
    assert model.header["training"]["generate"] == 3 and model.header["training"]["seed"] == 41
    first = out.read_bytes()
    assert (tmp_path / "model.npz.cache" / "checkpoint.npz").is_file()
    assert main(args) == 0  # every feature from the cache, every epoch from the checkpoint
    assert "epoch" not in capsys.readouterr().out.split("trained on")[0]
    assert out.read_bytes() == first


def test_the_train_command_reports_bad_input(tmp_path, capsys):
    from vsep_core.cli import main

    assert main(["train", "--out", str(tmp_path / "m.npz")]) == 2
    assert "No song to train on" in capsys.readouterr().err
    assert main(["train", "--generate", "2", "--target", "kazoo", "--out", str(tmp_path / "m.npz")]) == 2
    assert "Unknown target" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_attribute_asks_which_views_of_the_prediction_help(tmp_path, capsys):
    import soundfile as sf

    from vsep_core.cli import main
    from vsep_core.evaluate import evaluate_pair, load_pair

    mixture, vocal, sr = synthesise(random_song_spec(780, 0))
    sf.write(tmp_path / "mixture.wav", mixture, sr, subtype="FLOAT")
    sf.write(tmp_path / "vocal.wav", vocal, sr, subtype="FLOAT")
    assert (
        main(
            [
                "attribute",
                "--mixture",
                str(tmp_path / "mixture.wav"),
                "--vocal",
                str(tmp_path / "vocal.wav"),
                "--level",
                "as-is",
                "--method",
                "learned_fingerprint",
                "--slices",
                "2",
                "--quiet",
                "--json",
                str(tmp_path / "a.json"),
            ]
        )
        == 0
    )
    assert "learned_fingerprint (blind)" in capsys.readouterr().out
    found = json.loads((tmp_path / "a.json").read_text())
    assert [row["name"] for row in found["slices"]] == ["slice_1_horizontal", "slice_2_vertical"]
    for row in found["slices"]:
        assert row["delta_si_sdr"] == pytest.approx(row["with_si_sdr"] - found["baseline"]["si_sdr"])
    # The baseline is the method itself: evaluate's figure for the same pair.
    settings = Settings(level="as_is")
    report = evaluate_pair(
        load_pair(tmp_path / "mixture.wav", vocal=tmp_path / "vocal.wav", settings=settings),
        ["learned_fingerprint"],
        settings=settings,
    )
    assert found["baseline"]["si_sdr"] == pytest.approx(report["methods"][0]["vocal"]["si_sdr"], abs=1e-6)


def test_training_reads_musdb_style_folders_for_any_stem(tmp_path):
    from vsep_core.learned_songs import folder_songs, generator

    specs = [dict(random_song_spec(781, i), folder=f"song_{i}") for i in range(2)]
    generator().write_musdb(tmp_path / "musdb", pairs=specs)
    (tmp_path / "musdb" / "broken").mkdir()  # no mixture: skipped with the reason, as batch reports it
    songs, skipped = folder_songs([tmp_path / "musdb"], "drums")
    assert [s.name for s in songs] == ["musdb/song_0", "musdb/song_1"]
    assert skipped == [("broken", "no mixture file (mixture.wav, mix.flac ...).")]
    model = train(songs, target="drums", config=TINY, n_workers=0)
    assert model.target == "drums" and model.header["training"]["songs"] == 2
    vocal_songs, _ = folder_songs([tmp_path / "musdb"], "vocals")
    assert (
        train(vocal_songs, config=TINY, n_workers=0).header["training"]["list_sha256"]
        != model.header["training"]["list_sha256"]
    )
