"""Methods scored at once (issue #19): ``score(workers=N)`` gives the one-after-another report, figure for figure.

The bundled real pair (tests/data), every method: the report with two workers is the report with one (every
number, every method, in order; only the wall times differ), progress never goes back and comes from the
calling thread, BLAS's thread count is given back, a bad ``workers`` is one clear line.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from conftest_eval import eval_dir, eval_pair  # noqa: F401  (fixtures)

from vsep_core.baselines import get_method, method_names
from vsep_core.cli import main
from vsep_core.errors import VsepError
from vsep_core.evaluate import Candidate, check_workers, evaluate_pair, evaluation_settings, method_candidate, score
from vsep_core.separators import caches


def _exact(value):
    """``value`` with every float as its exact repr (NaN and inf included) and the wall times left out."""
    if isinstance(value, dict):
        return [(key, _exact(item)) for key, item in value.items() if key != "seconds"]
    if isinstance(value, (list, tuple)):
        return [_exact(item) for item in value]
    if isinstance(value, np.ndarray):
        return _exact(value.tolist())
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def _blas_threads() -> list:
    from threadpoolctl import threadpool_info

    return [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture(scope="module")
def both_reports(eval_pair):  # noqa: F811
    """Every method on the real pair, one after another and two at once; each with its progress calls."""
    out = {}
    for workers in (1, 2):
        caches.clear()  # the seed methods fingerprint and search afresh in each run
        calls = []
        blas_before = _blas_threads()

        def progress(fraction, label, calls=calls):
            calls.append((fraction, label, threading.get_ident()))

        report = evaluate_pair(eval_pair, ["all"], workers=workers, progress=progress)
        out[workers] = {"report": report, "calls": calls, "blas": (blas_before, _blas_threads())}
    return out


def test_two_workers_give_the_one_after_another_report(both_reports):
    serial, pooled = both_reports[1]["report"], both_reports[2]["report"]
    assert [m["name"] for m in pooled["methods"]] == method_names()
    assert all(m["error"] is None for m in pooled["methods"])
    # Every figure, split check, info and label the same, in the same order (the JSON a user reads).
    assert _exact(pooled) == _exact(serial)
    # Each method's seconds are its own wall time.
    assert all(0 < m["seconds"] <= pooled["seconds"] for m in pooled["methods"])


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_never_goes_back_and_comes_from_the_calling_thread(both_reports, workers):
    calls = both_reports[workers]["calls"]
    fractions = [fraction for fraction, _, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(a <= b for a, b in zip(fractions, fractions[1:])), fractions
    assert {ident for _, _, ident in calls} == {threading.get_ident()}
    running = " ".join(label for _, label, _ in calls if label.startswith("Running "))
    assert all(name in running for name in method_names())


def test_two_workers_start_the_longest_first_and_run_two_at_once(both_reports):
    labels = [label for _, label, _ in both_reports[2]["calls"] if label.startswith("Running ")]
    assert labels[0] == "Running joint"
    assert any(", " in label for label in labels), labels  # two methods running at one moment
    serial = [label for _, label, _ in both_reports[1]["calls"] if label.startswith("Running ")]
    assert serial == [f"Running {name}" for name in method_names()]  # one after another, in order


@pytest.mark.parametrize("workers", [1, 2])
def test_blas_threads_are_given_back(both_reports, workers):
    before, after = both_reports[workers]["blas"]
    assert after == before


def test_a_failing_method_is_raised_and_a_refusal_is_kept(eval_pair):  # noqa: F811
    def refuse(truth):
        raise VsepError("this method refuses the pair")

    def break_down(truth):
        time.sleep(0.05)
        raise RuntimeError("a bug in a method")

    mixture = method_candidate(get_method("mixture"))
    refusing = Candidate("refusing", "blind", "refuses", refuse)
    broken = Candidate("broken", "blind", "breaks", break_down)
    settings = evaluation_settings()
    report = score(eval_pair, [refusing, mixture], settings=settings, workers=2)
    assert [m["name"] for m in report["methods"]] == ["refusing", "mixture"]
    assert report["methods"][0]["error"] == "this method refuses the pair"
    assert np.isnan(report["methods"][0]["vocal"]["sdr"]) and report["methods"][1]["error"] is None
    ran = []

    def counted(truth):
        ran.append(1)
        return mixture.separate(truth)

    mixtures = [Candidate(f"mixture_{k}", "blind", "counted", counted) for k in range(3)]
    with pytest.raises(RuntimeError, match="a bug in a method"):
        score(eval_pair, [broken, *mixtures], settings=settings, workers=2)
    after_error = len(ran)
    for thread in threading.enumerate():
        if thread.name.startswith("vsep-evaluate-"):
            thread.join(timeout=10)
            assert not thread.is_alive()
    # No method starts after the error, and none was left running: at most the one waiting its turn ran.
    assert len(ran) == after_error <= 1


@pytest.mark.parametrize("bad", [0, -1, 3, 1.5, "2", True])
def test_bad_workers_are_refused_with_a_clear_message(bad):
    with pytest.raises(VsepError, match=r"workers \(methods run at once\) must be a whole number from 1 to 2"):
        check_workers(bad)


def test_default_workers_use_both_cores_at_most():
    import os

    assert check_workers(None) == min(2, os.cpu_count() or 1)
    assert check_workers(1) == 1 and check_workers(np.int64(2)) == 2


@pytest.mark.parametrize("value, message", [("0", "--workers (methods run at once) must be"), ("3", "from 1 to 2")])
def test_cli_bad_workers_is_one_line_before_any_decoding(value, message, tmp_path, capsys):
    # The files do not exist: the option is refused first, without a traceback.
    code = main(
        ["evaluate", "--mixture", str(tmp_path / "m.wav"), "--vocal", str(tmp_path / "v.wav"), "--workers", value]
    )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("vsep evaluate: error: --workers") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_workers_not_a_number_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--mixture", "m.wav", "--vocal", "v.wav", "--workers", "two"])
    assert exit_info.value.code == 2
    assert "--workers: invalid int value: 'two'" in capsys.readouterr().err


def test_cli_workers_one_and_two_write_the_same_figures(eval_dir, tmp_path, capsys):  # noqa: F811
    reports = {}
    for workers in ("1", "2"):
        path = tmp_path / f"w{workers}.json"
        code = main(
            [
                "evaluate",
                "--mixture",
                str(eval_dir / "mixture.wav"),
                "--vocal",
                str(eval_dir / "vocal.wav"),
                "--methods",
                "irm,repet_sim,hpss,mixture",
                "--workers",
                workers,
                "--quiet",
                "--json",
                str(path),
            ]
        )
        assert code == 0, capsys.readouterr().err
        reports[workers] = json.loads(path.read_text())
    assert [m["name"] for m in reports["2"]["methods"]] == ["irm", "repet_sim", "hpss", "mixture"]
    assert _exact(reports["2"]) == _exact(reports["1"])


def test_a_seed_analysis_asked_for_at_once_is_made_once(eval_pair, monkeypatch):  # noqa: F811
    from vsep_core.settings import Settings
    from vsep_core.views import RAW

    made = []
    real = caches.analyse

    def slow_analyse(*args, **kwargs):
        made.append(threading.get_ident())
        time.sleep(0.3)  # long enough for the other thread to ask meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(caches, "analyse", slow_analyse)
    caches.clear()
    got = [None, None]

    def ask(i):
        got[i] = caches.analysis_for(eval_pair, Settings(level="as_is"), (RAW, "slice_1_horizontal"))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    caches.clear()
    assert len(made) == 1 and got[0] is got[1] and got[0] is not None
