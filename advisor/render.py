"""The terminal view of a recommendation: a short summary, not a dump (``--json`` has everything)."""

from __future__ import annotations

from typing import Any

from advisor.engine import NAMES
from advisor.schema import Recommendation

STRATEGIES = {
    "expert_writing": "expert-written examples",
    "distillation": "distillation from the teacher model",
    "best_of_n": "best-of-N sampling filtered by your success check",
    "filtering": "filtering your pool down to the best examples",
}
REASONS_PER_STEP = 2


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

    plan = " → ".join(NAMES[step] for step in rec.plan)
    console.print(f"\n[bold]Recommendation:[/] [bold green]{NAMES[rec.primary]}[/]   plan: [bold]{plan}[/]")
    details = []
    if rec.sft_data_strategy:
        details.append(f"SFT data: {STRATEGIES[rec.sft_data_strategy]}")
    if rec.rl:
        details.append(f"RL: {rec.rl.algorithm.upper()} with a {rec.rl.reward} reward")
    if details:
        console.print(" · ".join(details))

    top = max(max(r.score for r in rec.ranking), 1.0)
    scores = Table.grid(padding=(0, 1))
    for ranked in rec.ranking:
        style = "green" if ranked.approach in rec.plan else "dim"
        bar = "█" * max(0, round(10 * ranked.score / top))
        scores.add_row(f"[{style}]{NAMES[ranked.approach]}", f"[{style}]{ranked.score:5.1f}", f"[{style}]{bar}")
    console.print("\n[bold]Scores[/]")
    console.print(Padding(scores, (0, 0, 0, 2), expand=False))

    why = []
    for step in rec.plan:
        ranked = next(x for x in rec.ranking if x.approach == step)
        for reason in [r for r in ranked.reasons if r.weight > 0 or r.rule == "sft_first"][:REASONS_PER_STEP]:
            why.append(("•", f"[bold]{NAMES[step]}[/]: {escape(reason.text)} [dim]({reason.rule})[/]"))
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
