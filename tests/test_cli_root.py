"""The root command: version, help, and one-line errors with exit 2."""

from __future__ import annotations

import subprocess
import sys

from posttrain import __version__


def test_version_flag(cli, capsys):
    code, out, _ = cli("--version", capsys=capsys)
    assert code == 0
    assert out.strip() == f"posttrain {__version__}"


def test_help_lists_areas(cli, capsys):
    code, out, _ = cli("--help", capsys=capsys)
    assert code == 0
    assert "posttrain advise" in out


def test_unknown_command_is_exit_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "no-such-command"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "no-such-command" in proc.stderr


def test_help_imports_nothing_heavy():
    code = (
        "import sys; from harness.cli import main; main(['--help']); "
        "heavy = [m for m in ('torch','transformers','trl','peft','chromadb','lm_eval') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in proc.stdout
