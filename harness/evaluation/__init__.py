"""Evaluation: batched generation, metrics, the code sandbox and ``evaluate`` (``posttrain eval``).

Public entry points (import them from their modules; this package imports nothing heavy):
``generate.generate_batch``, ``metrics.METRICS`` / ``metrics.score``, ``sandbox.run_tests``,
``runner.EvalRequest`` / ``runner.evaluate``.
"""
