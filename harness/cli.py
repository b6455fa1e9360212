"""The root ``posttrain`` command: composes each area's commands and turns errors into one line.

Every area registers its own commands (``register(app)``); this module only wires them together,
so ``posttrain --help`` imports nothing heavy. Exit codes: 0 ok, 1 a check failed, 2 bad input.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer

from posttrain import __version__
from posttrain.errors import PosttrainError

app = typer.Typer(
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


def _register_areas() -> None:
    # Each area module is import-light: heavy libraries load inside the command bodies.
    from advisor.cli import register as register_advisor
    from harness.areas import register_harness
    from rag_baseline.cli import register as register_rag

    register_advisor(app)
    register_harness(app)
    register_rag(app)


_register_areas()


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
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
