"""The forgetting check: general skills of the base model versus base + adapter, with lm-eval."""

from harness.forgetting.check import (
    PROBE_GROUP,
    PROBE_TASKS_DIR,
    AdapterNotApplied,
    ForgettingResult,
    run_forgetting_check,
)

__all__ = [
    "PROBE_GROUP",
    "PROBE_TASKS_DIR",
    "AdapterNotApplied",
    "ForgettingResult",
    "run_forgetting_check",
]
