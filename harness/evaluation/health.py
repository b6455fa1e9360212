"""Output health: answers whose score flatters them or whose form is broken. Pure functions over text.

- *cut*: generation stopped at ``max_new_tokens`` (recorded per row at eval time as ``cut``);
- *repeated prefix*: the answer opens with the same phrase twice ("Northwind Support: Northwind Support:");
- *repeated line*: a line of the answer appears more than once (a loop);
- *hedged*: a ``contains`` hit where the reference is one of several offered alternatives
  ("between $10 and $500", "Settings, Help or Billing") — lenient matching, not a right answer.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_PREFIX_COLON = re.compile(r"^\s*((?:\S+\s+){0,7}?\S+:)\s*\1", re.IGNORECASE)
_PREFIX_WORDS = re.compile(r"^\s*((?:\S+\s+){1,9}?\S+)[\s.,;:!-]+\1(?:\W|$)", re.IGNORECASE)
_NUMBER = r"[$€£]?\d[\d,]*(?:\.\d+)?%?"
_JOIN = r"\s*(?:-|–|—|\bto\b|\bor\b|\band\b|,|/)\s*"
_JOINED_TO_REF = re.compile(rf"§ref§{_JOIN}{_NUMBER}|{_NUMBER}{_JOIN}§ref§")
_ITEM_SPLIT = re.compile(r",|;|/|\bor\b|\n", re.IGNORECASE)
_ITEM_TRIM = re.compile(r"^[\s\-*•\d.)]*(?:and|or|either)?\s+|[\s.!?:]+$", re.IGNORECASE)


def repeated_prefix(text: str) -> bool:
    """True when the answer opens with the same phrase twice.

    >>> repeated_prefix("Northwind Support: Northwind Support: hello"), repeated_prefix("Support: we can help")
    (True, False)
    >>> repeated_prefix("Thank you for asking. Thank you for asking. We"), repeated_prefix("Yes, yes.")
    (True, False)
    """
    return bool(_PREFIX_COLON.match(text) or _PREFIX_WORDS.match(text))


def repeated_line(text: str) -> bool:
    """True when a non-trivial line (3+ characters) appears more than once.

    >>> repeated_line("a step\\nanother\\na step"), repeated_line("one\\ntwo\\n\\n\\n")
    (True, False)
    """
    lines = [" ".join(line.split()).lower() for line in text.splitlines()]
    lines = [line for line in lines if len(line) >= 3]
    return len(lines) != len(set(lines))


def _numbers(text: str) -> list[str]:
    return [n.strip("$€£%").replace(",", "") for n in re.findall(_NUMBER, text)]


def hedged(output: str, reference: str) -> bool:
    """True when ``output`` contains ``reference`` only as one of several alternatives it offers.

    A numeric reference is hedged when it is joined to another number by a range or a list
    ("between $10 and $500", "10-20", "10 or 20"); a text reference when it is one whole item of a
    list split on commas, semicolons, slashes, "or" or lines ("Settings, Help or Billing").

    >>> hedged("The fee is between $10 and $500.", "$10"), hedged("The fee is $10 and takes 2 days.", "$10")
    (True, False)
    >>> hedged("Try Settings, Help or Billing.", "Billing"), hedged("Open Settings, choose Security.", "Settings")
    (True, False)
    >>> hedged("Paris.", "Paris"), hedged("Call 1-800-555-0147.", "1-800-555-0147")
    (False, False)
    >>> hedged("Anywhere from 30 to 47 days.", "47 days")
    True
    """
    ref = " ".join(str(reference).split()).lower()
    text = " ".join(output.split()).lower() if "\n" not in output else output.lower()
    if not ref or ref not in text.replace("\n", " "):
        return False
    if _numbers(ref):
        # the reference (a phone number or "2:30 pm" holds several numbers) as one token, then look for
        # another number joined to it by a range or list connector
        marked = text.replace("\n", " ").replace(ref, " §ref§ ")
        return bool(_JOINED_TO_REF.search(marked))
    items = [_ITEM_TRIM.sub("", part).strip() for part in _ITEM_SPLIT.split(text)]
    items = [" ".join(item.split()) for item in items if item.strip()]
    ref_words = len(ref.split())
    others = [i for i in items if i != ref and len(i.split()) <= max(4, 2 * ref_words)]
    return ref in items and len(items) >= 2 and bool(others)


class HealthCounts(BaseModel):
    """Counts over one variant's outputs on one eval set."""

    model_config = ConfigDict(extra="forbid")

    n: int
    cut: int | None = Field(None, description="Answers cut at max_new_tokens; None when the eval did not record it.")
    repeated_prefix: int = 0
    repeated_line: int = 0
    hedged: int | None = Field(None, description="`contains` hits that list several alternatives; None: no contains.")


def output_health(rows: list[dict[str, Any]]) -> HealthCounts:
    """Count the health problems in ``results.jsonl`` rows (output, reference, scores, optional cut).

    >>> rows = [{"output": "A: A: x", "reference": "x", "scores": {"contains": 1.0}, "cut": True},
    ...         {"output": "10 or 20", "reference": "10", "scores": {"contains": 1.0}, "cut": False}]
    >>> output_health(rows)
    HealthCounts(n=2, cut=1, repeated_prefix=1, repeated_line=0, hedged=1)
    """
    outputs = [str(r.get("output") or "") for r in rows]
    cut_known = [r["cut"] for r in rows if isinstance(r.get("cut"), bool)]
    scores = [r["scores"] if isinstance(r.get("scores"), dict) else {} for r in rows]
    credited = [r for r, s in zip(rows, scores, strict=True) if s.get("contains") == 1.0]
    hedges = sum(hedged(str(r.get("output") or ""), str(r.get("reference") or "")) for r in credited)
    return HealthCounts(
        n=len(rows),
        cut=sum(cut_known) if cut_known else None,
        repeated_prefix=sum(repeated_prefix(o) for o in outputs),
        repeated_line=sum(repeated_line(o) for o in outputs),
        hedged=hedges if any("contains" in s for s in scores) else None,
    )
