"""Any target stem, not only the vocal (issue #13): engine, CLI, batch over a MUSDB-style folder.

The bundled samples carry each instrument's stem (drums, bass, chords); the
generator writes the same songs in MUSDB18's layout. Every figure checked here
is computed by the run, never copied from RESULTS.md.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vsep_core.baselines import method_names
from vsep_core.errors import VsepError
from vsep_core.evaluate import evaluate_pair, format_table, load_pair
from vsep_core.stems import TARGET_NAMES, labels, target_name

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_audio"
POP = SAMPLES / "sung_vowels_pop"


def cli(args, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m vsep_core …`` in a new process (exit code, stdout, stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "vsep_core", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def assert_one_line_refusal(run: subprocess.CompletedProcess, pattern: str) -> None:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr
    assert len(lines) == 1 and "error:" in lines[0] and pattern in lines[0], run.stderr


def load_generator():
    spec = importlib.util.spec_from_file_location("sample_audio_generate", SAMPLES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- names and labels -------------------------------------------------------------------


def test_target_names_and_labels():
    assert target_name(None) == target_name("") == target_name("Vocal") == "vocals"
    assert [target_name(n) for n in ("DRUMS", "bass", "other", "keys")] == ["drums", "bass", "other", "chords"]
    with pytest.raises(VsepError, match="Unknown target 'flute'"):
        target_name("flute")
    vocal, drums = labels("vocals"), labels("drums")
    # The vocal's words are exactly the ones every output always used.
    assert (vocal.target, vocal.complement, vocal.target_file, vocal.complement_file) == (
        "vocal",
        "instrumental",
        "vocal",
        "instrumental",
    )
    assert (drums.target, drums.complement, drums.complement_file) == ("drums", "everything else", "everything_else")
    assert set(TARGET_NAMES) >= {"vocals", "drums", "bass", "other"}


# --- evaluate with any target -----------------------------------------------------------------


@pytest.fixture(scope="module")
def drums_report():
    pair = load_pair(POP / "mixture.wav", vocal=POP / "drums.wav", target_name="drums")
    return evaluate_pair(pair, ["all"])


def test_evaluate_drums_flags_the_blind_methods_made_for_vocals(drums_report):
    methods = {m["name"]: m for m in drums_report["methods"]}
    assert drums_report["pair"]["target_name"] == "drums"
    assert drums_report["pair"]["labels"] == {"vocal": "drums", "instrumental": "everything else"}
    # Ceilings and the blind floor sit beside the seed method for drums too.
    assert {"exact_eq", "irm", "ibm", "wiener", "mixture", "seed_progressive", "joint"} <= set(methods)
    assert methods["repet_sim"]["suited"] is False and "REPET-SIM" in methods["repet_sim"]["note"]
    assert methods["hpss"]["suited"] is False and methods["hpss"]["note"]
    assert methods["hpss_percussive"]["suited"] is True and methods["hpss_percussive"]["note"] is None
    assert all(methods[n]["suited"] for n in ("seed_progressive", "exact_eq", "irm", "mixture"))
    table = format_table(drums_report)
    assert "drums" in table and "everything else" in table and "instrumental" not in table
    assert (
        "\nrepet_sim " in table
        and " blind*" in table.split("\nrepet_sim ")[1].split("\n")[0]
        and "* repet_sim:" in table
    )
    # The oracle ceiling is above the floor, for drums as for the vocal.
    assert (
        methods["irm"]["vocal"]["si_sdr"]
        > methods["exact_eq"]["vocal"]["si_sdr"]
        > methods["mixture"]["vocal"]["si_sdr"]
    )


def test_evaluate_vocal_lists_what_it_always_did():
    pair = load_pair(POP / "mixture.wav", vocal=POP / "vocal.wav")
    report = evaluate_pair(pair, ["mixture", "repet_sim", "hpss"])
    assert all(m["suited"] for m in report["methods"])
    assert "hpss_percussive" not in method_names()
    table = format_table(report)
    assert "|             vocal               |          instrumental           |" in table
    assert "*" not in table


# --- the CLI: a run with drums as the target ----------------------------------------------------


@pytest.fixture(scope="module")
def drums_run(tmp_path_factory):
    out_root = tmp_path_factory.mktemp("drums_run")
    run = cli(
        [
            "run",
            "--mixture",
            POP / "mixture.wav",
            "--target",
            POP / "drums.wav",
            "--target-name",
            "drums",
            "--slices",
            "3",
            "--greedy",
            "--metrics",
            "--report",
            "--no-plots",
            "--out",
            "results",
            "--quiet",
        ],
        cwd=out_root,
    )
    assert run.returncode == 0, run.stderr
    return out_root / "results"


def test_a_drums_run_beats_the_mixture_as_estimate(drums_run):
    metrics = json.loads((drums_run / "metrics.json").read_text())
    by_name = {m["name"]: m for m in metrics["methods"]}
    floor = by_name["mixture"]["vocal"]["si_sdr"]
    seed_runs = [m for m in metrics["methods"] if m["kind"] == "seed"]
    assert seed_runs and {m["name"] for m in seed_runs} >= {"seed_greedy", "seed_greedy_best"}
    for m in seed_runs:  # every seed entry: the drums estimate is better than the mixture itself
        assert m["vocal"]["si_sdr"] > floor + 3.0, (m["name"], m["vocal"]["si_sdr"], floor)
    assert metrics["pair"]["target_name"] == "drums"
    assert "hpss_percussive" in by_name and by_name["repet_sim"]["suited"] is False


def test_a_drums_run_names_its_files_and_summary_after_the_stem(drums_run):
    names = sorted(p.name for p in (drums_run / "2_slices").iterdir())
    assert names == ["extracted_drums.wav", "extracted_everything_else.wav"]
    summary = json.loads((drums_run / "summary.json").read_text())
    assert summary["target"] == {"name": "drums", "label": "drums", "complement": "everything else"}
    assert summary["pair"]["target_name"] == "drums"
    assert summary["progressive"][0]["wav"] == "1_slices/extracted_drums.wav"
    assert summary["greedy"]["instrumental_wav"].endswith("extracted_everything_else_best_sequence.wav")
    # The complement is the mixture minus the drums estimate: something, and not the mixture itself.
    mixture = sf.read(drums_run / "1_slices" / "mixture.wav")[0]
    rest = sf.read(drums_run / "2_slices" / "extracted_everything_else.wav")[0]
    assert len(rest) == len(mixture) and np.std(rest) > 0.01 and np.abs(rest - mixture).max() > 0.01
    report = (drums_run / "report.html").read_text()
    assert "Target stem: <b>drums</b>" in report and "Extracted drums" in report
    assert "Everything else estimate" in report and "drums SI-SDR" in report


def test_vocal_is_a_synonym_of_target_and_the_default_is_the_vocal(tmp_path):
    run = cli(
        [
            "run",
            "--mixture",
            POP / "mixture.wav",
            "--vocal",
            POP / "vocal.wav",
            "--slices",
            "1",
            "--no-plots",
            "--out",
            "r",
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "r" / "1_slices").iterdir()) == [
        "extracted_instrumental.wav",
        "extracted_vocal.wav",
        "mixture.wav",
        "target.wav",
    ]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["target"]["name"] == "vocals"


def test_unknown_target_name_is_one_line(tmp_path):
    run = cli(
        ["evaluate", "--mixture", POP / "mixture.wav", "--target", POP / "drums.wav", "--target-name", "flute"],
        cwd=tmp_path,
    )
    assert_one_line_refusal(run, "Unknown target 'flute'")


def test_a_stem_of_another_length_is_one_line(tmp_path):
    drums, sr = sf.read(POP / "drums.wav")
    sf.write(tmp_path / "short_drums.wav", drums[: len(drums) // 2], sr)
    run = cli(
        [
            "run",
            "--mixture",
            POP / "mixture.wav",
            "--target",
            tmp_path / "short_drums.wav",
            "--target-name",
            "drums",
            "--out",
            "r",
        ],
        cwd=tmp_path,
    )
    assert_one_line_refusal(run, "a pair must have the same length")
    assert "drums" in run.stderr and not (tmp_path / "r").exists()


def test_attribute_runs_for_the_bass(tmp_path):
    run = cli(
        [
            "attribute",
            "--mixture",
            POP / "mixture.wav",
            "--target",
            POP / "bass.wav",
            "--target-name",
            "bass",
            "--slices",
            "2",
            "--json",
            "att.json",
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    found = json.loads((tmp_path / "att.json").read_text())
    assert found["target"] == "bass" and len(found["slices"]) == 2
    assert "bass SI-SDR" in run.stdout
    assert all(np.isfinite(row["alone_si_sdr"]) for row in found["slices"])


# --- batch over a MUSDB-style folder of three songs made by the generator -----------------------


@pytest.fixture(scope="module")
def musdb_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("musdb")
    folders = load_generator().write_musdb(root)
    assert len(folders) == 3
    return root


@pytest.mark.slow  # a Dask batch over every stem
def test_batch_evaluates_every_stem_with_per_stem_tables(musdb_folder, tmp_path):
    run = cli(
        [
            "batch",
            musdb_folder,
            "--methods",
            "exact_eq",
            "irm",
            "repet_sim",
            "hpss_percussive",
            "mixture",
            "--workers",
            "2",
            "--out",
            "out",
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    for stem in ("vocals", "drums", "bass", "other"):
        assert f"Target: {stem}" in run.stdout
    assert "repet_sim for drums" in run.stdout and "hpss_percussive for vocals" in run.stdout
    assert "does not sit sample-exactly" not in run.stdout  # exact stems, every one aligned
    with (tmp_path / "out" / "per_song.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["song"], r["stem"]) for r in rows} == {
        (song, stem)
        for song in ("male_voice_sparse", "sung_phrases_ballad", "sung_vowels_pop")
        for stem in ("vocals", "drums", "bass", "other")
    }
    with (tmp_path / "out" / "summary.csv").open() as f:
        summary = {(r["stem"], r["method"], r["source"], r["metric"]): r for r in csv.DictReader(f)}
    for stem in ("vocals", "drums", "bass", "other"):
        irm = [float(r["vocal_si_sdr"]) for r in rows if r["stem"] == stem and r["method"] == "irm"]
        cell = summary[(stem, "irm", "vocal", "si_sdr")]
        assert int(cell["n"]) == 3 and float(cell["median"]) == pytest.approx(np.median(irm))
        assert float(cell["mad"]) == pytest.approx(np.median(np.abs(np.array(irm) - np.median(irm))))
        floor = float(summary[(stem, "mixture", "vocal", "si_sdr")]["median"])
        assert float(cell["median"]) > float(summary[(stem, "exact_eq", "vocal", "si_sdr")]["median"]) - 3.0
        assert float(summary[(stem, "exact_eq", "vocal", "si_sdr")]["median"]) > floor
    assert summary[("drums", "repet_sim", "vocal", "si_sdr")]["suited"] == "False"
    assert summary[("drums", "hpss_percussive", "vocal", "si_sdr")]["suited"] == "True"
    report = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert report["stems"] == ["vocals", "drums", "bass", "other"]


@pytest.mark.slow  # a Dask batch over every stem
def test_batch_stems_picks_some_and_refuses_unknown_ones(musdb_folder, tmp_path):
    run = cli(
        [
            "batch",
            musdb_folder,
            "--stems",
            "drums,bass",
            "--methods",
            "mixture",
            "--workers",
            "1",
            "--out",
            "out",
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "Target: drums" in run.stdout and "Target: bass" in run.stdout
    assert "Target: vocals" not in run.stdout and "Target: other" not in run.stdout
    bad = cli(["batch", musdb_folder, "--stems", "drums", "kazoo", "--out", "out2"], cwd=tmp_path)
    assert_one_line_refusal(bad, "Unknown stem 'kazoo'")
    assert not (tmp_path / "out2").exists()


def test_batch_finds_every_stem_of_the_bundled_samples():
    """The bundled sample folders: the vocal, drums, bass and chords are each a target (chords are not MUSDB's)."""
    from vsep_core.batch import discover_songs

    songs = discover_songs(SAMPLES)
    assert [s.name for s in songs] == ["male_voice_sparse", "sung_phrases_ballad", "sung_vowels_pop"]
    for song in songs:
        assert song.problem is None and list(song.targets) == ["vocals", "drums", "bass", "chords"]
        assert song.targets["vocals"].name == "vocal.wav" and song.targets["chords"].name == "chords.wav"
