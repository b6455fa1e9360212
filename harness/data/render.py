"""The terminal view of a :class:`~harness.data.check.CheckReport`: findings grouped by check, then stats."""

from __future__ import annotations

from typing import Any

from harness.data.check import CheckReport, Finding

_SHOWN = 5  # findings listed per check; --json lists them all
_TITLES = {
    "parse": "unparsable lines",
    "structure": "missing/mistyped fields or broken conversations",
    "duplicate": "exact duplicates",
    "near_duplicate": "near duplicates",
    "eval_overlap": "prompts that are in the eval set",
    "eval_near_overlap": "prompts nearly in the eval set",
    "response_length": "very short or very long responses",
    "prompt_echo": "responses repeating the prompt",
    "encoding": "broken encodings",
    "truncation": "rows over --max-length",
    "preference_tie": "ties (chosen == rejected)",
    "preference_length_only": "pairs that differ only in length",
    "untrained": "conversations with every turn at weight 0",
}


def _by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def _where(f: Finding) -> str:
    if not f.locations:
        return ""
    more = f" (+{len(f.locations) - 3} more)" if len(f.locations) > 3 else ""
    return ", ".join(f.locations[:3]) + more


def print_report(report: CheckReport, console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console(highlight=False, soft_wrap=True)
    kind = f" ({report.kind})" if report.kind else ""
    console.print(f"[bold]{escape(report.path)}[/]: {report.rows:,} rows, format {report.format}{kind}")
    if report.mapping:
        console.print(f"  [dim]mapped: {escape(report.mapping)}[/]")
    for title, findings, colour in (("errors", report.errors, "red"), ("warnings", report.warnings, "yellow")):
        if not findings:
            continue
        console.print(f"\n[bold {colour}]{len(findings)} {title}[/]")
        for check, group in _by_check(findings).items():
            rows = sum(max(1, len(f.rows)) for f in group)
            plural = "s" if rows != 1 else ""
            console.print(f"  [{colour}]{check}[/]: {len(group)} × {_TITLES.get(check, check)} ({rows} row{plural})")
            for f in group[:_SHOWN]:
                where = _where(f)
                console.print(f"    {escape(where)}{': ' if where else ''}{escape(f.message)}")
            if len(group) > _SHOWN:
                console.print(f"    [dim]… {len(group) - _SHOWN} more (--json lists all)[/]")

    stats = report.stats
    table = Table(title="distributions", show_header=True, header_style="bold", title_justify="left")
    table.add_column("measure")
    table.add_column("value")
    for name, summary in stats.get("words", {}).items():
        if summary:
            table.add_row(f"{name} words", _summary(summary))
    if tokens := stats.get("tokens"):
        table.add_row(f"tokens ({tokens['model']}, chat template)", _summary(tokens))
        if "max_length" in tokens:
            table.add_row(
                f"over --max-length {tokens['max_length']}", f"{tokens['truncated']} ({tokens['truncated_share']:.1%})"
            )
    if div := stats.get("diversity"):
        table.add_row(
            "response diversity",
            f"distinct-1 {div['distinct_1']:.3f}, distinct-2 {div['distinct_2']:.3f} "
            f"(first {div['sample_rows']:,} rows)",
        )
        table.add_row("unique prompts", f"{div['unique_prompt_share']:.1%}")
    if dups := stats.get("duplicates"):
        table.add_row(
            "duplicates",
            f"{dups['exact_groups']} exact groups, {dups['near_groups']} near groups; "
            f"{dups['redundant_rows']} rows could go",
        )
    if leak := stats.get("eval_overlap"):
        table.add_row(
            "eval overlap",
            f"{leak['exact']} exact + {leak['near']} near train rows; "
            f"{leak['eval_rows_leaked']} of {leak['eval_rows']} eval rows leaked",
        )
    for column, counts in stats.get("columns", {}).items():
        shown = ", ".join(f"{escape(k)} {v}" for k, v in list(counts.items())[:8])
        more = f", … {len(counts) - 8} more" if len(counts) > 8 else ""
        table.add_row(f"rows per {column}", shown + more)
    if table.row_count:
        console.print()
        console.print(table)
    verdict = (
        f"[bold red]{len(report.errors)} errors[/], {len(report.warnings)} warnings"
        if report.errors
        else f"[bold yellow]{len(report.warnings)} warnings[/]"
        if report.warnings
        else "[bold green]clean[/]"
    )
    console.print(f"\n{verdict}")


def _summary(s: dict[str, Any]) -> str:
    return f"min {s['min']}, median {s['median']}, p95 {s['p95']}, max {s['max']}, mean {s['mean']}"
