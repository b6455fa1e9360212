"""Filtering a large pool into a clean, diverse training set: the ``data check`` filters, then selection.

Each row is dropped for the first reason that applies, in this order (the checks are the data area's
pure functions in :mod:`harness.data.quality`, so ``filter`` drops exactly what ``check`` reports):

1. ``broken``: an unparsable line or a structural error (missing field, bad turn order, empty text);
2. ``bad_encoding``: mojibake, replacement characters, control characters;
3. ``eval_overlap``: the prompt equals or nearly matches an eval prompt (a leak);
4. ``too_long``: over ``--max-length`` tokens with the chat template, or a response-length outlier;
5. ``repeats_prompt``: the response repeats the prompt;
6. ``exact_duplicate`` / ``near_duplicate``: among the rows still kept, all but the first of a group.

Then, with ``--max N``, ``not_selected``: the rows left out by the diversity selection
(:mod:`harness.datagen.select` over MiniLM embeddings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.datagen.resumable import write_jsonl_atomic
from posttrain.errors import BadInput

REASONS = (
    "broken",
    "bad_encoding",
    "eval_overlap",
    "too_long",
    "repeats_prompt",
    "exact_duplicate",
    "near_duplicate",
    "not_selected",
)
_EXAMPLES = 5  # locations listed per reason in the report


class FilterSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: str = Field(description="The pool that was filtered.")
    out: str = Field(description="The file of kept rows.")
    format: str = Field(description="The pool's data format.")
    total: int = Field(description="Rows in the pool, unparsable lines included.")
    kept: int = Field(description="Rows written to --out.")
    dropped: dict[str, int] = Field(description="Rows dropped per reason (each row counted once, first reason).")
    examples: dict[str, list[str]] = Field(description="A few file:line locations per reason, with details.")


def _chat(row: dict[str, Any]) -> list[dict[str, str]]:
    """The longest conversation a row trains on, for token counting."""

    def turns(value: Any, role: str) -> list[dict[str, str]]:
        if isinstance(value, list):
            return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
        return [{"role": role, "content": str(value)}]

    if "messages" in row:
        return turns(row["messages"], "user")
    prompt = turns(row["prompt"], "user") if "prompt" in row else []
    if "chosen" in row:
        longer = max((row["chosen"], row["rejected"]), key=lambda v: len(str(v)))
        return prompt + turns(longer, "assistant")
    if "completion" in row:
        return prompt + turns(row["completion"], "assistant")
    return prompt


def token_lengths(rows: list[dict[str, Any]], model: str | None) -> list[int]:
    """Tokens of each row with ``model``'s tokenizer and chat template (what training will see)."""
    from harness.models.loading import load_tokenizer

    tokenizer = load_tokenizer(model)
    chats = [_chat(r) for r in rows]
    if getattr(tokenizer, "chat_template", None):
        texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in chats]
    else:  # a base model without a template: the turns joined, as generation renders them
        texts = ["\n\n".join(m["content"] for m in c) for c in chats]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def filter_pool(
    pool: str | Path,
    out: str | Path,
    *,
    eval_path: str | Path | None = None,
    max_rows: int | None = None,
    max_length: int | None = None,
    model: str | None = None,
    seed: int = 0,
) -> FilterSummary:
    """``posttrain data filter``: drop bad rows for the reasons above, select ``max_rows``, write ``out``."""
    from harness.data import quality
    from harness.data.formats import detect_format
    from harness.data.io import read_records, read_table

    if max_rows is not None and max_rows < 1:
        raise BadInput(f"--max {max_rows}: must be at least 1")
    if max_length is not None and max_length < 1:
        raise BadInput(f"--max-length {max_length}: must be at least 1")
    if Path(out).resolve() == Path(pool).resolve():
        raise BadInput(f"--out {out}: is the pool itself; write the filtered rows to a new file")
    table = read_table(pool, collect=True)
    eval_rows = read_records(eval_path) if eval_path is not None else []
    rows = table.rows
    dropped: dict[str, int] = dict.fromkeys(REASONS, 0)
    examples: dict[str, list[str]] = {reason: [] for reason in REASONS}

    def note(reason: str, where: str, detail: str = "") -> None:
        dropped[reason] += 1
        if len(examples[reason]) < _EXAMPLES:
            examples[reason].append(f"{where}: {detail}" if detail else where)

    for problem in table.problems:
        note("broken", problem.location, problem.message)
    fmt = detect_format(rows) if rows else "messages"
    alive = list(range(len(rows)))  # indexes into rows, in file order

    def drop(flags: list[tuple[int, str]], reason: str, subset: list[int]) -> None:
        """Drop ``flags`` (indexes into ``subset``) for ``reason``; keep the first flag per row."""
        nonlocal alive
        gone: dict[int, str] = {}
        for k, detail in flags:
            gone.setdefault(subset[k], detail)
        for i, detail in sorted(gone.items()):
            note(reason, table.where(i), detail)
        alive = [i for i in alive if i not in gone]

    def current() -> list[dict[str, Any]]:
        return [rows[i] for i in alive]

    drop(quality.structural_errors(rows, fmt), "broken", list(range(len(rows))))
    drop(quality.encoding_problems(current()), "bad_encoding", alive)
    if eval_rows:
        overlap = quality.find_eval_overlap(current(), eval_rows)
        flags = [(i, f"eval row {j + 1}, similarity {s:g}") for i, j, s in overlap.exact + overlap.near]
        drop(flags, "eval_overlap", alive)
    long_flags = [(k, why) for k, why in quality.response_length_outliers(current()) if why.startswith("very long")]
    if max_length is not None and alive:
        lengths = token_lengths(current(), model)
        long_flags += [(k, f"{n} tokens > {max_length}") for k, n in enumerate(lengths) if n > max_length]
    drop(long_flags, "too_long", alive)
    drop(quality.prompt_echoes(current()), "repeats_prompt", alive)
    duplicates = quality.find_duplicates(current())
    subset = list(alive)
    exact = [(j, f"same as {table.where(subset[g[0]])}") for g in duplicates.exact for j in g[1:]]
    near = [(j, f"like {table.where(subset[g[0]])}") for g in duplicates.near for j in g[1:]]
    drop(exact, "exact_duplicate", subset)
    drop(near, "near_duplicate", subset)

    if max_rows is not None and len(alive) > max_rows:
        from harness.datagen.select import kmeans_select
        from rag_baseline.embeddings import embed

        vectors = embed([quality.example_text(r) for r in current()])
        chosen = set(kmeans_select(vectors, max_rows, seed=seed))
        drop([(k, "diversity selection") for k in range(len(alive)) if k not in chosen], "not_selected", alive)

    kept = current()
    write_jsonl_atomic(out, kept)
    return FilterSummary(
        pool=str(pool),
        out=str(out),
        format=fmt,
        total=len(rows) + len(table.problems),
        kept=len(kept),
        dropped=dropped,
        examples={reason: found for reason, found in examples.items() if found},
    )
