"""Every failure has its exit code and no output is ever destroyed (issue 26, the probes that
went wrong, each reproduced as the command line a user or a CI script ran)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from atest_cli import run_cli

from atest.core.io import JsonlAppender, read_jsonl_resumable
from atest.core.tasks import Task, read_tasks, write_tasks

SUM = "a, b = map(int, input().split())\nprint(a + b)\n"


def make_tasks(path: Path, count: int = 2, pool: str | None = None) -> list[Task]:
    tasks = [
        Task(
            f"sum-{i}",
            f"Read two integers a and b and print a + b (variant {i}).",
            "stdio",
            [SUM],
            [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}],
            candidates={pool: [SUM, "print(0)\n"]} if pool else {},
            buggy_code=["print(3)\n"],
        )
        for i in range(count)
    ]
    write_tasks(path, tasks)
    return tasks


def write_tests_file(path: Path, count: int = 2) -> Path:
    rows = [{"task_id": f"sum-{i}", "tests": [{"input": "1 2\n", "output": "3\n"}]} for i in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def one_json_error(proc, code: int) -> dict:
    """The exit code is `code`, stdout is exactly one JSON error object, stderr has no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    error = json.loads(lines[0])["error"]
    assert error["exit_code"] == code and error["message"]
    return error


def test_limits_over_their_maximum_are_bad_input_not_a_wrong_metric(tmp_path):
    """`--cpu-seconds 1e7` made every worker fail and bon report accuracy 0.0 with exit 0."""
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks, pool="m")
    for command in ("bon", "fidelity", "mutation-score", "attack-eval"):
        proc = run_cli(
            command, "--tasks", str(tasks), "--tests", "ground_truth", "--cpu-seconds", "1e7", "--json"
        )
        error = one_json_error(proc, 2)
        assert "--cpu-seconds" in error["message"] and "3600" in error["message"]
    proc = run_cli(
        "prepare", "--source", "sample", "--limit", "1", "--verify", "--cpu-seconds", "1e7", "--json"
    )
    assert "--cpu-seconds" in one_json_error(proc, 2)["message"]


def test_a_sandbox_worker_fault_is_never_a_program_verdict():
    """The worker itself failing (here Python's timers overflow) is exit 3, not a runtime error."""
    from atest.core.errors import ExternalError
    from atest.core.sandbox import Job, Limits, Program, get_executor

    with get_executor(workers=1) as executor, pytest.raises(ExternalError, match="OverflowError"):
        executor.run([Job(Program("print(1)", "stdio"), "", Limits(cpu_seconds=1e7))])


def test_resume_refuses_a_bad_first_line_and_changes_nothing(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks)
    out = tmp_path / "v.jsonl"
    out.write_text("{not json\n" + json.dumps({"task_id": "sum-0"}) + "\n")
    before = out.read_bytes()
    proc = run_cli(
        "gen-tests", "--tasks", str(tasks), "--model", "tiny-random", "--out", str(out), "--resume", "--json"
    )
    error = one_json_error(proc, 2)
    assert f"{out}:1" in error["message"]
    assert out.read_bytes() == before


def test_resume_refuses_a_bad_middle_line_instead_of_dropping_the_rows_after_it(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks)
    out = tmp_path / "v.jsonl"
    good = json.dumps({"task_id": "sum-0", "model": "elsewhere"})
    out.write_text(good + "\n" + "garbage\n" + good.replace("sum-0", "sum-1") + "\n")
    before = out.read_bytes()
    proc = run_cli(
        "gen-tests", "--tasks", str(tasks), "--model", "tiny-random", "--out", str(out), "--resume"
    )
    assert proc.returncode == 2 and f"{out}:2" in proc.stderr, proc.stderr
    assert out.read_bytes() == before


