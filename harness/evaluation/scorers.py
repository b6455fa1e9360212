"""Metrics that need a model: ``choice`` (multiple choice by log-likelihood) and ``judge`` (LLM judge).

``choice`` follows lm-eval's ``multiple_choice`` recipe: score each choice as the sum of its tokens'
log-probabilities after the prompt, pick the highest; the pure ``metrics.choice`` then compares
that pick with the reference. ``judge`` asks a judge model for a 0-10 grade against a rubric,
either a local model (generated greedily here) or an OpenAI-compatible endpoint.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Sequence
from typing import Any

from posttrain.errors import BadInput

Message = dict[str, str]

DEFAULT_RUBRIC = (
    "Grade the answer for correctness and completeness against the reference answer. "
    "10 = fully correct, 5 = partly correct, 0 = wrong or irrelevant."
)


def choice_logliks(model: Any, tokenizer: Any, prompt: str, choices: Sequence[str]) -> list[float]:
    """Sum of log-probabilities of each choice's tokens after ``prompt`` (one forward pass for all)."""
    import torch

    context = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    sequences, spans = [], []
    for text in choices:
        # Tokenise context + choice together and take the tail, as lm-eval does, so a merge at the
        # boundary ("Answer:" + " B") is scored the way the model would actually see it.
        whole = tokenizer(prompt + text, add_special_tokens=False)["input_ids"]
        start = min(len(context), len(whole) - 1)
        sequences.append(whole)
        spans.append((start, len(whole)))
    width = max(len(s) for s in sequences)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logprobs = torch.log_softmax(logits, dim=-1)
    scores = []
    for row, (start, end) in enumerate(spans):
        targets = ids[row, start:end].to(device)
        picked = logprobs[row, start - 1 : end - 1].gather(-1, targets.unsqueeze(-1))
        scores.append(float(picked.sum()))
    return scores


def pick_choices(model: Any, tokenizer: Any, prompts: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[str]:
    """The highest-likelihood choice text of each row."""
    picks = []
    for prompt, row in zip(prompts, rows, strict=True):
        choices = [str(c) for c in row["choices"]]
        scores = choice_logliks(model, tokenizer, prompt, choices)
        picks.append(choices[max(range(len(choices)), key=scores.__getitem__)])
    return picks


_GRADE = re.compile(r"(?:score|grade|rating)\s*[:=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_grade(text: str) -> float | None:
    """The judge's 0-10 grade as 0..1, or None when it gave none.

    >>> parse_grade("The answer is right. Score: 8")
    0.8
    >>> parse_grade("Grade = 10/10")
    1.0
    >>> parse_grade("7") , parse_grade("no idea")
    (0.7, None)
    """
    found = _GRADE.search(text)
    raw = found.group(1) if found else (text.strip() if re.fullmatch(r"\d+(?:\.\d+)?", text.strip()) else None)
    if raw is None:
        return None
    return min(max(float(raw), 0.0), 10.0) / 10.0


def judge_messages(question: str, output: str, reference: str | None, rubric: str) -> list[Message]:
    """The conversation sent to the judge."""
    parts = [f"Rubric: {rubric}", f"Question:\n{question}", f"Answer to grade:\n{output}"]
    if reference:
        parts.insert(2, f"Reference answer:\n{reference}")
    parts.append("Reply with one line: 'Score: N' where N is an integer from 0 to 10.")
    return [
        {"role": "system", "content": "You are a strict grader of answers."},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


class JudgeScorer:
    """Grades outputs with a judge: ``url`` (OpenAI-compatible ``/v1``) or a local ``model`` spec."""

    def __init__(
        self, model: str | None = None, url: str | None = None, rubric: str | None = None, api_key: str | None = None
    ) -> None:
        if not model and not url:
            raise BadInput("the judge metric needs --judge-model (a local model) or --judge-url (an endpoint)")
        self.model, self.url, self.rubric, self.api_key = model, url, rubric or DEFAULT_RUBRIC, api_key

    def score(self, questions: Sequence[str], outputs: Sequence[str], references: Sequence[str | None]) -> list[float]:
        """One grade in 0..1 per output; an unparsable verdict counts 0 (and is visible in the output)."""
        conversations = [
            judge_messages(q, o, r, self.rubric) for q, o, r in zip(questions, outputs, references, strict=True)
        ]
        verdicts = self._ask_endpoint(conversations) if self.url else self._ask_local(conversations)
        return [parse_grade(v) or 0.0 for v in verdicts]

    def _ask_local(self, conversations: list[list[Message]]) -> list[str]:
        from harness.evaluation.generate import generate_batch
        from harness.models import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(self.model)
        return [o[0] for o in generate_batch(model, tokenizer, conversations, max_new_tokens=16)]

    def _ask_endpoint(self, conversations: list[list[Message]]) -> list[str]:
        assert self.url is not None
        endpoint = self.url.rstrip("/")
        if not endpoint.endswith("/chat/completions"):
            endpoint += "/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        verdicts = []
        for messages in conversations:
            body = {"model": self.model or "judge", "messages": messages, "temperature": 0, "max_tokens": 16}
            request = urllib.request.Request(endpoint, json.dumps(body).encode(), headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    reply = json.loads(response.read())
                verdicts.append(str(reply["choices"][0]["message"]["content"]))
            except (OSError, ValueError, KeyError, IndexError) as error:
                raise BadInput(f"--judge-url {self.url}: the judge endpoint failed: {error}") from None
        return verdicts
