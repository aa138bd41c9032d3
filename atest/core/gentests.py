"""The resumable loop behind `atest gen-tests` and `atest gen-solutions`.

Generation is the slow step (hours at paper scale, with hosted APIs that fail now and then), so
the output is appended one record per prompt unit as soon as its batch is done: an interrupt
loses only the batch in flight, and `resume` skips the units already written. A unit whose
requests failed after the backend's retries is not written at all (a half-answered unit written
once would be skipped forever by resume); the run then ends with an ExternalError after writing
everything else, and rerunning with resume fills the gaps. Nothing is lost or written twice.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from atest.core import io
from atest.core.cpu import ThreadShare, has_gpu, thread_share
from atest.core.errors import ExternalError, InputError
from atest.core.generation.params import Completion, Generator, Messages, SamplingParams
from atest.core.generation.retry import first_failure, generate_retrying
from atest.core.io import JsonlAppender, read_jsonl_resumable
from atest.core.tasks import Task

PROMPTS = {"utrl": "utrl-test", "atgen": "atgen", "cure": "cure"}


@dataclass(frozen=True)
class Conditioning:
    """The candidate an ATGEN best-of-N prompt shows in place of buggy code."""

    model: str
    index: int
    code: str


@dataclass
class Unit:
    """One prompt: a task, or for ATGEN one (task, buggy code) pair, or one of the K tests of a
    task in ATGEN's best-of-N mode (`test_index`, conditioned on a candidate)."""

    task: Task
    messages: Messages
    buggy_index: int | None = None
    test_index: int | None = None
    conditioned_on: Conditioning | None = None

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        return (self.task.task_id, self.buggy_index, self.test_index)


def row_key(row: dict[str, Any]) -> tuple[str, int | None, int | None]:
    return (row["task_id"], row.get("buggy_index"), row.get("test_index"))


@dataclass
class Progress:
    """What the progress callback sees after every batch."""

    units_done: int
    units_total: int
    tokens: int  # generated in this run so far
    seconds: float  # spent inside the backend in this run so far


@dataclass
class RunStats:
    n_units: int = 0
    n_skipped: int = 0  # already in the output (resume)
    n_written: int = 0
    n_failed_units: int = 0
    n_failed_requests: int = 0
    n_tokens: int = 0
    generate_s: float = 0.0
    wall_s: float = 0.0
    first_error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.n_tokens / self.generate_s if self.generate_s > 0 else 0.0


def prompt_units(
    tasks: Sequence[Task],
    template: str,
    *,
    thinking: bool,
    n_tests: int,
    tests_per_task: int | None = None,
    models: Sequence[str] | None = None,
) -> tuple[list[Unit], int]:
    """The prompt units of a test-generation run and how many tasks had nothing to prompt with
    (ATGEN needs buggy code, or candidates in best-of-N mode; tasks without are skipped and counted).

    `tests_per_task` K switches ATGEN's prompt to its best-of-N use (the authors'
    `--reward_mode gen_test --each_test_gen_num 10`): K prompts per task, the j-th conditioned on
    candidate j mod C of the task's C candidates (models in `models` order, then index), so
    every candidate is shown in turn and none twice before all were shown once.
    """
    from atest.core.prompts import build_messages

    if tests_per_task is not None and template == "atgen":
        return _candidate_units(tasks, thinking=thinking, k=tests_per_task, models=models)
    units: list[Unit] = []
    n_without = 0
    for task in tasks:
        if template == "atgen":
            if not task.buggy_code:
                n_without += 1
            for i, code in enumerate(task.buggy_code):
                units.append(Unit(task, build_messages("atgen", task, buggy_code=code, thinking=thinking), i))
        else:
            units.append(Unit(task, build_messages(template, task, thinking=thinking, n_tests=n_tests)))
    return units, n_without


def _candidate_units(
    tasks: Sequence[Task], *, thinking: bool, k: int, models: Sequence[str] | None
) -> tuple[list[Unit], int]:
    from atest.core.prompts import build_messages

    units: list[Unit] = []
    n_without = 0
    for task in tasks:
        pool = [
            Conditioning(model, i, code)
            for model in (models if models is not None else list(task.candidates))
            for i, code in enumerate(task.candidates.get(model, []))
        ]
        if not pool:
            n_without += 1
            continue
        for j in range(k):
            shown = pool[j % len(pool)]
            messages = build_messages("atgen", task, buggy_code=shown.code, thinking=thinking)
            units.append(Unit(task, messages, test_index=j, conditioned_on=shown))
    return units, n_without


