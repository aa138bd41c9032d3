"""Kills at any moment: SIGKILL `atest train` and `atest gen-tests` at random moments, resume
each with --resume, and check the result against an uninterrupted run.

For each command a reference run goes through uninterrupted; then the same command runs
again into a fresh folder and is killed (SIGKILL to its process group, as a CI timeout or
`kill -9 -PGID` does: the launcher, or the one process; torchrun's workers and the sandbox's
workers run in sessions of their own and must die with it) `--kills` times, each time at a
moment of one of three kinds, in turn:

* `random`: a moment drawn by progress, not by the clock (a clock drawn from the
  uninterrupted run's time let runs on a quieter machine finish before their kill): a point
  of the whole run's work (logged optimizer steps, or rows written) drawn uniformly, the kill
  coming a uniformly drawn part of one step's time after the run reaches it; a point the run
  has already passed puts the kill in this start's start-up (the resume);
* `checkpoint`: the moment a checkpoint folder is created, i.e. during its write (seen
  through inotify, within a millisecond: a smoke run's checkpoint is 0.5 MB, written in a few
  milliseconds, which polling the folder missed in every run); made at the random moment, or
  two start-ups and three steps into the start if that is later (and counted as random), when
  none comes before it;
* `phase`: right after `run.json` changes, i.e. between phases (or, for gen-tests, right
  after a row is appended), or at the random moment when none comes before it.

After the last kill the command runs to its end. Then it checks, against the reference:
the same optimizer steps (the (phase, step) pairs of metrics.jsonl as `read_metrics` sees
them, and each phase's step count in run.json); no row duplicated or missing in any
`*.jsonl` of the run (rows counted per task id; metrics.jsonl rows of a step logged again
after a resume are counted apart as "superseded", which is how the run folder is
specified); every checkpoint loadable (model or adapter weights, optimizer, trainer state);
the final models present once and loadable, no temporary or `.old` folder left behind, and
no process of a killed command still running 10 s after the kill (each one that is, is
counted as a survivor, a problem, and killed).

    nice -n 15 .venv/bin/python bench/chaos.py --kills 20            # every command, 20 kills each
    .venv/bin/python bench/chaos.py --commands gen-tests,atgen --kills 3 --json
    .venv/bin/python bench/chaos.py --cross                          # resume 2 processes on 1 and back

`--cross` kills a two-process ATGEN run after its first complete checkpoint and resumes it
on one process, and the other way round, reporting whether each resume works or is refused.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import errno
import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trl_overhead import tree_pids  # bench/ is on the path of a bench script

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "atest" / "configs" / "cpu-smoke" / "tasks.jsonl"
KINDS = ("random", "checkpoint", "phase")
POLL = 0.02


def train_args(mode: str) -> list[str]:
    return ["train", "--mode", mode, "--preset", "cpu-smoke"]


COMMANDS: dict[str, dict] = {
    "utrl": {"args": train_args("utrl"), "procs": 1, "finals": ["test_generator", "code_generator"]},
    "atgen": {"args": train_args("atgen-adaptive"), "procs": 1, "finals": ["test_generator"]},
    "utrl-x2": {"args": train_args("utrl"), "procs": 2, "finals": ["test_generator", "code_generator"]},
    "atgen-x2": {"args": train_args("atgen-adaptive"), "procs": 2, "finals": ["test_generator"]},
    "gen-tests": {
        "args": [
            "gen-tests",
            "--tasks",
            str(TASKS),
            "--model",
            "tiny-random",
            "--max-new-tokens",
            "48",
            "--batch-size",
            "1",
            "--threads",
            "1",
            "--temperature",
            "1.0",
            "--n",
            "2",
        ],
        "procs": 1,
        "finals": [],
    },
}


@dataclass
class Outcome:
    """What one command went through and what the checks found."""

    command: str
    kills: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    resumes: int = 0
    # checkpoint kills that left a checkpoint folder without its trainer_state.json behind (the
    # write cut off); the others landed just after a small checkpoint's last file
    kills_mid_write: int = 0
    finished_before_kill: int = 0
    seconds_reference: float = 0.0
    seconds_chaos: float = 0.0
    steps_same: bool | None = None  # None: the command logs no optimizer steps
    rows_missing: int = 0
    rows_duplicated: int = 0
    metrics_superseded: int = 0
    files_identical: int = 0
    files_compared: int = 0
    checkpoints_loaded: int = 0
    checkpoints_broken: list[str] = field(default_factory=list)
    finals_ok: bool = False
    leftovers: list[str] = field(default_factory=list)
    survivors: int = 0  # processes that outlived a kill of their command's group
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def launcher(procs: int) -> list[str]:
    if procs == 1:
        return [sys.executable, "-m", "atest"]
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
        "-m", "atest",
    ]  # fmt: skip


def command_line(spec: dict, out: Path, procs: int, resume: bool) -> list[str]:
    args = list(spec["args"])
    if args[0] == "train":  # a resume reads OUT/config.yaml, as a user's `train --resume --out` does
        args = ["train"] if resume else args + [i for pair in spec.get("set", []) for i in ("--set", pair)]
    args += ["--out", str(out / "run.jsonl" if args[0] == "gen-tests" else out)]
    if resume:
        args.append("--resume")
    return launcher(procs) + args


def env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


RUNNING: list[subprocess.Popen] = []  # killed if the bench itself is stopped


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as f:
        f.write(f"\n$ {' '.join(cmd)}\n".encode())
        proc = subprocess.Popen(
            cmd, stdout=f, stderr=subprocess.STDOUT, env=env(), cwd=ROOT, start_new_session=True
        )
    RUNNING.append(proc)
    return proc


def stop_all(*_args) -> None:
    for proc in RUNNING:
        if proc.poll() is None:
            kill_group(proc)
    if _args:
        sys.exit(3)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


SURVIVORS: list[int] = []  # processes that outlived a kill of their command's group (then killed)
GRACE = 10.0  # seconds a killed command's processes get to notice and exit


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the command's process group, as a CI timeout or `kill -9 -PGID` does; anything of
    the command still running `GRACE` seconds later outlived it and is recorded, then killed."""
    tree = tree_pids(proc.pid)  # children by parent, whatever their session
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + GRACE
    while (left := {pid for pid in tree if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        SURVIVORS.append(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class CheckpointWatch:
    """Tells, within a millisecond, that a checkpoint folder was just created under a folder.

    inotify (Linux) on the folder and every folder created below it: a `checkpoint-N` or
    `tmp-checkpoint-N` folder created in a `checkpoints` folder is a checkpoint write under
    way. `wait(seconds)` returns that folder as soon as it is created, so that the kill lands
    inside the write."""

    IN_CREATE, IN_MOVED_TO, IN_ISDIR, IN_Q_OVERFLOW = 0x100, 0x80, 0x40000000, 0x4000
    IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
    EVENT = struct.Struct("iIII")

    def __init__(self, out: Path) -> None:
        """Watch the run folder `out`, which the command may create later: its parent is
        watched for `out` alone (the reference run's folder beside it holds old checkpoints)."""
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._out = out
        self._paths: dict[int, Path] = {}
        self._add(out.parent)
        if out.is_dir():
            self._watch_tree(out)  # what is there now is not a write of this start (a killed
            # attempt's unfinished checkpoint waits there until the resumed phase deletes it)

    def _add(self, folder: Path) -> bool:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), self.IN_CREATE | self.IN_MOVED_TO)
        if wd < 0:
            if ctypes.get_errno() in (errno.ENOENT, errno.ENOTDIR):
                return False  # gone again already
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
        self._paths[wd] = folder
        return True

    def _watch_tree(self, folder: Path) -> Path | None:
        """Watch `folder` and the folders below it; a checkpoint folder among them that is being
        written (for a folder just created: one made before its watch was in place)."""
        if not self._add(folder):
            return None
        found = None
        with contextlib.suppress(OSError):
            for child in os.scandir(folder):
                if not child.is_dir(follow_symlinks=False):
                    continue
                if self.is_checkpoint(folder, child.name):
                    if not os.path.exists(os.path.join(child.path, "trainer_state.json")):
                        found = Path(child.path)
                else:
                    found = self._watch_tree(Path(child.path)) or found
        return found

    @staticmethod
    def is_checkpoint(parent: Path, name: str) -> bool:
        return parent.name == "checkpoints" and name.startswith(("checkpoint-", "tmp-checkpoint"))

    def wait(self, seconds: float) -> Path | None:
        """Wait up to `seconds`; the checkpoint folder as soon as one is created, else None."""
        if not select.select([self._fd], [], [], seconds)[0]:
            return None
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return None
        found, offset = None, 0
        while offset < len(data):
            wd, mask, _cookie, size = self.EVENT.unpack_from(data, offset)
            raw = data[offset + self.EVENT.size : offset + self.EVENT.size + size]
            offset += self.EVENT.size + size
            parent = self._paths.get(wd)
            if mask & self.IN_Q_OVERFLOW or parent is None or not mask & self.IN_ISDIR:
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            if parent == self._out.parent and name != self._out.name:
                continue
            if self.is_checkpoint(parent, name):
                found = parent / name
            else:
                found = self._watch_tree(parent / name) or found
        return found

    def close(self) -> None:
        os.close(self._fd)


def stamp(path: Path) -> tuple:
    try:
        st = path.stat()
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return ()


def progress_file(out: Path, is_train: bool) -> Path:
    return out / ("metrics.jsonl" if is_train else "run.jsonl")


def progress_units(out: Path, is_train: bool) -> int:
    """The work a run folder holds: its logged optimizer steps (train) or its rows (gen-tests)."""
    path = progress_file(out, is_train)
    if not path.exists():
        return 0
    rows = jsonl_rows(path)[0]
    return len(logical_steps(rows)) if is_train else len(rows)


def wait_and_kill(
    proc: subprocess.Popen,
    kind: str,
    out: Path,
    marker: Path,
    rng: random.Random,
    reached: Callable[[], float],
    startup_s: float,
    step_s: float,
    step_share: float,
) -> tuple[str, bool] | None:
    """Kill `proc` at a moment of `kind`; returns the kind used and whether the kill left the
    checkpoint being written without its `trainer_state.json` (cut off inside the write), or
    None if the command finished first.

    A random moment is drawn whatever the kind: a checkpoint or phase kill that has not seen its
    moment by then is made there, as a random one (a resumed run may have no checkpoint or phase
    left). `marker` is the file whose change is a step between phases (run.json; gen-tests'
    output); `reached()` is the share of the work done; `startup_s`, `step_s` and `step_share`
    are the uninterrupted run's start-up, time per step and one step's share of the work."""
    # before the last step: after it only the export is left, too short a window to kill in
    target = rng.random() * (1.0 - step_share)
    began = time.monotonic()
    # a point of the run already done: kill in this start's start-up (the resume), within half
    # the reference's time to its first step (imports and model load; a run with only its
    # export left ends soon after)
    delay: float | None = rng.uniform(0.0, startup_s / 2) if target <= reached() else None
    # a checkpoint kill waits for a write long enough for one to come: a resume's start-up, then
    # a step or more before the trainer saves
    earliest = 2 * startup_s + 3 * step_s if kind == "checkpoint" else 0.0
    watch = CheckpointWatch(out) if kind == "checkpoint" else None
    writing: Path | None = None
    before = stamp(marker)
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - began
            if kind == "phase" and stamp(marker) != before:
                time.sleep(rng.uniform(0.0, 0.3))
                break
            if delay is None and reached() >= target:
                delay = elapsed + rng.uniform(0.0, step_s)
            if delay is not None and elapsed >= max(delay, earliest):
                kind = "random"
                break
            if watch is None:
                time.sleep(POLL)
            elif (writing := watch.wait(POLL)) is not None:
                break  # a checkpoint write began: kill now, inside it
        if proc.poll() is not None:
            return None
        kill_group(proc)
    finally:
        if watch is not None:
            watch.close()
    return kind, writing is not None and not (writing / "trainer_state.json").exists()


def run_to_end(
    cmd: list[str], log: Path, timeout: float, first_work: Callable[[], bool] | None = None
) -> tuple[int, float]:
    """Run `cmd` to its end; returns its exit code and the seconds until `first_work()` held
    (its start-up: imports, model load, resume), or its whole time without one."""
    began = time.monotonic()
    proc = start(cmd, log)
    startup = None
    while proc.poll() is None:
        if startup is None and first_work is not None and first_work():
            startup = time.monotonic() - began
        if time.monotonic() - began > timeout:
            kill_group(proc)
            return -1, timeout
        time.sleep(0.5)
    return proc.returncode, startup if startup is not None else time.monotonic() - began


# ---------------------------------------------------------------- checks


def jsonl_rows(path: Path) -> tuple[list[dict], int]:
    rows, torn = [], 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            torn += 1
    return rows, torn


def row_key(row: dict) -> str:
    keys = ("task_id", "slot", "buggy_index", "index")
    return (
        json.dumps({k: row[k] for k in keys if k in row}, sort_keys=True)
        if "task_id" in row
        else json.dumps(row)
    )


def logical_steps(rows: list[dict]) -> set[tuple]:
    return {(r.get("phase", ""), r.get("step")) for r in rows}


def compare_files(ref: Path, got: Path, outcome: Outcome) -> None:
    ref_files = {p.relative_to(ref) for p in ref.glob("**/*.jsonl")}
    got_files = {p.relative_to(got) for p in got.glob("**/*.jsonl")}
    for missing in sorted(ref_files - got_files):
        outcome.problems.append(f"file missing: {missing}")
    for rel in sorted(ref_files & got_files):
        ref_rows, _ = jsonl_rows(ref / rel)
        got_rows, torn = jsonl_rows(got / rel)
        outcome.files_compared += 1
        if (ref / rel).read_bytes() == (got / rel).read_bytes():
            outcome.files_identical += 1
        if torn:
            outcome.problems.append(f"{rel}: {torn} unreadable line(s)")
        if rel.name == "metrics.jsonl":
            want, have = logical_steps(ref_rows), logical_steps(got_rows)
            outcome.steps_same = want == have
            if want != have:
                outcome.problems.append(
                    f"optimizer steps differ: missing {sorted(want - have)}, extra {sorted(have - want)}"
                )
            outcome.metrics_superseded += len(got_rows) - len(have)
            continue
        want_c = collections.Counter(row_key(r) for r in ref_rows)
        have_c = collections.Counter(row_key(r) for r in got_rows)
        missing = sum((want_c - have_c).values())
        extra = sum((have_c - want_c).values())
        outcome.rows_missing += missing
        outcome.rows_duplicated += extra
        if missing or extra:
            outcome.problems.append(f"{rel}: {missing} row(s) missing, {extra} extra")


def compare_ledger(ref: Path, got: Path, outcome: Outcome) -> None:
    if not (ref / "run.json").exists():
        return
    want = json.loads((ref / "run.json").read_text())["phases"]
    have = json.loads((got / "run.json").read_text())["phases"]
    for name, info in want.items():
        mine = have.get(name, {})
        if mine.get("status") != "done":
            outcome.problems.append(f"phase {name} not done")
        elif info.get("steps") != mine.get("steps"):
            outcome.problems.append(f"phase {name}: {mine.get('steps')} steps, reference {info.get('steps')}")


def load_model_dir(path: Path) -> None:
    """Load a model or adapter folder as a user would; raises if it cannot be."""
    import torch
    from safetensors.torch import load_file

    weights = sorted(path.glob("*.safetensors"))
    if (path / "adapter_config.json").exists():
        json.loads((path / "adapter_config.json").read_text())
        for w in weights:
            load_file(w)
        if not weights:
            raise OSError(f"{path}: no adapter weights")
    else:
        from transformers import AutoModelForCausalLM

        AutoModelForCausalLM.from_pretrained(path)
    if (path / "optimizer.pt").exists():
        torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False)
    for name in ("trainer_state.json", "atest_state.json"):
        if (path / name).exists():
            json.loads((path / name).read_text())


