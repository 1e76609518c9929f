"""No workflow is assembled twice (issue #18): the front ends call vsep_core.api, never its internals.

Read as source (the import graph and the names each module calls): the CLI, the dashboard's modules
and pages, the Dask tasks and batch must not import or call the engine's workflow steps (the
experiment, the greedy search, the joint optimiser, attribution, scoring); ``vsep_core/api.py`` is the
only front-end-facing module that does. The Dask tasks are the api's functions themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: The engine's workflow steps: only vsep_core.api (and the engine modules below it) may call these.
INTERNALS = {
    "run_experiment",
    "run_greedy",
    "run_progressive",
    "run_chain",
    "greedy_search",
    "run_joint",
    "evaluate_experiment",
    "evaluate_joint",
    "evaluate_pair",
    "experiment_si_sdr",
    "attribute_slices",
    "attribute_joint",
    "estimate_from_chain",
    "vocal_from_db",
}

#: The front ends: they parse, cache, dispatch or draw, and call the api for any workflow.
FRONT_ENDS = [
    "vsep_core/cli.py",
    "vsep_core/cluster.py",
    "vsep_core/batch.py",
    "app.py",
    *sorted(str(p.relative_to(REPO)) for p in (REPO / "vsep_app").glob("*.py")),
    *sorted(str(p.relative_to(REPO)) for p in (REPO / "app_pages").glob("*.py")),
]


def _uses(path: Path) -> set[str]:
    """Every name ``path`` imports, and every plain or attribute name it calls."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            found.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return found


def test_front_ends_call_the_api_not_the_workflow_internals():
    offenders = {name: sorted(_uses(REPO / name) & INTERNALS) for name in FRONT_ENDS}
    assert {name: used for name, used in offenders.items() if used} == {}


def test_the_api_is_where_the_workflows_are_assembled():
    used = _uses(REPO / "vsep_core" / "api.py")
    assert {
        "run_experiment",
        "run_greedy",
        "run_joint",
        "evaluate_joint",
        "evaluate_experiment",
        "evaluate_pair",
        "attribute_slices",
        "attribute_joint",
        "experiment_si_sdr",
    } <= used
    for front in (
        "vsep_core/cli.py",
        "vsep_app/cache.py",
        "vsep_app/dispatch.py",
        "vsep_core/cluster.py",
        "vsep_core/batch.py",
    ):
        source = (REPO / front).read_text()
        assert "api" in _uses(REPO / front) or "from .api import" in source or "from vsep_core import api" in source, (
            front
        )


def test_dask_tasks_are_the_api_functions():
    from functools import partial

    from vsep_core import api, cluster

    tasks = cluster._tasks()
    assert set(tasks) == set(cluster.TASKS)
    api_functions = {getattr(api, name) for name in api.__all__}
    for name, task in tasks.items():
        target = task.func if isinstance(task, partial) else task
        wrapped = {cluster.greedy_task: api.seed_greedy, cluster.joint_task: api.joint_matching}.get(target, target)
        assert wrapped in api_functions, name
    # The two named wrappers are one call each, into the api.
    for wrapper, inner in ((cluster.greedy_task, "seed_greedy"), (cluster.joint_task, "joint_matching")):
        calls = {
            n.func.id
            for n in ast.walk(ast.parse(_source(wrapper)))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert calls == {inner}, (wrapper.__name__, calls)


def _source(fn) -> str:
    import inspect
    import textwrap

    return textwrap.dedent(inspect.getsource(fn))


def test_one_rule_says_a_greedy_search_belongs_with_a_progressive_test():
    """The rule lives in vsep_core.api.belongs_together; nothing else compares the records' identity and settings."""
    from types import SimpleNamespace

    from vsep_core.api import belongs_together
    from vsep_core.settings import Settings

    prog = SimpleNamespace(identity="a", settings=Settings())
    assert belongs_together(prog, SimpleNamespace(identity="a", settings=Settings()))
    assert not belongs_together(prog, SimpleNamespace(identity="b", settings=Settings()))
    assert not belongs_together(prog, SimpleNamespace(identity="a", settings=Settings(hop_length=512)))
    assert not belongs_together(prog, None)
    for name in FRONT_ENDS:
        text = (REPO / name).read_text()
        assert ".identity == prog.identity" not in text and "identity == greedy" not in text, name


def test_a_results_folder_has_one_writer():
    """Only report.Outputs writes a run's files: the CLI writes no WAV or JSON of its own."""
    used = _uses(REPO / "vsep_core" / "cli.py")
    writes = {"write_wav", "json_text", "write_bytes", "write_text", "html_report"}
    assert not used & writes, used & writes
