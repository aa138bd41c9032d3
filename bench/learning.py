"""Does the loop learn? GRPO on the embedded default model, on easy tasks, on CPU.

Trains the test generator of `--mode atgen-static` (default) or `--mode utrl` on a handful of
easy tasks (default: `atest/configs/cpu-smoke/tasks.jsonl`, eight stdio problems with hand-written
bugs) and prints the mean reward and its components per step.

SmolLM2-135M-Instruct as shipped never writes a test in the papers' formats (0 parsed tests
in 32 samples per template, measured): every reward is the same constant, every GRPO group
has zero variance, and nothing can be learnt. So by default the bench first gives the model
a short supervised warm-start (`--warm-start-steps`) on a few format examples written for
*other* problems (`WARM_START` below: none of the training tasks, so no answer leaks), the
way an instruct model already knows its output format. The warm-start is kept short on
purpose: the model follows the format only part of the time, and GRPO must do the rest
(format, correct outputs, outputs that expose the bug). `--warm-start-steps 0` skips it.
`--baseline` runs the identical configuration with a learning rate that leaves the weights
unchanged (same sampling, rewards, sandbox and task order), for comparison; `--baseline-only`
runs just that frozen policy, so each run fits the 20-minute budget on its own.

The defaults are the measured best on a 2-core CPU within 20 minutes (docs/training.md):
the two easiest tasks, both in every step (2 prompts x 4 completions of at most 64 tokens),
20 GRPO steps, LoRA r=16 at lr 3e-4. Every step sees the same tasks on purpose: with one task
per step drawn from eight, the reward of a step mostly says which task came up, and a frozen
policy "rose" as much over 20 steps as a trained one (measured). The learning rate is high for
RL (a 135M model and 20 steps leave no room for the papers' 1e-6) but not so high that the
whole gain lands in the first steps (at 1e-3 it did, inside the first fifth).

    .venv/bin/python bench/learning.py                     # atgen-static, smollm2-135m, 20 steps
    .venv/bin/python bench/learning.py --baseline-only     # the same, frozen policy
    .venv/bin/python bench/learning.py --mode utrl --steps 12
    .venv/bin/python bench/learning.py --model Qwen/Qwen2.5-0.5B-Instruct --warm-start-steps 0 --gpu

Its last line is one JSON object: reward_first / reward_last (means over the first and last
fifth of the steps), noise (step-to-step standard deviation: std of successive differences
/ sqrt 2; null below 3 steps), the same three figures for the format component (format_first, format_last,
format_noise), the baseline's figures when run, the time per step and the wall time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

from atest.core.tasks import Task, read_tasks, write_tasks
from atest.core.training.config import config_dir
from atest.core.training.runner import execute, plan_run

# A learning rate the config accepts but which leaves the weights unchanged in float32.
FROZEN_LR = 1e-30

# Format examples for the warm-start: (problem, buggy code, reasoning, stdin, stdout). Problems
# deliberately absent from the training tasks.
WARM_START = [
    (
        "Read two integers a and b on one line and print a * b.",
        "a, b = map(int, input().split())\nprint(a * abs(b))\n",
        "The bug drops the sign of b, so a negative b exposes it: 2 * -3 is -6.",
        "2 -3",
        "-6",
    ),
    (
        "Read a word and print its length.",
        "s = input().strip()\nprint(len(s) - 1 if len(s) > 4 else len(s))\n",
        "Words longer than four letters lose one: python has 6 letters.",
        "python",
        "6",
    ),
    (
        "Read an integer n and print the sum 1 + 2 + ... + n.",
        "n = int(input())\nprint(sum(range(n)))\n",
        "range(n) stops before n, so for 4 the code prints 6 instead of 10.",
        "4",
        "10",
    ),
    (
        "Read an integer n and print its last digit.",
        "n = int(input())\nprint(n % 10 if n > 9 else 0)\n",
        "One-digit numbers print 0 instead of themselves: 7 must print 7.",
        "7",
        "7",
    ),
    (
        "Read n, then n integers on the next line, and print how many of them are negative.",
        "n = int(input())\nxs = list(map(int, input().split()))\nprint(sum(x <= 0 for x in xs))\n",
        "Zero is counted as negative: for 0 -1 5 the answer is 1, the code says 2.",
        "3\n0 -1 5",
        "1",
    ),
    (
        "Read a line of words and print the number of words.",
        "print(len(input().split(' ')))\n",
        "Splitting on one space counts empty words; with two spaces between words it overcounts.",
        "hello  world",
        "2",
    ),
]


def easy_tasks(path: Path, n: int, mode: str) -> list[Task]:
    """The n easiest tasks: marked easy first, then the shortest statements (a 135M model's best chance).

    For ATGEN, tasks without buggy code get one from a mutant of the gold solution that the
    gold tests kill (`atest.core.mutation`), as `atest prepare --mutants 1` would.
    """
    tasks, _ = read_tasks(path)
    usable = [t for t in tasks if t.gold_solutions and t.gold_tests]
    usable.sort(key=lambda t: ((t.difficulty or "").lower() != "easy", len(t.question)))
    if mode == "utrl":
        return usable[:n]
    need = [t for t in usable[: 2 * n] if not t.buggy_code]
    if need:
        from atest.core.mutation.pools import add_mutants
        from atest.core.sandbox import get_executor

        with get_executor() as executor:
            filled = {t.task_id: t for t in add_mutants(need, executor, k=1, pool="buggy").tasks}
        usable = [filled.get(t.task_id, t) for t in usable]
    return [t for t in usable if t.buggy_code][:n]


def warm_start(model: str, out: Path, mode: str, steps: int, lr: float, seed: int) -> Path:
    """Supervised steps (TRL SFT, loss on the answer only) on the format examples; saved to `out`."""
    from atest.core.models import resolve_model
    from atest.core.prompts import build_messages, render_test
    from atest.core.training.warmup import WarmupOptions, run_warmup

    template = "utrl-test" if mode == "utrl" else "atgen"
    examples = []
    for i, (question, bug, why, stdin, stdout) in enumerate(WARM_START):
        task = Task(f"warm-{i}", question, "stdio", [], [])
        test = render_test({"input": stdin, "output": stdout}, "stdio")
        examples.append(
            {
                "prompt": build_messages(template, task, buggy_code=bug if template == "atgen" else None),
                "completion": [{"role": "assistant", "content": f"<reasoning>{why}</reasoning>\n{test}"}],
            }
        )
    options = WarmupOptions(template=template, steps=steps, learning_rate=lr, batch_size=1, seed=seed)
    summary = run_warmup(resolve_model(model), examples, out, options)
    print(
        f"[warm-start] {steps} steps, loss {summary.loss_first:.3f} -> {summary.loss_last:.3f}",
        file=sys.stderr,
    )
    return out


def overrides_for(args: argparse.Namespace, task_file: Path, lr: float, test_model: str) -> list[str]:
    steps_key = "utrl.test_steps" if args.mode == "utrl" else "atgen.max_steps"
    out = [
        f"tasks={task_file}",
        f"max_tasks={args.n_tasks}",
        f"test_model.path={test_model}",
        f"{steps_key}={args.steps}",
        f"grpo.learning_rate={lr}",
        f"grpo.num_generations={args.group}",
        f"grpo.prompts_per_step={args.prompts}",
        f"grpo.per_device_train_batch_size={args.group}",
        f"grpo.max_completion_length={args.max_tokens}",
        "grpo.save_steps=1000",
        # On CPU the optimisation (forward and backward over ~400-token sequences) is most of a
        # step: a LoRA adapter and no KL reference pass halve it (measured: full fine-tuning with
        # beta 0.001 and 16 completions took 250 s of a 300 s step on the shared 2-core machine).
        "test_model.lora.enabled=true",
        f"test_model.lora.r={args.lora_rank}",
        f"test_model.lora.alpha={2 * args.lora_rank}",
        "grpo.beta=0",
        f"seed={args.seed}",
    ]
    if args.mode == "utrl":
        out += [
            f"code_model.path={args.model}",
            "utrl.iterations=1",
            "utrl.code_steps=1",
            f"utrl.opponents.max_new_tokens={args.max_tokens}",
            f"utrl.gen_tests.max_new_tokens={args.max_tokens}",
        ]
    return out + list(args.set or [])


def run_once(
    args: argparse.Namespace, task_file: Path, lr: float, label: str, out_root: Path, test_model: str
) -> list[dict]:
    phase = "iter1/test_train" if args.mode == "utrl" else "atgen/train"
    rows: list[dict] = []

    def on_metrics(row: dict) -> None:
        if row["phase"] != phase:
            return
        rows.append(row)
        parts = ", ".join(
            f"{k.split('/', 1)[1]} {v:.3f}"
            for k, v in sorted(row.items())
            if k.startswith(("utrl_test/", "atgen/")) and isinstance(v, float)
        )
        timing = " ".join(f"{k} {row.get(f'time/{k}', 0.0):.0f}s" for k in ("generation", "reward", "step"))
        print(
            f"[{label}] step {row['step']:3d} reward {row['reward']:+.4f} ({parts}) "
            f"zero-std {row.get('frac_reward_zero_std', 0.0):.2f} | {timing}",
            flush=True,
        )

    plan = plan_run(
        out=out_root / label,
        mode=args.mode,
        preset="cpu-smoke" if args.cpu else None,
        overrides=overrides_for(args, task_file, lr, test_model),
    )
    execute(plan, on_metrics=on_metrics, on_event=lambda text: print(f"[{label}] {text}", file=sys.stderr))
    return rows


def figures(rewards: list[float]) -> dict[str, float | None]:
    fifth = max(1, len(rewards) // 5)
    diffs = [b - a for a, b in itertools.pairwise(rewards)]
    # None (JSON null, not NaN) when a run is too short to have a noise figure
    noise = statistics.stdev(diffs) / math.sqrt(2) if len(diffs) >= 2 else None
    return {
        "reward_first": statistics.fmean(rewards[:fifth]),
        "reward_last": statistics.fmean(rewards[-fifth:]),
        "noise": noise,
    }


def summary(rows: list[dict], mode: str) -> dict[str, float | None]:
    """The reward's figures, its increase, and the same for the format component (the one a
    warm-started small model improves first)."""
    out = figures([r["reward"] for r in rows])
    out["increase"] = out["reward_last"] - out["reward_first"]
    key = "utrl_test/format" if mode == "utrl" else "atgen/format"
    fmt = figures([r[key] for r in rows if key in r])
    out.update({f"format_{name.removeprefix('reward_')}": value for name, value in fmt.items()})
    out["format_increase"] = out["format_last"] - out["format_first"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["atgen-static", "utrl"], default="atgen-static")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--tasks", type=Path, default=None, help="task file (default: atest/configs/cpu-smoke/tasks.jsonl)"
    )
    parser.add_argument("--n-tasks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--group", type=int, default=4, help="completions per prompt (GRPO group)")
    parser.add_argument("--prompts", type=int, default=2, help="prompts per step")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-start-steps", type=int, default=12, help="format warm-start steps (0: none)")
    parser.add_argument("--warm-start-lr", type=float, default=5e-5)
    frozen = parser.add_mutually_exclusive_group()
    frozen.add_argument("--baseline", action="store_true", help="also run a frozen policy (doubles the time)")
    frozen.add_argument(
        "--baseline-only", action="store_true", help="run only the frozen policy (a run of its own length)"
    )
    parser.add_argument(
        "--gpu", dest="cpu", action="store_false", help="paper config, not the cpu-smoke preset"
    )
    parser.add_argument("--set", action="append", help="extra config override KEY=VALUE")
    args = parser.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if args.cpu:
        import torch

        torch.set_num_threads(1)  # as the cpu-smoke preset: spinning threads only slow a shared CPU
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="atest-learning-") as tmp:
        tmp_path = Path(tmp)
        task_file = tmp_path / "tasks.jsonl"
        tasks = easy_tasks(args.tasks or config_dir() / "cpu-smoke" / "tasks.jsonl", args.n_tasks, args.mode)
        write_tasks(task_file, tasks)
        print(f"{args.mode} on {len(tasks)} tasks: {', '.join(t.task_id for t in tasks)}", flush=True)
        test_model = args.model
        if args.warm_start_steps > 0:
            test_model = str(
                warm_start(
                    args.model,
                    tmp_path / "warm-start",
                    args.mode,
                    args.warm_start_steps,
                    args.warm_start_lr,
                    args.seed,
                )
            )
        runs = {}
        if not args.baseline_only:
            runs["trained"] = run_once(args, task_file, args.lr, "trained", tmp_path, test_model)
        if args.baseline or args.baseline_only:
            runs["frozen"] = run_once(args, task_file, FROZEN_LR, "frozen", tmp_path, test_model)
    main_label = "frozen" if args.baseline_only else "trained"
    rows = runs[main_label]
    result = {
        "mode": args.mode,
        "model": args.model,
        "policy": main_label,
        "warm_start_steps": args.warm_start_steps,
        "steps": len(rows),
        **summary(rows, args.mode),
    }
    if args.baseline:
        result.update({f"baseline_{k}": v for k, v in summary(runs["frozen"], args.mode).items()})
    per_step = [r.get("time/step", 0.0) for r in rows]
    reward_share = [r.get("time/reward_fraction", 0.0) for r in rows]
    result["seconds_per_step"] = statistics.fmean(per_step) if per_step else None
    result["reward_fraction_of_step"] = statistics.fmean(reward_share) if reward_share else None
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, allow_nan=False))


if __name__ == "__main__":
    main()
