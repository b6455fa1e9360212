"""The shape of ``forgetting/forgetting.json`` (see the run-directory contract)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskAccuracy(_Strict):
    acc: float = Field(description="Share of items answered correctly (0–1).")
    n: int = Field(description="Items scored.")


class TaskDelta(_Strict):
    base: TaskAccuracy = Field(description="The base model alone.")
    tuned: TaskAccuracy = Field(description="The base model with the adapter.")
    delta: float = Field(description="tuned.acc − base.acc on the same items (negative = forgetting).")
    ci95: tuple[float, float] = Field(description="Paired bootstrap 95% interval of delta.")
    p_value: float = Field(description="McNemar's exact p for 0/1 items, else the paired bootstrap p.")


class ForgettingResult(_Strict):
    tasks: dict[str, TaskDelta] = Field(description="Per leaf task (a group's subtasks listed one by one).")
    adapter_applied: bool = Field(description="False would mean identical outputs; the check raises instead.")
    overall: TaskDelta | None = Field(None, description="All items of all tasks pooled.")
    model: str | None = Field(None, description="The base model directory.")
    adapter: str | None = Field(None, description="The adapter directory.")
    limit: int | None = Field(None, description="Items per task, when limited.")
    ran_on: str | None = Field(None, description="Where both runs went, as device/precision (e.g. cuda/bf16).")
