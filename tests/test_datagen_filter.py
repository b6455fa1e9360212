"""`posttrain data filter`: planted problems are all removed, each under its reason; selection is diverse."""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness.datagen.filter import filter_pool


def chat(prompt: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(f"{rng.choice('bcdfgklmnprstvz')}{rng.choice('aeiou')}{rng.randrange(1000)}" for _ in range(words))


def planted_pool(tmp_path: Path) -> tuple[Path, Path, dict[str, set[int]]]:
    """A pool of 20 clean rows plus planted problems; returns pool, eval file and the planted lines."""
    rng = random.Random(7)
    clean = [chat(f"Question {i}: {sentence(rng, 12)}?", sentence(rng, 40)) for i in range(20)]
    lines: list[str] = [json.dumps(r) for r in clean]
    planted: dict[str, set[int]] = {}

    def plant(reason: str, line: str) -> None:
        lines.append(line)
        planted.setdefault(reason, set()).add(len(lines))  # 1-based line number

    plant("exact_duplicate", json.dumps(clean[3]))
    plant("exact_duplicate", json.dumps(clean[7]))
    near = json.loads(json.dumps(clean[5]))
    words = near["messages"][1]["content"].split()
    words[20] = "changed"
    near["messages"][1]["content"] = " ".join(words)
    plant("near_duplicate", json.dumps(near))
    eval_prompts = [f"Eval question {k}: {sentence(rng, 40)}?" for k in range(3)]
    plant("eval_overlap", json.dumps(chat(eval_prompts[0].upper(), sentence(rng, 30))))  # same up to case
    leaked = eval_prompts[1].split()
    leaked[-3] = "tweaked"
    plant("eval_overlap", json.dumps(chat(" ".join(leaked), sentence(rng, 30))))  # one word changed
    plant("broken", '{"messages": [{"role": "user", "content": "unterminated')
    plant("broken", json.dumps({"messages": [{"role": "user", "content": "no answer turn"}]}))
    plant("broken", json.dumps(chat("an empty answer", "")))
    plant(
        "broken", json.dumps({"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]})
    )
    echo = "Please summarise the following paragraph about the migration of birds"
    plant("repeats_prompt", json.dumps(chat(echo, echo)))
    plant("too_long", json.dumps(chat("Write a long essay.", sentence(rng, 400))))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(lines) + "\n", encoding="utf-8")
    evals = tmp_path / "eval.jsonl"
    evals.write_text("".join(json.dumps({"prompt": p, "reference": "x"}) + "\n" for p in eval_prompts))
    return pool, evals, planted


def test_filter_removes_every_planted_problem_under_its_reason(tmp_path):
    pool, evals, planted = planted_pool(tmp_path)
    out = tmp_path / "clean.jsonl"
    summary = filter_pool(pool, out, eval_path=evals, max_length=300)
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.kept == len(kept) == 20  # exactly the clean rows survive
    for reason, lines in planted.items():
        assert summary.dropped[reason] == len(lines), (reason, summary.examples.get(reason))
        found = {int(e.split(": ")[0].rsplit(":", 1)[1]) for e in summary.examples[reason]}
        assert found == lines, reason  # and the report points at the planted lines
    assert sum(summary.dropped.values()) == summary.total - summary.kept
    assert "same as" in summary.examples["exact_duplicate"][0]


def test_filter_cli_reports_reasons_as_json(tmp_path, cli, capsys):
    pool, evals, _ = planted_pool(tmp_path)
    out = tmp_path / "clean.jsonl"
    code, stdout, _ = cli("data", "filter", str(pool), "--eval", str(evals), "--out", str(out), "--json", capsys=capsys)
    assert code == 0
    report = json.loads(stdout)
    assert report["dropped"]["eval_overlap"] == 2 and report["dropped"]["broken"] == 4
    code, stdout, _ = cli("data", "filter", str(pool), "--eval", str(evals), "--out", str(out), capsys=capsys)
    assert code == 0 and "eval_overlap" in stdout and "kept" in stdout


def test_diversity_selection_keeps_one_row_per_topic(tmp_path):
    topics = {
        "cooking": ["How long should I boil an egg?", "What temperature do I bake bread at?",
                    "How do I make a tomato pasta sauce?", "How much salt goes in pasta water?"],
        "space": ["How far away is the Moon?", "Why is Mars red?", "How hot is the surface of the Sun?",
                  "What is a black hole?"],
        "code": ["How do I reverse a list in Python?", "What does a Python decorator do?",
                 "How do I read a file line by line in Python?", "What is a Python list comprehension?"],
    }  # fmt: skip
    rows = [chat(q, f"Here is an answer about {topic}.") for topic, qs in topics.items() for q in qs]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = filter_pool(pool, tmp_path / "picked.jsonl", max_rows=3)
    picked = [json.loads(line) for line in (tmp_path / "picked.jsonl").read_text().splitlines()]
    assert summary.kept == 3 and summary.dropped["not_selected"] == 9
    assert {r["messages"][1]["content"] for r in picked} == {f"Here is an answer about {t}." for t in topics}
