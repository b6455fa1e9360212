"""Report figures as self-contained PNG data URIs (matplotlib, Agg backend, nothing fetched)."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

from harness.report.data import VARIANT_LABELS, ReportData

INK, MUTED, ACCENT, GOOD, BAD = "#1f2937", "#9ca3af", "#2563eb", "#059669", "#dc2626"
COLORS = {"prompt": "#9ca3af", "kshot": "#6b7280", "rag": "#d97706", "tuned": "#2563eb", "tuned_rag": "#7c3aed"}


def _figure(width: float, height: float, rows: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": MUTED,
            "axes.labelcolor": INK,
            "xtick.color": INK,
            "ytick.color": INK,
        }
    )
    fig, axes = plt.subplots(rows, 1, figsize=(width, height), dpi=110, squeeze=False)
    return fig, axes[0][0] if rows == 1 else [a[0] for a in axes]


def _uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _finite(*values: float | None) -> bool:
    """Whether every value is a real number; NaN/inf points are left out of a figure, never drawn.

    >>> _finite(0.5, 1.0), _finite(0.5, float("nan")), _finite(None)
    (True, False, False)
    """
    return all(v is not None and math.isfinite(v) for v in values)


def variants_plot(data: ReportData, eval_set: str, metric: str) -> str | None:
    """Each variant's mean on one metric with its 95% interval, best baseline marked."""
    rows = [
        v
        for v in data.variants
        if v.eval_set == eval_set and metric in v.metrics and _finite(v.metrics[metric].mean, *v.metrics[metric].ci95)
    ]
    if not rows:
        return None
    fig, ax = _figure(6.4, 0.45 * len(rows) + 0.9)
    for i, row in enumerate(reversed(rows)):
        cell = row.metrics[metric]
        ax.barh(i, cell.mean, color=COLORS.get(row.variant, ACCENT), height=0.6)
        ax.errorbar(
            cell.mean,
            i,
            xerr=[[max(0.0, cell.mean - cell.ci95[0])], [max(0.0, cell.ci95[1] - cell.mean)]],  # never negative
            fmt="none",
            ecolor=INK,
            capsize=3,
            lw=1,
        )
        ax.text(cell.ci95[1] + 0.01, i, f"{cell.mean:.3f}", va="center", fontsize=8, color=INK)
    ax.set_yticks(range(len(rows)), [VARIANT_LABELS.get(r.variant, r.variant) for r in reversed(rows)])
    upper = max(max(r.metrics[metric].ci95[1] for r in rows), 1e-9)
    ax.set_xlim(0, 1.0 if upper <= 1.0 else upper * 1.15)
    ax.set_xlabel(f"{metric} (mean, 95% bootstrap interval)")
    return _uri(fig)


def forgetting_plot(data: ReportData) -> str | None:
    """Each general task's change in accuracy (points) with its paired 95% interval."""
    rows = data.forgetting + ([data.forgetting_overall] if data.forgetting_overall and len(data.forgetting) > 1 else [])
    rows = [r for r in rows if _finite(r.delta, *r.ci95, r.p_value)]
    if not rows:
        return None
    fig, ax = _figure(6.4, 0.42 * len(rows) + 0.9)
    for i, row in enumerate(reversed(rows)):
        color = MUTED if row.p_value >= 0.05 else (GOOD if row.delta > 0 else BAD)
        ax.errorbar(
            row.delta * 100,
            i,
            xerr=[[max(0.0, row.delta - row.ci95[0]) * 100], [max(0.0, row.ci95[1] - row.delta) * 100]],
            fmt="o",
            color=color,
            ecolor=color,
            capsize=3,
        )
    ax.axvline(0, color=INK, lw=0.8)
    ax.set_yticks(range(len(rows)), [r.task.replace("posttrain_general_", "") for r in reversed(rows)])
    ax.set_xlabel("change in accuracy, points (tuned − base), 95% interval")
    return _uri(fig)


def training_plot(data: ReportData) -> str | None:
    """Loss (and reward, where logged) per step for each training method."""
    runs = [t for t in data.training if t.curve]
    if not runs:
        return None
    fig, axes = _figure(7.5, 1.9 * len(runs) + 0.3, rows=len(runs))
    for ax, run in zip(axes if len(runs) > 1 else [axes], runs, strict=True):
        for key, color in (("loss", ACCENT), ("reward", GOOD)):
            points = [(p.step, p.values[key]) for p in run.curve if key in p.values and _finite(p.values[key])]
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], color=color, lw=1.4, label=key)
        # The validation split is evaluated every save_steps: few points, so markers; the lowest one is the
        # checkpoint the adapter came from (a reward model is kept by accuracy instead, so no mark there).
        val = [(p.step, p.values["eval_loss"]) for p in run.curve if _finite(p.values.get("eval_loss"))]
        if val:
            ax.plot([s for s, _ in val], [v for _, v in val], color=BAD, lw=1.2, marker="o", ms=3, label="val loss")
            if run.method != "reward":
                best = min(val, key=lambda point: point[1])
                ax.plot([best[0]], [best[1]], marker="*", ms=9, color=BAD, ls="none", label=f"best (step {best[0]})")
        ax.set_title(run.method.upper(), loc="left", fontsize=9, color=INK)
        ax.set_xlabel("step")
        ax.legend(frameon=False, fontsize=8)
    return _uri(fig)


def all_plots(data: ReportData) -> dict[str, str]:
    """Every figure the HTML page shows, keyed by name; absent parts give no figure."""
    plots: dict[str, str] = {}
    for eval_set, metric in data.primary_metric.items():
        if uri := variants_plot(data, eval_set, metric):
            plots[f"variants:{eval_set}"] = uri
    if uri := forgetting_plot(data):
        plots["forgetting"] = uri
    if uri := training_plot(data):
        plots["training"] = uri
    return plots
