"""The terminal view of a recommendation: a short summary, not a dump (``--json`` has everything)."""

from __future__ import annotations

from typing import Any

from advisor.engine import NAMES, step_name
from advisor.schema import Recommendation

STRATEGIES = {
    "expert_writing": "expert-written examples",
    "distillation": "distillation from the teacher model",
    "best_of_n": "best-of-N sampling filtered by your success check",
    "filtering": "filtering your pool down to the best examples",
}
REASONS_PER_STEP = 3
CHECKS = {
    "exact_answer": "known answers",
    "unit_tests": "unit tests",
    "reward_model": "a reward model",
    "human_judgment": "human judgement",
    "none": "no check",
}


def name_of(rec: Recommendation, step: str) -> str:
    return step_name(step, rec.rl, rec.preference.algorithm if rec.preference else None)


def headline(rec: Recommendation) -> tuple[str, str]:
    """The plan with the leading step marked, and why it leads (plain text, no markup).

    >>> from advisor.engine import recommend
    >>> from advisor.schema import Answers
    >>> headline(recommend(Answers(goals=["knowledge", "format"], knowledge_docs=50,
    ...     instruction_complexity="comprehensive", repeated_instructions=True, sft_examples=2000)))[0]
    'Plan: RAG → SFT ★'
    """
    steps = [name_of(rec, s) + (" ★" if s == rec.primary else "") for s in rec.plan]
    ranked = next(r for r in rec.ranking if r.approach == rec.primary)
    top = next((r.text for r in ranked.reasons if r.weight > 0), "the cheapest approach to try first")
    before = [name_of(rec, s) for s in rec.plan[: rec.plan.index(rec.primary)]]
    order = f"; {' and '.join(before)} come{'s' if len(before) == 1 else ''} first in the pipeline" if before else ""
    why = f"★ {name_of(rec, rec.primary)} leads (score {ranked.score:.1f}, the highest): {top}{order}"
    return "Plan: " + " → ".join(steps), why


def render(rec: Recommendation, console: Any = None, *, saved: str | None = None) -> None:
    """Print the verdict, scores, the main reasons, cautions, next steps and what would change it."""
    from rich.console import Console
    from rich.markup import escape
    from rich.padding import Padding
    from rich.table import Table

    console = console or Console(highlight=False)

    def section(title: str, rows: list[tuple[str, str]]) -> None:
        # A two-column grid gives wrapped lines a hanging indent under their text, not under the bullet.
        console.print(f"\n[bold]{title}[/]")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, min_width=3, justify="right")
        grid.add_column()
        for bullet, text in rows:
            grid.add_row(bullet, text)
        console.print(grid)

    plan, why_first = headline(rec)
    console.print(f"\n[bold green]{escape(plan)}[/]")
    console.print(escape(why_first))
    details = [f"success check: {CHECKS[rec.success_check]}"]
    if rec.sft_data_strategy:
        details.append(f"SFT data: {STRATEGIES[rec.sft_data_strategy]}")
    if rec.preference:
        details.append(f"preference: {rec.preference.algorithm.upper()}")
    if rec.rl:
        details.append(f"RL: {rec.rl.algorithm.upper()} with a {rec.rl.reward} reward")
    console.print(" · ".join(details))

    top = max(max(r.score for r in rec.ranking), 1.0)
    scores = Table.grid(padding=(0, 1))
    for ranked in rec.ranking:
        style = "green" if ranked.approach in rec.plan else "dim"
        bar = "█" * max(0, round(10 * ranked.score / top))
        note = f" [dim](cannot lead: {escape(ranked.missing)})[/]" if ranked.missing else ""
        scores.add_row(
            f"[{style}]{NAMES[ranked.approach]}", f"[{style}]{ranked.score:5.1f}", f"[{style}]{bar}[/]{note}"
        )
    console.print("\n[bold]Scores[/]")
    console.print(Padding(scores, (0, 0, 0, 2), expand=False))

    why = []
    for step in rec.plan:
        ranked = next(x for x in rec.ranking if x.approach == step)
        shown = [r for r in ranked.reasons if r.weight > 0 or r.rule == "sft_first"][:REASONS_PER_STEP]
        if not shown:  # prompting with no reason of its own still says why it is the plan
            shown = ranked.reasons[:1]
        for reason in shown:
            why.append(("•", f"[bold]{name_of(rec, step)}[/]: {escape(reason.text)} [dim]({reason.rule})[/]"))
        if step == "dpo" and rec.preference:
            why.append(("•", f"[bold]{rec.preference.algorithm.upper()}[/]: {escape(rec.preference.reason)}"))
        if step == "rl" and rec.rl:
            why.append(("•", f"[bold]{rec.rl.algorithm.upper()}[/]: {escape(rec.rl.reason)}"))
    section("Why", why)
    if rec.cautions:
        section("Cautions", [("[yellow]![/]", f"[yellow]{c.kind}[/]: {escape(c.text)}") for c in rec.cautions])
    section("Next steps", [(f"{n}.", escape(text)) for n, text in enumerate(rec.next_steps, 1)])
    if rec.counterfactuals:
        section("What would change it", [("•", escape(c.text)) for c in rec.counterfactuals])

    if saved:
        console.print(f"\nSaved to {escape(saved)}; next: [bold]posttrain new DIR --from {escape(saved)}[/]")
    else:
        console.print("\n[dim]--out advice.json saves it; --json prints everything.[/]")
