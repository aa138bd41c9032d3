"""Run under `torchrun --nproc_per_node 2`: `ranks.map_sharded` in a real gloo group.

Writes rank<R>.json into argv[1]: the items each call of `fn` received and the results every
process got back (tests/test_train_multiproc.py reads them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from atest.core.training.run import ranks


def main(out: Path) -> None:
    ranks.init(use_cpu=True)
    calls: list[list[int]] = []

    def fn(part: list[int]) -> list[int]:
        calls.append(list(part))
        return [x * 10 for x in part]

    results = {
        "uneven": ranks.map_sharded(fn, list(range(5))),
        "even": ranks.map_sharded(fn, list(range(5)), even=True),
        "even_one": ranks.map_sharded(fn, [7], even=True),
    }
    (out / f"rank{ranks.rank()}.json").write_text(json.dumps({"calls": calls, "results": results}))
    ranks.finish()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