def check_output(out: Path, *, resume: bool, force: bool) -> Path:
    """The file generation appends to: `out` itself, or with `force` a fresh work file that
    replaces `out` only once the run succeeds (`finish_output`); see atest.core.io's policy."""
    io.check_output(out, force=force, resume=resume, resumable=True)
    if force and io.resolve_output(out).exists():
        work = force_work_path(out)
        work.unlink(missing_ok=True)  # our own leftover from an interrupted --force run
        return work
    return out


def force_work_path(out: Path) -> Path:
    target = io.resolve_output(out)
    return target.with_name(f".{target.name}.force.jsonl")


def finish_output(work: Path, out: Path) -> None:
    """Move a `--force` run's finished work file over `out` (a no-op when they are the same)."""
    if work != out:
        os.replace(work, io.resolve_output(out))


def done_keys(out: Path, expected: dict[str, Any]) -> set[tuple[str, int | None, int | None]]:
    """Units already in `out`; a file written with other settings is refused rather than mixed in."""
    keys: set[tuple[str, int | None, int | None]] = set()
    for i, row in enumerate(read_jsonl_resumable(out), start=1):
        for name, value in expected.items():
            if row.get(name) != value:
                raise InputError(
                    f"{out}:{i} was written with {name}={json.dumps(row.get(name))}, not {json.dumps(value)}",
                    "resume with the same settings, or write to a new --out",
                )
        keys.add(row_key(row))
    return keys


def run_units(
    units: Sequence[Unit],
    generator: Generator,
    params: SamplingParams,
    out: Path,
    *,
    to_row: Callable[[Unit, list[Completion]], dict[str, Any]],
    expected: dict[str, Any],
    batch_size: int,
    progress: Callable[[Progress], None] | None = None,
) -> RunStats:
    """Generate for every unit not yet in `out`, appending one row per unit as its batch completes.

    A unit that still fails after its retry (`generation.retry`, the one failure policy) is not
    written and is counted in the stats (`n_failed_units`, `first_error`), so a rerun resumes it.
    """
    start = time.perf_counter()
    done = done_keys(out, expected)
    todo = [u for u in units if u.key not in done]
    stats = RunStats(n_units=len(units), n_skipped=len(units) - len(todo))
    with JsonlAppender(out) as sink:
        for first in range(0, len(todo), batch_size):
            batch = todo[first : first + batch_size]
            t0 = time.perf_counter()
            results = generate_retrying(generator, [u.messages for u in batch], params)
            stats.generate_s += time.perf_counter() - t0
            batch_failures = 0
            for unit, completions in zip(batch, results, strict=True):
                stats.n_tokens += sum(c.n_tokens for c in completions)
                failed = [c for c in completions if not c.ok]
                if failed:
                    batch_failures += 1
                    stats.n_failed_units += 1
                    stats.n_failed_requests += len(failed)
                    stats.first_error = stats.first_error or first_failure(completions)
                    continue
                sink.write(to_row(unit, completions))
                stats.n_written += 1
            if progress is not None:
                progress(
                    Progress(
                        stats.n_skipped + first + len(batch), len(units), stats.n_tokens, stats.generate_s
                    )
                )
            if batch_failures == len(batch):
                break  # a whole batch failed after retries: the endpoint is down, so stop early
    stats.wall_s = time.perf_counter() - start
    return stats


RESUME_KEYS = ("model", "backend", "template_id", "sampling")


