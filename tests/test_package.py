"""A package you can install (issue #18): ``pip install`` gives a working ``vsep`` command.

The working tree's package files are copied to a temporary folder (pip builds in the source tree, which
must stay clean) and installed without dependencies into a fresh virtual environment whose Python sees
the shared environment's packages through a ``.pth`` file (no download). ``vsep check`` and ``vsep run
--help`` then run from the installed copy, outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_pyproject_declares_dependencies_extras_and_the_command():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip() for dep in project["dependencies"]}
    assert {"numpy", "scipy", "librosa", "soundfile", "numba", "soxr", "plotly"} <= names
    assert "museval" not in names and "streamlit" not in names  # only where used: dev, dashboard
    assert {"dashboard", "dask", "dev"} <= set(project["optional-dependencies"])
    assert any(dep.startswith("museval") for dep in project["optional-dependencies"]["dev"])
    assert project["scripts"]["vsep"] == "vsep_core.cli:main"


def test_pip_install_gives_a_working_vsep_command(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in ("vsep_core", "vsep_app"):
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc")
        )
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The shared environment's packages (pip, setuptools, numpy …) behind the new environment's own.
    (site / "shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=clean_env,
    )
    assert install.returncode == 0, install.stderr
    vsep = env_dir / "bin" / "vsep"
    assert vsep.exists()
    where = subprocess.run(
        [str(python), "-c", "import vsep_core; print(vsep_core.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env,
        timeout=120,
    )
    assert Path(where.stdout.strip()).is_relative_to(site), where  # the installed copy, not the checkout
    # The files the code opens beside itself are installed with it (the blind model, the recorder's script).
    assert (site / "vsep_core" / "models" / "learned_fingerprint_vocals.npz").is_file()
    assert (site / "vsep_app" / "backing_recorder.js").is_file()
    check = subprocess.run(
        [str(vsep), "check"], capture_output=True, text=True, cwd=tmp_path, env=clean_env, timeout=600
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Compiled loops: ready" in check.stdout and "wav" in check.stdout
    helped = subprocess.run(
        [str(vsep), "run", "--help"], capture_output=True, text=True, cwd=tmp_path, env=clean_env, timeout=120
    )
    assert helped.returncode == 0 and "--mixture" in helped.stdout
    assert not (REPO / "build").exists() and not list(REPO.glob("*.egg-info"))