def test_resumable_reader_keeps_every_row_and_only_a_torn_tail_is_cut(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "tor')
    assert read_jsonl_resumable(path) == [{"a": 1}, {"a": 2}]
    assert path.read_bytes().endswith(b'"tor')  # reading changes nothing
    with JsonlAppender(path) as sink:
        sink.write({"a": 4})
    assert read_jsonl_resumable(path) == [{"a": 1}, {"a": 2}, {"a": 4}]
    path.write_bytes(b'{"a": 1}\n[1, 2]\n{"a": 3}\n')
    with pytest.raises(Exception, match=r"rows.jsonl:2: not a JSON object"):
        read_jsonl_resumable(path)


def test_resume_settings_check_covers_the_backend(tmp_path):
    from atest.core import gentests

    out = tmp_path / "t.jsonl"
    row = {"task_id": "x", "model": "m", "backend": "openai", "template_id": "t", "sampling": {}}
    out.write_text(json.dumps(row) + "\n")
    expected = {"model": "m", "backend": "hf", "template_id": "t", "sampling": {}}
    assert "backend" in gentests.RESUME_KEYS
    with pytest.raises(Exception, match='backend="openai"'):
        gentests.done_keys(out, expected)


def test_force_keeps_the_old_output_when_the_model_is_missing(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks)
    keep = tmp_path / "keep.jsonl"
    keep.write_text('{"task_id": "sum-0", "tests": []}\n')
    before = keep.read_bytes()
    proc = run_cli(
        "gen-tests", "--tasks", str(tasks), "--model", str(tmp_path / "typo"), "--out", str(keep), "--force"
    )
    assert proc.returncode == 2, proc.stderr
    assert keep.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl", "tasks.jsonl"]


def test_prepare_writes_through_a_symlink_and_refuses_a_device(tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    proc = run_cli("prepare", "--source", "sample", "--limit", "2", "--out", str(link), "--force")
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert len(read_tasks(real)[0]) == 2
    proc = run_cli("prepare", "--source", "sample", "--limit", "2", "--out", "/dev/full", "--force", "--json")
    assert "not a regular file" in one_json_error(proc, 2)["message"]
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_an_existing_output_is_replaced_only_with_force(tmp_path):
    out = tmp_path / "tasks.jsonl"
    out.write_text("mine\n")
    proc = run_cli("prepare", "--source", "sample", "--limit", "1", "--out", str(out))
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert out.read_text() == "mine\n"


def test_gen_solutions_never_replaces_a_pool_without_force(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks, pool="mutants")
    before = tasks.read_bytes()
    out = tmp_path / "pool.jsonl"
    proc = run_cli(
        "gen-solutions",
        "--tasks",
        str(tasks),
        "--model",
        "tiny-random",
        "--name",
        "mutants",
        "--out",
        str(out),
        "--json",
    )
    error = one_json_error(proc, 2)
    assert "'mutants'" in error["message"] and "--name" in error["hint"]
    assert tasks.read_bytes() == before and not out.exists()


def test_unreadable_inputs_are_bad_input_not_a_crash(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks, pool="m")
    folder = tmp_path / "folder"
    folder.mkdir()
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"task_id": "sum-0", "tests": [{"input": "caf\xe9", "output": "1"}]}\n')
    responses = tmp_path / "responses.jsonl"
    responses.write_text(json.dumps({"task_id": "sum-0", "response": "x"}) + "\n")
    for bad in (folder, latin):
        for argv in (
            ["bon", "--tasks", str(tasks), "--tests", str(bad)],
            ["filter", "--tasks", str(tasks), "--tests", str(bad), "--out", str(tmp_path / "sel.jsonl")],
            ["attack-eval", "--tasks", str(tasks), "--tests", str(bad)],
            ["mutation-score", "--tasks", str(tasks), "--tests", str(bad)],
            ["reward", "--kind", "utrl-code", "--tasks", str(tasks), "--responses", str(bad), "--out", str(tmp_path / "r.jsonl")],
        ):  # fmt: skip
            proc = run_cli(*argv, "--json")
            error = one_json_error(proc, 2)
            assert str(bad) in error["message"], (argv, error)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "latin.jsonl",
        "responses.jsonl",
        "tasks.jsonl",
    ]


def test_unwritable_outputs_are_refused_before_any_work(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks, pool="m")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    details = tmp_path / "details.jsonl"
    unwritable = str(blocker / "x.png")
    proc = run_cli(
        "bon",
        "--tasks",
        str(tasks),
        "--tests",
        "ground_truth",
        "--out",
        str(details),
        "--plot",
        unwritable,
        "--json",
    )
    assert "--plot" in one_json_error(proc, 2)["message"]
    assert not details.exists()  # nothing computed, nothing written
    proc = run_cli(
        "fidelity",
        "--tasks",
        str(tasks),
        "--tests",
        "ground_truth",
        "--cache-dir",
        str(blocker / "c"),
        "--json",
    )
    assert "--cache-dir" in one_json_error(proc, 2)["message"]
    proc = run_cli("prepare", "--source", "sample", "--limit", "1", "--out", "/proc/atest.jsonl", "--json")
    assert "--out" in one_json_error(proc, 2)["message"]


def test_non_utf8_config_for_train_is_bad_input(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"mode: utrl\nnote: caf\xe9\n")
    proc = run_cli("train", "--mode", "utrl", "--config", str(config), "--print-config", "--json")
    assert str(config) in one_json_error(proc, 2)["message"]