def check_artifacts(got: Path, spec: dict, outcome: Outcome) -> None:
    for checkpoint in sorted(got.glob("**/checkpoints/checkpoint-*")):
        try:
            if not (checkpoint / "trainer_state.json").exists():
                raise OSError("no trainer_state.json")
            load_model_dir(checkpoint)
            outcome.checkpoints_loaded += 1
        except Exception as exc:  # any failure to load is the finding
            outcome.checkpoints_broken.append(f"{checkpoint.relative_to(got)}: {exc}")
    if outcome.checkpoints_broken:
        outcome.problems.append(f"{len(outcome.checkpoints_broken)} checkpoint(s) do not load")
    final = got / "final"
    finals_ok = True
    for name in spec["finals"]:
        try:
            load_model_dir(final / name)
        except Exception as exc:
            finals_ok = False
            outcome.problems.append(f"final/{name}: {exc}")
    if spec["finals"]:
        extra = sorted(
            p.name
            for p in final.iterdir()
            if p.name not in spec["finals"] and not p.name.endswith("_adapter")
        )
        if extra:
            finals_ok = False
            outcome.problems.append(f"final/ holds more than the models: {extra}")
    outcome.finals_ok = finals_ok
    for path in got.glob("**/*"):
        name = path.name
        if name.startswith(".") or ".tmp" in name or name.startswith("tmp") or name.endswith(".partial"):
            outcome.leftovers.append(str(path.relative_to(got)))
    if outcome.leftovers:
        outcome.problems.append(f"left behind: {outcome.leftovers[:5]}")


