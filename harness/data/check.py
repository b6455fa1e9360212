"""``posttrain data check``: read a dataset, run every check, and return one report.

Errors make the data unusable as is (a line that does not parse, a missing field, a broken
conversation). Warnings are worth a look before training (duplicates, eval leaks, outliers,
encodings, low diversity). The checks themselves live in :mod:`harness.data.quality` as pure
functions over rows; this module reads the files, runs them, and shapes the findings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.data import quality
from harness.data.formats import FORMAT_KIND, KINDS, format_for_kind
from harness.data.io import Table, read_table
from harness.data.mapping import read_rows
from posttrain.errors import BadInput

# Token lengths need a tokenizer pass over every row; in batches of this many chat-templated texts.
_TOKEN_BATCH = 512


class Finding(BaseModel):
    """One problem: a row (or a group of rows, for duplicates) and why."""

    model_config = ConfigDict(extra="forbid")

    check: str = Field(description="which check found it: parse, structure, duplicate, near_duplicate, ...")
    severity: Literal["error", "warning"]
    message: str
    rows: list[int] = Field(default_factory=list, description="0-based indices of the readable rows involved")
    locations: list[str] = Field(default_factory=list, description="file:line of each row involved")


class CheckReport(BaseModel):
    """Everything ``data check`` found, and the distributions it measured."""

    model_config = ConfigDict(extra="forbid")

    path: str
    kind: str | None = Field(description="the kind the rows were checked as: sft, dpo, rl or eval")
    format: str = Field(description="the TRL format: messages, prompt_completion, preference, prompt_only, eval")
    rows: int = Field(description="rows that could be read")
    mapping: str | None = Field(None, description="how the rows were mapped into the TRL format, if they were")
    eval_path: str | None = None
    errors: list[Finding] = Field(default_factory=list)
    warnings: list[Finding] = Field(default_factory=list)
    stats: dict[str, Any] = Field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 0

    def counts(self) -> dict[str, int]:
        """Findings per check, e.g. ``{"duplicate": 3, "structure": 1}``."""
        out: dict[str, int] = {}
        for f in self.errors + self.warnings:
            out[f.check] = out.get(f.check, 0) + 1
        return out


def check_dataset(
    path: str | Path,
    kind: str | None = None,
    eval_path: str | Path | None = None,
    model: str | None = None,
    max_length: int | None = None,
    near_threshold: float = quality.NEAR_THRESHOLD,
    eval_threshold: float = quality.EVAL_NEAR_THRESHOLD,
    columns: Any = None,
    split: str | None = None,
) -> CheckReport:
    """Run every check on ``path`` (and its overlap with ``eval_path``); see the module doc.

    ``columns`` (``prompt=question,...``) and ``split`` are read as training reads them.
    """
    if kind is not None and kind not in KINDS:
        raise BadInput(f"--kind {kind}: unknown; use one of {', '.join(KINDS)}")
    if max_length is not None and max_length < 1:
        raise BadInput(f"--max-length {max_length}: must be a positive number of tokens")
    table = read_rows(path, collect=True, split=split, columns=columns)
    report = CheckReport(path=str(path), kind=kind, format="unknown", rows=len(table.rows), mapping=table.note)
    report.errors += [
        Finding(check="parse", severity="error", message=p.message, locations=[p.location]) for p in table.problems
    ]
    if not table.rows:
        return report
    fmt = format_for_kind(table.rows, kind)
    report.format = fmt
    report.kind = kind or FORMAT_KIND[fmt]
    rows = table.rows

    broken = set()
    for i, why in quality.structural_errors(rows, fmt, report.kind):
        report.errors.append(_row_finding(table, "structure", "error", i, why))
        broken.add(i)

    dups = quality.find_duplicates(rows, near_threshold)
    for group in dups.exact:
        report.warnings.append(
            _group_finding(
                table,
                "duplicate",
                f"{len(group)} identical rows (same text, ignoring whitespace and system turns)",
                group,
            )
        )
    for group in dups.near:
        report.warnings.append(
            _group_finding(
                table, "near_duplicate", f"{len(group)} near-identical rows (Jaccard ≥ {near_threshold})", group
            )
        )

    if eval_path is not None:
        eval_table = read_table(eval_path)
        overlap = quality.find_eval_overlap(rows, eval_table.rows, eval_threshold)
        for i, j, _ in overlap.exact:
            msg = f"prompt also in the eval set at {eval_table.where(j)}"
            report.warnings.append(_row_finding(table, "eval_overlap", "warning", i, msg))
        for i, j, sim in overlap.near:
            msg = f"prompt nearly matches the eval set at {eval_table.where(j)} (similarity {sim:.2f})"
            report.warnings.append(_row_finding(table, "eval_near_overlap", "warning", i, msg))
        report.eval_path = str(eval_path)
        report.stats["eval_overlap"] = {
            "eval_rows": len(eval_table.rows),
            "exact": len(overlap.exact),
            "near": len(overlap.near),
            "eval_rows_leaked": len({j for _, j, _ in overlap.exact + overlap.near}),
        }

    if fmt == "preference":
        ties, length_only = quality.preference_pair_problems(rows)
        if ties:
            why = f"{len(ties)} of {len(rows)} pairs are ties (chosen == rejected): DPO learns nothing from them"
            report.warnings.append(_group_finding(table, "preference_tie", why, ties))
        if length_only:
            why = (
                f"{len(length_only)} of {len(rows)} pairs differ only in length (one answer is the other cut short "
                "or extended): they teach length, not quality"
            )
            report.warnings.append(_group_finding(table, "preference_length_only", why, length_only))
    if untrained := quality.untrained_conversations(rows):
        why = f"{len(untrained)} conversations have weight 0 on every assistant turn and train nothing"
        report.warnings.append(_group_finding(table, "untrained", why, untrained))
    # RL prompts have no response to judge; eval references are short by design ("4", "Paris").
    if fmt not in ("prompt_only", "eval") and report.kind != "eval":
        # Rows with structural errors already have an error; judging their responses would repeat it.
        for i, why in quality.response_length_outliers(rows):
            if i not in broken:
                report.warnings.append(_row_finding(table, "response_length", "warning", i, why))
        for i, why in quality.prompt_echoes(rows):
            if i not in broken:
                report.warnings.append(_row_finding(table, "prompt_echo", "warning", i, why))
    for i, why in quality.encoding_problems(rows):
        report.warnings.append(_row_finding(table, "encoding", "warning", i, why))

    report.stats["duplicates"] = {
        "exact_groups": len(dups.exact),
        "near_groups": len(dups.near),
        "redundant_rows": len(dups.redundant_rows()),
    }
    report.stats["words"] = {
        "prompt": quality.word_length_summary([len(quality.prompt_only_text(r).split()) for r in rows]),
        "response": quality.word_length_summary([len(quality.response_text(r).split()) for r in rows]),
    }
    report.stats["diversity"] = quality.diversity(rows)
    if columns := quality.column_counts(rows):
        report.stats["columns"] = columns
    if model is not None or max_length is not None:
        report.stats["tokens"] = token_stats(rows, fmt, model, max_length)
        if max_length is not None and report.stats["tokens"]["truncated"]:
            t = report.stats["tokens"]
            report.warnings.append(
                Finding(
                    check="truncation",
                    severity="warning",
                    message=f"{t['truncated']} of {len(rows)} rows ({t['truncated_share']:.1%}) are longer than "
                    f"--max-length {max_length} tokens and would be truncated",
                )
            )
    return report


def _row_finding(table: Table, check: str, severity: Literal["error", "warning"], i: int, why: str) -> Finding:
    return Finding(check=check, severity=severity, message=why, rows=[i], locations=[table.where(i)])


def _group_finding(table: Table, check: str, why: str, group: list[int]) -> Finding:
    return Finding(check=check, severity="warning", message=why, rows=group, locations=[table.where(i) for i in group])


# ---------------------------------------------------------------- token lengths


def conversations(row: dict[str, Any], fmt: str) -> list[list[dict[str, str]]]:
    """The conversation(s) a trainer would tokenise for this row (two for preference rows).

    >>> conversations({"prompt": "hi", "completion": "hello"}, "prompt_completion")
    [[{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}]]
    """

    def turns(value: Any, role: str) -> list[dict[str, str]]:
        if isinstance(value, list):
            return [{"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in value]
        return [{"role": role, "content": "" if value is None else str(value)}]

    if fmt == "messages":
        return [turns(row["messages"], "user")]
    prompt = turns(row["prompt"], "user") if "prompt" in row else []
    if fmt in ("prompt_completion", "unpaired"):
        return [prompt + turns(row["completion"], "assistant")]
    if fmt == "preference":
        return [prompt + turns(row["chosen"], "assistant"), prompt + turns(row["rejected"], "assistant")]
    from harness.data.formats import eval_messages

    return [eval_messages(row)] if fmt == "eval" else [prompt]


def token_stats(rows: list[dict[str, Any]], fmt: str, model: str | None, max_length: int | None) -> dict[str, Any]:
    """Token lengths with the model's tokenizer and chat template; rows longer than ``max_length`` are counted."""
    from harness.models.loading import load_tokenizer

    tokenizer = load_tokenizer(model)
    generation_prompt = fmt in ("prompt_only", "eval")
    lengths: list[int] = []
    for start in range(0, len(rows), _TOKEN_BATCH):
        batch = rows[start : start + _TOKEN_BATCH]
        convs = [conversations(r, fmt) for r in batch]
        flat = [c for cs in convs for c in cs]
        texts = _render(tokenizer, flat, generation_prompt)
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        k = 0
        for cs in convs:  # a preference row is as long as its longer side
            lengths.append(max(len(ids[k + m]) for m in range(len(cs))))
            k += len(cs)
    summary: dict[str, Any] = {"model": model or "smollm2-135m", **quality.word_length_summary(lengths)}
    if max_length is not None:
        over = sum(n > max_length for n in lengths)
        summary.update(max_length=max_length, truncated=over, truncated_share=round(over / max(1, len(lengths)), 4))
    return summary


def _render(tokenizer: Any, conversations_: list[list[dict[str, str]]], generation_prompt: bool) -> list[str]:
    if getattr(tokenizer, "chat_template", None):
        try:
            out = tokenizer.apply_chat_template(conversations_, tokenize=False, add_generation_prompt=generation_prompt)
            return list(out)
        except Exception:  # a template that rejects a conversation: fall back to plain text for all
            pass
    return ["\n".join(m["content"] for m in c) for c in conversations_]
