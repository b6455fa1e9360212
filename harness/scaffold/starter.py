"""Starter data: a tiny coherent task in TRL's formats, so a fresh scaffold runs end to end.

Everything is about a fictional shop, Harbor Lane Hardware. The task follows the advice's success check
(``harness.scaffold.tasks``): arithmetic questions about purchases answered with a final ``Answer: <number>``
line (a format SFT can teach, DPO can prefer and GRPO can verify), Python functions with unit tests, JSON
extraction, routing labels, short lookups or open help-desk answers; plus policy facts that only the
knowledge documents hold (what RAG is for). Rows are generated from fixed tables, deterministically, and
written as JSON by ``json.dumps``, never through a template.
"""

from __future__ import annotations

import json
import random
from typing import Any

from harness.scaffold import starter_tasks
from harness.scaffold.plan import RL_METHODS, STARTER_EVAL_ROWS, STARTER_SFT_ROWS, ScaffoldPlan
from harness.scaffold.starter_tasks import Item
from harness.scaffold.tasks import TASKS

ITEMS = [(singular, plural, price) for singular, plural, price, _, _ in starter_tasks.ITEMS]  # one price table
NAMES = ["Ada", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana"]

# Facts that live only in the knowledge documents: (document, sentence, question, reference).
FACTS = [
    (
        "returns.md",
        "Unused items can be returned within 45 days of purchase.",
        "How many days do customers have to return an unused item?",
        "45 days",
    ),
    (
        "returns.md",
        "Returns need the paper receipt or the order number.",
        "What do I need to bring to return an item?",
        "receipt",
    ),
    ("returns.md", "Opened paint cannot be returned.", "Which kind of paint cannot be returned?", "opened"),
    (
        "returns.md",
        "Refunds go back to the original payment card within 5 business days.",
        "How long does a refund take?",
        "5 business days",
    ),
    ("returns.md", "Power tools carry a 2-year warranty.", "How long is the warranty on power tools?", "2-year"),
    (
        "hours.md",
        "The shop opens at 8 am and closes at 6 pm from Monday to Saturday.",
        "What time does the shop open on weekdays?",
        "8 am",
    ),
    ("hours.md", "On Sundays the shop is closed.", "On which day of the week is the shop closed?", "Sunday"),
    ("hours.md", "The help desk phone number is 555-0142.", "What is the help desk phone number?", "555-0142"),
    ("hours.md", "Parking is free for the first 2 hours.", "How long is parking free?", "2 hours"),
    ("hours.md", "The shop is at 14 Harbor Lane, next to the ferry terminal.", "Where is the shop?", "14 Harbor Lane"),
    (
        "services.md",
        "Keys are cut while you wait for 4 credits per key.",
        "How much does key cutting cost?",
        "4 credits",
    ),
    (
        "services.md",
        "Paint is mixed to any colour in about 10 minutes.",
        "How long does paint mixing take?",
        "10 minutes",
    ),
    (
        "services.md",
        "Delivery within the town costs 15 credits and is free above 200 credits.",
        "When is delivery free?",
        "200 credits",
    ),
    (
        "services.md",
        "Ladders can be rented for 10 credits a day.",
        "How much does it cost to rent a ladder?",
        "10 credits a day",
    ),
    ("services.md", "Tool sharpening is done on Tuesdays only.", "On which day is tool sharpening done?", "Tuesday"),
    (
        "services.md",
        "Members of the trade club get 10 percent off every order.",
        "What discount do trade club members get?",
        "10 percent",
    ),
    (
        "services.md",
        "Gift cards are sold in values of 25, 50 and 100 credits.",
        "What is the largest gift card value?",
        "100",
    ),
    (
        "returns.md",
        "Damaged deliveries must be reported within 48 hours.",
        "How soon must a damaged delivery be reported?",
        "48 hours",
    ),
    ("hours.md", "The shop was founded in 1987.", "When was the shop founded?", "1987"),
    (
        "services.md",
        "Workshops for beginners run on the first Saturday of each month.",
        "When do beginner workshops run?",
        "first Saturday",
    ),
]


def _problems(seed: int = 7) -> list[tuple[str, int, str]]:
    """Distinct (question, answer, worked line) triples in a fixed, seeded order."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, int, str]] = []
    while len(out) < 140:
        singular, plural, price = rng.choice(ITEMS)
        kind = rng.randrange(3)
        if kind == 0:
            q = rng.randint(2, 9)
            question = f"A customer buys {q} {plural} at {price} credits each. How many credits is that in total?"
            answer, work = q * price, f"{q} × {price} = {q * price}."
        elif kind == 1:
            name, budget = rng.choice(NAMES), rng.randint(price + 1, price + 60)
            question = (
                f"{name} has {budget} credits and buys one {singular} for {price} credits. How many credits are left?"
            )
            answer, work = budget - price, f"{budget} − {price} = {budget - price}."
        else:
            pack, packs = rng.randint(2, 12), rng.randint(2, 9)
            question = f"A pack holds {pack} {plural}. How many {plural} are in {packs} packs?"
            answer, work = pack * packs, f"{pack} × {packs} = {pack * packs}."
        if question not in seen:
            seen.add(question)
            out.append((question, answer, work))
    return out


def _reply(answer: int, work: str) -> str:
    return f"{work}\nAnswer: {answer}"


def _arithmetic_items() -> list[Item]:
    items = []
    for i, (q, a, w) in enumerate(_problems()):
        # Half the rejected replies get the sum wrong, half drop the answer line: both habits to unlearn.
        wrong = a + 1 + i % 5
        bad = (
            _reply(wrong, w.replace(f"= {a}.", f"= {wrong}."))
            if i % 2
            else f"Sure! I think it comes to roughly {a} credits, but please double-check at the till."
        )
        items.append(Item(question=q, reference=str(a), reply=_reply(a, w), bad=bad))
    return items


def task_items(task: str) -> list[Item]:
    """The starter items of a task, eval items first (the first ``STARTER_EVAL_ROWS``)."""
    if task == "arithmetic":
        return _arithmetic_items()
    if task == "helpdesk":
        items = starter_tasks.helpdesk_items(FACTS)
        random.Random(13).shuffle(items)  # policies and product facts in both the eval and the training rows
        return items
    return {
        "code": starter_tasks.code_items,
        "extraction": starter_tasks.extraction_items,
        "routing": starter_tasks.routing_items,
        "lookup": starter_tasks.lookup_items,
    }[task]()


def _slice(pool: list[Item], start: int, count: int) -> list[Item]:
    """``count`` items from ``start``, wrapping round a short pool (preference and RL rows may reuse
    training questions, never eval ones)."""
    return [pool[(start + i) % len(pool)] for i in range(min(count, max(len(pool), 1)))]


def starter_rows(plan: ScaffoldPlan) -> dict[str, list[dict[str, Any]]]:
    """Rows per data file (relative path → rows); eval questions never appear in training files."""
    items = task_items(plan.task)
    eval_items, pool = items[:STARTER_EVAL_ROWS], items[STARTER_EVAL_ROWS:]
    system = {"role": "system", "content": plan.system_prompt}
    column = TASKS[plan.task].answer_column

    def eval_row(i: int, item: Item) -> dict[str, Any]:
        row: dict[str, Any] = {"id": f"task-{i + 1:03d}", "prompt": item.question, "reference": item.reference}
        if item.tests is not None:
            row["tests"] = item.tests
        return row

    files: dict[str, list[dict[str, Any]]] = {
        # Always written: SFT data for sft, and the few-shot pool of the k-shot baseline otherwise.
        "data/train.jsonl": [
            {"messages": [system, {"role": "user", "content": it.question}, {"role": "assistant", "content": it.reply}]}
            for it in pool[:STARTER_SFT_ROWS]
        ],
        "data/eval.jsonl": [eval_row(i, item) for i, item in enumerate(eval_items)],
    }
    if "dpo" in plan.methods or "reward" in plan.methods:
        files["data/preference.jsonl"] = [
            {"prompt": it.question, "chosen": it.reply, "rejected": it.bad} for it in _slice(pool, 32, 24)
        ]
    if "kto" in plan.methods:
        # Unpaired labels as production feedback arrives: a liked answer and a disliked one, 1:1.
        files["data/feedback.jsonl"] = [
            {"prompt": it.question, "completion": text, "label": good}
            for it in _slice(pool, 32, 12)
            for text, good in ((it.reply, True), (it.bad, False))
        ]
    if set(RL_METHODS) & set(plan.methods):
        files["data/prompts.jsonl"] = [
            {"prompt": [system, {"role": "user", "content": it.question}], column: _answer_of(it, column)}
            for it in _slice(pool, 56, 32)
        ]
    if plan.rag and plan.task != "helpdesk":  # a help-desk task already asks about the documents' facts
        files["data/eval_knowledge.jsonl"] = [
            {"id": f"kb-{i + 1:03d}", "prompt": question, "reference": reference}
            for i, (_, _, question, reference) in enumerate(FACTS)
        ]
    if plan.judge:
        # Judge–human agreement: the judge grades these fixed answers, people already have (1 good, 0 bad).
        files["data/judge_labels.jsonl"] = [
            {
                "id": f"task-{i + 1:03d}",
                "prompt": item.question,
                "reference": item.reference,
                "output": item.bad if i % 2 else item.reply,
                "human_score": 0.0 if i % 2 else 1.0,
            }
            for i, item in enumerate(eval_items)
        ]
    return files


def _answer_of(item: Item, column: str) -> str:
    return item.tests or "" if column == "tests" else item.reference


def knowledge_documents() -> dict[str, str]:
    """Markdown documents (relative path → text) holding the facts the knowledge eval asks about."""
    titles = {"returns.md": "Returns and warranty", "hours.md": "Opening hours and contact", "services.md": "Services"}
    docs: dict[str, str] = {}
    for doc, title in titles.items():
        sentences = [sentence for d, sentence, _, _ in FACTS if d == doc]
        docs[f"data/knowledge/{doc}"] = f"# Harbor Lane Hardware: {title}\n\n" + "\n\n".join(sentences) + "\n"
    prices = "\n".join(
        f"| {singular} | {price} | {aisle} | {brand} |" for singular, _, price, aisle, brand in starter_tasks.ITEMS
    )
    docs["data/knowledge/prices.md"] = (
        "# Harbor Lane Hardware: price list\n\nPrices in credits, including tax.\n\n"
        "| item | credits | aisle | brand |\n| --- | --- | --- | --- |\n" + prices + "\n"
    )
    return docs


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    """One JSON object per line; readable non-ASCII text, but every Unicode line break escaped.

    ``str.splitlines`` (and so many JSONL readers) also breaks lines on U+0085, U+2028 and U+2029,
    which ``json.dumps(ensure_ascii=False)`` leaves raw.

    >>> to_jsonl([{"a": "x\\ny\\u2028z", "b": "×"}])
    '{"a": "x\\\\ny\\\\u2028z", "b": "×"}\\n'
    """
    lines = (json.dumps(row, ensure_ascii=False).translate(_RAW_BREAKS) for row in rows)
    return "".join(line + "\n" for line in lines)


_RAW_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