def expected_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The row fields a resumed tests file must share with the run that continues it."""
    return {k: meta[k] for k in RESUME_KEYS}


def write_tests(
    units: Sequence[Unit],
    choice: BackendChoice,
    params: SamplingParams,
    out: Path,
    *,
    template: str,
    meta: dict[str, Any],
    done: set[tuple[str, int | None, int | None]],
    progress: Callable[[Progress], None] | None = None,
) -> RunStats:
    """Append a tests row for every unit not in `done`; what `gen-tests` and `filter --model` share.

    The model is loaded only when a unit is missing, so resuming a finished file costs nothing;
    prompts that still fail after the backend's retries raise, naming `--resume`. A run that
    fails before its first row removes the `out` it created: an empty file would only make the
    plain rerun refuse to overwrite it.
    """
    created = not out.exists()
    try:
        generator = choice.open() if any(u.key not in done for u in units) else NoGenerator()
        try:
            stats = run_units(
                units,
                generator,
                params,
                out,
                to_row=lambda unit, completions: tests_row(
                    unit, completions, template=template, meta=meta, max_tests=None
                ),
                expected=expected_meta(meta),
                batch_size=choice.prompts_per_batch(params.n),
                progress=progress,
            )
        finally:
            generator.close()
        raise_if_failed(stats, out)
    except BaseException:
        io.remove_if_rowless(out, created=created)
        raise
    return stats


def raise_if_failed(stats: RunStats, out: Path) -> None:
    if stats.n_failed_units:
        raise ExternalError(
            f"{stats.n_failed_units} prompt(s) failed after retries (first error: {stats.first_error}); "
            f"{stats.n_written} written to {out}",
            "rerun the same command with --resume to complete it"
            if stats.n_written or stats.n_skipped
            else "rerun the same command (nothing was written)",
        )


def tests_row(
    unit: Unit, completions: list[Completion], *, template: str, meta: dict[str, Any], max_tests: int | None
) -> dict[str, Any]:
    """One output line: the parsed tests of all `n` responses merged (exact duplicates dropped),
    the raw responses, and per-response parse diagnostics."""
    from atest.core.checking import distinct_tests
    from atest.core.parsing import parse_tests

    tests: list[dict[str, Any]] = []
    diagnostics = []
    for c in completions:
        parsed = parse_tests(c.text, unit.task.kind, template=template, max_tests=max_tests)
        tests.extend(parsed.tests)
        diagnostics.append(
            {
                "n_tests": len(parsed.tests),
                "well_formed": parsed.well_formed,
                "dropped": [{"reason": r, "snippet": s} for r, s in parsed.dropped],
                "n_tokens": c.n_tokens,
                "finish_reason": c.finish_reason,
            }
        )
    row: dict[str, Any] = {"task_id": unit.task.task_id}
    if unit.buggy_index is not None:
        row["buggy_index"] = unit.buggy_index
        row["buggy_code"] = unit.task.buggy_code[unit.buggy_index]
    if unit.test_index is not None and unit.conditioned_on is not None:
        row["test_index"] = unit.test_index
        shown = unit.conditioned_on
        row["conditioned_on"] = {"model": shown.model, "index": shown.index, "code": shown.code}
    row["tests"] = distinct_tests(tests, by="test")
    row.update(meta)
    row["responses"] = [c.text for c in completions]
    row["diagnostics"] = diagnostics
    return row


def summarize_tests(out: Path, units: Sequence[Unit]) -> dict[str, Any]:
    """Totals over the whole output file (rows of earlier, resumed runs included)."""
    wanted = {u.key for u in units}
    rows = [r for r in read_jsonl_resumable(out) if row_key(r) in wanted]
    per_response = [d for r in rows for d in r.get("diagnostics", [])]
    return {
        "n_tasks": len({r["task_id"] for r in rows}),
        "n_rows": len(rows),
        "n_tests": sum(len(r["tests"]) for r in rows),
        "n_responses": len(per_response),
        "n_parse_failures": sum(1 for d in per_response if d["n_tests"] == 0),
        "n_malformed_responses": sum(1 for d in per_response if not d["well_formed"]),
        "tests_per_task": _per_task(rows),
    }


def _per_task(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["task_id"]] = counts.get(r["task_id"], 0) + len(r["tests"])
    return counts


class NoGenerator:
    """Stands in for a model when every unit is already written (a finished run resumed)."""

    def generate(self, prompts: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        raise AssertionError("nothing is left to generate")

    def close(self) -> None:
        pass


def hf_default_rows() -> int:
    """Rows the hf backend decodes at once by default, sized for the machine: 32 on a GPU; on
    CPU eight per core (at least 16). Wider batches pay on a CPU too (21 ATGEN prompts of 96
    tokens on 2 cores: 160 s at 4 rows, 138 s at 16, 114 s at 32, bench/generation.py), but the
    partial file should still fill within a minute or two of a long run's start."""
    if has_gpu():
        return 32
    return max(16, 8 * (os.cpu_count() or 1))


