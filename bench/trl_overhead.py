"""What atest costs per GRPO step against a bare TRL script: time per optimizer step and peak memory.

Up to four runs of the same GRPO training, one after the other, each in a child process of its own
(`--sides`; all four by default):

* `atest`: `atest train --mode atgen-static` as a library call (`plan_run` / `execute`), with
  its real reward (the ATGEN reward, programs run by the sandbox's worker processes), the
  adversarial state, metrics.jsonl, the run folder, and the export of the trained model;
* `plain`: a plain TRL script: the model, a LoRA config, a `GRPOConfig` with the same values,
  a dataset of the same prompts, and a reward function that returns precomputed numbers;
* `fast`: `atest` with its fast CPU path (atest/core/training/fastpath.py) deciding as it does for
  any run (`threads` left unset, so the path sets them from the cores the process owns);
* `defaults`: the plain TRL script with TRL's defaults: only what defines the work (prompts,
  group size, micro-batch and accumulation, completion length, steps, learning rate, seed, LoRA)
  is set; everything else, torch's threads included, is what TRL and torch choose by themselves
  (on TRL 1.16: bf16 mixed precision and gradient checkpointing).

`atest` against `plain` is what atest costs over TRL at equal settings (time_ratio, rss_ratio);
`fast` against `defaults` is what a CPU user gains over the TRL script they would write
(fast_time_ratio, fast_rss_ratio; target: at most 0.5 and 1.15).

Both train the embedded SmolLM2-135M on the same prompts (the ATGEN prompt of the bench's easy
tasks with their first bug), with the same group size, completion length, micro-batch,
optimizer, learning rate, LoRA, seed and number of steps, on one torch thread. Every completion
is forced to the full `--max-tokens` (`min_new_tokens`), so the two runs do the same amount of
generation and optimisation whatever the rewards: what differs is what atest adds.

Time per step is the median of the intervals between consecutive logged steps (steps 2..N; the
first step pays for allocator warm-up and lazy imports). Peak memory is the peak, sampled every
50 ms by this parent, of the resident memory summed over the child's whole process tree (the
sandbox's worker processes are atest's cost and are counted); `maxrss_self_mb` is the child's
own `ru_maxrss`. Each child also samples its own tree and reports the peak of its child
processes alone (the sandbox's workers; the peak falls on a worker's start, when the fork
still shows the parent's pages until it execs), the peak during each part of a step (generation,
reward, optimisation, and the optimizer step / logging / callbacks between them), during setup
and during the export, and the bytes of its tensors (weights, trainable weights, optimizer
state). RSS does not fall when tensors are freed (the allocator keeps the pages), so a part's
peak includes what earlier parts left resident.

    nice -n 10 .venv/bin/python bench/trl_overhead.py            # 4 steps each, 2 x 2 completions of 16 tokens
    nice -n 10 .venv/bin/python bench/trl_overhead.py --sides fast,defaults --parallel   # at once

The last line is one JSON object: time_ratio and rss_ratio (atest / plain), fast_time_ratio and
fast_rss_ratio (fast / defaults), for the sides that ran, the load average while they ran, and
each side's figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


# -- memory of a process tree --------------------------------------------------------------


def tree_pids(root: int) -> list[int]:
    """`root` and every descendant still alive (read from /proc)."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return pids


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> int:
    return sum(rss_bytes(pid) for pid in tree_pids(root))


class TreeSampler:
    """Samples a process tree's summed RSS in a thread; keeps the peak overall and per label."""

    def __init__(self, root: int, interval: float = 0.05):
        self.root = root
        self.interval = interval
        self.label = "setup"
        self.peak = 0
        self.peak_descendants = 0  # the child processes alone (atest: the sandbox's workers)
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        own = rss_bytes(self.root)
        rss = own + sum(rss_bytes(pid) for pid in tree_pids(self.root)[1:])
        self.peak = max(self.peak, rss)
        self.peak_descendants = max(self.peak_descendants, rss - own)
        self.peaks[self.label] = max(self.peaks.get(self.label, 0), rss)

    @contextmanager
    def labelled(self, label: str) -> Iterator[None]:
        previous, self.label = self.label, label
        try:
            yield
        finally:
            self.sample()
            self.label = previous


# -- the two children ---------------------------------------------------------------------


