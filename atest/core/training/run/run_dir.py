"""The run directory: resolved config, phase ledger, checkpoints, metrics and final models.

A long adversarial run is a sequence of phases (sample opponents, train the test generator,
generate tests, train the code generator, ... then export). Each phase writes its artifacts
under its own folder and is marked done in `run.json` only after they are complete, so
`--resume` restarts at the first phase not marked done, and inside a training phase at its
latest complete checkpoint.

    OUT/config.yaml        the resolved config (what --resume reads)
    OUT/run.json           phase ledger and resume history
    OUT/metrics.jsonl      one record per logged GRPO step (phase, step, metrics)
    OUT/<phase>/           a phase's artifacts (checkpoint-N/, model/, opponents.jsonl, tests.jsonl)
    OUT/final/             the exported models (full model + tokenizer; LoRA adapters beside)
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from atest.core.errors import InputError
from atest.core.io import JsonlAppender, read_jsonl_resumable, write_json_atomic, write_text_atomic
from atest.core.training.config import TrainConfig, dump_config, load_saved_config

CONFIG_NAME = "config.yaml"
LEDGER_NAME = "run.json"
METRICS_NAME = "metrics.jsonl"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# transformers writes trainer_state.json last in a checkpoint (and our extra state before it),
# so its presence marks a checkpoint that a kill did not cut short.
CHECKPOINT_COMPLETE_MARKER = "trainer_state.json"


class RunDir:
    def __init__(self, root: Path, config: TrainConfig, ledger: dict[str, Any]):
        self.root = root
        self.config = config
        self._ledger = ledger

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, root: str | Path, config: TrainConfig) -> RunDir:
        """Start a new run; refuses a folder that already holds files (use --resume)."""
        path = Path(root)
        if path.exists() and not path.is_dir():
            raise InputError(f"--out {path}: exists and is not a directory")
        if path.is_dir() and any(path.iterdir()):
            hint = (
                "pass --resume to continue it" if (path / LEDGER_NAME).exists() else "choose an empty --out"
            )
            raise InputError(f"--out {path}: folder is not empty", hint)
        path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path / CONFIG_NAME, dump_config(config))
        ledger = {
            "mode": config.mode,
            "created": _now(),
            "phases": {},
            "history": [{"event": "start", "at": _now()}],
        }
        write_json_atomic(path / LEDGER_NAME, ledger)
        return cls(path, config, ledger)

    @classmethod
    def resume(cls, root: str | Path, overrides: list[str] | None = None) -> RunDir:
        """Reopen a run from its saved config, applying overrides (recorded in the ledger)."""
        path = Path(root)
        config_path = path / CONFIG_NAME
        if not config_path.is_file() or not (path / LEDGER_NAME).is_file():
            raise InputError(f"--resume: {path} holds no run ({CONFIG_NAME} / {LEDGER_NAME} missing)")
        try:
            ledger = json.loads((path / LEDGER_NAME).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path / LEDGER_NAME}: unreadable ({exc})") from exc
        config = load_saved_config(config_path, overrides)
        if overrides:
            write_text_atomic(config_path, dump_config(config))
        ledger.setdefault("history", []).append(
            {"event": "resume", "at": _now(), "overrides": overrides or []}
        )
        run = cls(path, config, ledger)
        run._save_ledger()
        return run

    # -- phases --------------------------------------------------------------------------

    def phase_dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def ledger(self) -> dict[str, Any]:
        return self._ledger

    def is_done(self, name: str) -> bool:
        return self._ledger["phases"].get(name, {}).get("status") == "done"

    def adopt(self, ledger: dict[str, Any]) -> None:
        """Take the main process's ledger (sent, not re-read: the file may already hold a later phase)."""
        self._ledger = ledger

    def phase_info(self, name: str) -> dict[str, Any]:
        return dict(self._ledger["phases"].get(name, {}))

    def mark_done(self, name: str, **info: Any) -> None:
        """Record a phase as complete; call only after its artifacts are on disk."""
        self._ledger["phases"][name] = {"status": "done", "finished": _now(), **info}
        self._save_ledger()

    def done_phases(self) -> list[str]:
        return [name for name, info in self._ledger["phases"].items() if info.get("status") == "done"]

    def _save_ledger(self) -> None:
        write_json_atomic(self.root / LEDGER_NAME, self._ledger)

    # -- metrics -------------------------------------------------------------------------

    def metrics_writer(self) -> JsonlAppender:
        """The appender of metrics.jsonl; a line a kill tore is cut off first, or the next row
        would be glued to it and every later read would stop (and truncate) there."""
        read_jsonl_resumable(self.root / METRICS_NAME)
        return JsonlAppender(self.root / METRICS_NAME)

    def read_metrics(self) -> list[dict[str, Any]]:
        """Logged steps in order; a step logged again after a resume replaces the record of the killed run."""
        latest: dict[tuple[str, int], dict[str, Any]] = {}
        for row in read_jsonl_resumable(self.root / METRICS_NAME):
            latest.pop((row.get("phase", ""), row.get("step", -1)), None)
            latest[(row.get("phase", ""), row.get("step", -1))] = row
        return list(latest.values())


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The highest-step checkpoint that was written completely; None when there is none."""
    path = Path(output_dir)
    if not path.is_dir():
        return None
    found = []
    for child in path.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir() and (child / CHECKPOINT_COMPLETE_MARKER).is_file():
            found.append((int(match.group(1)), child))
    return max(found)[1] if found else None


def remove_incomplete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Delete checkpoint folders a kill cut short, so that TRL's rotation never counts them."""
    path = Path(output_dir)
    removed = []
    if path.is_dir():
        for child in path.iterdir():
            if (
                _CHECKPOINT.match(child.name)
                and child.is_dir()
                and not (child / CHECKPOINT_COMPLETE_MARKER).is_file()
            ):
                shutil.rmtree(child)
                removed.append(child)
    return removed


def replace_dir(tmp: Path, target: Path) -> None:
    """Move a fully written folder into place; a previous one is kept aside until the new one is there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
