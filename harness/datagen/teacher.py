"""Teachers that answer prompts: a local model, or an OpenAI-compatible endpoint (vLLM, Ollama, ...).

``make_teacher("smollm2-135m")`` loads a model in-process and generates in batches;
``make_teacher("http://127.0.0.1:8000/v1", model_name="qwen")`` posts each prompt to
``/v1/chat/completions`` with the standard library (no client package needed), a few at a time
because such servers batch concurrent requests. An API key, when the server wants one, is read from
``OPENAI_API_KEY`` and never written anywhere.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from posttrain.errors import BadInput, PosttrainError

Message = dict[str, str]


class TeacherUnavailable(PosttrainError):
    """The endpoint did not answer after retries; rows written so far are kept, rerun to resume."""

    exit_code = 1


class Teacher(Protocol):
    name: str
    settings: dict[str, Any]

    def answer(self, conversations: list[list[Message]]) -> list[str]: ...


def is_endpoint(spec: str) -> bool:
    """True when ``spec`` names a server rather than a model.

    >>> is_endpoint("http://127.0.0.1:8000/v1"), is_endpoint("smollm2-135m")
    (True, False)
    """
    return spec.startswith(("http://", "https://"))


def completions_url(url: str) -> str:
    """The chat-completions address for a server URL given with or without ``/v1``.

    >>> completions_url("http://localhost:11434")
    'http://localhost:11434/v1/chat/completions'
    >>> completions_url("http://h:8000/v1/")
    'http://h:8000/v1/chat/completions'
    >>> completions_url("http://h/v1/chat/completions")
    'http://h/v1/chat/completions'
    """
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


class EndpointTeacher:
    """Answers through an OpenAI-compatible ``/v1/chat/completions`` endpoint."""

    def __init__(
        self,
        url: str,
        *,
        model_name: str | None,
        max_new_tokens: int,
        temperature: float,
        concurrency: int = 4,
        timeout_s: float = 120.0,
        retries: int = 3,
    ) -> None:
        self.url = completions_url(url)
        self.model_name = model_name
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.concurrency = max(1, concurrency)
        self.timeout_s = timeout_s
        self.retries = retries
        self.name = model_name or url
        self.settings: dict[str, Any] = {
            "backend": "openai-compatible",
            "endpoint": url,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
        }

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def discover_model(self) -> str:
        """The served model's id from ``GET /v1/models`` (vLLM and Ollama list theirs); used without --teacher-model."""
        models_url = self.url.removesuffix("/chat/completions") + "/models"
        try:
            request = urllib.request.Request(models_url, headers=self._headers())
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                listed = json.loads(response.read())["data"]
            return str(listed[0]["id"])
        except Exception:  # not listed: the server then answers with its default model
            return "default"

    def _post(self, messages: list[Message]) -> str:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": self.max_new_tokens,
            "temperature": self.temperature,
        }
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=self._headers(), method="POST"
        )
        last = ""
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    payload = json.loads(response.read())
                break
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}: {error.read()[:200].decode('utf-8', 'replace')}"
                if error.code not in (408, 429) and error.code < 500:  # a client error will not heal
                    raise BadInput(f"--teacher {self.url}: {last}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as error:
                last = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
            if attempt < self.retries:
                time.sleep(0.5 * 2**attempt)  # 0.5, 1, 2 s: rides out a server restart
        else:
            raise TeacherUnavailable(
                f"--teacher {self.url}: no answer after {self.retries + 1} tries ({last}); "
                "rows written so far are kept — rerun the same command to resume"
            )
        try:
            return str(payload["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BadInput(
                f"--teacher {self.url}: the reply is not an OpenAI chat completion "
                f"(expected choices[0].message.content, got {str(payload)[:200]})"
            ) from None

    def answer(self, conversations: list[list[Message]]) -> list[str]:
        if self.model_name is None:
            self.model_name = self.name = self.discover_model()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._post, conversations))


class LocalTeacher:
    """Answers with a model loaded in this process, in batches (``generate_batch``)."""

    def __init__(self, spec: str, *, max_new_tokens: int, temperature: float, batch_size: int | None = None) -> None:
        from harness.models import load_model_and_tokenizer

        self.model, self.tokenizer = load_model_and_tokenizer(spec)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.batch_size = batch_size
        self.name = spec
        self.settings: dict[str, Any] = {
            "backend": "local",
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "do_sample": temperature > 0,
        }

    def answer(self, conversations: list[list[Message]]) -> list[str]:
        from harness.evaluation.generate import generate_batch

        outputs = generate_batch(
            self.model,
            self.tokenizer,
            conversations,
            max_new_tokens=self.max_new_tokens,
            do_sample=self.temperature > 0,
            temperature=self.temperature if self.temperature > 0 else 1.0,
            batch_size=self.batch_size,
        )
        return [samples[0] if samples else "" for samples in outputs]


def make_teacher(
    spec: str,
    *,
    model_name: str | None = None,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    concurrency: int = 4,
) -> Teacher:
    """A teacher for ``spec``: a URL becomes an endpoint client, anything else a local model."""
    if max_new_tokens < 1:
        raise BadInput(f"--max-new-tokens {max_new_tokens}: must be at least 1")
    if temperature < 0:
        raise BadInput(f"--temperature {temperature}: must be 0 (greedy) or more")
    if is_endpoint(spec):
        return EndpointTeacher(
            spec, model_name=model_name, max_new_tokens=max_new_tokens, temperature=temperature, concurrency=concurrency
        )
    return LocalTeacher(spec, max_new_tokens=max_new_tokens, temperature=temperature)
