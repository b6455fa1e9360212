"""A hosted model as a baseline: the same eval rows sent to an OpenAI-compatible chat-completions endpoint.

The question users face is often "prompt a big hosted model, or tune a small one?", so an endpoint
(``baselines.endpoints`` in experiment.yaml) is evaluated like the local variants — same rows, same
metrics, same paired tests — and each request's latency, token counts and priced cost are recorded.
Token counts come from the reply's ``usage``; a server that sends none gets an estimate of one token
per 4 characters (the usual rule of thumb for English BPE vocabularies), flagged as estimated.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posttrain.errors import BadInput

Message = dict[str, str]
CONCURRENCY = 4  # requests in flight; each one's own wall time is its latency (a batch of one)


class EndpointSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1.")
    model: str = Field(description="The model name the endpoint serves.")
    price_input_per_m: float = Field(0.0, ge=0, description="USD per million input tokens.")
    price_output_per_m: float = Field(0.0, ge=0, description="USD per million output tokens.")


def estimate_tokens(text: str) -> int:
    """About one token per 4 characters.

    >>> estimate_tokens("How many days do I have?"), estimate_tokens("")
    (6, 0)
    """
    return math.ceil(len(text) / 4)


def priced(spec: EndpointSpec, prompt_tokens: int, output_tokens: int) -> float:
    """USD for one request.

    >>> priced(EndpointSpec(url="u", model="m", price_input_per_m=0.15, price_output_per_m=0.60), 1000, 100)
    0.00021
    """
    return round((prompt_tokens * spec.price_input_per_m + output_tokens * spec.price_output_per_m) / 1e6, 10)


def _post(spec: EndpointSpec, messages: list[Message], max_new_tokens: int, stop: list[str] | None) -> dict[str, Any]:
    from harness.datagen.teacher import completions_url

    url = completions_url(spec.url)
    body: dict[str, Any] = {"model": spec.model, "messages": messages, "max_tokens": max_new_tokens, "temperature": 0}
    if stop:
        body["stop"] = stop[:4]  # the OpenAI API takes at most 4 stop sequences
    headers = {"Content-Type": "application/json"}
    if key := os.environ.get("OPENAI_API_KEY"):
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode("utf-8", "replace")
        raise BadInput(f"baselines.endpoints {spec.url}: HTTP {error.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as error:
        raise BadInput(f"baselines.endpoints {spec.url}: no answer ({getattr(error, 'reason', error)})") from None
    seconds = time.perf_counter() - started
    try:
        choice = payload["choices"][0]
        content = str(choice["message"]["content"] or "")
    except (KeyError, IndexError, TypeError):
        raise BadInput(
            f"baselines.endpoints {spec.url}: the reply is not an OpenAI chat completion (got {str(payload)[:160]})"
        ) from None
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    estimated = not (isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int))
    prompt_tokens = (
        sum(estimate_tokens(m["content"]) + 4 for m in messages) if estimated else int(usage["prompt_tokens"])
    )  # +4 a message: the role and separators a chat template adds
    output_tokens = estimate_tokens(content) if estimated else int(usage["completion_tokens"])
    return {
        "output": content,
        "seconds": seconds,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "cut": choice.get("finish_reason") == "length",
        "tokens_estimated": estimated,
        "cost_usd": priced(spec, prompt_tokens, output_tokens),
    }


def answer_all(
    spec: EndpointSpec, conversations: list[list[Message]], max_new_tokens: int, stop: list[str] | None = None
) -> tuple[list[str], list[float], list[dict[str, Any]]]:
    """Outputs, per-request latency and per-row cost fields for every conversation, in order."""
    from harness.evaluation.generate import truncate_at_stop

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        replies = list(pool.map(lambda c: _post(spec, c, max_new_tokens, stop), conversations))
    outputs = [truncate_at_stop(r["output"], stop) for r in replies]
    latencies = [r["seconds"] for r in replies]
    costs = [
        {
            "prompt_tokens": r["prompt_tokens"],
            "output_tokens": r["output_tokens"],
            "cut": r["cut"],
            "latency_bs1_s": round(r["seconds"], 4),
            "cost_usd": r["cost_usd"],
            **({"tokens_estimated": True} if r["tokens_estimated"] else {}),
        }
        for r in replies
    ]
    return outputs, latencies, costs