def default_backend(base_url: str | None = None) -> str:
    """The backend a generation command uses when none is named (`--backend auto`): openai when a
    server URL is given; vLLM on a GPU where it is installed; otherwise hf. On a CPU hf is the
    fastest here for a command's usual size: vLLM's CPU build needs a ~15 s engine start (in the
    command's process; 35-40 s in vLLM's own processes), and pays back only over a few thousand
    generated tokens (docs/generation.md)."""
    if base_url:
        return "openai"
    import importlib.util

    if has_gpu() and importlib.util.find_spec("vllm") is not None:
        return "vllm"
    return "hf"


@dataclass
class BackendChoice:
    """How the commands' backend flags map onto a generator and its batching."""

    backend: str
    model: str
    adapter: str | None = None
    batch_size: int | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    thinking: bool = False
    max_retries: int = 6
    threads: int | None = None  # hf's torch threads as asked (--threads); None: `hf_threads` chooses

    def check(self) -> None:
        from atest.core.generation import BACKENDS

        if self.backend not in BACKENDS:
            raise InputError(
                f"--backend {self.backend!r} is unknown", f"choose one of: {', '.join(BACKENDS)}"
            )
        if self.threads is not None and self.backend != "hf":
            raise InputError("--threads only applies to --backend hf", "drop --threads")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads {self.threads} must be at least 1")
        if self.base_url is not None and self.backend != "openai":
            raise InputError("--base-url only applies to --backend openai")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError(f"--batch-size {self.batch_size} must be at least 1")

    @property
    def prompts_per_call(self) -> int:
        """Prompts handed to the backend at once: also the most an interrupt can lose
        (for hf, rows: prompts times n, see `prompts_per_batch`)."""
        if self.batch_size:
            return self.batch_size
        if self.backend == "hf":
            return hf_default_rows()  # asks torch for a GPU: 4.5 s of imports a served run never needs
        return {"openai": 32, "vllm": 512}[self.backend]

    def prompts_per_batch(self, n: int) -> int:
        """Prompts generated, then appended to the output, together. hf decodes `prompts_per_call`
        rows at once and each prompt brings `n` rows, so a batch is what one decode holds: the
        partial file fills as each decode finishes, not only once every prompt is done."""
        if self.backend == "hf":
            return max(1, self.prompts_per_call // n)
        return self.prompts_per_call

    @cached_property
    def hf_threads(self) -> ThreadShare | None:
        """The in-process backend's torch threads, decided once: `--threads`; else a count the
        environment names (OMP_NUM_THREADS, which torch reads itself); else, on a CPU, the idle
        cores' share (`cpu.thread_share`: torch's one thread per core ran the tiny model 100 times
        slower beside a training run). None for the other backends and on a GPU."""
        if self.backend != "hf":
            return None
        if self.threads is not None:
            return ThreadShare(self.threads, "--threads")
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) >= 1:
            return ThreadShare(int(env), "OMP_NUM_THREADS")
        return None if has_gpu() else thread_share()

    def describe(self) -> str:
        """The backend as a command's summary names it, with hf's threads and why."""
        share = self.hf_threads
        if share is None:
            return self.backend
        return f"{self.backend}, {share.threads} thread(s): {share.reason}"

    def options(self) -> dict[str, Any]:
        if self.backend == "hf":
            share = self.hf_threads
            return {
                "batch_size": self.prompts_per_call,
                "thinking": self.thinking,
                "threads": share.threads if share else None,
            }
        if self.backend == "openai":
            opts: dict[str, Any] = {
                "api_key_env": self.api_key_env,
                "base_url": self.base_url,
                "max_retries": self.max_retries,
            }
            opts["concurrency"] = min(self.prompts_per_call, 32)
            # Only self-hosted servers take chat_template_kwargs; the hosted API rejects unknown fields.
            opts["thinking"] = self.thinking if self.base_url else None
            return opts
        return {"thinking": self.thinking}

    def open(self) -> Generator:
        from atest.core.generation import make_generator

        return make_generator(self.backend, self.model, adapter=self.adapter, **self.options())

    @property
    def model_id(self) -> str:
        return f"{self.model}+{self.adapter}" if self.adapter else self.model
