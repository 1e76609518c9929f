"""The SiSEC 2018 protocol (vsep_core.sisec, ``batch --protocol sisec18``) against sigsep-mus-oracle's code.

The reference oracles are re-typed below from github.com/sigsep/sigsep-mus-oracle, commit
1590b096c3fc66055109cd66adfc7b63ff9cc979 (IBM.py, IRM.py, MWF.py, MIX.py), statement by statement, with
``np.float`` (removed from NumPy) written ``float`` and the ``musdb`` track replaced by a small object with
the same ``audio`` / ``sources[name].audio`` / ``rate`` attributes. Nothing of it is committed as code
of vsep. The songs are four-stem songs made from the bundled generator's stems (sample_audio), each placed in
stereo with its own short two-channel filter, so that the multichannel Wiener filter has spatial structure.
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import istft, stft

from vsep_core import sisec

SAMPLES = Path(__file__).resolve().parents[1] / "sample_audio"
TOLERANCE_DB = 0.01


# --- sigsep-mus-oracle, re-typed ------------------------------------------------------------------------


def ref_IBM(track, alpha=1, theta=0.5):
    nfft = 2048
    eps = np.finfo(float).eps
    N = track.audio.shape[0]
    X = stft(track.audio.T, nperseg=nfft)[-1]
    estimates = {}
    accompaniment_source = 0
    for name, source in track.sources.items():
        Yj = stft(source.audio.T, nperseg=nfft)[-1]
        Mask = np.divide(np.abs(Yj) ** alpha, (eps + np.abs(X) ** alpha))
        Mask[np.where(Mask >= theta)] = 1
        Mask[np.where(Mask < theta)] = 0
        Yj = np.multiply(X, Mask)
        target_estimate = istft(Yj)[1].T[:N, :]
        estimates[name] = target_estimate
        if name != "vocals":
            accompaniment_source += target_estimate
    estimates["accompaniment"] = accompaniment_source
    return estimates


def ref_IRM(track, alpha=2):
    nfft = 2048
    eps = np.finfo(float).eps
    N = track.audio.shape[0]
    X = stft(track.audio.T, nperseg=nfft)[-1]
    P = {}
    model = eps
    for name, source in track.sources.items():
        P[name] = np.abs(stft(source.audio.T, nperseg=nfft)[-1]) ** alpha
        model += P[name]
    estimates = {}
    accompaniment_source = 0
    for name, _source in track.sources.items():
        Mask = np.divide(np.abs(P[name]), model)
        Yj = np.multiply(X, Mask)
        target_estimate = istft(Yj)[1].T[:N, :]
        estimates[name] = target_estimate
        if name != "vocals":
            accompaniment_source += target_estimate
    estimates["accompaniment"] = accompaniment_source
    return estimates


def ref_invert(M, eps):
    invDet = 1.0 / (eps + M[..., 0, 0] * M[..., 1, 1] - M[..., 0, 1] * M[..., 1, 0])
    invM = np.zeros(M.shape, dtype="complex")
    invM[..., 0, 0] = invDet * M[..., 1, 1]
    invM[..., 1, 0] = -invDet * M[..., 1, 0]
    invM[..., 0, 1] = -invDet * M[..., 0, 1]
    invM[..., 1, 1] = invDet * M[..., 0, 0]
    return invM


def ref_MWF(track):
    eps = np.finfo(float).eps
    nfft = 2048
    N = track.audio.shape[0]
    X = stft(track.audio.T, nperseg=nfft)[-1]
    (I, F, T) = X.shape  # noqa: E741 - the reference code's names
    P = {}
    R = {}
    for name, source in track.sources.items():
        Yj = stft(source.audio.T, nperseg=nfft)[-1]
        Rjj = np.zeros((F, T, I, I), dtype="complex")
        for i1, i2 in itertools.product(range(I), range(I)):
            Rjj[..., i1, i2] = Yj[i1, ...] * np.conj(Yj[i2, ...])
        P[name] = np.mean(np.abs(Yj) ** 2, axis=0)
        R[name] = np.mean(Rjj / (eps + P[name][..., None, None]), axis=1)
        R[name] = R[name] * I / np.trace(R[name]) + eps * np.tile(np.eye(I, dtype="complex64")[None, ...], (F, 1, 1))
        Rj_inv = ref_invert(R[name], eps)
        P[name] = 0
        for i1, i2 in itertools.product(range(I), range(I)):
            P[name] += 1.0 / I * np.real(Rj_inv[:, i1, i2][:, None] * Rjj[..., i2, i1])
    Cxx = 0
    for name, _source in track.sources.items():
        Cxx += P[name][..., None, None] * R[name][:, None, ...]
    invCxx = ref_invert(Cxx, eps)
    estimates = {}
    accompaniment_source = 0
    for name, _source in track.sources.items():
        G = np.zeros(invCxx.shape, dtype="complex64")
        SR = P[name][..., None, None] * R[name][:, None, ...]
        for i1, i2, i3 in itertools.product(range(I), range(I), range(I)):
            G[..., i1, i2] += SR[..., i1, i3] * invCxx[..., i3, i2]
        SR = 0
        Yj = 0
        for i in range(I):
            Yj += G[..., i] * X[i, ..., None]
        Yj = np.rollaxis(Yj, -1)
        target_estimate = istft(Yj)[1].T[:N, :]
        estimates[name] = target_estimate
        if name != "vocals":
            accompaniment_source += target_estimate
    estimates["accompaniment"] = accompaniment_source
    return estimates


def ref_MIX(track):
    estimates = {}
    for name, _target in track.sources.items():
        estimates[name] = track.audio / len(track.sources)
    estimates["accompaniment"] = estimates["bass"] + estimates["drums"] + estimates["other"]
    return estimates


REFERENCE = {
    "IBM1": lambda t: ref_IBM(t, alpha=1),
    "IBM2": lambda t: ref_IBM(t, alpha=2),
    "IRM1": lambda t: ref_IRM(t, alpha=1),
    "IRM2": lambda t: ref_IRM(t, alpha=2),
    "MWF": ref_MWF,
    "MIX": ref_MIX,
}


# --- generated four-stem songs ----------------------------------------------------------------------------

STEM_FILES = {"vocals": "vocal.wav", "drums": "drums.wav", "bass": "bass.wav", "other": "chords.wav"}


def write_song(out: Path, sample: str, seconds: float, start: float = 0.0) -> Path:
    """A MUSDB18-HQ track folder (stereo WAVs at the sample's rate) from a bundled sample's stems.

    Each stem is placed in a small room: each channel its own short decaying random filter (a full-rank
    spatial image, as real stereo stems have; a purely panned stem is rank one and MWF.py's 2 × 2 inverses
    with ε then turn its rounding into garbage), plus a recording's noise floor (−60 dB).
    """
    out.mkdir(parents=True)
    stems = {}
    rng = np.random.default_rng(len(sample))
    n = None
    for name, file in STEM_FILES.items():
        mono, rate = sf.read(SAMPLES / sample / file, dtype="float64")
        mono = mono[int(start * rate) : int((start + seconds) * rate)]
        n = len(mono)
        room = rng.standard_normal((2, 64)) * np.exp(-np.arange(64) / 10)
        stems[name] = np.stack(
            [np.convolve(mono, room[0])[:n], np.convolve(mono, room[1])[:n]], axis=1
        ) + 1e-3 * rng.standard_normal((n, 2))
        sf.write(out / f"{name}.wav", stems[name], rate, subtype="FLOAT")
    sf.write(out / "mixture.wav", sum(stems.values()), rate, subtype="FLOAT")
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("musdb") / "test"
    write_song(root / "pop", "sung_vowels_pop", 2.0)
    write_song(root / "ballad", "sung_phrases_ballad", 2.0, start=1.0)
    return root.parent


def as_musdb_track(track: sisec.Track):
    sources = OrderedDict((name, SimpleNamespace(audio=track.sources[name])) for name in sisec.TARGETS)
    return SimpleNamespace(audio=track.mixture, sources=sources, rate=track.rate)


# --- the oracles ---------------------------------------------------------------------------------------


def _vocals_scores(track, estimates):
    """The (vocals, accompaniment) run of museval.eval_mus_track only: a 2 × 2 × 512 system, not 4 × 2 × 512."""
    return sisec.score_track(track, {k: estimates[k] for k in ("vocals", "accompaniment")})


@pytest.mark.parametrize("name", list(sisec.ORACLES))
def test_each_oracle_equals_sigsep_mus_oracle(folder, name):
    track = sisec.read_track(sisec.track_folders(folder)[0])
    ours = sisec.ORACLE_FUNCTIONS[name](track)
    theirs = REFERENCE[name](as_musdb_track(track))
    assert set(ours) == set(theirs) == {*sisec.TARGETS, "accompaniment"}
    for target in theirs:  # every target's estimate, sample by sample
        scale = np.max(np.abs(theirs[target]))
        np.testing.assert_allclose(ours[target], theirs[target], rtol=0, atol=1e-6 * scale)
    # And the figures (the four-source run for one oracle only: museval's 4096 × 4096 solve is slow).
    score = sisec.score_track if name == "MWF" else _vocals_scores
    ours_scores, theirs_scores = score(track, ours), score(track, theirs)
    assert set(ours_scores) == set(theirs_scores) >= {"vocals", "accompaniment"}
    for target, figures in theirs_scores.items():
        for metric, value in figures.items():
            assert ours_scores[target][metric] == pytest.approx(value, abs=TOLERANCE_DB), (target, metric)


def test_oracles_rank_as_published_and_mix_is_a_floor(folder):
    result = sisec.run_protocol(folder, methods=["IRM2", "IBM1", "MIX"])
    vocals = {m: result["medians"][m]["vocals"]["sdr"] for m in result["medians"]}
    assert len(result["tracks"]) == 2 and not result["failures"]
    assert set(result["medians"]["IRM2"]) == {*sisec.TARGETS, "accompaniment"}
    assert min(vocals["IRM2"], vocals["IBM1"]) > vocals["MIX"] + 3
    # Per-track rows are the medians over frames, and the table's figure is their median over tracks.
    rows = [r["sdr"] for r in result["per_track"] if r["method"] == "IRM2" and r["target"] == "vocals"]
    assert vocals["IRM2"] == pytest.approx(float(np.median(rows)))


def test_scoring_follows_museval_eval_mus_track(folder):
    # museval.eval_mus_track: vocals from a (vocals, accompaniment) run, the rest from a four-source run.
    track = sisec.read_track(sisec.track_folders(folder)[0])
    estimates = sisec.irm(track, alpha=1)
    scores = sisec.score_track(track, estimates)
    from vsep_core.metrics import _museval_metrics

    refs = np.stack([track.sources["vocals"], track.accompaniment])
    ests = np.stack([estimates["vocals"], estimates["accompaniment"]])
    sdr = _museval_metrics().bss_eval(
        refs,
        ests,
        compute_permutation=False,
        window=track.rate,
        hop=track.rate,
        framewise_filters=False,
        bsseval_sources_version=False,
    )[0]
    assert scores["vocals"]["sdr"] == pytest.approx(float(np.nanmedian(sdr[0])), abs=1e-9)


# --- vsep's methods, the table, the chart, the command ----------------------------------------------------


def test_vsep_methods_score_the_vocals_the_same_way(folder):
    result = sisec.run_protocol(folder, methods=["irm", "phase_oracle", "mixture"])  # vocals only: 2 × 2 runs
    assert set(result["medians"]["irm"]) == {"vocals", "accompaniment"}
    assert result["medians"]["phase_oracle"]["vocals"]["sdr"] > result["medians"]["mixture"]["vocals"]["sdr"] + 3
    track = sisec.read_track(sisec.track_folders(folder)[0])
    est = sisec.vsep_estimates(track, "irm")
    assert est["vocals"].shape == track.mixture.shape  # both channels, at the files' rate


def test_table_chart_and_files_place_the_published_figures(folder, tmp_path):
    result = sisec.run_protocol(folder, methods=["hpss", "mixture"])
    result["medians"].update(
        {"IRM2": {"vocals": {"sdr": 5.0}}, "MWF": {"vocals": {"sdr": 4.0}}, "MIX": {"vocals": {"sdr": 0.0}}}
    )  # rows as the oracles give them (tested above)
    table = sisec.format_protocol(result)
    assert "9.43" in table and "9.13" in table and "1.12" in table and "-0.34" in table and "10.66" in table
    assert "median over frames, then over tracks" in table
    fig = sisec.protocol_figure(result)
    assert [bar.name for bar in fig.data][1].startswith("SiSEC 2018")
    paths = sisec.write_protocol(result, tmp_path / "out")
    assert json.loads(paths[0].read_text())["published"]["vocals_sdr"]["IRM2"] == 9.43
    assert paths[1].read_text().startswith("track,method,target,sdr")
    assert "plotly" in paths[2].read_text().lower()


def test_batch_protocol_sisec18_command(folder, tmp_path, capsys):
    from vsep_core.cli import main

    out = tmp_path / "batch_out"
    assert (
        main(
            ["batch", str(folder), "--protocol", "sisec18", "--methods", "wiener,mixture", "--out", str(out), "--quiet"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "SiSEC 2018 protocol" in printed and "wiener" in printed and "10.66" in printed
    assert (out / "sisec18.html").exists() and (out / "sisec18.json").exists()


def test_a_folder_that_is_not_musdb_is_refused(tmp_path):
    from vsep_core.errors import VsepError

    (tmp_path / "song").mkdir()
    sf.write(tmp_path / "song" / "mixture.wav", np.zeros((100, 2)), 22050)
    result = sisec.run_protocol(tmp_path, methods=["MIX"])
    assert result["failures"] and "no vocals file" in result["failures"][0]["error"]
    with pytest.raises(VsepError, match="Unknown method"):
        sisec.run_protocol(tmp_path, methods=["nope"])
