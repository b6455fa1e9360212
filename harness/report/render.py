"""Render :class:`ReportData` to Markdown and to one self-contained HTML page (jinja2 templates).

The HTML page embeds its CSS and its figures (PNG data URIs); it references nothing outside itself,
so it opens offline, from an e-mail attachment or a CI artifact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from harness.report.data import ReportData
from harness.report.diagnosis import size_text
from harness.report.seeds import NOTE as SEED_NOTE
from harness.report.verdict import label, p_text, scale_of

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "report"


def _environment(autoescape: bool) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_template_dir()),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=lambda x, digits=3: "–" if x is None else f"{x:.{digits}f}",
        signed=lambda x, scale=1.0, digits=1: f"{x * scale:+.{digits}f}".replace("-", "−"),
        scaled=lambda x, scale=1.0, digits=1: f"{x * scale:.{digits}f}".replace("-", "−"),
        pvalue=p_text,
        label=label,
        size=size_text,
        seconds=lambda s: "–" if s is None else (f"{s:.0f} s" if s >= 10 else f"{s:.2f} s"),
        short=_short,
        task=lambda t: t.replace("posttrain_general_", "general: "),
        share=lambda k, n: "–" if k is None or not n else f"{k}/{n}",
        rows=lambda x: "–" if x is None else f"{x:,.0f}",
    )
    return env


def _template_dir() -> Path:
    try:  # the installed package
        import templates

        return Path(templates.__file__).resolve().parent / "report"
    except ImportError:  # pragma: no cover - a source checkout without the package on the path
        return TEMPLATE_DIR


def _short(text: str, limit: int = 220) -> str:
    r"""One line (Markdown lists and tables break on newlines), cut at ``limit`` characters.

    >>> _short("a\n b  c"), _short("x" * 5, limit=3)
    ('a b c', 'xx…')
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _context(data: ReportData, plots: dict[str, str] | None) -> dict[str, Any]:
    scales = {}
    for eval_set in dict.fromkeys(v.eval_set for v in data.variants):
        rows = [v for v in data.variants if v.eval_set == eval_set]
        for metric in dict.fromkeys(m for v in rows for m in v.metrics):
            scales[f"{eval_set}/{metric}"] = scale_of(rows, metric)
    metrics = {
        eval_set: list(dict.fromkeys(m for v in data.variants if v.eval_set == eval_set for m in v.metrics))
        for eval_set in dict.fromkeys(v.eval_set for v in data.variants)
    }
    seeds = {(s.eval_set, s.metric, s.variant): s for s in data.seeds}  # shown beside that variant's interval
    return {
        "d": data,
        "plots": plots or {},
        "scales": scales,
        "metrics": metrics,
        "headline": headline(data),
        "seeds": seeds,
        "seeds_in": lambda eval_set: any(s.eval_set == eval_set for s in data.seeds),
        "seed_note": SEED_NOTE,
    }


def headline(data: ReportData) -> str:
    """The decision in a few words: "Ship fine-tuning + RAG" or "Undecided: fine-tuning vs few-shot prompting"."""
    d = data.decision
    if d is None:
        return "No decision: nothing was evaluated"
    if d.status == "ship" and d.variant:
        return f"Ship {label(d.variant)}"
    if d.variant and d.contender:
        return f"Undecided: {label(d.variant)} or {label(d.contender)} (cheaper)"
    return "Undecided"


def verdict_text(data: ReportData) -> str:
    """``verdict.txt``: the decision, its reasons, cost and next step, then the verdict and the advisor line."""
    lines = [f"Decision: {headline(data)}."]
    if data.decision is not None:
        d = data.decision
        lines += [f"Why: {d.why}", *([f"Cost: {d.cost}."] if d.cost else []), f"Next: {d.next_step}"]
    lines.append(data.verdict.sentence)
    if data.verdict.advice:
        lines.append(data.verdict.advice)
    return "\n".join(lines) + "\n"


def render_markdown(data: ReportData) -> str:
    return str(_environment(False).get_template("report.md.j2").render(**_context(data, None)))


def render_html(data: ReportData, plots: dict[str, str] | None = None) -> str:
    if plots is None:
        from harness.report.plots import all_plots

        plots = all_plots(data)
    env = _environment(True)
    css = (_template_dir() / "style.css").read_text(encoding="utf-8")
    return str(env.get_template("report.html.j2").render(css=css, **_context(data, plots)))


def _write_atomic(path: Path, text: str) -> None:
    # Write beside, then rename: an error half-way never destroys the previous report.
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


class ReportPaths(NamedTuple):
    data: ReportData
    markdown: Path
    html: Path


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> ReportPaths:
    """Collect ``run_dir`` and write ``report.md`` and ``report.html`` (into ``out_dir`` or the run dir).

    When a stage output cannot be read and a report is already there, that report and its verdict are
    kept and the partial one is written beside them as ``report.partial.md``/``.html``: a damaged file
    never replaces a good report.
    """
    from harness.report.collect import collect_run

    data = collect_run(run_dir)
    target = Path(out_dir) if out_dir is not None else Path(data.run_dir)
    target.mkdir(parents=True, exist_ok=True)
    markdown, html = render_markdown(data), render_html(data)
    stem = "report.partial" if data.problems and (target / "report.md").exists() else "report"
    _write_atomic(target / f"{stem}.md", markdown)
    _write_atomic(target / f"{stem}.html", html)
    if stem == "report":
        _write_atomic(target / "verdict.txt", verdict_text(data))
    return ReportPaths(data, target / f"{stem}.md", target / f"{stem}.html")