def label_trainer_parts(sampler: TreeSampler) -> None:
    """Label generation, reward and optimisation on TRL's GRPOTrainer (atest's subclass inherits it)."""
    from trl import GRPOTrainer

    def wrap(name: str, label: str) -> None:
        original = getattr(GRPOTrainer, name)

        def wrapped(self: Any, *args: Any, **kw: Any) -> Any:
            with sampler.labelled(label):
                return original(self, *args, **kw)

        setattr(GRPOTrainer, name, wrapped)

    wrap("train", "optimizer step, logging, callbacks")  # what runs between the parts below
    wrap("training_step", "optimisation")  # generation and reward inside it get their own label
    wrap("_generate", "generation")
    wrap("_calculate_rewards", "reward")


def tensor_bytes(trainer: Any) -> dict[str, float]:
    params = list(trainer.model.parameters())
    state = trainer.optimizer.state if trainer.optimizer is not None else {}
    optimizer = sum(
        t.numel() * t.element_size() for s in state.values() for t in s.values() if hasattr(t, "numel")
    )
    return {
        "weights_mb": sum(p.numel() * p.element_size() for p in params) / MB,
        "trainable_mb": sum(p.numel() * p.element_size() for p in params if p.requires_grad) / MB,
        "optimizer_state_mb": optimizer / MB,
    }


def capture_tensor_bytes(into: dict[str, Any]) -> None:
    """Record the trainer's tensor sizes when its training ends (weights, LoRA, optimizer state)."""
    from trl import GRPOTrainer

    original = GRPOTrainer.train

    def train(self: Any, *args: Any, **kw: Any) -> Any:
        out = original(self, *args, **kw)
        into.update(tensor_bytes(self))
        return out

    GRPOTrainer.train = train


def run_atest(spec: dict[str, Any], sampler: TreeSampler, on_step: Callable[[], None]) -> dict[str, Any]:
    from atest.core.training.phases import atgen_loop
    from atest.core.training.runner import execute, plan_run

    extra: dict[str, Any] = {}
    capture_tensor_bytes(extra)
    export = atgen_loop.export_role

    def labelled_export(*args: Any, **kw: Any) -> Any:
        with sampler.labelled("export"):
            return export(*args, **kw)

    atgen_loop.export_role = labelled_export
    components: list[dict[str, float]] = []

    def on_metrics(row: dict[str, Any]) -> None:
        on_step()
        components.append({k: v for k, v in row.items() if k.startswith("atgen/")})

    plan = plan_run(out=spec["out"], mode="atgen-static", preset="cpu-smoke", overrides=spec["overrides"])
    summary = execute(
        plan, on_metrics=on_metrics, on_event=lambda text: print(f"[atest] {text}", file=sys.stderr)
    )
    import torch

    extra["fast"] = summary.fast
    extra["torch_threads"] = torch.get_num_threads()
    extra["format_mean"] = statistics.fmean(c.get("atgen/format", 0.0) for c in components)
    extra["accuracy_rate_mean"] = statistics.fmean(c.get("atgen/accuracy_rate", 0.0) for c in components)
    return extra


def run_plain(spec: dict[str, Any], sampler: TreeSampler, on_step: Callable[[], None]) -> dict[str, Any]:
    """The bare TRL script: what a user writes without atest, with a reward that costs nothing."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    extra: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    capture_tensor_bytes(extra)
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
        extra["torch_threads"] = spec["threads"]
    rewards = iter(spec["rewards"])

    def precomputed(completions: list, **kw: Any) -> list[float]:
        return next(rewards)[: len(completions)]

    class StepClock(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                on_step()

    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    dataset = Dataset.from_list([{"prompt": p} for p in spec["prompts"]])
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=precomputed,
        args=(
            config := GRPOConfig(
                output_dir=spec["out"],
                use_cpu=True,
                save_strategy="no",
                logging_steps=1,
                report_to="none",
                disable_tqdm=True,
                **spec["grpo"],
            )
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(task_type="CAUSAL_LM", **spec["lora"]),
        callbacks=[StepClock()],
    )
    extra["bf16"], extra["gradient_checkpointing"] = config.bf16, config.gradient_checkpointing
    trainer.train()
    with sampler.labelled("export"):
        trainer.save_model(spec["out"] + "/model")
    return extra


def child(side: str, spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    stamps: list[float] = []
    with TreeSampler(os.getpid()) as sampler:
        label_trainer_parts(sampler)
        on_step = lambda: stamps.append(time.perf_counter())  # noqa: E731
        extra = (run_atest if side in ("atest", "fast") else run_plain)(spec, sampler, on_step)
    intervals = [b - a for a, b in itertools.pairwise(stamps)]
    result = {
        "maxrss_self_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_child_processes_mb": round(sampler.peak_descendants / MB),
        "steps": len(stamps),
        "step_seconds": intervals,
        "peak_by_part_mb": {k: round(v / MB) for k, v in sampler.peaks.items()},
        **extra,
    }
    print(json.dumps(result))


# -- the parent ---------------------------------------------------------------------------


def bench_tasks(n: int) -> list[Any]:
    """The n easiest tasks of the cpu-smoke set, in bench/learning.py's order (marked easy, shortest first)."""
    from atest.core.tasks import read_tasks
    from atest.core.training.config import config_dir

    tasks, _ = read_tasks(config_dir() / "cpu-smoke" / "tasks.jsonl")
    usable = [t for t in tasks if t.gold_solutions and t.buggy_code]
    usable.sort(key=lambda t: ((t.difficulty or "").lower() != "easy", len(t.question)))
    return usable[:n]


