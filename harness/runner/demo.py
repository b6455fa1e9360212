"""``posttrain demo``: a shipped example's answers → advice → scaffold → run → verdict.

The example folder holds ``answers.yaml`` (what the advisor is asked), ``experiment.yaml`` (the
settings sized for a 2-core CPU) and its data; they are laid over the generated scaffold, so the
demo shows the real scaffold and runs the example's data. Rerunning reuses every finished stage.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posttrain.errors import BadInput

DEFAULT_EXAMPLE = "support-assistant"
# Example files that are laid over the generated scaffold (answers stay the scaffold's own copy).
OVERLAY_SKIP = {"answers.yaml", "README.md"}


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


def prepare_demo(name: str, target: Path, quick: bool = False) -> tuple[Any, Path]:
    """Advise from the example's answers, scaffold into ``target`` once, lay the example over it."""
    import yaml

    from advisor.advice import advise_from_file, save_advice
    from harness.scaffold.advice import load_advice_file
    from harness.scaffold.plan import plan_from_advice
    from harness.scaffold.render import new_experiment

    source = example_dir(name)
    advice = advise_from_file(source / "answers.yaml")
    if not (target / "experiment.yaml").is_file():
        staging = target.parent / f".{target.name}-advice.json"
        save_advice(advice, staging)
        try:
            plan = plan_from_advice(load_advice_file(staging), name=name)
        finally:
            staging.unlink(missing_ok=True)
        new_experiment(target, plan, force=target.exists())
    for file in sorted(source.rglob("*")):
        relative = file.relative_to(source)
        if file.is_dir() or relative.name in OVERLAY_SKIP:
            continue
        dest = target / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        if relative.name == "experiment.yaml":
            config = yaml.safe_load(file.read_text())
            config["advised"] = {"primary": advice.recommendation.primary, "plan": list(advice.recommendation.plan)}
            if quick:
                config = quick_overrides(config)
            text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
            if not dest.is_file() or dest.read_text() != text:
                dest.write_text(text)
        elif not dest.is_file() or dest.read_bytes() != file.read_bytes():
            shutil.copyfile(file, dest)
    return advice, target


def run_demo(
    name: str = DEFAULT_EXAMPLE,
    target: Path = Path("posttrain-demo"),
    quick: bool = False,
    say: Callable[[str], None] = print,
    show_advice: Callable[[Any], None] | None = None,
) -> DemoResult:
    from harness.runner.pipeline import run_experiment

    advice, exp_dir = prepare_demo(name, target, quick=quick)
    if show_advice is not None:
        show_advice(advice)
    result = run_experiment(exp_dir, say=say)
    verdict_file = result.run_dir / "verdict.txt"
    verdict = verdict_file.read_text().strip() if verdict_file.is_file() else "(no verdict: see the report)"
    return DemoResult(advice=advice, exp_dir=exp_dir, report_html=result.report_html, verdict=verdict)
