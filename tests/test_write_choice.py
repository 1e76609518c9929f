"""``run --write`` / ``--no-audio``: only the chosen WAVs are made and written, the numbers are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vsep_core.audio import prepare_pair
from vsep_core.cli import main
from vsep_core.errors import VsepError
from vsep_core.experiment import run_experiment
from vsep_core.settings import Settings


@pytest.fixture(scope="module")
def pair_files(eval_pair_dir) -> tuple[str, str]:
    return str(eval_pair_dir / "mixture.wav"), str(eval_pair_dir / "vocal.wav")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, pair_files):
    """The default run (every WAV) that each choice is compared with."""
    out = tmp_path_factory.mktemp("all") / "results"
    assert (
        main(
            [
                "run",
                "--mixture",
                pair_files[0],
                "--vocal",
                pair_files[1],
                "--slices",
                "6",
                "--greedy",
                "--no-plots",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def _wavs(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


def _run(pair_files, out: Path, *extra) -> int:
    return main(
        [
            "run",
            "--mixture",
            pair_files[0],
            "--vocal",
            pair_files[1],
            "--slices",
            "6",
            "--greedy",
            "--no-plots",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_default_writes_every_run_and_the_inputs(full_run):
    summary = json.loads((full_run / "summary.json").read_text())
    wavs = _wavs(full_run)
    # 6 progressive runs, the greedy result (and its best prefix when it differs), two files each, plus the inputs.
    runs = 6 + 1 + (summary["greedy"]["best_prefix_wav"] != summary["greedy"]["wav"])
    assert len(wavs) == 2 * runs + 2
    assert all(entry["wav"] in wavs for entry in summary["progressive"])


def test_best_and_greedy_only(tmp_path, pair_files, full_run, capsys):
    out = tmp_path / "results"
    assert _run(pair_files, out, "--write", "best,greedy") == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    full = json.loads((full_run / "summary.json").read_text())
    # The numbers do not depend on what is written.
    assert [e["final_loss"] for e in summary["progressive"]] == [e["final_loss"] for e in full["progressive"]]
    assert summary["greedy"]["sequence"] == full["greedy"]["sequence"]
    best = min(summary["progressive"], key=lambda e: e["final_loss"])
    expected = {best["wav"], best["instrumental_wav"], summary["greedy"]["wav"], summary["greedy"]["instrumental_wav"]}
    wavs = _wavs(out)
    assert set(wavs) == expected
    # Each written file is byte for byte the one the full run wrote.
    all_wavs = _wavs(full_run)
    assert all(wavs[name] == all_wavs[name] for name in wavs)
    # summary.json names only files that exist.
    for entry in summary["progressive"]:
        assert (entry["wav"] is None) == (entry is not best)


def test_run_numbers_inputs_and_best_prefix(tmp_path, pair_files, full_run):
    out = tmp_path / "results"
    assert _run(pair_files, out, "--write", "2,inputs,best-prefix") == 0
    summary = json.loads((out / "summary.json").read_text())
    names = set(_wavs(out))
    assert {
        "1_slices/mixture.wav",
        "1_slices/target.wav",
        "2_slices/extracted_vocal.wav",
        summary["greedy"]["best_prefix_wav"],
    } <= names
    assert "3_slices/extracted_vocal.wav" not in names
    all_wavs = _wavs(full_run)
    assert all(_wavs(out)[name] == all_wavs[name] for name in names)


def test_no_audio_writes_no_wav_but_every_number(tmp_path, pair_files, full_run):
    out = tmp_path / "results"
    assert _run(pair_files, out, "--no-audio") == 0
    assert _wavs(out) == {}
    summary = json.loads((out / "summary.json").read_text())
    full = json.loads((full_run / "summary.json").read_text())
    assert [e["final_loss"] for e in summary["progressive"]] == [e["final_loss"] for e in full["progressive"]]
    assert all(e["wav"] is None for e in summary["progressive"]) and summary["greedy"]["wav"] is None


def test_choice_with_scores_keeps_every_run_for_scoring(tmp_path, pair_files, full_run):
    out = tmp_path / "results"
    assert _run(pair_files, out, "--write", "best", "--metrics") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    seed_rows = [row for row in metrics["methods"] if row["kind"] == "seed"]
    # Runs that are not written are still scored: their audio was kept for the scores.
    assert len(seed_rows) >= 2 and all(
        row["error"] is None and np.isfinite(row["vocal"]["si_sdr"]) for row in seed_rows
    )
    summary = json.loads((out / "summary.json").read_text())
    best = min(summary["progressive"], key=lambda e: e["final_loss"])
    assert set(_wavs(out)) == {best["wav"], best["instrumental_wav"]}


@pytest.mark.parametrize(
    "extra, text",
    [
        (["--write", "9"], "this run has 1 … 6 slices"),
        (["--write", "foo"], "expected all, none"),
        (["--write", "best,all"], "give it alone"),
        (["--write", "none,best"], "give it alone"),
        (["--write", ""], "comma-separated"),
        (["--write", "none", "--no-audio"], "not allowed with"),
    ],
)
def test_bad_choices_are_one_line(tmp_path, pair_files, capsys, extra, text):
    code = None
    try:
        code = _run(pair_files, tmp_path / "results", *extra)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2
    assert text in err and "Traceback" not in out + err
    assert not (tmp_path / "results").exists()


def test_greedy_words_need_greedy(tmp_path, pair_files, capsys):
    code = main(
        [
            "run",
            "--mixture",
            pair_files[0],
            "--vocal",
            pair_files[1],
            "--slices",
            "3",
            "--quiet",
            "--write",
            "greedy",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and "needs --greedy" in capsys.readouterr().err


def test_engine_makes_audio_only_for_the_chosen_runs(eval_pair_dir):
    settings = Settings()
    pair = prepare_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav", settings=settings)
    seen = []
    full = run_experiment(pair, settings, max_slices=5, greedy=True)
    chosen = run_experiment(
        pair,
        settings,
        max_slices=5,
        greedy=True,
        audio_runs={"best", "2"},
        on_run=lambda label, run: seen.append(label),
    )
    best_n = full.best_progressive.n
    assert sorted(seen, key=int) == sorted({"2", str(best_n)}, key=int)
    for run, reference in zip(chosen.progressive, full.progressive):
        assert run.final_loss == reference.final_loss
        if str(run.n) in seen:
            np.testing.assert_array_equal(run.estimate.vocal_raw, reference.estimate.vocal_raw)
        else:
            assert run.estimate is None
    assert chosen.greedy_run.estimate is None and chosen.greedy.sequence == full.greedy.sequence
    with pytest.raises(VsepError, match="Unknown run"):
        run_experiment(pair, settings, max_slices=5, audio_runs={"7"})


def test_joint_choice(tmp_path, pair_files, capsys):
    out = tmp_path / "joint"
    assert (
        main(
            [
                "run",
                "--method",
                "joint",
                "--joint-steps",
                "5",
                "--mixture",
                pair_files[0],
                "--vocal",
                pair_files[1],
                "--quiet",
                "--write",
                "inputs",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert set(_wavs(out)) == {"joint/mixture.wav", "joint/target.wav"}
    code = main(
        [
            "run",
            "--method",
            "joint",
            "--mixture",
            pair_files[0],
            "--vocal",
            pair_files[1],
            "--quiet",
            "--write",
            "3",
            "--out",
            str(tmp_path / "j2"),
        ]
    )
    assert code == 2 and "one estimate" in capsys.readouterr().err


def test_the_report_and_summary_name_the_given_files_not_their_folders(tmp_path, pair_files):
    out = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--mixture",
                pair_files[0],
                "--vocal",
                pair_files[1],
                "--slices",
                "2",
                "--report",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    html = (out / "report.html").read_text()
    assert "Analysed the mixture (mixture.wav) and the isolated vocal (vocal.wav)" in html
    assert str(Path(pair_files[0]).parent) not in html  # a shared report does not show the machine's folders
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pair"]["mixture"] == "mixture.wav" and summary["pair"]["vocal"] == "vocal.wav"
