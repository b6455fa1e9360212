"""The tuned variant across training seeds (``training.seeds``): mean, range and spread per eval set and metric.

The 95% interval in the results table resamples the eval examples of one training run; a second seed
shuffles the data and initialises LoRA differently, and moves the score by its own amount. Both are
uncertainty about "how good is fine-tuning here", so the report shows the two side by side.
"""

from __future__ import annotations

import math
import statistics

from harness.report.data import SeedSpread
from harness.runner.rundir import SeedResults

NOTE = (
    "Training variance is part of the uncertainty: the 95% interval covers the eval examples of one training run; "
    "retraining with other seeds moved the score across the range shown."
)


def seed_spread(results: SeedResults, variant: str = "tuned") -> list[SeedSpread]:
    """One row per eval set and metric; scores that are not finite (a metric that failed) are left out.

    >>> r = SeedResults(seeds=[0, 1, 2], evals={"qa": {"exact_match": [0.70, 0.62, 0.66]}})
    >>> s = seed_spread(r)[0]
    >>> (s.mean, s.low, s.high, round(s.sd, 3), s.n)
    (0.66, 0.62, 0.7, 0.04, 3)
    """
    rows = []
    for eval_set, metrics in results.evals.items():
        for metric, scores in metrics.items():
            finite = [x for x in scores if math.isfinite(x)]
            if not finite:
                continue
            rows.append(
                SeedSpread(
                    eval_set=eval_set,
                    metric=metric,
                    variant=variant,
                    seeds=[s for s, x in zip(results.seeds, scores, strict=True) if math.isfinite(x)],
                    scores=finite,
                    mean=round(statistics.fmean(finite), 12),
                    low=min(finite),
                    high=max(finite),
                    sd=statistics.stdev(finite) if len(finite) > 1 else None,
                    n=len(finite),
                )
            )
    return rows
