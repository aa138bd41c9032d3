"""`atest filter`: pick one candidate solution per task by the tests it passes.

The tests come from a file (`--tests`) or are written first by a model (`--model`), as
in production where tasks have candidates but no gold tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from atest.commands import _options as opt
from atest.commands._common import check_outputs, console, emit_json, handle_errors, progress_bar
from atest.commands._evaluation import executor_with_progress, limits_from_options, print_warnings
from atest.core.errors import EXIT_THRESHOLD, InputError
from atest.core.io import write_jsonl_atomic
from atest.core.results import FilterResult

if TYPE_CHECKING:
    from atest.core.metrics.inputs import EvalInputs
    from atest.core.selection import TestGeneration

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Generate the tests with this model (smollm2-135m, tiny-random, a folder, a hub id or a served "
        "name) instead of reading --tests.",
    ),
]
BackendOpt = Annotated[
    str | None, typer.Option("--backend", help="With --model: hf (default), openai or vllm.")
]
PromptOpt = Annotated[
    str | None,
    typer.Option(
        "--prompt",
        help="With --model: utrl (default, many tests), cure (one test) or atgen (one test per prompt, "
        "each prompt showing a candidate: see --tests-per-task).",
    ),
]
TestsPerTaskOpt = Annotated[
    int | None,
    typer.Option(
        "--tests-per-task",
        min=1,
        help="With --prompt atgen: prompts per task (default 10, ATGEN's each_test_gen_num); the j-th shows "
        "candidate j mod C of the task's C candidates.",
    ),
]
NOpt = Annotated[int | None, typer.Option("--n", min=1, help="With --model: responses per task (default 1).")]
TemperatureOpt = Annotated[
    float | None, typer.Option("--temperature", min=0.0, help="With --model: 0 (default) is greedy.")
]
MaxTokensOpt = Annotated[
    int | None, typer.Option("--max-new-tokens", min=1, help="With --model: per response (default 512).")
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help="With --backend openai: the endpoint, e.g. http://host:8000/v1."),
]
KeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key-env", help="With --backend openai: variable holding the key (default OPENAI_API_KEY)."
    ),
]
TestsOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--tests-out",
        help="With --model: where the generated tests are kept and resumed from (default: beside --out, "
        "NAME.tests.jsonl).",
    ),
]


def register(app: typer.Typer) -> None:
    @app.command("filter", help="Select the best candidate per task by generated tests; gate on --min-pass.")
    @handle_errors
    def _cmd(
        tasks: opt.TasksOpt,
        out: Annotated[
            Path, typer.Option("--out", help="Where to write the selected solution per task (JSON lines).")
        ],
        tests: Annotated[
            str | None, typer.Option("--tests", help="Tests file from `atest gen-tests` (or pass --model).")
        ] = None,
        model: ModelOpt = None,
        backend: BackendOpt = None,
        prompt: PromptOpt = None,
        n: NOpt = None,
        temperature: TemperatureOpt = None,
        max_new_tokens: MaxTokensOpt = None,
        base_url: BaseUrlOpt = None,
        api_key_env: KeyEnvOpt = None,
        tests_out: TestsOutOpt = None,
        tests_per_task: TestsPerTaskOpt = None,
        solution_model: opt.ModelsOpt = None,
        min_pass: Annotated[
            float | None,
            typer.Option(
                "--min-pass",
                min=0.0,
                max=1.0,
                help="Exit 1 if some task's best candidate passes less than this fraction.",
            ),
        ] = None,
        workers: opt.WorkersOpt = None,
        cache_dir: opt.CacheOpt = None,
        cpu_seconds: opt.CpuOpt = None,
        memory_mb: opt.MemoryOpt = None,
        force: opt.ForceOpt = False,
        json_out: opt.JsonOpt = False,
    ) -> None:
        from atest.core.selection import below_threshold, select_solutions

        check_outputs(force=force, cache_dir=cache_dir, out=out)
        generation_flags = {
            "--backend": backend, "--prompt": prompt, "--n": n, "--temperature": temperature,
            "--max-new-tokens": max_new_tokens, "--base-url": base_url, "--api-key-env": api_key_env,
            "--tests-out": tests_out, "--tests-per-task": tests_per_task,
        }  # fmt: skip
        _check_source(tests, model, generation_flags)
        generated = None
        if tests is not None:
            inputs = _inputs_from_file(tasks, tests, solution_model)
        else:
            generation = _generation(
                model, backend, prompt, n, temperature, max_new_tokens, base_url, api_key_env, tests_per_task
            )
            inputs, generated = _inputs_from_model(
                tasks, solution_model, generation, tests_out, out, json_out
            )
        print_warnings(inputs.warnings)
        limits = limits_from_options(cpu_seconds, memory_mb)
        with executor_with_progress(workers, cache_dir, "running candidates", json_out) as (
            executor,
            progress,
        ):
            selections = select_solutions(
                executor, inputs.tasks, inputs.tests, inputs.models, limits=limits, progress=progress
            )
        write_jsonl_atomic(out, (s.to_dict() for s in selections))
        failing = below_threshold(selections, min_pass) if min_pass is not None else []
        summary = FilterResult.from_selections(selections, failing, inputs, out, min_pass, generated)
        if json_out:
            emit_json(summary)
        else:
            console.print(
                f"selected one solution for each of {summary.n_tasks} tasks -> {out} "
                f"(mean fraction of tests passed {summary.mean_score:.3f}; "
                f"{summary.n_decided_by_tie} picks among tied candidates)",
                highlight=False,
            )
            if min_pass is not None:
                console.print(f"{len(failing)} task(s) below --min-pass {min_pass}", highlight=False)
        if failing:
            raise typer.Exit(EXIT_THRESHOLD)


def _check_source(tests: str | None, model: str | None, generation_flags: dict[str, object]) -> None:
    """Tests come from exactly one place, and generation flags are refused where nothing is generated."""
    if (tests is None) == (model is None):
        raise InputError(
            "pass exactly one of --tests FILE and --model M",
            "--tests reads generated tests, --model generates them first",
        )
    given = [flag for flag, value in generation_flags.items() if value is not None]
    if tests is not None and given:
        raise InputError(
            f"{given[0]} only applies with --model", "drop it, or use --model instead of --tests"
        )


def _inputs_from_file(tasks: Path, tests: str, solution_model: list[str] | None) -> EvalInputs:
    from atest.core.metrics.inputs import load_eval_inputs

    return load_eval_inputs(tasks, tests, solution_model, need_gold_tests=False, every_model=False)


def _generation(
    model: str,
    backend: str | None,
    prompt: str | None,
    n: int | None,
    temperature: float | None,
    max_new_tokens: int | None,
    base_url: str | None,
    api_key_env: str | None,
    tests_per_task: int | None = None,
) -> TestGeneration:
    """The generation flags with their defaults (those of `atest gen-tests`), checked."""
    from atest.core import gentests
    from atest.core.generation import SamplingParams
    from atest.core.selection import TestGeneration

    choice = gentests.BackendChoice(
        backend or "hf", model, base_url=base_url, api_key_env=api_key_env or "OPENAI_API_KEY"
    )
    params = SamplingParams(
        temperature=0.0 if temperature is None else temperature,
        max_new_tokens=max_new_tokens or 512,
        n=n or 1,
        seed=0,
    )
    generation = TestGeneration(choice, params, prompt or "utrl", tests_per_task=tests_per_task)
    generation.check()
    if params.n > 1 and params.greedy:
        console.print("[yellow]warning:[/] --n > 1 with --temperature 0 repeats the same response")
    return generation


def _inputs_from_model(
    tasks: Path,
    solution_model: list[str] | None,
    generation: TestGeneration,
    tests_out: Path | None,
    out: Path,
    quiet: bool,
) -> tuple[EvalInputs, dict]:
    from atest.core.selection import default_tests_path, inputs_with_generated_tests

    path = tests_out if tests_out is not None else default_tests_path(out)
    if path.resolve() == out.resolve():
        raise InputError(f"--tests-out {path} is also --out", "give the tests their own file")
    console.print(
        f"filter: tests by {generation.choice.model_id} ({generation.choice.describe()}) -> {path}",
        highlight=False,
    )
    with progress_bar("generating tests", quiet) as bar:
        progress = None if bar is None else (lambda p: bar(p.units_done, p.units_total))
        inputs, generated = inputs_with_generated_tests(tasks, solution_model, generation, path, progress)
    console.print(
        f"{generated['n_tests']} tests for {generated['n_tasks']} tasks ({generated['n_written']} generated now, "
        f"{generated['n_skipped']} kept from {path}; {generated['n_parse_failures']} of "
        f"{generated['n_responses']} responses gave no test)",
        highlight=False,
    )
    return inputs, generated
