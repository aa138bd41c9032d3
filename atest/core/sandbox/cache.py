"""Execution results keyed by (program, input, limits): memory LRU plus an optional disk cache.

A (code, input) pair is never run twice in a process; with a cache directory, not across
runs either. The disk cache is SQLite in WAL mode, safe for concurrent writers (several
evaluation jobs sharing one cache directory).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

from atest.core.sandbox.types import Execution, Job, Status, input_key

CACHE_VERSION = "1"
MEMORY_ENTRIES = 200_000


def job_key(job: Job) -> str:
    limits = job.limits
    text = "\0".join(
        (
            CACHE_VERSION,
            job.program.key,
            input_key(job.input),
            repr((limits.cpu_seconds, limits.memory_mb, limits.output_bytes, limits.wall_limit)),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


class MemoryCache:
    def __init__(self, capacity: int = MEMORY_ENTRIES):
        self.capacity = capacity
        self._items: OrderedDict[str, Execution] = OrderedDict()

    def get(self, key: str) -> Execution | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: str, execution: Execution) -> None:
        self._items[key] = execution
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class DiskCache:
    def __init__(self, directory: str | Path):
        path = Path(directory).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / f"executions-v{CACHE_VERSION}.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, Execution]:
        found: dict[str, Execution] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(
                    f"SELECT key, value FROM runs WHERE key IN ({marks})", chunk
                ):
                    data = json.loads(value)
                    data["status"] = Status(data["status"])
                    found[key] = Execution(**data)
        return found

    def put_many(self, items: dict[str, Execution]) -> None:
        rows = [(k, json.dumps({**asdict(e), "status": e.status.value})) for k, e in items.items()]
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO runs (key, value) VALUES (?, ?)", rows)
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
