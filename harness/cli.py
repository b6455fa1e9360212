"""The root ``posttrain`` command: composes each area's commands and turns errors into one line.

Every area registers its own commands (``register(app)``); :data:`harness.areas.COMMANDS` says which
module owns which command, and :class:`LazyGroup` imports an area only when one of its commands runs, so
``posttrain --help`` imports no area at all. Exit codes: 0 ok, 1 a check failed, 2 bad input.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Annotated, Any

import typer
import typer._click as click
from typer.core import TyperCommand, TyperGroup
from typer.main import get_group

from harness.areas import COMMANDS
from posttrain import __version__
from posttrain.errors import PosttrainError


class LazyGroup(TyperGroup):
    """The root group: lists every command from :data:`harness.areas.COMMANDS` without importing it.

    Until a command is run (or its ``--help`` shown) it is a stub holding only its name and one-line help,
    so ``posttrain --help`` and ``posttrain advise`` import one area at most (targets: bench/cli_startup.py).
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        for name, (_, short_help) in COMMANDS.items():
            # Stubs keep the table's order and let "Did you mean …?" see every name.
            self.commands.setdefault(name, _Stub(name=name, help=short_help))

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True  # the listing needs only names and short help: leave the stubs in place
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Stub) and not self._listing:
            command = self._load(cmd_name)
        return command

    def _load(self, name: str) -> click.Command:
        """Import the area that owns ``name`` and swap its real commands in for their stubs."""
        module, function = COMMANDS[name][0].split(":")
        area = typer.Typer(rich_markup_mode=self.rich_markup_mode, add_completion=False)
        getattr(importlib.import_module(module), function)(area)
        for real_name, real in get_group(area).commands.items():
            if isinstance(self.commands.get(real_name), _Stub):
                self.commands[real_name] = real
        command = self.commands[name]
        if isinstance(command, _Stub):  # the table names a module that does not add this command
            raise RuntimeError(f"{COMMANDS[name][0]} did not register the command {name!r}")
        return command


class _Stub(TyperCommand):
    """A not-yet-imported command: its name and short help only."""


app = typer.Typer(
    cls=LazyGroup,
    name="posttrain",
    help=(
        "Decide how to adapt a language model — prompting, RAG, SFT, DPO or RL — and prove it.\n\n"
        "Tour: posttrain advise → posttrain new DIR → posttrain run DIR → open DIR/runs/latest/report.html"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"posttrain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
) -> None:
    _state["debug"] = debug


def _print_error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code instead of raising."""
    args = sys.argv[1:] if argv is None else argv
    _state["debug"] = "--debug" in args
    try:
        result = app(args=args, standalone_mode=False, prog_name="posttrain")
    except PosttrainError as error:
        if _state["debug"]:
            traceback.print_exc()
        for line in str(error).splitlines() or [type(error).__name__]:
            _print_error(line)
        return error.exit_code
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        _print_error("aborted")
        return 130
    except typer.TyperException as error:  # usage errors from the (vendored) click layer
        error.show()  # type: ignore[attr-defined]
        return int(getattr(error, "exit_code", 2))
    except KeyboardInterrupt:
        _print_error("interrupted; rerun the same command to resume")
        return 130
    return result if isinstance(result, int) else 0


def run() -> None:  # pragma: no cover - the console script
    from harness.allocator import reexec_tuned, wants_tuning
    from posttrain import collector

    reexec_tuned()  # the allocator set for tensor work: once, before torch is imported
    if wants_tuning(sys.argv[1:]):
        collector.quiet_startup()  # and the garbage collector's (posttrain.collector)
    code = main()
    collector.before_exit()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
