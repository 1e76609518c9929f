"""Results folders are all or nothing: staged beside the target, moved into place when complete."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vsep_core.cli import main
from vsep_core.errors import VsepError
from vsep_core.staging import StagedFolder, check_out_dir

REPO = Path(__file__).resolve().parents[1]


def tree_digest(folder: Path) -> dict:
    """Every file under ``folder`` by relative path → SHA-256 of its bytes (and its mtime)."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def files(tmp_path_factory, synthetic_pair):
    folder = tmp_path_factory.mktemp("audio")
    sf.write(folder / "m.wav", synthetic_pair.mixture, 22050, subtype="FLOAT")
    sf.write(folder / "v.wav", synthetic_pair.vocal, 22050, subtype="FLOAT")
    (folder / "junk.wav").write_text("not audio")
    return folder


@pytest.fixture()
def earlier(tmp_path, files, capsys):
    """A complete earlier run (3 slices) in tmp_path/results; its files' digests."""
    out = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--mixture",
                str(files / "m.wav"),
                "--vocal",
                str(files / "v.wav"),
                "--slices",
                "3",
                "--no-plots",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    return out, tree_digest(out)


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, out, err, text):
    assert code == 2, err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsep run: error:") and text in lines[0], err


def test_a_run_writes_a_complete_folder_and_nothing_beside_it(earlier):
    out, digest = earlier
    assert {"summary.json", "settings.json", "3_slices/extracted_vocal.wav", "1_slices/mixture.wav"} <= set(digest)
    assert leftovers(out.parent) == []


@pytest.mark.parametrize("case", ["zero_slices", "bad_audio", "bad_setting", "unknown_slice"])
def test_a_failed_run_leaves_the_earlier_folder_byte_identical(case, earlier, files, capsys):
    out, digest = earlier
    args = {
        "zero_slices": ["--slices", "0"],
        "bad_audio": ["--slices", "2"],
        "bad_setting": ["--clip-db", "1000"],
        "unknown_slice": ["--order", "1,2,nope"],
    }[case]
    mixture = files / ("junk.wav" if case == "bad_audio" else "m.wav")
    code, o, e = _run(
        ["run", "--mixture", str(mixture), "--vocal", str(files / "v.wav"), "--no-plots", "--out", str(out), *args],
        capsys,
    )
    _one_line_error(
        code,
        o,
        e,
        {
            "zero_slices": "from 1 to 18",
            "bad_audio": "not audio",
            "bad_setting": "clip_db",
            "unknown_slice": "Unknown slice",
        }[case],
    )
    assert tree_digest(out) == digest
    assert leftovers(out.parent) == []


