"""One exception root for everything a user can cause; the CLI prints these as one line.

Messages say what was wrong, where (``file:line``, ``field``) and what to do about it.
"""

from __future__ import annotations


class PosttrainError(Exception):
    """Root of user-facing errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class BadInput(PosttrainError):
    """The input (a file, a flag, a config field) is wrong; nothing was run. Exit 2."""

    exit_code = 2


class CheckFailed(PosttrainError):
    """A check ran and found problems the user asked to fail on (e.g. ``--strict``). Exit 1."""

    exit_code = 1


def validation_lines(error: object, source: str | None = None) -> list[str]:
    """Turn a pydantic ``ValidationError`` into ``location: message`` lines.

    >>> from pydantic import BaseModel, ConfigDict
    >>> class M(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     n: int
    >>> try:
    ...     M.model_validate({"n": "x", "k": 1})
    ... except Exception as e:
    ...     print("\\n".join(validation_lines(e, "a.yaml")))
    a.yaml: n: Input should be a valid integer, unable to parse string as an integer (got 'x')
    a.yaml: k: Extra inputs are not permitted
    """
    lines = []
    for err in error.errors():  # type: ignore[attr-defined]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if "input" in err and err["type"] not in ("missing", "extra_forbidden"):
            msg += f" (got {err['input']!r})"
        lines.append(f"{source}: {loc}: {msg}" if source else f"{loc}: {msg}")
    return lines
