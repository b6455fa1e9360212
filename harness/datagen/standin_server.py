"""A small OpenAI-compatible server on loopback, for tests and for trying ``distill --teacher URL`` offline.

It answers ``POST /v1/chat/completions`` (and ``GET /v1/models``) from a responder: queued answers,
an echo, or a local model. It is a stand-in for vLLM or Ollama, not a production server.

    python -m harness.datagen.standin_server --model smollm2-135m --port 8000
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Message = dict[str, str]
Responder = Callable[[list[Message], dict[str, Any]], str]


def echo_responder(messages: list[Message], body: dict[str, Any]) -> str:
    """Answer with the last user turn, so a test can tell which prompt an answer belongs to.

    >>> echo_responder([{"role": "user", "content": "2+2?"}], {})
    'answer to: 2+2?'
    """
    return "answer to: " + messages[-1]["content"]


def queued_responder(answers: list[str]) -> Responder:
    """Answer with ``answers`` in order (then repeat the last)."""
    queue = list(answers)
    lock = threading.Lock()

    def respond(messages: list[Message], body: dict[str, Any]) -> str:
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


def model_responder(spec: str) -> Responder:
    """Answer with a local model (greedy unless the request asks for a temperature)."""
    from harness.evaluation.generate import generate_batch
    from harness.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(spec)
    lock = threading.Lock()  # one generation at a time: the model is not thread-safe

    def respond(messages: list[Message], body: dict[str, Any]) -> str:
        temperature = float(body.get("temperature") or 0.0)
        with lock:
            out = generate_batch(
                model,
                tokenizer,
                [messages],
                max_new_tokens=int(body.get("max_tokens") or 128),
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else 1.0,
            )
        return out[0][0]

    return respond


class StandinServer:
    """``with StandinServer(echo_responder) as server: server.url`` -> ``http://127.0.0.1:PORT/v1``."""

    def __init__(self, respond: Responder, *, delay_s: float = 0.0, port: int = 0, model: str = "standin") -> None:
        self.respond = respond
        self.delay_s = delay_s
        self.model = model
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": outer.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    messages = body["messages"]
                except (ValueError, KeyError, TypeError):
                    self._send(400, {"error": {"message": "expected JSON with 'messages'"}})
                    return
                outer.requests += 1
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                content = outer.respond(messages, body)
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{outer.requests}",
                        "object": "chat.completion",
                        "model": body.get("model") or outer.model,
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                        ],
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    def __enter__(self) -> StandinServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:  # pragma: no cover - a convenience for trying distill by hand
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="local model to answer with (default: echo the prompt)")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    respond = model_responder(args.model) if args.model else echo_responder
    with StandinServer(respond, port=args.port, model=args.model or "echo") as server:
        print(f"serving {server.url} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