# ---------------------------------------------------------------- scenarios


def chaos(name: str, kills: int, workdir: Path, rng: random.Random, timeout: float) -> Outcome:
    spec = COMMANDS[name]
    outcome = Outcome(name)
    base = workdir / name
    shutil.rmtree(base, ignore_errors=True)
    ref, got = base / "reference", base / "chaos"
    log = base / "log.txt"
    base.mkdir(parents=True)
    ref.mkdir()
    got.mkdir()
    is_train = spec["args"][0] == "train"
    t0 = time.monotonic()
    rc, startup_s = run_to_end(
        command_line(spec, ref, spec["procs"], resume=False), log, timeout,
        first_work=lambda: progress_units(ref, is_train) > 0,
    )  # fmt: skip
    outcome.seconds_reference = round(time.monotonic() - t0, 1)
    if rc != 0:
        outcome.problems.append(f"reference run exited {rc} (see {log})")
        return outcome
    if spec["args"][0] == "train":
        shutil.rmtree(got)  # train creates its own --out
    steps = max(1, progress_units(ref, is_train))
    step_s = max(1.0, outcome.seconds_reference - startup_s) / steps

    seen: dict[tuple, float] = {}  # the progress file's stamp -> its share (polled 50 times a second)

    def reached() -> float:
        """The share of the uninterrupted run's work that the killed run has done."""
        key = stamp(progress_file(got, is_train))
        if key not in seen:
            seen.clear()
            seen[key] = min(1.0, progress_units(got, is_train) / steps)
        return seen[key]

    marker = got / "run.json" if is_train else got / "run.jsonl"

    def next_command() -> list[str]:
        """--resume once there is a run to resume; a train run killed before its ledger existed
        left a folder that is not a run yet, which starts again from nothing."""
        resume = marker.exists() or (not is_train and attempt > 0)
        if is_train and not resume:
            shutil.rmtree(got, ignore_errors=True)
        outcome.resumes += int(resume)
        return command_line(spec, got, spec["procs"], resume=resume)

    t0 = time.monotonic()
    done, attempt = 0, 0
    finished = False
    survived_before = len(SURVIVORS)
    while done < kills and time.monotonic() - t0 < timeout:
        proc = start(next_command(), log)
        attempt += 1
        kinds = KINDS if is_train else ("random", "phase")  # gen-tests writes no checkpoint
        killed = wait_and_kill(
            proc, kinds[done % len(kinds)], got, marker, rng, reached, startup_s, step_s, 1 / steps
        )
        if killed is None:
            if proc.returncode == 0:
                outcome.finished_before_kill += 1
                finished = True
                break
            outcome.problems.append(f"attempt {attempt} exited {proc.returncode} before its kill (see {log})")
            return outcome
        kind, mid_write = killed
        outcome.kills[kind] += 1
        outcome.kills_mid_write += mid_write
        done += 1
    if not finished:
        rc, _ = run_to_end(next_command(), log, timeout)
        if rc != 0:
            outcome.problems.append(f"final resume exited {rc} (see {log})")
            return outcome
    outcome.seconds_chaos = round(time.monotonic() - t0, 1)
    outcome.survivors = len(SURVIVORS) - survived_before
    if outcome.survivors:
        outcome.problems.append(
            f"{outcome.survivors} process(es) outlived a SIGKILL of their command's group by {GRACE:.0f} s"
        )
    compare_files(ref, got, outcome)
    compare_ledger(ref, got, outcome)
    check_artifacts(got, spec, outcome)
    return outcome


