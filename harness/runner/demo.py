"""``posttrain demo``: a shipped example's answers → advice → scaffold → run → verdict.

The example folder holds ``answers.yaml`` (what the advisor is asked), ``experiment.yaml`` (the
settings sized for a 2-core CPU) and its data; they are laid over the generated scaffold, so the
demo shows the real scaffold and runs the example's data. Rerunning reuses every finished stage.

Each example has its own folder (``posttrain-demo/`` for the default, ``posttrain-demo-NAME/``
otherwise), marked with the example it holds; a folder holding another experiment is refused, so
one demo never overwrites another's config or continues another's run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput

DEFAULT_EXAMPLE = "support-assistant"
# Example files that are laid over the generated scaffold (answers stay the scaffold's own copy).
OVERLAY_SKIP = {"answers.yaml", "README.md"}
DEMO_MARKER = ".posttrain/demo.json"  # which example a demo folder holds


def examples_root() -> Path:
    """``examples/`` of the source tree this package runs from (or ``$POSTTRAIN_EXAMPLES``)."""
    import os

    if env := os.environ.get("POSTTRAIN_EXAMPLES"):
        return Path(env)
    here = Path(__file__).resolve().parents[2] / "examples"
    return here if here.is_dir() else Path.cwd() / "examples"


def example_names() -> list[str]:
    root = examples_root()
    return sorted(p.name for p in root.iterdir() if (p / "answers.yaml").is_file()) if root.is_dir() else []


def example_dir(name: str) -> Path:
    path = examples_root() / name
    if not (path / "answers.yaml").is_file():
        known = ", ".join(example_names()) or "none found"
        raise BadInput(f"--example {name}: no such example (examples: {known})")
    if not (path / "experiment.yaml").is_file():
        raise BadInput(f"{path}: the example has no experiment.yaml to run")
    return path


@dataclass
class DemoResult:
    advice: Any
    exp_dir: Path
    report_html: Path
    verdict: str


def quick_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """Shrink a config for a smoke run: few steps, few eval rows, few forgetting items.

    >>> c = quick_overrides({"training": {"max_steps": 40}, "evals": [{"path": "e.jsonl"}]})
    >>> c["training"]["max_steps"], c["evals"][0]["limit"], c["forgetting"]["limit"]
    (4, 8, 10)
    """
    config.setdefault("training", {})
    config["training"]["max_steps"] = min(int(config["training"].get("max_steps") or 4), 4)
    config["training"]["save_steps"] = 2
    for spec in config.get("evals", []):
        spec["limit"] = min(int(spec.get("limit") or 8), 8)
        spec["max_new_tokens"] = min(int(spec.get("max_new_tokens") or 32), 32)
    config.setdefault("forgetting", {})
    config["forgetting"]["limit"] = 10
    return config


def default_demo_dir(name: str) -> Path:
    """Where a demo goes unless ``--dir`` says otherwise: one folder per example, so none overwrites another.

    >>> str(default_demo_dir("support-assistant")), str(default_demo_dir("arithmetic"))
    ('posttrain-demo', 'posttrain-demo-arithmetic')
    """
    return Path("posttrain-demo" if name == DEFAULT_EXAMPLE else f"posttrain-demo-{name}")


def held_example(target: Path) -> str | None:
    """The example a demo folder holds (its marker, or for older folders the experiment's name)."""
    import json

    import yaml

    marker = target / DEMO_MARKER
    try:
        if marker.is_file() and not marker.is_symlink():
            held = json.loads(marker.read_text(encoding="utf-8")).get("example")
            return str(held) if held else None
        config = target / "experiment.yaml"
        if config.is_file():
            name = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("name")
            return str(name) if name else None
    except (ValueError, AttributeError, yaml.YAMLError):
        return None
    return None


def _refuse_other_experiment(name: str, target: Path) -> None:
    """A demo writes only into an empty folder or one that holds the same example's demo."""
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return
    held = held_example(target)
    if held == name:
        return
    what = f"the {held} demo" if held in example_names() else (f"experiment '{held}'" if held else "other files")
    raise BadInput(
        f"{target}: holds {what}, not the {name} demo; nothing was changed. "
        f"`posttrain demo --example {name}` writes to {default_demo_dir(name)}/ by default, "
        "or pass --dir with an empty folder"
    )


def prepare_demo(
    name: str, target: Path, quick: bool = False, model: str | None = None, say: Callable[[str], None] = print
) -> tuple[Any, Path]:
    """Advise from the example's answers, scaffold into ``target`` once, lay the example over it.

    The overlay goes through the scaffold writer: an edited file is backed up, an edited data file
    kept, and nothing is written through a link. A folder holding another experiment is refused.
    """
    import json

    import yaml

    from advisor.advice import advise_from_file, save_advice
    from harness.scaffold.advice import load_advice_file
    from harness.scaffold.plan import plan_from_advice
    from harness.scaffold.render import new_experiment
    from harness.scaffold.write import write_files

    source = example_dir(name)
    _refuse_other_experiment(name, target)
    advice = advise_from_file(source / "answers.yaml")
    if not (target / "experiment.yaml").is_file():
        staging = target.parent / f".{target.name}-advice.json"
        save_advice(advice, staging)
        try:
            plan = plan_from_advice(load_advice_file(staging), name=name)
        finally:
            staging.unlink(missing_ok=True)
        new_experiment(target, plan, force=target.exists())
    overlay: dict[str, str | bytes] = {DEMO_MARKER: json.dumps({"example": name}) + "\n"}
    for file in sorted(source.rglob("*")):
        relative = file.relative_to(source)
        if file.is_dir() or relative.name in OVERLAY_SKIP:
            continue
        if relative.name == "experiment.yaml":
            config = yaml.safe_load(file.read_text())
            config["advised"] = {"primary": advice.recommendation.primary, "plan": list(advice.recommendation.plan)}
            if model is not None:
                config["model"] = model
            if quick:
                config = quick_overrides(config)
            overlay[relative.as_posix()] = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        else:
            overlay[relative.as_posix()] = file.read_bytes()
    outcome = write_files(target, overlay, force=True)
    for line in outcome.lines():
        say(f"  {line}")
    return advice, target


def run_demo(
    name: str = DEFAULT_EXAMPLE,
    target: Path | None = None,
    quick: bool = False,
    say: Callable[[str], None] = print,
    show_advice: Callable[[Any], None] | None = None,
    model: str | None = None,
) -> DemoResult:
    from harness.runner.pipeline import run_experiment

    advice, exp_dir = prepare_demo(name, target or default_demo_dir(name), quick=quick, model=model, say=say)
    if show_advice is not None:
        show_advice(advice)
    result = run_experiment(exp_dir, say=say)
    ran = [o for o in result.outcomes if o.status == "ran"]
    if ran:  # what the run cost, stage by stage: CPU time is what compares on a shared machine
        parts = ", ".join(f"{o.name} {o.wall_s:.0f} s" for o in ran)
        wall, cpu = sum(o.wall_s for o in ran), sum(o.cpu_s for o in ran)
        say(f"[dim]stages: {parts}; {wall:.0f} s in all ({cpu:.0f} s CPU)[/]")
    verdict_file = result.run_dir / "verdict.txt"
    verdict = verdict_file.read_text().strip() if verdict_file.is_file() else "(no verdict: see the report)"
    return DemoResult(advice=advice, exp_dir=exp_dir, report_html=result.report_html, verdict=verdict)
