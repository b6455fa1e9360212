"""Render the scaffold's templates (a sandboxed jinja2 environment) and write them into DIR.

User text reaches files only as data: YAML/JSON values through ``yaml`` (a JSON literal, valid YAML),
comments and Markdown through filters that remove line breaks and markup; rows are written by
``json.dumps``; no user text reaches ``rewards.py`` or the ``Makefile``. Output paths are fixed names;
:mod:`harness.scaffold.write` writes them (never through a link, never over a user's edit).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config import CONFIG_FILE, parse_config
from harness.scaffold.plan import ScaffoldPlan, training_defaults
from harness.scaffold.starter import knowledge_documents, starter_rows, to_jsonl
from harness.scaffold.write import WriteOutcome, encode_files, write_files

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")  # YAML and Markdown both break lines on some


def _always(plan: ScaffoldPlan) -> bool:
    return True


def _has_rl(plan: ScaffoldPlan) -> bool:
    return bool({"grpo", "rloo"} & set(plan.methods))  # the online RL methods that read rewards.py


# (output path, template inside templates/scaffold, when to write it)
TEMPLATES: list[tuple[str, str, Callable[[ScaffoldPlan], bool]]] = [
    (CONFIG_FILE, "experiment.yaml.j2", _always),
    ("README.md", "README.md.j2", _always),
    ("data/README.md", "data/README.md.j2", _always),
    ("rewards.py", "rewards.py.j2", _has_rl),
    ("Makefile", "Makefile.j2", _always),
    (".gitignore", "gitignore.j2", _always),
    ("accelerate/single_gpu.yaml", "accelerate/single_gpu.yaml.j2", _always),
    ("accelerate/ddp.yaml", "accelerate/ddp.yaml.j2", _always),
    ("accelerate/fsdp.yaml", "accelerate/fsdp.yaml.j2", _always),
    ("accelerate/deepspeed_zero2.yaml", "accelerate/deepspeed_zero2.yaml.j2", _always),
    ("accelerate/deepspeed_zero3.yaml", "accelerate/deepspeed_zero3.yaml.j2", _always),
]


def yaml_value(value: Any) -> str:
    """A YAML flow value for any JSON-able value: JSON is valid YAML, and escapes every quote and line break.

    >>> print(yaml_value('say "hi"\\n{{ x }}'))
    "say \\"hi\\"\\n{{ x }}"
    >>> yaml_value(5e-05), yaml_value(0.0002), yaml_value(["sft", "dpo"])
    ('5.0e-05', '0.0002', '["sft", "dpo"]')
    """
    if isinstance(value, float):
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        # PyYAML reads 5e-05 as a string: YAML 1.1 floats need a dot in the mantissa.
        return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}" if exponent else text
    return json.dumps(value, ensure_ascii=True)


def comment_text(value: Any, limit: int = 200) -> str:
    """Text safe inside a ``#`` comment: one line, no control characters, at most ``limit`` characters.

    >>> comment_text("a\\nname: injected\\u2028b")
    'a name: injected b'
    """
    return _LINE_BREAKS.sub(" ", str(value)).strip()[:limit]


def markdown_text(value: Any) -> str:
    """Plain text safe in a Markdown paragraph or list item: one line, no HTML, no fences or table breaks.

    Single code spans stay (they render as code and run nothing); runs of three backticks, which
    would open a fenced block, are escaped.

    >>> markdown_text("<script>x</script> `posttrain run` ``` | a\\n# b")
    '&lt;script&gt;x&lt;/script&gt; `posttrain run` \\\\`\\\\`\\\\` \\\\| a \\\\# b'
    """
    text = comment_text(value, limit=2000).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([|#*_\[\]\\])", r"\\\1", text)
    return re.sub(r"`{3,}", lambda run: "\\`" * len(run.group()), text)


def schema_field(path: str) -> Any:
    """The ``experiment.yaml`` field at a dotted path (``training.warmup_ratio``), from the schema itself.

    >>> schema_field("training.save_steps").default, schema_field("data.replay.path").default
    (50, 'builtin:general')
    """
    import types
    import typing

    from pydantic import BaseModel

    from harness.config import ExperimentConfig

    model: Any = ExperimentConfig
    info: Any = None
    for part in path.split("."):
        info = model.model_fields[part]
        annotation = info.annotation
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            annotation = next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return info


def schema_default(path: str) -> Any:
    """The schema's default at ``path``, as the YAML flow value the scaffold writes.

    >>> schema_default("training.warmup_ratio"), schema_default("forgetting.tasks"), schema_default("dpo.beta")
    ('0.0', '[posttrain_general]', '0.1')
    """
    value = schema_field(path).get_default(call_default_factory=True)
    if isinstance(value, str) and schema_word(value):  # auto, not "auto": YAML reads it back the same
        return value
    if isinstance(value, list) and all(isinstance(v, str) and schema_word(v) for v in value):
        return "[" + ", ".join(value) + "]"
    return yaml_value(value)


def schema_word(text: str) -> bool:
    """A string YAML reads back as itself when written bare (no quotes needed).

    >>> schema_word("auto"), schema_word("builtin:general"), schema_word("no"), schema_word("1.0")
    (True, True, False, False)
    """
    import yaml

    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_:.-]*", text)) and yaml.safe_load(text) == text


def schema_doc(path: str) -> str:
    """The field's description, one line, safe in a ``#`` comment (a setting is documented once)."""
    return comment_text(schema_field(path).description or "")


