"""How to serve the export: vLLM commands, an OpenAI-compatible request, and GGUF through llama.cpp.

Everything here is generated from the run's settings (the model name, the LoRA rank, the decoding
the run evaluated with, one of its eval questions) so the commands say what the run measured.
posttrain has no GGUF converter of its own: llama.cpp's ``convert_hf_to_gguf.py`` is used when it is
on PATH or in ``$LLAMA_CPP_DIR``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# vLLM accepts only these for --max-lora-rank; the adapter's rank is rounded up to the next one.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
VLLM_PORT = 8000
CONVERTER = "convert_hf_to_gguf.py"
GGUF_HINT = (
    "llama.cpp's convert_hf_to_gguf.py was not found (not on PATH, and LLAMA_CPP_DIR is not set). To get it: "
    "git clone https://github.com/ggml-org/llama.cpp, pip install -r "
    "llama.cpp/requirements/requirements-convert_hf_to_gguf.txt, then rerun the export with "
    "LLAMA_CPP_DIR=llama.cpp (or run the converter on merged/ yourself)"
)


def model_name(experiment: str, method: str) -> str:
    """A served-model name from the experiment and method: lower case, ``[a-z0-9._-]`` only.

    >>> model_name("Support Assistant!", "sft")
    'support-assistant-sft'
    """
    slug = re.sub(r"[^a-z0-9._-]+", "-", experiment.lower()).strip("-._") or "posttrain"
    return f"{slug}-{method}"


def vllm_lora_rank(rank: int) -> int:
    """The smallest ``--max-lora-rank`` vLLM accepts that holds ``rank``.

    >>> vllm_lora_rank(4), vllm_lora_rank(16), vllm_lora_rank(17)
    (8, 16, 32)
    """
    return next((r for r in VLLM_LORA_RANKS if r >= rank), rank)


def _command(parts: list[str]) -> str:
    """A shell command, one option per line so it reads like the docs it is pasted into."""
    head, rest = parts[:3], parts[3:]
    lines = [" ".join(shlex.quote(p) for p in head)]
    i = 0
    while i < len(rest):
        take = 2 if i + 1 < len(rest) and not rest[i + 1].startswith("--") else 1
        lines.append("  " + " ".join(shlex.quote(p) for p in rest[i : i + take]))
        i += take
    return " \\\n".join(lines)


def vllm_commands(
    *, merged: str, base: str, adapter: str, name: str, rank: int, dtype: str, max_model_len: int | None
) -> dict[str, str]:
    """``vllm serve`` for the merged model and for the base model with the LoRA adapter."""
    length = ["--max-model-len", str(max_model_len)] if max_model_len else []
    merged_cmd = [
        "vllm", "serve", merged, "--served-model-name", name, "--generation-config", merged, "--dtype", dtype, *length,
    ]  # fmt: skip
    lora_cmd = [
        "vllm", "serve", base, "--enable-lora", "--lora-modules", f"{name}={adapter}",
        "--max-lora-rank", str(vllm_lora_rank(rank)), "--generation-config", merged, "--dtype", dtype, *length,
    ]  # fmt: skip
    return {"merged": _command(merged_cmd), "lora": _command(lora_cmd)}


def chat_request(model: str, messages: list[dict[str, str]], max_tokens: int, stop: list[str] | None) -> dict[str, Any]:
    """The OpenAI chat-completions body that asks what the run asked, decoded the way the run decoded."""
    body: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0, "max_tokens": max_tokens}
    if stop:
        body["stop"] = stop
    return body


def curl_example(port: int = VLLM_PORT) -> str:
    """``curl`` with ``serve/request.json`` (run from the export folder)."""
    return (
        f"curl -s http://localhost:{port}/v1/chat/completions \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        "  -d @serve/request.json"
    )


def client_script(body: dict[str, Any], port: int = VLLM_PORT) -> str:
    """A runnable ``openai`` client: ``python serve/client.py [BASE_URL] [MODEL]`` prints the answer."""
    extra = f", stop={body['stop']!r}" if body.get("stop") else ""
    messages = json.dumps(body["messages"], indent=4, ensure_ascii=False)
    return f'''"""Ask the exported model one of the run's eval questions through an OpenAI-compatible server.

Usage: python serve/client.py [BASE_URL] [MODEL]   (defaults: the vLLM command in README.md)
"""

import sys

from openai import OpenAI

BASE_URL = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:{port}/v1"
MODEL = sys.argv[2] if len(sys.argv) > 2 else {body["model"]!r}
MESSAGES = {messages}

client = OpenAI(base_url=BASE_URL, api_key="not-needed-locally")
reply = client.chat.completions.create(
    model=MODEL, messages=MESSAGES, temperature=0, max_tokens={body["max_tokens"]}{extra}
)
print(reply.choices[0].message.content, end="")
'''


@dataclass(frozen=True)
class GgufOutcome:
    available: bool
    path: str | None = None
    converter: str | None = None
    message: str = ""


def find_gguf_converter() -> Path | None:
    """llama.cpp's converter: ``$LLAMA_CPP_DIR/convert_hf_to_gguf.py``, else one on PATH."""
    root = os.environ.get("LLAMA_CPP_DIR")
    if root and (Path(root).expanduser() / CONVERTER).is_file():
        return Path(root).expanduser() / CONVERTER
    found = shutil.which(CONVERTER)
    return Path(found) if found else None


def convert_to_gguf(merged: Path, out_file: Path, outtype: str = "f16") -> GgufOutcome:
    """Run llama.cpp's converter on the merged folder; say plainly when it is absent or fails."""
    converter = find_gguf_converter()
    if converter is None:
        return GgufOutcome(available=False, message=GGUF_HINT)
    args = [str(merged), "--outfile", str(out_file), "--outtype", outtype]
    command = [sys.executable, str(converter), *args] if converter.suffix == ".py" else [str(converter), *args]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out_file.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return GgufOutcome(
            available=True,
            converter=str(converter),
            message=f"{converter} failed (exit {proc.returncode}): {' / '.join(tail) or 'no output'}",
        )
    return GgufOutcome(
        available=True, path=str(out_file), converter=str(converter), message=f"{outtype} GGUF by {converter}"
    )
