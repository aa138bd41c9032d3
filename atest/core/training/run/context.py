"""What every loop phase shares: the run folder, the tasks, one sandbox, the device and the reporters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atest.core.sandbox import Executor, Limits
from atest.core.tasks import Task
from atest.core.training.run import ranks
from atest.core.training.run.run_dir import RunDir


@dataclass
class LoopContext:
    run: RunDir
    tasks: list[Task]
    executor: Executor
    use_cpu: bool
    base_dirs: dict[str, str]  # role -> local model folder (resolve_model of the config's path)
    on_metrics: Callable[[dict[str, Any]], None]  # one logged GRPO step (already saved to metrics.jsonl)
    on_event: Callable[[str], None]  # a one-line phase message

    @property
    def config(self) -> Any:
        return self.run.config

    @property
    def limits(self) -> Limits:
        box = self.config.sandbox
        return Limits(cpu_seconds=box.cpu_seconds, memory_mb=box.memory_mb)

    @property
    def tasks_by_id(self) -> dict[str, Task]:
        return {t.task_id: t for t in self.tasks}

    @property
    def is_main(self) -> bool:
        return ranks.is_main()

    def barrier(self) -> None:
        ranks.barrier()

    def mark_done(self, name: str, **info: Any) -> None:
        """Record a finished phase: the main process writes the ledger and sends it to the others."""

        def write() -> dict[str, Any]:
            self.run.mark_done(name, **info)
            return self.run.ledger

        self.run.adopt(ranks.on_main(write))

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.run.root))
