"""atest installed as users install it: a built wheel, outside the checkout, with its configs and presets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`pip wheel` of this checkout, installed with `--target` into a folder of its own."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (work / "dist").glob("atest-*.whl")
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def _atest(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("ATEST_CONFIG_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "atest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )


@pytest.mark.slow
def test_the_wheel_carries_the_configs_and_runs_a_preset(installed, tmp_path):
    where = subprocess.run(
        [sys.executable, "-c", "import atest; print(atest.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed)  # not the checkout's copy

    shown = _atest(installed, tmp_path, "train", "--mode", "utrl", "--preset", "cpu-smoke", "--print-config")
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)
    assert config["mode"] == "utrl"
    assert Path(config["tasks"]).is_relative_to(installed)

    run = _atest(
        installed,
        tmp_path,
        "train",
        "--mode",
        "atgen-static",
        "--preset",
        "cpu-smoke",
        "--set",
        "atgen.max_steps=1",
        "--out",
        str(tmp_path / "run"),
        "--json",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert Path(summary["models"]["test_generator"]).is_dir()
