"""Answers read from the user's data: what ``posttrain advise --data DIR`` pre-fills, and from which file.

The counting itself needs the data layer's readers and format detection, which live in ``harness``; the
advisor must not import ``harness`` (the dependency runs ``harness → advisor``). So the advisor defines
the contract here (a :class:`DataSurvey` and the ``Surveyor`` signature) and the root CLI plugs the
implementation in when it registers ``advise`` (``harness.scaffold.data_survey.register_advise``). A
light JSON sniffer inside the advisor would have been the other way, but it would disagree with
``posttrain data check`` on Alpaca, ShareGPT or OpenAI files; one detector, one answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The answers a survey can fill: counts, and the success check the columns reveal (tests → unit tests).
SURVEYED_KEYS = (
    "sft_examples",
    "preference_pairs",
    "feedback_labels",
    "rl_prompts",
    "eval_examples",
    "knowledge_docs",
    "success_check",
    "answer_type",
)


class DataSource(BaseModel):
    """One file (or folder) and what it counted towards."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The file or folder, relative to the surveyed directory.")
    kind: str = Field(description="What its rows are: sft, preference, unpaired, rl, eval, knowledge, skipped.")
    rows: int = Field(0, ge=0, description="Rows (or documents) counted.")
    answer: str | None = Field(None, description="The answer key the rows counted towards.")
    note: str = Field("", description="Why a file was skipped, or how its rows were mapped.")


class DataSurvey(BaseModel):
    """The counts found in a folder, with where each came from."""

    model_config = ConfigDict(extra="forbid")

    directory: str
    answers: dict[str, Any] = Field(default_factory=dict, description="Answer key → value found in the data.")
    sources: list[DataSource] = Field(default_factory=list)

    def lines(self, explicit: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """One line per source, saying which answer it filled (or that an explicit answer won).

        >>> survey = DataSurvey(directory="d", answers={"sft_examples": 40},
        ...     sources=[DataSource(path="train.jsonl", kind="sft", rows=40, answer="sft_examples")])
        >>> survey.lines({"sft_examples"})
        ['train.jsonl: 40 sft rows → sft_examples (your answer kept)']
        """
        out = []
        for source in self.sources:
            if source.kind == "skipped":
                out.append(f"{source.path}: skipped ({source.note})")
                continue
            unit = "documents" if source.kind == "knowledge" else f"{source.kind} rows"
            text = f"{source.path}: {source.rows:,} {unit}"
            if source.answer:
                text += f" → {source.answer}" + (" (your answer kept)" if source.answer in explicit else "")
            if source.note:
                text += f" ({source.note})"
            out.append(text)
        return out


Surveyor = Callable[[Path], DataSurvey]


def merge_answers(explicit: dict[str, Any], survey: DataSurvey) -> dict[str, Any]:
    """The survey's answers under the explicit ones: an answer the user gave always wins.

    >>> merge_answers({"sft_examples": 10}, DataSurvey(directory="d", answers={"sft_examples": 40, "eval_examples": 5}))
    {'sft_examples': 10, 'eval_examples': 5}
    """
    return {**{k: v for k, v in survey.answers.items() if k in SURVEYED_KEYS}, **explicit}
