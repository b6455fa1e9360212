"""Experiment scaffolds: ``posttrain new`` turns advice into a runnable experiment directory.

Python API (imported from the submodules, so ``posttrain --help`` stays light):
``advice.load_advice_file(path) -> AdviceFile``; ``plan.plan_from_advice(advice, name, model, method)`` and
``plan.plan_from_flags(name, method, model, compute) -> ScaffoldPlan``; ``render.render_scaffold(plan) ->
{path: text}``; ``render.new_experiment(target, plan, force, dry_run) -> [relative paths]``.
"""
