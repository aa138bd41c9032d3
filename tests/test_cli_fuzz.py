"""A fuzz suite for the command line: every command fed generated bad files, rows, flags,
values, encodings and paths, in process (typer's CliRunner), bounded in time.

For every case: no traceback; exit 2 when something is surely bad (3 only for a named fault
of the machine, never "unexpected failure"), else one of 0, 1, 2, 3; with `--json` stdout is
exactly one JSON object; every file that existed before is unchanged, and a failed command
leaves no new file behind. The number of cases run is printed at the end (`-s` shows it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
import typer
import typer.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from atest.cli import app
from atest.core.tasks import Task, write_tasks

SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
BUDGET_S = 42.0  # the whole suite's command time, shared by the commands; cases beyond it are skipped
CASES: dict[str, int] = {}


def _tasks() -> list[Task]:
    return [
        Task(
            f"sum-{i}",
            "Read a and b, print a + b.",
            "stdio",
            [SUM],
            [{"input": "1 2\n", "output": "3\n"}],
            candidates={"m": [SUM, "print(0)\n"]},
            buggy_code=["print(3)\n"],
        )
        for i in range(2)
    ]


def make_world(root: Path) -> None:
    """The valid files a command line starts from."""
    write_tasks(root / "tasks.jsonl", _tasks())
    tests = [{"task_id": f"sum-{i}", "tests": [{"input": "1 2\n", "output": "3\n"}]} for i in range(2)]
    (root / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tests))
    (root / "responses.jsonl").write_text(json.dumps({"task_id": "sum-0", "response": "x"}) + "\n")
    (root / "existing.jsonl").write_text('{"keep": true}\n')
    (root / "a-file").write_text("not a folder\n")
    (root / "folder").mkdir()
    (root / "link.jsonl").symlink_to(root / "existing.jsonl")
    os.mkfifo(root / "fifo")


# Bad contents for an input file: each makes the file unusable as a whole.
BAD_CONTENTS = {
    "empty": b"",
    "not-utf8": b'{"task_id": "caf\xe9"}\n',
    "binary": bytes(range(256)),
    "not-json": b"{not json\n",
    "wrong-shape": b"[1, 2, 3]\n42\n",
    "bom-only": b"\xef\xbb\xbf",
    "nul": b"\x00\x00\n",
}
BAD_INPUT_PATHS = ["missing.jsonl", "folder", "fifo", "a-file/x.jsonl"]
# Output paths that must be refused before any work (and leave what is there unchanged).
BAD_OUTPUTS = [
    "folder",
    "a-file/x.jsonl",
    "/dev/full",
    "/proc/atest-fuzz.jsonl",
    "existing.jsonl",
    "link.jsonl",
]
BAD_NUMBERS = ["-1", "0", "1e7", "nan", "inf", "abc", "", "99999999999999999999", "-0.5"]
# Mutations that make any command line bad input, whatever else it holds.
SURE = {"input", "output", "encoding", "unknown-flag", "stray-argument"}
JUNK = ["", "nope", "../../etc", "\u00e9\u00e9", "--json", "-", "a b"]


@dataclass
class Spec:
    argv: list[str]  # a valid command line ({root} is the world's folder)
    inputs: list[str] = field(default_factory=list)  # flags naming an input file
    outputs: list[str] = field(default_factory=list)  # flags naming an output
    numbers: list[str] = field(default_factory=list)  # numeric flags with a range
    choices: list[str] = field(default_factory=list)  # flags taking one of some names
    heavy: bool = False  # a valid line would load a model or train: always add something bad


T, E = "{root}/tasks.jsonl", "{root}/tests.jsonl"
SPECS = {
    "prepare": Spec(
        ["prepare", "--source", "jsonl", "--path", T],
        ["--path", "--exclude"],
        ["--out", "--cache-dir"],
        ["--limit", "--workers", "--max-gold", "--max-tests", "--cpu-seconds", "--mutants"],
        ["--source", "--split", "--mutants-into"],
    ),
    "bon": Spec(
        ["bon", "--tasks", T, "--tests", E, "--workers", "1"],
        ["--tasks", "--tests"],
        ["--out", "--plot", "--cache-dir"],
        ["--n", "--workers", "--cpu-seconds", "--memory-mb", "--ns"],
        ["--tie", "--paper", "--solution-model"],
    ),
    "fidelity": Spec(
        ["fidelity", "--tasks", T, "--tests", E, "--workers", "1"],
        ["--tasks", "--tests"],
        ["--out", "--cache-dir"],
        ["--n", "--workers", "--cpu-seconds", "--memory-mb"],
        ["--paper", "--solution-model"],
    ),
    "attack-eval": Spec(
        ["attack-eval", "--tasks", T, "--tests", E, "--workers", "1"],
        ["--tasks", "--tests"],
        ["--cache-dir"],
        ["--workers", "--cpu-seconds", "--memory-mb"],
    ),
    "mutation-score": Spec(
        ["mutation-score", "--tasks", T, "--tests", E, "--workers", "1", "--k", "2", "--probes", "0"],
        ["--tasks", "--tests"],
        ["--out", "--cache-dir"],
        ["--k", "--probes", "--cpu-seconds", "--memory-mb"],
    ),
    "filter": Spec(
        ["filter", "--tasks", T, "--tests", E, "--workers", "1", "--out", "{root}/selected.jsonl"],
        ["--tasks", "--tests"],
        ["--out", "--cache-dir"],
        ["--min-pass", "--cpu-seconds", "--memory-mb"],
        ["--solution-model"],
    ),
    "reward": Spec(
        [
            "reward",
            "--kind",
            "utrl-code",
            "--tasks",
            T,
            "--responses",
            "{root}/responses.jsonl",
            "--tests",
            "ground_truth",
            "--workers",
            "1",
            "--out",
            "{root}/scored.jsonl",
        ],
        ["--tasks", "--responses"],
        ["--out"],
        ["--cpu-seconds", "--memory-mb", "--workers"],
        ["--kind", "--paper", "--solution-model"],
    ),
    "example-tests": Spec(
        ["example-tests", "--tasks", T, "--out", "{root}/ex.jsonl"], ["--tasks"], ["--out"]
    ),
    "gen-tests": Spec(
        ["gen-tests", "--tasks", T, "--model", "tiny-random", "--out", "{root}/gen.jsonl"],
        ["--tasks"],
        ["--out"],
        ["--n", "--max-new-tokens", "--temperature", "--top-p", "--batch-size", "--n-tests"],
        ["--backend", "--prompt"],
        heavy=True,
    ),
    "gen-solutions": Spec(
        ["gen-solutions", "--tasks", T, "--model", "tiny-random", "--out", "{root}/pool.jsonl"],
        ["--tasks"],
        ["--out"],
        ["--n", "--max-new-tokens", "--temperature", "--batch-size"],
        ["--backend", "--name"],
        heavy=True,
    ),
    "train": Spec(
        ["train", "--mode", "utrl", "--preset", "cpu-smoke", "--tasks", T, "--out", "{root}/run"],
        ["--tasks", "--config"],
        [],
        ["--adversary-retries", "--start-adver-steps"],
        ["--mode", "--preset"],
        heavy=True,
    ),
    "warmup": Spec(
        ["warmup", "--tasks", T, "--model", "tiny-random", "--out", "{root}/warm"],
        ["--tasks"],
        [],
        ["--steps", "--lr", "--batch-size", "--max-length"],
        heavy=True,
    ),
    "demo": Spec(["demo", "--out", "{root}/demo"], [], [], ["--tasks", "--mutants", "--steps"], heavy=True),
    "merge-lora": Spec(
        ["merge-lora", "--base", "tiny-random", "--adapter", "{root}/folder", "--out", "{root}/merged"],
        [],
        [],
        heavy=True,
    ),
}


@st.composite
def case(draw, name: str):
    """A command line: a valid one with one to three mutations, and whether to ask for --json."""
    spec = SPECS[name]
    kinds = [
        k
        for k, flags in (("input", spec.inputs), ("output", spec.outputs), ("number", spec.numbers))
        if flags
    ]
    kinds += (
        ["unknown-flag", "stray-argument", "encoding"] if spec.inputs else ["unknown-flag", "stray-argument"]
    )
    mutations = []
    for i in range(draw(st.integers(1, 3))):
        if spec.heavy and i == 0:  # something surely bad first: a valid line would load a model
            kind = draw(st.sampled_from([k for k in kinds if k in SURE]))
        else:
            kind = draw(st.sampled_from(kinds + ([] if spec.heavy else ["choice"] * bool(spec.choices))))
        if kind == "input":
            flag = draw(st.sampled_from(spec.inputs))
            bad = draw(st.sampled_from([*BAD_INPUT_PATHS, *(f"content:{k}" for k in BAD_CONTENTS)]))
            mutations.append((kind, flag, bad))
        elif kind == "encoding":  # a file of valid rows in another encoding
            flag = draw(st.sampled_from(spec.inputs))
            mutations.append((kind, flag, draw(st.sampled_from(["utf-16", "utf-32", "latin-1-bytes"]))))
        elif kind == "output":
            flag = draw(st.sampled_from(spec.outputs))
            bad = [
                p for p in BAD_OUTPUTS if not (flag == "--cache-dir" and p == "folder")
            ]  # a folder is fine there
            mutations.append((kind, flag, draw(st.sampled_from(bad))))
        elif kind == "number":
            mutations.append((kind, draw(st.sampled_from(spec.numbers)), draw(st.sampled_from(BAD_NUMBERS))))
        elif kind == "choice":
            mutations.append((kind, draw(st.sampled_from(spec.choices)), draw(st.sampled_from(JUNK))))
        elif kind == "unknown-flag":
            mutations.append((kind, draw(st.sampled_from(["--no-such-flag", "--jsn", "-x"])), ""))
        else:
            mutations.append((kind, "", draw(st.sampled_from(["extra", "1", "-"]))))
    return name, mutations, draw(st.booleans())


def _write_bad(root: Path, bad: str, index: int) -> str:
    if bad.startswith("content:"):
        path = root / f"bad-{index}.jsonl"
        path.write_bytes(BAD_CONTENTS[bad.removeprefix("content:")])
        return str(path)
    return str(root / bad)


def _encoded(root: Path, how: str, index: int) -> str:
    text = (root / "tasks.jsonl").read_text(encoding="utf-8")
    path = root / f"enc-{index}.jsonl"
    if how == "latin-1-bytes":
        path.write_bytes(text.encode("utf-8").replace(b"a + b", b"a \xb1 b"))
    else:
        path.write_bytes(text.encode(how))
    return str(path)


def build_argv(root: Path, name: str, mutations: list, json_out: bool) -> list[str]:
    argv = [a.replace("{root}", str(root)) for a in SPECS[name].argv]
    for i, (kind, flag, value) in enumerate(mutations):
        if kind == "input":
            value = _write_bad(root, value, i)
        elif kind == "encoding":
            value = _encoded(root, value, i)
        elif kind == "output":
            value = value if value.startswith("/") else str(root / value)
        if kind in ("unknown-flag",):
            argv.append(flag)
        elif kind == "stray-argument":
            argv.append(value)
        elif flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    if json_out:
        argv.append("--json")
    return argv


def snapshot(root: Path) -> dict[str, tuple]:
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in [*dirnames, *filenames]:
            path = Path(dirpath) / entry
            rel = str(path.relative_to(root))
            if path.is_symlink():
                state[rel] = ("link", os.readlink(path))
            elif path.is_fifo():
                state[rel] = ("fifo",)
            elif path.is_dir():
                state[rel] = ("dir",)
            else:
                state[rel] = ("file", path.read_bytes())
    return state


def _warm_imports() -> None:
    """Import what commands import lazily, once, so the time bound counts cases, not imports."""
    import atest.core.gentests
    import atest.core.metrics.evaluate
    import atest.core.mutation.classify
    import atest.core.prepare
    import atest.core.rewards.offline
    import atest.core.sandbox
    import atest.core.selection
    import atest.core.training.runner  # noqa: F401  (transformers, torch)


_warm_imports()
START = time.monotonic()
TIMES: dict[str, float] = {}


COMMAND = typer.main.get_command(app)  # built once: typer builds it again on every invoke


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
@given(data=st.data())
def test_every_command_survives_bad_input(name, data):
    one = data.draw(case(name))
    if TIMES.get(name, 0.0) > BUDGET_S / len(SPECS):
        return  # the time bound: this command's remaining generated cases are not run
    name, mutations, json_out = one
    root = Path(tempfile.mkdtemp(prefix="atest-fuzz-"))
    try:
        make_world(root)
        argv = build_argv(root, name, mutations, json_out)
        before = snapshot(root)
        started = time.monotonic()
        with mock.patch.object(typer.testing, "_get_command", lambda _app: COMMAND):
            result = CliRunner().invoke(app, argv)
        CASES[name] = CASES.get(name, 0) + 1
        TIMES[name] = TIMES.get(name, 0.0) + time.monotonic() - started
        shown = (
            f"atest {' '.join(argv)}\nexit {result.exit_code}\nstdout {result.stdout}\nstderr {result.stderr}"
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"uncaught {result.exception!r}\n{shown}")
        assert "Traceback" not in result.output, shown
        assert "unexpected failure" not in result.stderr, shown
        assert result.exit_code in (0, 1, 2, 3), shown
        if any(kind in SURE for kind, _, _ in mutations):
            assert result.exit_code == 2, shown
        if json_out and "--help" not in argv:
            lines = result.stdout.splitlines()
            assert len(lines) == 1 and isinstance(json.loads(lines[0]), dict), shown
        after = snapshot(root)
        for rel, entry in before.items():
            assert after.get(rel) == entry, f"{rel} changed\n{shown}"
        if result.exit_code != 0:
            new = sorted(set(after) - set(before))
            assert not new, f"a failed command left {new}\n{shown}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def _report_cases():
    yield
    print(
        f"\nCLI fuzz: {sum(CASES.values())} cases in {time.monotonic() - START:.0f}s: {dict(sorted(CASES.items()))}; "
        f"seconds per command { ({k: round(v, 1) for k, v in sorted(TIMES.items())}) }"
    )
