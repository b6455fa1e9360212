"""The templates travel with the package: build the wheel, install it into a fresh venv, run `posttrain new`.

Hermetic: the source is copied to tmp_path and built there without build isolation (no download); the
fresh venv gets the wheel with --no-deps and sees the light libraries (typer, pydantic, jinja2, ...) of the
current environment through a .pth line placed after its own site-packages. Its ``.pth`` files (the editable
install of posttrain) are not processed, so ``harness`` can only come from the wheel — the test checks that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["posttrain", "advisor", "harness", "rag_baseline", "templates"]


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_wheel_ships_templates_and_posttrain_new_runs_from_it(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy2(REPO / name, source / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, source], tmp_path
    )
    (wheel,) = dist.glob("posttrain-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n for n in names if n.startswith("templates/scaffold/")}
    expected = {
        "templates/scaffold/" + p.relative_to(REPO / "templates" / "scaffold").as_posix()
        for p in (REPO / "templates" / "scaffold").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert expected and expected <= shipped

    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([base_python, "-m", "venv", "--without-pip", venv], tmp_path)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel], tmp_path)
    site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    )
    (site / "zz_light_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    where = _run(
        [python, "-c", "import harness, templates; print(harness.__file__); print(templates.__file__)"], tmp_path, env
    )
    assert all(Path(line).is_relative_to(venv) for line in where.stdout.split()), where.stdout

    posttrain = venv / "bin" / "posttrain"
    out = _run([posttrain, "new", "demo", "--method", "sft+grpo", "--json"], tmp_path, env).stdout
    files = json.loads(out)["files"]
    assert {"experiment.yaml", "rewards.py", "accelerate/fsdp.yaml", "data/prompts.jsonl"} <= set(files)
    assert all((tmp_path / "demo" / f).is_file() for f in files)
    checked = _run([posttrain, "config", "check", "demo"], tmp_path, env).stdout
    assert checked.startswith("ok:") and "sft, grpo" in checked
