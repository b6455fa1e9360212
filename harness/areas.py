"""Registers the harness's commands on the root app; one line per area, each owned by its package."""

from __future__ import annotations

import typer


def register_harness(app: typer.Typer) -> None:
    from harness.data.cli import register as register_data
    from harness.evaluation.cli import register as register_eval
    from harness.models.cli import register as register_models
    from harness.report.cli import register as register_report
    from harness.runner.cli import register as register_runner
    from harness.scaffold.cli import register as register_scaffold
    from harness.training.cli import register as register_training

    register_scaffold(app)  # new
    register_data(app)  # data check|distill|best-of-n|filter|mix
    register_models(app)  # models
    register_training(app)  # train
    register_eval(app)  # eval
    register_runner(app)  # run, demo
    register_report(app)  # report, compare
    from harness.data.cli import data_app
    from harness.datagen.cli import register_datagen

    register_datagen(data_app)  # data distill|best-of-n|filter|mix