def test_a_new_run_replaces_the_earlier_folder_whole(earlier, files, capsys):
    out, digest = earlier
    code, o, e = _run(
        [
            "run",
            "--mixture",
            str(files / "m.wav"),
            "--vocal",
            str(files / "v.wav"),
            "--slices",
            "2",
            "--no-plots",
            "--quiet",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, e
    now = tree_digest(out)
    assert "3_slices/extracted_vocal.wav" not in now  # nothing of the earlier run is left inside
    assert "2_slices/extracted_vocal.wav" in now and now["summary.json"] != digest["summary.json"]
    assert leftovers(out.parent) == []


@pytest.mark.parametrize("case", ["empty", "file", "under_a_file", "foreign_folder", "unwritable"])
def test_bad_out_is_one_line_and_exit_2(case, tmp_path, files, capsys):
    (tmp_path / "a_file").write_text("mine")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    out, text = {
        "empty": ("", "--out is empty"),
        "file": (str(tmp_path / "a_file"), "is a file"),
        "under_a_file": (str(tmp_path / "a_file" / "results"), "is a file"),
        "foreign_folder": (str(foreign), "not an earlier run's results"),
        "unwritable": ("/proc/vsep-test/results", "Cannot write"),
    }[case]
    before = tree_digest(tmp_path)
    code, o, e = _run(
        [
            "run",
            "--mixture",
            str(files / "m.wav"),
            "--vocal",
            str(files / "v.wav"),
            "--slices",
            "1",
            "--no-plots",
            "--out",
            out,
        ],
        capsys,
    )
    _one_line_error(code, o, e, text)
    assert tree_digest(tmp_path) == before and leftovers(tmp_path) == []


def test_check_out_dir_accepts_new_empty_and_earlier_results(tmp_path):
    assert check_out_dir(tmp_path / "new" / "deeper") == (tmp_path / "new" / "deeper").absolute()
    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty")
    with pytest.raises(VsepError, match="current folder"):
        check_out_dir(".")
    with pytest.raises(VsepError, match="current folder"):
        check_out_dir(Path.cwd().parent)
    half = tmp_path / "half"
    (half / "1_slices").mkdir(parents=True)  # an old half-written folder: no summary.json
    with pytest.raises(VsepError, match="not an earlier run's results"):
        check_out_dir(half)


def test_staged_folder_discards_on_error_and_removes_parents_it_made(tmp_path):
    target = tmp_path / "a" / "b" / "results"
    with pytest.raises(RuntimeError):
        with StagedFolder(target) as staged:
            (staged.path / "summary.json").write_text("{}")
            assert staged.path.parent == target.parent and staged.path.name.startswith(".results")
            raise RuntimeError("boom")
    assert not (tmp_path / "a").exists()
    with StagedFolder(target) as staged:
        (staged.path / "summary.json").write_text("{}")
    assert (target / "summary.json").read_text() == "{}" and leftovers(target.parent) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_mid_run_leaves_the_earlier_folder_byte_identical(sig, earlier, tmp_path):
    out, digest = earlier
    # A longer pair, so that the run is still going when the signal comes.
    sr = 22050
    rng = np.random.default_rng(0)
    t = np.arange(40 * sr) / sr
    vocal = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)
    mixture = (vocal + 0.1 * rng.standard_normal(len(t))).astype(np.float32)
    sf.write(tmp_path / "long_m.wav", mixture, sr, subtype="FLOAT")
    sf.write(tmp_path / "long_v.wav", vocal, sr, subtype="FLOAT")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vsep_core",
            "run",
            "--mixture",
            str(tmp_path / "long_m.wav"),
            "--vocal",
            str(tmp_path / "long_v.wav"),
            "--duration",
            "all",
            "--greedy",
            "--report",
            "--out",
            str(out),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        # Wait until the run is writing: its staging folder beside the target holds a run's WAV.
        while time.monotonic() < deadline and proc.poll() is None:
            staging = [p for p in out.parent.iterdir() if p.name.startswith(".results.vsep-staging-")]
            if staging and any(staging[0].glob("*_slices/extracted_vocal.wav")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted: " + proc.stderr.read()
        assert tree_digest(out) == digest  # while the run writes, the earlier folder is untouched
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert tree_digest(out) == digest
    assert leftovers(out.parent) == []


def test_a_report_keeps_every_runs_audio_so_the_lower_workload_limit_applies(tmp_path, monkeypatch, capsys):
    """`run --report` holds every run's audio: a segment allowed without it is refused with it (issue #8)."""
    import numpy as np

    from vsep_core.audio import write_wav
    from vsep_core.cli import main

    sr = 8000
    t = np.arange(int(9 * sr)) / sr
    vocal = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    write_wav(tmp_path / "v.wav", vocal, sr)
    write_wav(tmp_path / "m.wav", vocal + (0.2 * np.sin(2 * np.pi * 97 * t)).astype(np.float32), sr)
    monkeypatch.setenv("VSEP_MAX_SEGMENT_S", "8")  # 8 s plain, 2/3 of it with the audio kept
    common = [
        "run",
        "--mixture",
        str(tmp_path / "m.wav"),
        "--vocal",
        str(tmp_path / "v.wav"),
        "--duration",
        "7",
        "--slices",
        "1",
        "--no-plots",
        "--quiet",
    ]
    assert main(common + ["--out", str(tmp_path / "plain")]) == 0
    assert main(common + ["--out", str(tmp_path / "with_report"), "--report"]) == 2
    err = capsys.readouterr().err
    assert "VSEP_MAX_SEGMENT_S" in err and not (tmp_path / "with_report").exists()
