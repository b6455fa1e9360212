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


def _eager_group():
    """Every area's commands built eagerly, as the root had them before lazy loading."""
    import typer
    from typer.main import get_group

    from harness.areas import register_all

    app = typer.Typer(rich_markup_mode="rich")
    register_all(app)
    return get_group(app)


def test_command_table_matches_the_real_commands():
    # The root `--help` shows the table's short help without importing the areas; it must not drift from
    # the commands' own help, and no area may add a command the table (hence `posttrain --help`) lacks.
    from harness.areas import COMMANDS

    real = _eager_group().commands
    assert set(real) == set(COMMANDS)
    for name, (_, short_help) in COMMANDS.items():
        help_text = real[name].help or ""
        assert help_text.strip().splitlines()[0] == short_help, name


def test_help_lists_every_command_in_table_order(cli, capsys):
    from harness.areas import COMMANDS

    code, out, _ = cli("--help", capsys=capsys)
    assert code == 0
    listed = [line.split()[1] for line in out.splitlines() if line.startswith("│ ") and line.split()[1] in COMMANDS]
    assert listed == list(COMMANDS)


def test_help_imports_no_area():
    # `posttrain --help` reads names and short help from harness.areas; running it imports no area's cli
    # module and not pydantic (what made it slow: bench/cli_startup.py).
    code = (
        "import sys; from harness.cli import main; main(['--help']); "
        "loaded = [m for m in sys.modules if m.endswith('.cli') and m != 'harness.cli' or m == 'pydantic']; "
        "print('LOADED', sorted(loaded))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED []" in proc.stdout


def test_every_command_help_works_and_twice(cli, capsys):
    # Each command loads on demand; asking twice in one process (a fresh root group each time) still works.
    names = [("advise",), ("new",), ("config", "check"), ("data", "check"), ("data", "mix"), ("rag", "query")]
    names += [(n,) for n in ("models", "train", "eval", "run", "demo", "report", "compare")]
    for _ in range(2):
        for name in names:
            code, out, _ = cli(*name, "--help", capsys=capsys)
            assert code == 0, name
            assert f"posttrain {' '.join(name)}" in out
