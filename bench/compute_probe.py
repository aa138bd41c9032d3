"""Does a model compute what a program prints? A candidate model against the embedded one.

Both studies of docs/reproduce.md end at the same bottleneck: the 135M model writes test inputs
that expose a bug, but seldom the output the program prints, so its tests are wrong. Before a
study is spent on another model, this measures that one ability directly: each stdio task's gold
program and each of its first gold inputs (`--tests-per-task`), after three worked examples,
greedy, and an exact match of the first output line. Both models see the same prompts (a completion prompt, so a base model
without a chat template is measured as fairly as an instruct one).

    .venv/bin/python bench/compute_probe.py --model path/to/model-or.gguf
    .venv/bin/python bench/compute_probe.py --model DIR --tasks study/data/train.jsonl  # not a held-out split

`--model` and `--baseline` take what `gen-tests --model` takes, or a `.gguf` file (de-quantized
to float32 first, as the embedded model is). Without `--tasks` it writes easy tasks with `atest
synth`. The last line printed is one JSON object: each model's accuracy with its 95% task-bootstrap
interval, the paired difference, and `ratio` (candidate / baseline accuracy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from atest.core.models import convert_gguf, resolve_model
from atest.core.stats import TaskValue, bootstrap_ci, estimate, paired_diff
from atest.core.tasks import Task, read_tasks

SHOTS = (
    ("x = int(input())\nprint(3 * x + 2)\n", "4", "14"),
    ("a, b = map(int, input().split())\nprint(max(a, b) - min(a, b))\n", "2 9", "7"),
    ("s = input()\nprint(s[::-1])\n", "abc", "cba"),
)


def block(code: str, given: str, printed: str | None = None) -> str:
    text = f"Program:\n{code}Input: {given}\nOutput:"
    return text if printed is None else f"{text} {printed}\n\n"


def probes(tasks: list[Task], per_task: int) -> list[tuple[str, str, str]]:
    """(task id, prompt, expected line) for the first gold tests of each stdio task whose input and
    output are one line each."""
    head = "".join(block(*shot) for shot in SHOTS)
    out = []
    for task in tasks:
        if task.kind != "stdio" or not task.gold_solutions:
            continue
        one_line = [
            t for t in task.gold_tests if "\n" not in t["input"].strip() and "\n" not in t["output"].strip()
        ]
        for test in one_line[:per_task]:
            prompt = head + block(task.gold_solutions[0], test["input"].strip())
            out.append((task.task_id, prompt, test["output"].strip()))
    return out


def load(name: str, workdir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name.endswith(".gguf"):
        folder = workdir / Path(name).stem
        convert_gguf(Path(name).resolve(), folder)
        name = str(folder)
    path = resolve_model(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), tokenizer


def score(name: str, items: list[tuple[str, str, str]], workdir: Path) -> tuple[dict[str, TaskValue], float]:
    """Per task: its probes answered exactly out of its probes (pooled over tasks, an interval
    resamples whole tasks); and the seconds it took."""
    import torch

    model, tokenizer = load(name, workdir)
    right: dict[str, list[int]] = {}
    start = time.perf_counter()
    for task_id, prompt, expected in items:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        text = (
            tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip().split("\n")[0].strip()
        )
        right.setdefault(task_id, []).append(int(text == expected))
    return {k: TaskValue(sum(v), len(v)) for k, v in right.items()}, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the candidate: a model name, folder or .gguf file")
    parser.add_argument("--baseline", default="smollm2-135m")
    parser.add_argument("--tasks", type=Path, help="a task file (default: `atest synth --per-family 2`)")
    parser.add_argument("--tests-per-task", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        tasks_file = args.tasks
        if tasks_file is None:
            tasks_file = workdir / "synth.jsonl"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "atest",
                    "synth",
                    "--per-family",
                    "2",
                    "--seed",
                    "0",
                    "--out",
                    str(tasks_file),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        items = probes(read_tasks(tasks_file)[0], args.tests_per_task)
        if not items:
            sys.exit(f"error: {tasks_file} has no stdio task with a one-line gold test")
        base, base_s = score(args.baseline, items, workdir)
        cand, cand_s = score(args.model, items, workdir)
    figures = {}
    for label, name, per_task, seconds in (
        ("baseline", args.baseline, base, base_s),
        ("model", args.model, cand, cand_s),
    ):
        accuracy, ci = estimate(per_task), bootstrap_ci(per_task)
        figures[label] = {"name": name, "accuracy": accuracy, "ci95": ci, "seconds": round(seconds, 1)}
        print(f"{label:8s} {name}: {accuracy:.3f} {ci} ({seconds:.0f} s)", file=sys.stderr)
    paired = paired_diff(cand, base)
    base_acc = figures["baseline"]["accuracy"]
    result = {
        "tasks": len(base),
        "probes": len(items),
        **figures,
        "diff": paired.diff,
        "diff_ci95": paired.ci95,
        "ratio": figures["model"]["accuracy"] / base_acc if base_acc else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
