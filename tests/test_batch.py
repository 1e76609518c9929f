"""Batch evaluation: folder discovery (incl. MUSDB18 layout), statistics, and a real Dask run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf
from conftest_eval import write_pair

from vsep_core.batch import Song, discover_songs, evaluate_song, run_batch, spread, summed_stems, write_outputs
from vsep_core.cli import main
from vsep_core.errors import VsepError
from vsep_core.evaluate import evaluation_settings

SR = 22050


# --- discovery ------------------------------------------------------------------------


def test_discovery_of_every_layout(tmp_path):
    write_pair(tmp_path / "a_pair", names=("mixture", "vocal"))
    write_pair(tmp_path / "b_instr", names=("mixture", "instrumental"))
    write_pair(tmp_path / "c_musdb", names=("mixture", "vocals"))
    for stem in ("drums", "bass", "other"):
        sf.write(tmp_path / "c_musdb" / f"{stem}.wav", np.zeros(100, np.float32), SR)
    (tmp_path / "d_stems_only").mkdir()
    for stem in ("mixture", "drums", "bass", "other"):
        sf.write(tmp_path / "d_stems_only" / f"{stem}.wav", np.zeros(100, np.float32), SR)
    write_pair(tmp_path / "e_no_target", names=("mixture",))
    write_pair(tmp_path / "f_two_mixtures", names=("mixture", "vocal"))
    sf.write(tmp_path / "f_two_mixtures" / "Mix.flac", np.zeros(100, np.float32), SR)
    (tmp_path / "g_empty").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("not a song")

    songs = {s.name: s for s in discover_songs(tmp_path)}
    assert list(songs) == ["a_pair", "b_instr", "c_musdb", "d_stems_only", "e_no_target", "f_two_mixtures", "g_empty"]
    assert songs["a_pair"].vocal.name == "vocal.wav" and songs["a_pair"].problem is None
    assert songs["b_instr"].instrumental.name == "instrumental.wav" and songs["b_instr"].vocal is None
    assert songs["c_musdb"].vocal.name == "vocals.wav" and songs["c_musdb"].problem is None
    assert songs["d_stems_only"].vocal is None and len(songs["d_stems_only"].stems) == 3
    assert songs["d_stems_only"].problem is None
    assert "no vocal or instrumental" in songs["e_no_target"].problem
    assert "several mixture files" in songs["f_two_mixtures"].problem
    assert "no mixture" in songs["g_empty"].problem


def test_a_folder_that_is_itself_a_song(tmp_path):
    write_pair(tmp_path, names=("mixture", "vocal"))
    [song] = discover_songs(tmp_path)
    assert song.mixture.name == "mixture.wav" and song.problem is None


def test_discovery_errors(tmp_path):
    with pytest.raises(VsepError, match="does not exist"):
        discover_songs(tmp_path / "missing")
    (tmp_path / "file.wav").write_text("x")
    with pytest.raises(VsepError, match="is a file"):
        discover_songs(tmp_path / "file.wav")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VsepError, match="no song folders"):
        discover_songs(tmp_path / "empty")


def test_musdb_stems_are_summed_into_the_instrumental(tmp_path):
    rng = np.random.default_rng(0)
    stems = {name: (0.1 * rng.standard_normal((3000, 2))).astype(np.float32) for name in ("drums", "bass", "other")}
    for name, data in stems.items():
        sf.write(tmp_path / f"{name}.wav", data, SR, subtype="FLOAT")
    summed = summed_stems([tmp_path / f"{name}.wav" for name in stems])
    expected = sum(data.mean(axis=1) for data in stems.values())
    np.testing.assert_allclose(summed.samples[0], expected, atol=1e-6)


def test_a_song_made_of_stems_evaluates_like_its_pair(tmp_path):
    vocal, instrumental, mixture = write_pair(tmp_path / "pair", seconds=1.5, names=("mixture", "vocal"))
    stems_dir = tmp_path / "stems"
    stems_dir.mkdir()
    sf.write(stems_dir / "mixture.wav", mixture, SR, subtype="FLOAT")
    for name, part in (("drums", 0.5 * instrumental), ("bass", 0.25 * instrumental), ("other", 0.25 * instrumental)):
        sf.write(stems_dir / f"{name}.wav", part, SR, subtype="FLOAT")
    settings = evaluation_settings()
    by_pair = evaluate_song(discover_songs(tmp_path / "pair")[0], ["irm"], settings)
    by_stems = evaluate_song(discover_songs(stems_dir)[0], ["irm"], settings)
    assert "error" not in by_stems, by_stems.get("error")
    assert by_stems["layout"].startswith("mixture + summed stems")
    assert by_stems["report"]["methods"][0]["vocal"]["si_sdr"] == pytest.approx(
        by_pair["report"]["methods"][0]["vocal"]["si_sdr"], abs=0.05
    )


def test_evaluate_song_reports_instead_of_raising(tmp_path):
    out = evaluate_song(Song("x", tmp_path, problem="no mixture file."), ["mixture"], evaluation_settings())
    assert out == {"song": "x", "layout": "unknown", "error": "no mixture file."}


# --- statistics ------------------------------------------------------------------------


def test_spread_median_mad_and_quartiles():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
    stats = spread(values)
    finite = values[~np.isnan(values)]
    assert stats["n"] == 5
    assert stats["median"] == 3.0
    assert stats["mad"] == float(np.median(np.abs(finite - 3.0)))  # |[-2, -1, 0, 1, 97]| → 1
    assert (stats["q25"], stats["q75"]) == (2.0, 4.0) and stats["iqr"] == 2.0
    assert spread(np.array([np.nan]))["n"] == 0 and np.isnan(spread(np.array([]))["median"])


# --- a real Dask run ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    write_pair(root / "song_one", seconds=1.5, seed=1, names=("mixture", "vocal"))
    write_pair(root / "song_two", seconds=1.5, seed=2, names=("mixture", "vocals"))
    broken = root / "song_broken"
    write_pair(broken, seconds=1.5, seed=3, names=("vocal",))
    (broken / "mixture.wav").write_bytes(b"RIFF but not really a wave file at all")
    return root


@pytest.mark.slow  # a local Dask cluster of worker processes
def test_batch_on_a_local_dask_cluster_skips_the_broken_song(batch_dir, tmp_path):
    """Through the CLI glue: a real LocalCluster (2 worker processes), one song broken on purpose."""
    out_dir = tmp_path / "results"
    code = main(
        ["batch", str(batch_dir), "--methods", "irm", "mixture", "--out", str(out_dir), "--workers", "2", "--quiet"]
    )
    assert code == 1  # finished, but a song was skipped

    with (out_dir / "per_song.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted({r["song"] for r in rows}) == ["song_one", "song_two"]
    assert sorted((r["song"], r["method"]) for r in rows) == [
        ("song_one", "irm"),
        ("song_one", "mixture"),
        ("song_two", "irm"),
        ("song_two", "mixture"),
    ]
    with (out_dir / "failures.csv").open() as f:
        failures = list(csv.DictReader(f))
    assert [f["song"] for f in failures] == ["song_broken"] and "not audio" in failures[0]["error"]

    # The summary is the median (and spread) over songs of the per-song figures.
    with (out_dir / "summary.csv").open() as f:
        summary = {(r["method"], r["source"], r["metric"]): r for r in csv.DictReader(f)}
    assert len(summary) == 2 * 2 * 4
    for method in ("irm", "mixture"):
        values = [float(r["vocal_si_sdr"]) for r in rows if r["method"] == method]
        cell = summary[(method, "vocal", "si_sdr")]
        assert int(cell["n"]) == 2
        assert float(cell["median"]) == pytest.approx(np.median(values))
        assert float(cell["mad"]) == pytest.approx(np.median(np.abs(np.array(values) - np.median(values))))
    report = json.loads((out_dir / "batch.json").read_text())
    assert "local Dask cluster (2 worker(s)" in report["cluster"]
    assert [s["song"] for s in report["songs"]] == ["song_one", "song_two"]


def test_batch_on_an_existing_scheduler(batch_dir, tmp_path, monkeypatch):
    """``scheduler=`` connects to a cluster someone else started (here an in-process one, with TLS and the
    cluster's certificates, as vsep requires: a ``tcp://`` address is refused)."""
    from distributed import LocalCluster, Security

    from vsep_core.cluster_setup import make_certificates

    certs = make_certificates(tmp_path / "certs")
    monkeypatch.setenv("VSEP_DASK_CERTS", str(tmp_path / "certs"))
    with pytest.raises(VsepError, match="is not a TLS address"):
        run_batch(batch_dir, methods=["mixture"], scheduler="tcp://127.0.0.1:8786")
    tls = {
        f"tls_{role}_{part}": str(certs[part]) for role in ("scheduler", "worker", "client") for part in ("cert", "key")
    }
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tls://",
        host="127.0.0.1",
        security=Security(tls_ca_file=str(certs["ca"]), require_encryption=True, **tls),
        dashboard_address=None,
    ) as cluster:
        progress = []
        result = run_batch(
            batch_dir,
            methods=["mixture"],
            scheduler=cluster.scheduler_address,
            progress=lambda fraction, label: progress.append((fraction, label)),
        )
    assert [r["song"] for r in result.reports] == ["song_one", "song_two"]
    assert [f["song"] for f in result.failures] == ["song_broken"]
    assert cluster.scheduler_address in result.cluster
    assert progress[-1][0] == 1.0 and any("song_broken failed" in label for _, label in progress)
    paths = write_outputs(result, tmp_path / "out")
    assert {p.name for p in paths} == {"per_song.csv", "summary.csv", "failures.csv", "batch.json"}


def test_batch_bad_folder_is_a_message(tmp_path, capsys):
    code = main(["batch", str(tmp_path / "nowhere"), "--quiet", "--out", str(tmp_path / "out")])
    _, err = capsys.readouterr()
    assert code == 2 and "does not exist" in err and "Traceback" not in err


def test_batch_results_folder_is_all_or_nothing(tmp_path):
    from vsep_core.batch import BatchResult

    result = BatchResult(methods=["mixture"], failures=[{"song": "a", "error": "no mixture file."}])
    out = tmp_path / "out"
    write_outputs(result, out)
    first = (out / "failures.csv").read_text()
    (out / "per_song.csv").write_text("an earlier batch's")  # replaced whole by the next batch
    result.failures.append({"song": "b", "error": "no vocal"})
    write_outputs(result, out)
    assert (out / "failures.csv").read_text() != first and "an earlier" not in (out / "per_song.csv").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left beside it
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(VsepError, match="not an earlier run's results"):
        write_outputs(result, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"
