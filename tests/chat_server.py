"""An OpenAI-compatible chat-completions server on loopback, kept for fault injection only.

The OpenAI backend's real-server tests run against vLLM's own OpenAI-compatible server
(tests/test_vllm.py). A real server cannot be told to misbehave on cue, so this small stdlib
HTTP server, answering `POST /v1/chat/completions` with real completions from the in-process
transformers backend, serves the tests that need it to: fail the next requests with a status
code (retries, failure recording), or stop and restart on the same port (resuming after the
server went away). It starts in milliseconds, so those tests stay fast.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from atest.core.generation import SamplingParams


class ChatServer:
    def __init__(self, generator: Any, model_name: str = "tiny", port: int = 0):
        self.generator = generator
        self.model_name = model_name
        self.port = port
        self.requests = 0  # chat requests received, failed ones included
        self.served = 0  # chat requests answered with a completion
        self.stop_after: int | None = None  # go away after serving this many completions
        self._failures: list[tuple[int, float | None]] = []
        self._lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.stopped = False
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, count: int, status: int = 500, retry_after: float | None = None) -> None:
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def start(self) -> ChatServer:
        self.stopped = False
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            httpd, self._httpd = self._httpd, None
            self.stopped = True
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def take_failure(self) -> tuple[int, float | None] | None:
        with self._lock:
            self.requests += 1
            return self._failures.pop(0) if self._failures else None

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        params = SamplingParams(
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            max_new_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 64),
            n=int(body.get("n", 1)),
            seed=body.get("seed"),
        )
        with self._generate_lock:
            [completions] = self.generator.generate([body["messages"]], params)
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason,
            }
            for i, c in enumerate(completions)
        ]
        n_tokens = sum(c.n_tokens for c in completions)
        with self._lock:
            self.served += 1
            if self.stop_after is not None and self.served == self.stop_after:
                threading.Thread(target=self.stop, daemon=True).start()
        return {
            "id": f"chatcmpl-{self.served}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "usage": {"prompt_tokens": 0, "completion_tokens": n_tokens, "total_tokens": n_tokens},
        }


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": server.model_name, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            if server.stopped:  # a kept-alive connection outlived the server: drop it unanswered
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found"}})
                return
            failure = server.take_failure()
            if failure is not None:
                status, wait = failure
                headers = {"Retry-After": str(wait)} if wait is not None else None
                self._send(status, {"error": {"message": f"injected failure {status}"}}, headers)
                return
            if body.get("model") != server.model_name:
                self._send(404, {"error": {"message": f"model {body.get('model')!r} not found"}})
                return
            self._send(200, server.complete(body))

    return Handler
