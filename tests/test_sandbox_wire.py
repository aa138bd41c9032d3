"""The sandbox's wire format: one definition of limits, records and framing for both sides.

The worker processes load it by path, without atest; a record of any other shape than a
real one, however it was forged, becomes a runtime error and never reaches the caller.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atest.core.sandbox import Job, Limits, Program, Status, get_executor, harness, wire

REAL = wire.Record(Status.OK, "3\n", False, "warning\n", 0, 0.01, 0.02, 9.5)


def test_a_record_comes_back_as_it_was_sent():
    assert wire.decode(REAL.encode()) == REAL
    assert json.loads(REAL.encode())["status"] == "ok"


@pytest.mark.parametrize(
    "forged",
    [
        b"[]",
        b"not json",
        b"[" * 100_000,  # nested past the recursion limit
        json.dumps({k: v for k, v in REAL._asdict().items() if k != "returned"}).encode(),
        json.dumps({**REAL._asdict(), "extra": 1}).encode(),
        json.dumps({**REAL._asdict(), "status": "accepted"}).encode(),
        json.dumps({**REAL._asdict(), "output": 3}).encode(),
        json.dumps({**REAL._asdict(), "returned": 1}).encode(),
        json.dumps({**REAL._asdict(), "cpu_time": "0.1"}).encode(),
        json.dumps({**REAL._asdict(), "cpu_time": 10**400}).encode(),
    ],
)
def test_a_record_of_any_other_shape_is_malformed(forged):
    assert wire.decode(forged) == wire.MALFORMED


def test_whole_seconds_arrive_as_floats():
    record = wire.decode(json.dumps({**REAL._asdict(), "cpu_time": 1}).encode())
    assert record.cpu_time == 1.0 and isinstance(record.cpu_time, float)


def test_a_request_carries_the_limits_with_the_wall_limit_resolved():
    limits, count = wire.unpack_request(wire.pack_request(Limits(cpu_seconds=1.5, memory_mb=256), 7))
    assert count == 7
    assert limits == Limits(cpu_seconds=1.5, memory_mb=256, wall_seconds=4.0)
    assert limits.wall_limit == Limits(cpu_seconds=1.5).wall_limit
    explicit, _ = wire.unpack_request(wire.pack_request(Limits(wall_seconds=9.0), 1))
    assert explicit.wall_limit == 9.0


def test_the_worker_side_loads_it_by_path_without_atest():
    """As zygote.py does under `python -I -S`: its records decode on atest's side."""
    loader = (
        "import json, sys\n"
        f"path = {str(Path(harness.__file__))!r}\n"
        "module = type(sys)('h')\n"
        "module.__file__ = path\n"
        "exec(compile(open(path).read(), path, 'exec'), module.__dict__)\n"
        "limits, count = module.wire.unpack_request(sys.stdin.buffer.read())\n"
        "record = module.Record(module.Status.OK, str(limits.memory_mb), False, '', count, 0.0, 0.0, 1.0)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'atest')))\n"
        "print(record.encode().decode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", loader],
        input=wire.pack_request(Limits(memory_mb=333), 5),
        capture_output=True,
        check=True,
    )
    modules, record = done.stdout.decode().splitlines()
    assert json.loads(modules) == []
    assert wire.decode(record.encode()) == wire.Record(Status.OK, "333", False, "", 5, 0.0, 0.0, 1.0)


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("provider", "framing"), [("local", "struct.pack('<Qd', len(data), 0.0)"), ("subprocess", "b''")]
)
def test_a_deeply_nested_forged_record_is_a_runtime_error(provider, framing):
    """Written on every descriptor the program holds: the fork server's report pipe, framed
    as a real record is; the subprocess provider's result file, as it is."""
    forger = (
        "import os, struct\ndata = b'[' * 100000\n"
        "for fd in range(3, 64):\n"
        f"    try: os.write(fd, {framing} + data)\n"
        "    except OSError: pass\n"
        "os._exit(0)\n"
    )
    limits = Limits(cpu_seconds=0.5)
    with get_executor(workers=1, executor=provider) as executor:
        forged, after = executor.run(
            [Job(Program(forger, "stdio"), "", limits), Job(Program("print(input())", "stdio"), "7", limits)]
        )
    assert (forged.status, forged.output, forged.stderr_tail) == (
        Status.RUNTIME_ERROR,
        None,
        "sandbox: malformed result record",
    )
    assert (after.status, after.output) == (Status.OK, "7\n")