def atest_overrides(args: argparse.Namespace, task_file: Path) -> list[str]:
    return [
        f"tasks={task_file}",
        f"max_tasks={args.prompts}",
        f"test_model.path={args.model}",
        f"atgen.max_steps={args.steps}",
        f"grpo.learning_rate={args.lr}",
        f"grpo.num_generations={args.group}",
        f"grpo.prompts_per_step={args.prompts}",
        f"grpo.per_device_train_batch_size={args.micro_batch}",
        f"grpo.max_completion_length={args.max_tokens}",
        "grpo.save_steps=100000",  # the plain script saves no checkpoint either
        "test_model.lora.enabled=true",
        f"test_model.lora.r={args.lora_rank}",
        f"test_model.lora.alpha={2 * args.lora_rank}",
        "grpo.beta=0",
        f"seed={args.seed}",
        f"grpo.extra={{generation_kwargs: {{min_new_tokens: {args.max_tokens}}}}}",
    ]


def side_overrides(side: str, args: argparse.Namespace, task_file: Path) -> list[str]:
    """`atest`: the fast path off (the settings the plain script copies; one thread, as the preset);
    `fast`: the fast path deciding each part, threads left to it."""
    common = atest_overrides(args, task_file)
    if side == "fast":
        return [*common, "threads=null"]
    return [
        *common, "fast.vllm=false", "fast.bf16=false", "fast.prefix_sharing=false", "fast.threads=false",
        "fast.micro_batch=false",
    ]  # fmt: skip


# atest's GRPO settings the plain script sets its own way (logging, no checkpoints) or that do
# not apply on CPU (vLLM).
NOT_FOR_PLAIN = {
    "report_to", "save_steps", "logging_steps", "use_vllm", "vllm_mode", "vllm_server_base_url",
    "vllm_gpu_memory_utilization", "vllm_tensor_parallel_size",
}  # fmt: skip


def plain_spec(args: argparse.Namespace, task_file: Path, out: Path) -> dict[str, Any]:
    """The plain script's inputs, read off atest's resolved config so that both train alike."""
    from trl import GRPOConfig

    from atest.core.prompts import build_messages
    from atest.core.training.runner import plan_run
    from atest.core.training.trainer.compat import checkpointing_field
    from atest.core.training.trainer.grpo import PASSTHROUGH, gradient_accumulation

    plan = plan_run(
        out=out / "unused",
        mode="atgen-static",
        preset="cpu-smoke",
        overrides=side_overrides("atest", args, task_file),
    )
    cfg = plan.config
    grpo = {name: getattr(cfg.grpo, name) for name in PASSTHROUGH if name not in NOT_FOR_PLAIN}
    grpo[checkpointing_field(GRPOConfig)] = cfg.grpo.gradient_checkpointing
    grpo.update(
        max_steps=args.steps,
        seed=cfg.seed,
        gradient_accumulation_steps=gradient_accumulation(cfg.grpo, 1),
        **cfg.grpo.extra,
    )
    lora = cfg.test_model.lora
    rng = random.Random(args.seed)
    per_step = args.prompts * args.group
    return {
        "model": plan.base_dirs["test"],
        "prompts": [build_messages("atgen", t, buggy_code=t.buggy_code[0]) for t in plan.tasks],
        "grpo": grpo,
        "lora": {
            "r": lora.r,
            "lora_alpha": lora.alpha,
            "lora_dropout": lora.dropout,
            "target_modules": lora.target_modules,
        },
        "rewards": [
            [rng.choice([-1.5, -0.5, 0.5, 1.0, 2.0]) for _ in range(per_step)] for _ in range(args.steps)
        ],
        "out": str(out / "plain"),
        "threads": cfg.threads,  # the preset's one thread, as the atest side
    }


# What defines the work of a run; the `defaults` side sets only these and leaves the rest to TRL.
WORK_FIELDS = (
    "learning_rate", "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
    "max_completion_length", "max_steps", "seed", "beta", "generation_kwargs",
)  # fmt: skip


