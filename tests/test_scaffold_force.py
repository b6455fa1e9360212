"""`posttrain new` never loses user work: --force keeps edits, writes never follow links, bad arguments
fail before anything is written, and a scaffold is never half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.scaffold import write as scaffold_write
from harness.scaffold.plan import plan_from_flags
from harness.scaffold.render import new_experiment
from harness.scaffold.write import RECORD, STATE_DIR, file_hash
from posttrain.errors import BadInput


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file bytes, or the target of a link."""
    entries: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            entries[key] = f"-> {os.readlink(path)}"
        elif path.is_file():
            entries[key] = path.read_bytes()
    return entries


def test_force_rewrites_only_files_still_as_generated(tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "exp"
    code, _, err = cli("new", str(target), "--method", "sft", capsys=capsys)
    assert code == 0, err
    record = json.loads((target / STATE_DIR / RECORD).read_text())["files"]
    assert record["experiment.yaml"] == file_hash((target / "experiment.yaml").read_bytes())
    (target / "experiment.yaml").write_text((target / "experiment.yaml").read_text() + "# my tuning notes\n")
    (target / "data" / "train.jsonl").write_text('{"prompt": "mine", "completion": "my own row"}\n')
    (target / "README.md").write_text("my notes\n")
    (target / "runs" / "r1").mkdir(parents=True)
    (target / "runs" / "r1" / "report.md").write_text("results")
    (target / "notes.txt").write_text("mine too")
    makefile = (target / "Makefile").read_text()

    code, out, err = cli("new", str(target), "--method", "sft+dpo", "--force", "--json", capsys=capsys)
    assert code == 0, err
    outcome = json.loads(out)
    backup = target / outcome["backup_dir"]
    assert outcome["backup_dir"].startswith(".posttrain/backup-")
    assert set(outcome["backed_up"]) == {"experiment.yaml", "README.md"}
    assert (backup / "experiment.yaml").read_text().endswith("# my tuning notes\n")  # the edit, kept
    assert (backup / "README.md").read_text() == "my notes\n"
    assert "dpo" in (target / "experiment.yaml").read_text()  # the new plan's config in place
    assert outcome["kept"] == ["data/train.jsonl"]
    assert (target / "data" / "train.jsonl").read_text() == '{"prompt": "mine", "completion": "my own row"}\n'
    assert (target / "data" / "preference.jsonl").is_file()  # new files of the new plan are written
    assert (target / "Makefile").read_text() == makefile  # unedited: regenerated (same text here)
    assert (target / "runs" / "r1" / "report.md").read_text() == "results"
    assert (target / "notes.txt").read_text() == "mine too"

    # The terminal output names the backup and the kept file; a second --force keeps them again.
    code, out, _ = cli("new", str(target), "--method", "sft+dpo", "--force", capsys=capsys)
    assert code == 0
    assert "kept your data/train.jsonl" in out and "moved your edited" not in out  # nothing new was edited
    assert (target / "data" / "train.jsonl").read_text().startswith('{"prompt": "mine"')


def test_writes_never_follow_links(tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    target, outside = tmp_path / "exp", tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.yaml").write_text("precious\n")
    code, _, _ = cli("new", str(target), "--method", "sft", capsys=capsys)
    assert code == 0
    # A planted staging file and a linked config: neither makes a write land outside DIR.
    (target / ".experiment.yaml.tmp").symlink_to(outside / "precious.yaml")
    (target / "README.md").unlink()
    (target / "README.md").symlink_to(outside / "precious.yaml")
    code, out, err = cli("new", str(target), "--method", "sft", "--force", "--json", capsys=capsys)
    assert code == 0, err
    assert (outside / "precious.yaml").read_text() == "precious\n"
    assert json.loads(out)["backed_up"] == {"README.md": json.loads(out)["backup_dir"] + "/README.md"}
    assert not (target / "README.md").is_symlink() and "posttrain" in (target / "README.md").read_text()

    # A linked folder inside DIR is refused by name before anything is written.
    (target / "data").rename(tmp_path / "data-moved")
    (target / "data").symlink_to(outside, target_is_directory=True)
    before = snapshot(target)
    code, _, err = cli("new", str(target), "--method", "sft", "--force", capsys=capsys)
    assert code == 2 and "symbolic link" in err and str(target / "data") in err
    assert sorted(p.name for p in outside.iterdir()) == ["precious.yaml"]
    assert snapshot(target) == before
    (target / "data").unlink()
    (target / STATE_DIR).rename(tmp_path / "state-moved")
    (target / STATE_DIR).symlink_to(outside, target_is_directory=True)
    code, _, err = cli("new", str(target), "--method", "sft", "--force", capsys=capsys)
    assert code == 2 and "symbolic link" in err
    assert sorted(p.name for p in outside.iterdir()) == ["precious.yaml"]


def test_a_bad_argument_fails_before_anything_is_written(
    tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "exp"
    code, _, err = cli("new", str(target), "--method", "sft", "--system-prompt", "caf\udcff", capsys=capsys)
    assert code == 2 and "--system-prompt" in err and "UTF-8" in err and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == []  # no folder, no staging left behind
    code, _, err = cli("new", str(target), "--method", "sft", capsys=capsys)  # a rerun is not refused
    assert code == 0, err
    before = snapshot(target)
    code, _, err = cli("new", str(target), "--method", "dpo", "--force", "--name", "x\udcfe", capsys=capsys)
    assert code == 2 and "--name" in err
    assert snapshot(target) == before
    # The same from a real command line: the byte arrives through argv.
    other = tmp_path / "other"
    args = [sys.executable, "-m", "harness.cli", "new", str(other), "--method", "sft", "--system-prompt", b"caf\xff"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--system-prompt" in done.stderr and "Traceback" not in done.stderr
    assert not other.exists()


def test_a_failed_write_leaves_no_half_scaffold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write, calls = scaffold_write._write_at, []

    def failing(dir_fd: int, name: str, data: bytes) -> None:
        calls.append(name)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        real_write(dir_fd, name, data)

    monkeypatch.setattr(scaffold_write, "_write_at", failing)
    target = tmp_path / "exp"
    with pytest.raises(BadInput, match="cannot write the files: No space left on device"):
        new_experiment(target, plan_from_flags("exp", "sft"))
    assert sorted(tmp_path.iterdir()) == []  # neither DIR nor its staging folder
    monkeypatch.setattr(scaffold_write, "_write_at", real_write)
    files = new_experiment(target, plan_from_flags("exp", "sft"))
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == files
