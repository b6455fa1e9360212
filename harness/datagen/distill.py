"""Distillation: a stronger teacher answers each prompt; the answers become conversational SFT data.

Each output row is ``{"id", "messages": prompt turns + the teacher's answer, "source": "distill",
"teacher": name, "teacher_settings": {...}}``. Rows are appended one fsynced line at a time, so an
interrupted run loses at most the batch in flight, and the same command resumes after the last row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.datagen.prompts import load_prompts
from harness.datagen.resumable import ResumableJsonl
from harness.datagen.teacher import Teacher, make_teacher


class DistillSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str = Field(description="The SFT file written.")
    teacher: str = Field(description="The teacher's name as recorded on each row.")
    teacher_settings: dict[str, Any] = Field(description="Generation settings recorded on each row.")
    prompts: int = Field(description="Prompts in the input file.")
    resumed: int = Field(description="Prompts already answered in --out by an earlier run, skipped.")
    written: int = Field(description="Rows written by this run.")
    empty: int = Field(description="Prompts the teacher answered with nothing; not written, retried on rerun.")
    wall_s: float = Field(description="Wall time of this run in seconds.")


def distill_with(
    teacher: Teacher,
    prompts_path: str | Path,
    out: str | Path,
    *,
    batch_size: int = 8,
    limit: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> DistillSummary:
    """Answer every prompt not yet in ``out`` with ``teacher``; return what was done."""
    start = time.perf_counter()
    prompts = load_prompts(prompts_path, limit=limit)
    empty = 0
    with ResumableJsonl(out) as sink:
        todo = [p for p in prompts if p.id not in sink]
        for offset in range(0, len(todo), batch_size):
            batch = todo[offset : offset + batch_size]
            answers = teacher.answer([p.messages for p in batch])
            for prompt, answer in zip(batch, answers, strict=True):
                if not answer.strip():
                    empty += 1
                    continue
                sink.append(
                    {
                        "id": prompt.id,
                        "messages": [*prompt.messages, {"role": "assistant", "content": answer}],
                        "source": "distill",
                        "teacher": teacher.name,
                        "teacher_settings": teacher.settings,
                    }
                )
            if on_batch is not None:
                on_batch(sink.written + empty, len(todo))
        resumed, written = sink.resumed, sink.written
    return DistillSummary(
        out=str(out),
        teacher=teacher.name,
        teacher_settings=teacher.settings,
        prompts=len(prompts),
        resumed=resumed,
        written=written,
        empty=empty,
        wall_s=round(time.perf_counter() - start, 3),
    )


def distill(
    prompts_path: str | Path,
    teacher: str,
    out: str | Path,
    *,
    teacher_model: str | None = None,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    batch_size: int = 8,
    limit: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> DistillSummary:
    """``posttrain data distill``: build the teacher from its spec (model or URL), then :func:`distill_with`."""
    # Read the prompts first so a bad file fails before a model loads.
    load_prompts(prompts_path, limit=limit)
    built = make_teacher(teacher, model_name=teacher_model, max_new_tokens=max_new_tokens, temperature=temperature)
    return distill_with(built, prompts_path, out, batch_size=batch_size, limit=limit, on_batch=on_batch)
