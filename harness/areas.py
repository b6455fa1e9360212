"""Where each top-level command lives, so ``posttrain`` imports an area only when it is used.

:data:`COMMANDS` is the one table of the root's commands: name → (``module:register`` function that adds
it to a Typer app, the one-line help shown by ``posttrain --help``). The root group
(:class:`harness.cli.LazyGroup`) lists the names and short help from here without importing any area;
running a command, or asking for its ``--help``, imports only that command's module. A test
(tests/test_cli_root.py) checks each short help equals the first line of the real command's help.
"""

from __future__ import annotations

import typer

# In the order `posttrain --help` lists them. One register function may add several names (new + config).
COMMANDS: dict[str, tuple[str, str]] = {
    "advise": (
        # advisor.cli's `advise`, with harness's data survey behind --data (harness → advisor, never back).
        "harness.scaffold.data_survey:register_advise",
        "Recommend prompting, RAG, SFT, DPO or RL for your use case, with reasons, cautions and next steps.",
    ),
    "new": (
        "harness.scaffold.cli:register",
        "Create a runnable experiment from a recommendation: config, starter data, README, Makefile.",
    ),
    "models": (
        "harness.models.cli:register",
        "List the models --model accepts by name: the default and the cached ones, with sizes on disk.",
    ),
    "train": (
        "harness.training.cli:register",
        "Train a LoRA adapter with SFT, DPO, KTO, GRPO, RLOO, or a reward model, through TRL and PEFT.",
    ),
    "eval": (
        "harness.evaluation.cli:register",
        "Evaluate a model on an eval set, or score predictions made elsewhere.",
    ),
    "run": (
        "harness.runner.cli:register",
        "Run an experiment: check data → baselines → train → evaluate tuned → forgetting → report.",
    ),
    "demo": (
        "harness.runner.cli:register",
        "The whole loop on a shipped example: advice → scaffold → run → verdict and report.",
    ),
    "report": (
        "harness.report.cli:register",
        "Write report.md and a self-contained report.html for a run, and print the verdict.",
    ),
    "compare": (
        "harness.report.cli:register",
        "Put the runs' variant × metric tables and verdicts side by side.",
    ),
    "export": (
        "harness.export.cli:register",
        "Export a run's fine-tuned model: merged weights, Ollama Modelfile, vLLM commands, proof it reproduces.",
    ),
    "config": ("harness.scaffold.cli:register", "Check an experiment's config (experiment.yaml)."),
    "data": ("harness.areas:register_data", "Check and prepare training data: posttrain data check FILE"),
    "rag": (
        "rag_baseline.cli:register",
        "The retrieval baseline: index knowledge documents into chromadb and query them.",
    ),
}


def register_data(app: typer.Typer) -> None:
    """``posttrain data``: the data area's ``check`` plus datagen's distill, best-of-n, filter and mix."""
    from harness.data.cli import data_app
    from harness.data.cli import register as register_data_area
    from harness.datagen.cli import register_datagen

    if "distill" not in {c.name for c in data_app.registered_commands}:  # once per process
        register_datagen(data_app)
    register_data_area(app)


def register_all(app: typer.Typer) -> None:
    """Add every command eagerly (tests and tools that want the whole tree; the CLI itself loads lazily)."""
    import importlib

    for spec in dict.fromkeys(spec for spec, _ in COMMANDS.values()):
        module, function = spec.split(":")
        getattr(importlib.import_module(module), function)(app)