def cross(workdir: Path, timeout: float) -> list[dict]:
    """Kill an ATGEN run after its first complete checkpoint; resume on the other process count."""
    results = []
    for first, second in ((2, 1), (1, 2)):
        out = workdir / f"cross-{first}-to-{second}"
        shutil.rmtree(out, ignore_errors=True)
        log = workdir / f"cross-{first}-to-{second}.log"
        spec = COMMANDS["atgen"]
        proc = start(command_line(spec, out, first, resume=False), log)
        began = time.monotonic()
        while proc.poll() is None and time.monotonic() - began < timeout:
            if any((c / "trainer_state.json").exists() for c in out.glob("**/checkpoints/checkpoint-*")):
                break
            time.sleep(POLL)
        killed = proc.poll() is None
        kill_group(proc)
        done = subprocess.run(
            command_line(spec, out, second, resume=True),
            capture_output=True, text=True, env=env(), cwd=ROOT, timeout=timeout,
        )  # fmt: skip
        errors = [line for line in done.stderr.splitlines() if line.startswith(("error:", "process "))]
        entry = {
            "started_on": first,
            "resumed_on": second,
            "killed_after_checkpoint": killed,
            "exit_code": done.returncode,
            "error": errors[0] if errors else None,
        }
        if done.returncode == 0:
            outcome = Outcome(f"cross-{first}-to-{second}")
            check_artifacts(out, spec, outcome)
            ledger = json.loads((out / "run.json").read_text())
            entry["steps"] = ledger["phases"].get("atgen/train", {}).get("steps")
            entry["problems"] = outcome.problems
        results.append(entry)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--commands", default=",".join(COMMANDS), help=f"comma-separated: {', '.join(COMMANDS)}"
    )
    parser.add_argument(
        "--kills", type=int, default=20, help="kills per command (the last run then finishes)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per command, at most")
    parser.add_argument("--cross", action="store_true", help="also resume 2 processes on 1 and 1 on 2")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="train config override (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args()
    names = [n for n in args.commands.split(",") if n]
    unknown = [n for n in names if n not in COMMANDS]
    if unknown or args.kills < 0:
        print(
            f"error: unknown command(s) {unknown} or negative --kills; use {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        sys.exit(2)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="atest-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    for spec in COMMANDS.values():
        spec["set"] = args.set
    signal.signal(signal.SIGTERM, stop_all)
    try:
        run_all(args, names, workdir, rng)
    finally:
        stop_all()


def run_all(args: argparse.Namespace, names: list[str], workdir: Path, rng: random.Random) -> None:
    outcomes = []
    for name in names:
        outcome = chaos(name, args.kills, workdir, rng, args.timeout)
        outcomes.append(outcome)
        print(
            f"{name}: {sum(outcome.kills.values())} kills {outcome.kills}, {outcome.resumes} resumes, "
            f"{outcome.kills_mid_write} inside a checkpoint write, "
            f"steps same: {outcome.steps_same}, rows missing {outcome.rows_missing} / duplicated "
            f"{outcome.rows_duplicated}, metrics rows superseded {outcome.metrics_superseded}, "
            f"checkpoints loaded {outcome.checkpoints_loaded}, finals ok: {outcome.finals_ok}, "
            f"{outcome.files_identical}/{outcome.files_compared} files byte-identical, "
            f"{outcome.survivors} process(es) outlived a kill; "
            f"{'OK' if outcome.ok else 'PROBLEMS: ' + '; '.join(outcome.problems)}",
            file=sys.stderr,
            flush=True,
        )
    report: dict = {
        "workdir": str(workdir),
        "commands": [{**asdict(o), "ok": o.ok} for o in outcomes],
        "ok": all(o.ok for o in outcomes),
    }
    if args.cross:
        report["cross"] = cross(workdir, args.timeout)
        for entry in report["cross"]:
            print(f"cross: {json.dumps(entry)}", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