def test_a_byte_order_mark_does_not_hide_the_first_task(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks, count=3)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + tasks.read_bytes())
    loaded, problems = read_tasks(bom)
    assert [t.task_id for t in loaded] == ["sum-0", "sum-1", "sum-2"] and not problems
    tests = tmp_path / "tests.jsonl"
    tests.write_bytes(b"\xef\xbb\xbf" + write_tests_file(tmp_path / "plain.jsonl").read_bytes())
    from atest.core.metrics.testsfile import read_tests_file

    assert [r.task_id for r in read_tests_file(tests)] == ["sum-0", "sum-1"]


def test_attack_eval_does_not_suggest_what_it_refuses(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks)
    proc = run_cli("attack-eval", "--tasks", str(tasks), "--tests", str(tmp_path / "missing.jsonl"), "--json")
    error = one_json_error(proc, 2)
    assert "ground_truth" not in json.dumps(error)


@pytest.mark.parametrize(
    "argv",
    [
        ["prepare", "--source", "sample", "--path", "x.jsonl"],
        ["prepare", "--source", "sample", "--mutants-into", "buggy"],
        ["bon", "--tasks", "{tasks}", "--tests", "ground_truth", "--n", "2", "--ns", "1,4"],
        [
            "reward",
            "--kind",
            "atgen",
            "--tasks",
            "{tasks}",
            "--responses",
            "{tasks}",
            "--out",
            "{tmp}/r.jsonl",
            "--tests",
            "ground_truth",
        ],
        ["train", "--mode", "utrl", "--set", "mode=atgen-static", "--out", "{tmp}/run", "--print-config"],
        ["train", "--mode", "utrl", "--adversary-retries", "5", "--out", "{tmp}/run", "--print-config"],
    ],
    ids=["sample-path", "mutants-into", "n-ns", "reward-tests", "train-set-mode", "train-adversary"],
)
def test_contradictory_flags_are_refused(tmp_path, argv):
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks, pool="m")
    argv = [a.format(tasks=tasks, tmp=tmp_path) for a in argv]
    one_json_error(run_cli(*argv, "--json"), 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.jsonl"]


def test_unexpected_failures_exit_3_with_one_line_and_the_json_error(capsys):
    import typer

    from atest.commands._common import handle_errors

    @handle_errors
    def boom(json_out: bool = False) -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(typer.Exit) as exit_info:
        boom(json_out=True)
    assert exit_info.value.exit_code == 3
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert error["kind"] == "infrastructure" and "disk on fire" in error["message"]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_long_error_line_is_not_wrapped_in_a_log(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "tasks.jsonl"
    proc = run_cli("fidelity", "--tasks", str(deep), "--tests", "ground_truth")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and str(deep) in proc.stderr


def test_plain_progress_in_a_log_is_a_line_now_and_then(capsys):
    from atest.commands._common import PlainProgress

    progress = PlainProgress("work", "runs", every=0.0)
    for done in range(1, 4):
        progress(done, 3)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("work: 1/3 runs") and "left" in lines[0]
    quiet = PlainProgress("work", "runs", every=3600.0)
    for done in range(1, 100):
        quiet(done, 100)
    assert capsys.readouterr().err == ""  # a short job prints nothing


@pytest.mark.slow
def test_no_carriage_returns_in_a_log_while_a_model_loads(tmp_path, tiny_model_dir):
    """transformers' `Loading weights` bar must not leak `\\r` into a CI log."""
    tasks = tmp_path / "tasks.jsonl"
    make_tasks(tasks, count=1)
    out = tmp_path / "t.jsonl"
    proc = run_cli(
        "gen-tests",
        "--tasks",
        str(tasks),
        "--model",
        str(tiny_model_dir),
        "--max-new-tokens",
        "8",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    assert "gen-tests: 1/1 prompts" in proc.stderr  # the plain progress line


def test_a_launch_s_other_process_waits_for_the_main_one_to_print_before_exiting(monkeypatch, capsys):
    """Exiting at once let torchrun stop the main process before it printed the error (CI)."""
    import time

    import typer

    from atest.commands._common import handle_errors
    from atest.core.training.run import ranks

    @handle_errors
    def other_process(json_out: bool = False) -> None:
        raise ranks.ShownByMain(2)

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(ranks, "MAIN_REPORT_GRACE_S", 0.5)
    start = time.monotonic()
    with pytest.raises(typer.Exit) as exit_info:
        other_process(json_out=True)
    assert exit_info.value.exit_code == 2 and time.monotonic() - start >= 0.5
    out, err = capsys.readouterr()
    assert out == "" and err == ""  # the main process prints the error, this one nothing
