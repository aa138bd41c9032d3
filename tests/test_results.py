"""Typed `--json` results: every command's output matches the schema `atest schema` prints.

The commands run as a script runs them (a child process, `--json`) on the hand-built
fixture of tests/evalcases.py and the bundled sample; each stdout object is validated
against its command's JSON Schema (jsonschema) and its model, so a key a command renames,
drops or adds fails here. docs/results.md is generated from the same models.
"""

from __future__ import annotations

import json
from pathlib import Path

import evalcases
import jsonschema  # the dev extra installs it: these checks never skip
import pytest
from atest_cli import run_cli

from atest.core import results

ROOT = Path(__file__).resolve().parents[1]
CPU = ["--cpu-seconds", evalcases.CPU]


def validate(command: str, data: dict) -> results.Result:
    """`data` against the command's JSON Schema and its model (either would catch a drift)."""
    jsonschema.validate(data, results.json_schema(command), cls=jsonschema.Draft202012Validator)
    model = results.parse(command, data)
    assert model.dump() == data  # the model gives back exactly what the command printed
    return model


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    evalcases.write_case(root)
    evalcases.write_jsonl(root / "atgen.jsonl", evalcases.ATGEN_ROWS)
    evalcases.write_jsonl(root / "responses.jsonl", [{"task_id": "A", "response": "no test here"}])
    return root


def _argv(case: Path, tmp: Path) -> dict[str, tuple[str, list[str]]]:
    tasks, tests = str(case / "tasks.jsonl"), str(case / "tests.jsonl")
    evaluation = ["--tasks", tasks, "--tests", tests, *CPU]
    return {
        "prepare": ("prepare", ["prepare", "--source", "sample", "--limit", "2"]),
        "prepare-mutants": (
            "prepare",
            [
                "prepare",
                "--source",
                "sample",
                "--limit",
                "2",
                "--verify",
                "--mutants",
                "2",
                *CPU,
                "--mutants-into",
                "candidates",
                "--out",
                str(tmp / "mutated.jsonl"),
            ],
        ),
        "bon": ("bon", ["bon", *evaluation, "--ns", "1,2"]),
        "bon-paper": ("bon", ["bon", *evaluation, "--paper", "utrl"]),
        "fidelity": ("fidelity", ["fidelity", *evaluation]),
        "fidelity-paper": ("fidelity", ["fidelity", *evaluation, "--paper", "utrl"]),
        "attack-eval": (
            "attack-eval",
            ["attack-eval", "--tasks", tasks, "--tests", str(case / "atgen.jsonl"), *CPU],
        ),
        "mutation-score": ("mutation-score", ["mutation-score", *evaluation, "--k", "3", "--probes", "2"]),
        "filter": ("filter", ["filter", *evaluation, "--out", str(tmp / "selected.jsonl")]),
        "example-tests": (
            "example-tests",
            ["example-tests", "--tasks", tasks, "--out", str(tmp / "ex.jsonl")],
        ),
        "reward": (
            "reward",
            [
                "reward",
                "--kind",
                "utrl-test",
                "--tasks",
                tasks,
                "--responses",
                str(case / "responses.jsonl"),
                "--out",
                str(tmp / "scored.jsonl"),
            ],
        ),
        "synth": (
            "synth",
            [
                "synth",
                "--families",
                "affine,fn_sum_list",
                "--per-family",
                "2",
                "--out",
                str(tmp / "s.jsonl"),
                "--splits",
                str(tmp / "splits"),
                "--heldout-families",
                "1",
                "--val-families",
                "0",
            ],
        ),
        "synth-list": ("synth", ["synth", "--list", "--out", str(tmp / "unused.jsonl")]),
        "reproduce-plan": ("reproduce", ["reproduce", "atgen", "--print-plan"]),
        "error": ("error", ["bon", "--tasks", str(tmp / "missing.jsonl"), "--tests", tests]),
    }


CASES = [
    "prepare", "prepare-mutants", "bon", "bon-paper", "fidelity", "fidelity-paper", "attack-eval", "mutation-score", "filter",
    "example-tests", "reward", "synth", "synth-list", "reproduce-plan", "error",
]  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_a_command_prints_what_its_schema_says(case, tmp_path, name):
    command, argv = _argv(case, tmp_path)[name]
    proc = run_cli(*argv, "--json")
    assert proc.returncode == (2 if name == "error" else 0), proc.stderr
    (line,) = proc.stdout.splitlines()  # exactly one JSON object
    model = validate(command, json.loads(line))
    if name.endswith("-paper"):
        assert model.paper == "utrl"  # type: ignore[attr-defined]


def test_schema_command_prints_the_models_schema_and_refuses_an_unknown_name():
    proc = run_cli("schema", "bon", "--json")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema == results.json_schema("bon")
    jsonschema.Draft202012Validator.check_schema(schema)
    listed = run_cli("schema", "--json")
    assert json.loads(listed.stdout) == {"commands": list(results.RESULTS)}
    bad = run_cli("schema", "nonsense", "--json")
    assert bad.returncode == 2
    error = validate("error", json.loads(bad.stdout))
    assert "nonsense" in error.error.message and "bon" in (error.error.hint or "")  # type: ignore[attr-defined]
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", list(results.RESULTS))
def test_every_schema_is_valid_and_every_field_documented(command):
    jsonschema.Draft202012Validator.check_schema(results.json_schema(command))
    for model in results.RESULTS[command]:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_a_renamed_dropped_or_added_key_no_longer_matches(case, tmp_path):
    proc = run_cli(*_argv(case, tmp_path)["bon"][1], "--json")
    good = json.loads(proc.stdout)
    validate("bon", good)
    renamed = {("acc" if k == "accuracy" else k): v for k, v in good.items()}
    dropped = {k: v for k, v in good.items() if k != "mean_tests_per_task"}
    added = {**good, "extra": 1}
    for bad in (renamed, dropped, added):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, results.json_schema("bon"), cls=jsonschema.Draft202012Validator)
        with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
            results.parse("bon", bad)


def test_optional_keys_are_absent_not_null():
    gen = results.GenTestsResult.model_validate(
        {
            "n_tasks": 1, "n_rows": 1, "n_tests": 2, "n_responses": 1, "n_parse_failures": 0,
            "n_malformed_responses": 0, "n_prompts": 1, "n_written": 1, "n_skipped": 0,
            "tasks_without_buggy_code": 0, "tests_per_task_min": 2, "tests_per_task_mean": 2.0,
            "tests_per_task_max": 2, "generated_tokens": 10, "generate_s": 0.1, "tokens_per_s": 100.0,
            "wall_s": 0.2, "model": "m", "backend": "hf", "template_id": "atgen@1", "out": "t.jsonl",
        }
    )  # fmt: skip
    dumped = gen.dump()
    assert dumped["tasks_without_buggy_code"] == 0 and "tasks_without_candidates" not in dumped
    validate("gen-tests", dumped)


def test_the_docs_are_generated_from_the_models():
    """docs/results.md is `atest schema --markdown`: regenerate it after changing a model."""
    assert (ROOT / "docs" / "results.md").read_text() == results.markdown()
    proc = run_cli("schema", "--markdown")
    assert proc.returncode == 0 and proc.stdout == results.markdown()
