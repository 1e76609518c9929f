"""The package's shape: no import cycle inside vsep_core, view columns, the greedy replay, settings' meaning."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vsep_core.errors import VsepError
from vsep_core.settings import Settings

PACKAGE = Path(__file__).resolve().parents[1] / "vsep_core"


def _module_level_imports(path: Path) -> set[str]:
    """vsep_core modules imported at module level (imports inside functions run later and cannot cycle)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vsep_core."):
            out.add(node.module.split(".")[1])
    return out


def test_no_import_cycle_inside_vsep_core():
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    graph = {
        name: {m for m in _module_level_imports(path) if m in modules and m != name} for name, path in modules.items()
    }
    assert graph["batch"] >= {"evaluate"} and "batch" not in graph["evaluate"]
    # Depth-first search for a back edge.
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("module", ["vsep_core.batch", "vsep_core.evaluate", "vsep_core.cli"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120, cwd=PACKAGE.parent
    )
    assert proc.returncode == 0, proc.stderr


def test_cli_glue_lives_in_cli_only():
    for name in ("evaluate.py", "batch.py"):
        text = (PACKAGE / name).read_text()
        assert "argparse" not in text and "sys.stderr" not in text, name
    assert "json.dumps" not in (PACKAGE / "report.py").read_text()
    assert "def _jsonable" not in (PACKAGE / "experiment.py").read_text()


# --- view columns ----------------------------------------------------------------------------


@pytest.mark.parametrize("frames", [9, 10])
def test_view_column_equals_the_whole_views_column(frames):
    from vsep_core.views import VIEW_NAMES, VIEWS_BY_NAME, compute_view, view_column

    mag = np.random.default_rng(frames).random((37, frames)).astype(np.float32)
    for name in VIEW_NAMES:
        whole = compute_view(mag, name)
        for window in range(frames):
            column = window // 2 if VIEWS_BY_NAME[name].is_pooled else window
            np.testing.assert_array_equal(view_column(mag, name, window), whole[:, column], err_msg=name)
    with pytest.raises(VsepError, match="outside"):
        view_column(mag, "slice_0_raw", frames)


# --- the greedy replay -----------------------------------------------------------------------


def test_run_greedy_is_what_run_experiment_reports(synthetic_pair):
    from vsep_core.analysis import analyse
    from vsep_core.experiment import run_experiment, run_greedy

    settings = Settings()
    candidates = ["slice_8_lowpass", "slice_1_horizontal", "slice_17_maxpool"]
    result = run_experiment(synthetic_pair, settings, order=candidates, greedy=True)
    analysis = analyse(synthetic_pair, settings, views=("slice_0_raw", *candidates))
    seen, fractions, timings = [], [], {}
    found, greedy_run, best_run = run_greedy(
        analysis,
        synthetic_pair,
        candidates,
        on_run=lambda label, run: seen.append((label, run)),
        progress=lambda f, label: fractions.append(f),
        timings=timings,
    )
    assert found.sequence == result.greedy.sequence and found.steps == result.greedy.steps
    np.testing.assert_array_equal(greedy_run.estimate.vocal_raw, result.greedy_run.estimate.vocal_raw)
    np.testing.assert_array_equal(best_run.estimate.vocal_raw, result.best_prefix_run.estimate.vocal_raw)
    assert [label for label, _ in seen] == (["greedy"] if best_run is greedy_run else ["greedy", "best_prefix"])
    assert set(timings) == {"greedy", "reconstruct"} and fractions[-1] == 1.0


# --- meaningful settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, why",
    [
        ({"learning_rate": 1.0}, "swings between the clips"),
        ({"learning_rate": 3.0}, "swings between the clips"),
        ({"clip_db": 1000.0}, "overflow"),
        ({"clip_db": -1.0}, "clip_db must be"),
        ({"learning_rate": float("nan")}, "learning_rate must be"),
    ],
)
def test_meaningless_settings_are_refused_with_the_reason(changes, why):
    with pytest.raises(VsepError, match=why):
        Settings(**changes)


@pytest.mark.parametrize(
    "changes, why",
    [
        ({"learning_rate": 0.7}, "overshoots"),
        ({"clip_db": 0.0}, "no EQ"),
        ({"clip_db": 120.0}, "no longer limits"),
        ({"learning_rate": 0.0001, "iterations": 10}, "barely change"),
        ({"n_points": 2000}, "interpolate"),
        ({"hop_length": 4096}, "gaps"),
    ],
)
def test_dubious_settings_are_legal_with_a_warning(changes, why):
    warnings = Settings(**changes).warnings()
    assert len(warnings) == 1 and why in warnings[0]


def test_seed_defaults_and_every_level_have_no_warning():
    for level in ("independent", "common", "as_is"):
        assert Settings(level=level).warnings() == []


def test_the_cli_shows_the_warning(tmp_path, synthetic_pair, capsys):
    import soundfile as sf

    from vsep_core.cli import main

    sf.write(tmp_path / "m.wav", synthetic_pair.mixture, 22050, subtype="FLOAT")
    sf.write(tmp_path / "v.wav", synthetic_pair.vocal, 22050, subtype="FLOAT")
    code = main(
        [
            "run",
            "--mixture",
            str(tmp_path / "m.wav"),
            "--vocal",
            str(tmp_path / "v.wav"),
            "--slices",
            "1",
            "--no-plots",
            "--learning-rate",
            "0.7",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 0 and "vsep run: warning: learning_rate 0.7 is above 0.5" in err


def test_terminal_progress_draws_on_a_terminal_only():
    import io

    from vsep_core.progress import TerminalProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    shown, piped = Terminal(), io.StringIO()
    for stream in (shown, piped):
        with TerminalProgress(stream=stream) as bar:
            bar(0.3, "Analysing")
            bar(0.9, "Greedy search")
            bar(0.1, "Scoring")  # a later stage starts again from its own 0
    assert "30.0%" in shown.getvalue() and "Greedy search" in shown.getvalue() and "10.0%" in shown.getvalue()
    assert piped.getvalue() == ""
    quiet = Terminal()
    with TerminalProgress(stream=quiet, enabled=False) as bar:
        bar(0.5, "x")
    assert quiet.getvalue() == ""