def template_root() -> Path:
    """``templates/scaffold`` inside the installed package (the wheel ships it as package data)."""
    import templates

    return Path(templates.__file__).resolve().parent / "scaffold"


def _environment() -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(template_root())),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(yaml=yaml_value, comment=comment_text, md=markdown_text, thousands=lambda n: f"{n:,}")
    env.globals.update(default=schema_default, doc=schema_doc)  # one source of defaults: the schema
    return env


def render_scaffold(plan: ScaffoldPlan) -> dict[str, str]:
    """Every file of the scaffold: relative path → text. Pure apart from reading the templates."""
    env = _environment()
    defaults = training_defaults(plan)
    context = {
        "plan": plan.model_dump(mode="json"),
        "d": defaults,
        "has_rewards": _has_rl(plan),
        "procs": max(2, defaults["num_processes"]),
    }
    files = {out: env.get_template(name).render(context) for out, name, wanted in TEMPLATES if wanted(plan)}
    files.update({path: to_jsonl(rows) for path, rows in starter_rows(plan).items()})
    if plan.rag:
        files.update(knowledge_documents())
    if plan.advice is not None:
        import yaml

        header = "# The answers that produced this scaffold: `posttrain advise --answers answers.yaml`.\n"
        files["answers.yaml"] = header + yaml.safe_dump(plan.answers or {}, sort_keys=False, allow_unicode=True)
        files["advice.json"] = json.dumps(plan.advice, indent=2, ensure_ascii=False) + "\n"
    # A template bug must never hand the user an invalid config.
    parse_config(files[CONFIG_FILE], f"(generated) {CONFIG_FILE}")
    return dict(sorted(files.items()))


def write_scaffold(target: Path, files: dict[str, str], force: bool = False) -> WriteOutcome:
    """Write ``files`` under ``target``; refuse a non-empty directory unless ``force``.

    With ``force`` only the scaffold's own files still as generated are replaced; edited ones are
    backed up (data files are kept as they are), and ``runs/`` and anything else stay. See
    :mod:`harness.scaffold.write`.
    """
    return write_files(target, dict(files), force=force)


def write_experiment(target: Path, plan: ScaffoldPlan, force: bool = False, dry_run: bool = False) -> WriteOutcome:
    """Render the scaffold in memory, then (unless ``dry_run``) write it; nothing is written on any error."""
    files = render_scaffold(plan)
    encode_files(dict(files))  # a bad byte from an argument fails here, before the first write
    if dry_run:
        return WriteOutcome(written=list(files))
    return write_scaffold(target, files, force=force)


def new_experiment(target: Path, plan: ScaffoldPlan, force: bool = False, dry_run: bool = False) -> list[str]:
    """Render and (unless ``dry_run``) write the scaffold; returns the relative paths."""
    outcome = write_experiment(target, plan, force=force, dry_run=dry_run)
    return outcome.files
