"""One ATGEN adversarial step on every process of a `torchrun` launch (run by test_train_multiproc).

argv: model folder, output folder. Each process writes `rank<N>.json`: the tasks its sampler
was asked about, and the metrics and state it ended the step with.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from atest.core.sandbox import Limits, get_executor
from atest.core.tasks import read_tasks
from atest.core.training.config import load_config
from atest.core.training.modes import get_mode
from atest.core.training.phases.adversary import AdversarialState, Observation, Slot
from atest.core.training.phases.atgen_loop import AdversarySampler, _adversarial_step
from atest.core.training.phases.sampling import open_generator
from atest.core.training.run import ranks


class AskedFor:
    """The real generator, noting which tasks each call asked about."""

    def __init__(self, generator, questions: dict[str, str]):
        self.generator = generator
        self.questions = questions
        self.asked: list[str] = []

    def generate(self, prompts, params):
        for messages in prompts:
            text = "\n".join(m["content"] for m in messages)
            self.asked.extend(tid for tid, q in self.questions.items() if q in text)
        return self.generator.generate(prompts, params)


def main() -> None:
    model, out = sys.argv[1], Path(sys.argv[2])
    ranks.init(use_cpu=True)
    cfg = load_config("atgen-unconditional", preset="cpu-smoke")
    tasks = read_tasks(Path(cfg.tasks))[0][:4]
    slots = [Slot(t.task_id, t.buggy_code[0]) for t in tasks]
    state = AdversarialState(slots, get_mode(cfg.mode).due, cfg.atgen, cfg.seed)
    seen = [Observation(slot=i, on_current=True, test=None, accurate=False, attacks=False) for i in range(4)]
    with get_executor(workers=1) as executor, open_generator("hf", model) as generator:
        asking = AskedFor(generator, {t.task_id: t.question for t in tasks})
        sampler = AdversarySampler(asking, executor, cfg.atgen.adversary, Limits(cpu_seconds=1.0), 0, False)
        metrics = _adversarial_step(state, sampler, seen, 5, {t.task_id: t for t in tasks})
    record = {"asked": sorted(set(asking.asked)), "metrics": metrics, "state": state.state_dict()}
    (out / f"rank{ranks.rank()}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
