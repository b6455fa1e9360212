"""The export's text files from jinja2 templates (``templates/export/``): the Modelfile and the README."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.export.modelfile import quoted
from harness.export.serving import curl_example

if TYPE_CHECKING:
    from harness.export.bundle import ExportResult
    from harness.export.source import RunSource

_LABELS = {"tuned": "fine-tuned", "tuned_rag": "fine-tuned + RAG"}


def _template_dir() -> Path:
    try:  # the installed package
        import templates

        return Path(templates.__file__).resolve().parent / "export"
    except ImportError:  # pragma: no cover - a source checkout without the package on the path
        return Path(__file__).resolve().parents[2] / "templates" / "export"


def _environment(out: Path | None = None) -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=FileSystemLoader(_template_dir()),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        quoted=quoted,
        label=lambda v: _LABELS.get(v, v),
        means=lambda m: ", ".join(f"{k} {v:.3f}" for k, v in m.items()) or "–",
        short=_short,
        size=lambda n: f"{n / 1e6:.1f} MB",
        rel=lambda p: _relative(p, out),
    )
    return env


def _short(text: str, limit: int = 160) -> str:
    r"""One line for Markdown: whitespace shown as escapes, cut at ``limit`` characters.

    >>> _short("a\nb"), _short("x" * 5, limit=3)
    ('a\\nb', 'xx…')
    """
    flat = text.replace("\n", "\\n").replace("`", "'")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _relative(path: str, out: Path | None) -> str:
    if out is None:
        return path
    try:
        return str(Path(path).relative_to(out))
    except ValueError:
        return path


def render_modelfile(
    *, source: RunSource, name: str, template: str | None, template_note: str, stops: list[str], max_new_tokens: int
) -> str:
    if template is not None and '"""' in template:
        template, template_note = None, 'the chat template contains """, which a Modelfile string cannot hold'
    return str(
        _environment()
        .get_template("Modelfile.j2")
        .render(
            name=name,
            method=source.method,
            run_id=source.run_dir.name,
            experiment=source.config.name,
            model=source.config.model,
            template=template,
            template_note=template_note,
            system=source.config.baselines.system_prompt,
            stops=stops,
            max_new_tokens=max_new_tokens,
        )
    )


def render_readme(result: ExportResult, source: RunSource) -> str:
    out = Path(result.out)
    first = next(iter(result.eval_commands.values()))
    rag_example = ""
    if result.rag:
        rag_example = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in result.request["messages"])
    return str(
        _environment(out)
        .get_template("README.md.j2")
        .render(
            r=result,
            run_id=source.run_dir.name,
            experiment=source.config.name,
            model=source.config.model,
            eos=result.eos_token or "",
            eval_command=" ".join(shlex.quote(a) for a in first),
            curl=curl_example(),
            rag_example=rag_example,
        )
    )