def defaults_spec(plain: dict[str, Any], out: Path) -> dict[str, Any]:
    """The plain script as a user writes it with TRL's defaults (same prompts, rewards, LoRA)."""
    grpo = {k: v for k, v in plain["grpo"].items() if k in WORK_FIELDS}
    return {**plain, "grpo": grpo, "out": str(out / "defaults"), "threads": None}


def run_child(side: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    spec_path = work / f"{side}.json"
    spec_path.write_text(json.dumps(spec))
    print(f"[{side}] starting", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", side, "--spec", str(spec_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    with TreeSampler(proc.pid) as sampler:
        out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"error: the {side} run failed (exit {proc.returncode}); its log is above")
    result = json.loads(out.strip().splitlines()[-1])
    print(f"[{side}] done: {json.dumps(result)}", file=sys.stderr, flush=True)
    steps = result.pop("step_seconds")  # steps 2..N: each the interval since the previous step ended
    return {
        "seconds_per_step": statistics.median(steps),
        "step_seconds": [round(s, 2) for s in steps],
        "peak_tree_rss_mb": round(sampler.peak / MB),
        "wall_seconds": round(time.perf_counter() - start, 1),
        **result,
    }


SIDES = ("atest", "plain", "fast", "defaults")


class LoadSampler:
    """The 1-minute load average every 10 s while the sides run (the machine is shared)."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.values.append(os.getloadavg()[0])
            self._stop.wait(10)


def ratio(results: dict[str, dict[str, Any]], a: str, b: str, key: str) -> float | None:
    if a not in results or b not in results:
        return None
    return round(results[a][key] / results[b][key], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=2, help="prompts (tasks) per step")
    parser.add_argument("--group", type=int, default=2, help="completions per prompt")
    parser.add_argument("--micro-batch", type=int, default=2, help="per_device_train_batch_size")
    parser.add_argument(
        "--max-tokens", type=int, default=16, help="completion length (every completion has it)"
    )
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sides",
        default=",".join(SIDES),
        help="which runs, comma-separated, in this order: " + ", ".join(SIDES),
    )
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="run the sides at the same time (same load on a shared machine; they compete for its cores)",
    )
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.spec)
        return
    if args.steps < 3:
        raise SystemExit("error: --steps must be at least 3 (the first step is left out of the median)")
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = sorted(set(sides) - set(SIDES))
    if unknown or not sides:
        raise SystemExit(f"error: --sides {args.sides}: choose among {', '.join(SIDES)}")
    from atest.core.tasks import write_tasks

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="atest-trl-overhead-") as tmp:
        work = Path(tmp)
        task_file = work / "tasks.jsonl"
        write_tasks(task_file, bench_tasks(args.prompts))
        plain = plain_spec(args, task_file, work)
        specs = {
            "atest": {"out": str(work / "atest"), "overrides": side_overrides("atest", args, task_file)},
            "plain": plain,
            "fast": {"out": str(work / "fast"), "overrides": side_overrides("fast", args, task_file)},
            "defaults": defaults_spec(plain, work),
        }
        with LoadSampler() as load:
            if args.parallel:  # at once, under the same load (each side's tree sampled on its own)
                with concurrent.futures.ThreadPoolExecutor(len(sides)) as pool:
                    futures = {side: pool.submit(run_child, side, specs[side], work) for side in sides}
                    results = {side: futures[side].result() for side in sides}
            else:
                results = {side: run_child(side, specs[side], work) for side in sides}
    result: dict[str, Any] = {
        "time_ratio": ratio(results, "atest", "plain", "seconds_per_step"),
        "rss_ratio": ratio(results, "atest", "plain", "peak_tree_rss_mb"),
        "fast_time_ratio": ratio(results, "fast", "defaults", "seconds_per_step"),
        "fast_rss_ratio": ratio(results, "fast", "defaults", "peak_tree_rss_mb"),
        **{f"{side}_seconds_per_step": round(r["seconds_per_step"], 2) for side, r in results.items()},
        **{f"{side}_peak_rss_mb": r["peak_tree_rss_mb"] for side, r in results.items()},
        "load_average": {
            "min": min(load.values, default=0.0),
            "median": statistics.median(load.values) if load.values else 0.0,
            "max": max(load.values, default=0.0),
        },
        "config": {
            k: getattr(args, k)
            for k in (
                "model",
                "steps",
                "prompts",
                "group",
                "micro_batch",
                "max_tokens",
                "lr",
                "lora_rank",
                "seed",
            )
        },
        **results,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
