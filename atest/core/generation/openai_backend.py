"""Any OpenAI-compatible chat endpoint: the hosted API, `vllm serve`, `transformers serve`, ...

Hosted endpoints throttle and fail transiently, and a run of hours must survive that: each sample
is one request, retried with exponential backoff (honouring `Retry-After`) on 429, 5xx, timeouts
and refused connections, under a concurrency cap and an optional request rate. A request that
still fails becomes an error Completion; it is never turned into an empty answer.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from atest.core.errors import InputError
from atest.core.generation.params import Completion, Messages, SamplingParams

RETRY_STATUSES = frozenset({408, 409, 429})


class RateLimiter:
    """Spaces request starts at least `1 / per_second` apart across all threads."""

    def __init__(self, per_second: float | None):
        if per_second is not None and per_second <= 0:
            raise InputError(f"request rate {per_second} must be positive")
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def is_retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes timeouts and a server that went away
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUSES or exc.status_code >= 500
    return False


def describe(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def retry_after(exc: Exception) -> float | None:
    """The server's own `Retry-After` in seconds, when it sent a numeric one."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIGenerator:
    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 6,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 600.0,
        requests_per_second: float | None = None,
        thinking: bool | None = None,
    ):
        import openai

        if adapter:
            raise InputError(
                "the openai backend cannot apply a LoRA adapter",
                "serve the adapter on the server (e.g. `vllm serve --lora-modules name=path`) and pass its name as --model",
            )
        if concurrency < 1 or max_retries < 0:
            raise InputError("concurrency must be at least 1 and max_retries at least 0")
        key = os.environ.get(api_key_env)
        if not key:
            if base_url is None:
                raise InputError(
                    f"${api_key_env} is not set", "export your API key, or pass --base-url for a local server"
                )
            key = "EMPTY"  # local servers usually ignore the key, but the client needs one
        self.model_id = model
        self.base_url = base_url
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.thinking = thinking
        self.client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=timeout_s)
        self.limiter = RateLimiter(requests_per_second)
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="atest-openai")

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        """One request per sample; sample k of a seeded call uses seed + k, so samples differ."""
        futures = [
            [
                self.pool.submit(
                    self.request, messages, params, None if params.seed is None else params.seed + k
                )
                for k in range(params.n)
            ]
            for messages in prompts
        ]
        return [[f.result() for f in row] for row in futures]

    def request(self, messages: Messages, params: SamplingParams, seed: int | None) -> Completion:
        last = "no attempt made"
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            try:
                response = self.client.chat.completions.create(**self._body(messages, params, seed))
            except Exception as exc:
                import openai

                if not isinstance(exc, openai.OpenAIError):
                    raise
                last = describe(exc)
                if not is_retryable(exc):
                    return Completion.failed(last)
                if attempt < self.max_retries:
                    time.sleep(self._delay(attempt, exc))
                continue
            return _to_completion(response)
        return Completion.failed(f"{last} (gave up after {self.max_retries + 1} attempts)")

    def _body(self, messages: Messages, params: SamplingParams, seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": messages,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": 1,
        }
        # The hosted API wants max_completion_tokens; compatible servers all read max_tokens.
        body["max_completion_tokens" if self.base_url is None else "max_tokens"] = params.max_new_tokens
        if seed is not None:
            body["seed"] = seed
        if self.thinking is not None and self.base_url is not None:
            body["extra_body"] = {"chat_template_kwargs": {"enable_thinking": self.thinking}}
        return body

    def _delay(self, attempt: int, exc: Exception) -> float:
        """Exponential backoff with jitter (so that throttled threads do not retry in lockstep)."""
        delay = self.backoff_s * (2**attempt) * random.uniform(0.5, 1.0)
        server = retry_after(exc)
        if server is not None:
            delay = max(delay, server)
        return min(delay, self.max_backoff_s)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()


def _to_completion(response: Any) -> Completion:
    if not response.choices:
        return Completion.failed("the server answered with no choices")
    choice = response.choices[0]
    text = choice.message.content
    if text is None:
        return Completion.failed(f"the server answered with no text (finish_reason {choice.finish_reason!r})")
    usage = getattr(response, "usage", None)
    n_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    return Completion(text, n_tokens, "length" if choice.finish_reason == "length" else "stop")
