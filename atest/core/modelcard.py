"""Model cards: every model atest exports says what it is, where it came from and how good it is.

A folder under `final/` of `atest train`, the output of `atest warmup` and of `atest merge-lora`
is copied around, pushed to the Hub and evaluated long after the run folder that made it is
gone. So the folder carries its own description, in the form every model hub and loader
already reads: `README.md` with the Hub's YAML metadata header (`base_model`, `library_name`,
`tags`, `license` when known, `model-index` once evaluated), then what made it (mode, atest
version, the exact command and resolved config), the data (task files with their sha256),
the steps, the validation figures and which checkpoint was selected, and the evaluation
figures once `atest reproduce` measured them.

The README is rendered from one record, `atest_card.json` beside it, so that a later step
(the evaluation, a LoRA merge of an exported adapter) updates the record and re-renders the
card instead of parsing Markdown. Neither file is read by transformers or vLLM: the folder
stays loadable as is.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from atest.core.errors import InputError
from atest.core.io import write_json_atomic, write_text_atomic

CARD_NAME = "README.md"
RECORD_NAME = "atest_card.json"
# Built-in model names (atest.core.models) and the Hub model each one is; tiny-random is none.
BUILTIN_HUB = {"smollm2-135m": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class DataFile(BaseModel):
    """A file the model was made from, identified by content so a later reader can check it."""

    role: str  # "training tasks", "validation tasks", "reward tests", "held-out evaluation tasks"
    path: str
    sha256: str
    used: int | None = None  # how many of its records the run used, when known


class MergeInfo(BaseModel):
    """How a LoRA adapter became this full model (`atest merge-lora` or the export of a LoRA run)."""

    adapter: str
    base: str
    command: str | None = None  # None: merged by the export of the run that trained it


class ModelCard(BaseModel):
    """Everything a card says; `atest_card.json` holds it and README.md is rendered from it."""

    title: str
    mode: str  # `atest train --mode`, or "warmup" / "merge-lora"
    role: str | None = None  # test_generator / code_generator
    base_model: str  # as the user named it: a built-in name, a local folder or a hub id
    base_model_hub: str | None = None  # the Hub id for the metadata header, when one is known
    license: str | None = None  # the base model's, when known
    adapter: bool = False  # a PEFT LoRA adapter folder (library peft), not a full model
    atest_version: str = ""
    created: str = ""
    command: str = ""
    cwd: str = ""
    processes: int = 1
    history: list[dict[str, Any]] = Field(default_factory=list)  # start / resume events of the run
    config: dict[str, Any] = Field(default_factory=dict)  # the resolved config
    data: list[DataFile] = Field(default_factory=list)
    phases: dict[str, dict[str, Any]] = Field(default_factory=dict)  # phase -> what run.json recorded
    rewards: dict[str, dict[str, float]] = Field(default_factory=dict)  # phase -> steps, first, last
    time_per_step: dict[str, float] = Field(default_factory=dict)  # seconds by part of a step
    figures: dict[str, float] = Field(default_factory=dict)  # other training figures (warm-up loss)
    selection: str | None = None  # validation.select
    validation: dict[str, dict[str, float]] = Field(default_factory=dict)  # phase -> summary
    merge: MergeInfo | None = None
    evaluation: dict[str, dict[str, float]] = Field(default_factory=dict)  # benchmark -> metric -> value
    evaluation_source: str | None = None
    tags: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)  # Hub dataset ids, when the data came from one


# -- writing and updating ------------------------------------------------------------------------


def write_model_card(folder: str | Path, card: ModelCard) -> Path:
    """Write `atest_card.json` and the README.md rendered from it into `folder` (each atomically)."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"{path}: no such model folder")
    write_json_atomic(path / RECORD_NAME, card.model_dump(mode="json"))
    write_text_atomic(path / CARD_NAME, render_model_card(card))
    return path / CARD_NAME


def read_model_card(folder: str | Path) -> ModelCard | None:
    """The card record of a folder atest wrote; None for any other folder."""
    path = Path(folder) / RECORD_NAME
    if not path.is_file():
        return None
    try:
        return ModelCard.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: unreadable model card record ({str(exc).splitlines()[0]})") from exc


def update_model_card_evaluation(
    folder: str | Path, figures: dict[str, Any], *, source: str | None = None
) -> Path:
    """Add evaluation figures to the card of a model atest exported, and re-render it.

    `figures` is either flat, `{metric: value}` (one group named "evaluation"), or grouped by
    benchmark, `{benchmark: {metric: value}}`; values are numbers. A group already on the card
    is replaced, others are kept. `source` says what measured them (e.g. the reproduce
    command), shown under the table. The figures also go to the Hub header's `model-index`.
    """
    card = read_model_card(folder)
    if card is None:
        raise InputError(
            f"{folder}: no {RECORD_NAME} (not a model folder atest exported)",
            "evaluate a final/ folder of atest train, or the output of atest warmup / merge-lora",
        )
    card.evaluation.update(_grouped_figures(figures))
    if source is not None:
        card.evaluation_source = source
    return write_model_card(folder, card)


def _grouped_figures(figures: dict[str, Any]) -> dict[str, dict[str, float]]:
    flat = {k: v for k, v in figures.items() if not isinstance(v, dict)}
    groups = {k: v for k, v in figures.items() if isinstance(v, dict)}
    if flat:
        groups = {"evaluation": flat, **groups}
    out: dict[str, dict[str, float]] = {}
    for group, metrics in groups.items():
        for name, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"evaluation figure {group}/{name} is {value!r}, not a number")
        out[str(group)] = {str(k): float(v) for k, v in metrics.items()}
    return out


# -- what every card shares ----------------------------------------------------------------------


def current_command() -> str:
    """The command line of this process, as the user would type it again."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("atest", "__main__.py"):
        return shlex.join(["atest", *argv[1:]])
    return shlex.join(["python", *argv])


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_file(role: str, path: str | Path, used: int | None = None) -> DataFile:
    return DataFile(role=role, path=str(Path(path).resolve()), sha256=sha256_file(path), used=used)


def hub_lineage(name: str, local_dir: str | None = None) -> tuple[str | None, str | None]:
    """(Hub id, license) of a base model, where they can be known without the network.

    A built-in name maps to its Hub model; a Hub id is itself (its license comes from a
    README.md in the local Hub cache, if any); a local folder inherits both from its own card
    (e.g. a warm-up of SmolLM2 trained further). Anything else: (None, None).
    """
    if name in BUILTIN_HUB:
        return BUILTIN_HUB[name]
    folder = Path(local_dir or name).expanduser()
    if folder.is_dir():
        return _lineage_of_folder(folder)
    if _HUB_ID.match(name):
        return name, _cached_hub_license(name)
    return None, None


def _lineage_of_folder(folder: Path) -> tuple[str | None, str | None]:
    card = read_model_card(folder)
    if card is not None:
        return card.base_model_hub, card.license
    meta = _readme_metadata(folder / CARD_NAME)
    base = meta.get("base_model")
    base = base[0] if isinstance(base, list) and base else base
    license_ = meta.get("license")
    return (base if isinstance(base, str) else None), (license_ if isinstance(license_, str) else None)


def _cached_hub_license(repo_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, CARD_NAME)
    except Exception:  # no cache, a malformed id: the license is simply unknown
        return None
    if not isinstance(found, str):
        return None
    license_ = _readme_metadata(Path(found)).get("license")
    return license_ if isinstance(license_, str) else None


def _readme_metadata(path: Path) -> dict[str, Any]:
    """The YAML header of a README.md; {} when there is none or it does not parse."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if not match:
        return {}
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _version() -> str:
    from atest import __version__

    return __version__


def new_card(
    *,
    title: str,
    mode: str,
    base_model: str,
    base_dir: str | None,
    role: str | None = None,
    adapter: bool = False,
    tags: list[str] | None = None,
    **fields: Any,
) -> ModelCard:
    """A card stamped with this process's command, working directory, atest version and time."""
    hub, license_ = hub_lineage(base_model, base_dir)
    return ModelCard(
        title=title,
        mode=mode,
        role=role,
        base_model=base_model,
        base_model_hub=hub,
        license=license_,
        adapter=adapter,
        atest_version=_version(),
        created=_now(),
        command=current_command(),
        cwd=str(Path.cwd()),
        tags=tags or [],
        **fields,
    )


# -- the cards of each command -------------------------------------------------------------------

_TRAINING_METHOD = {"sft": "sft"}  # every other mode trains with GRPO


def write_run_cards(ctx: Any, role: str, target: Path) -> None:
    """The cards of one exported role: `final/<role>` and, for LoRA, `final/<role>_adapter`."""
    adapter = target.with_name(f"{role}_adapter")
    merged_from = None
    if adapter.is_dir():
        write_model_card(adapter, run_card(ctx, role, adapter=True))
        merged_from = Path(ctx.rel(adapter))
    write_model_card(target, run_card(ctx, role, merged_from=merged_from))


def run_card(ctx: Any, role: str, *, adapter: bool = False, merged_from: Path | None = None) -> ModelCard:
    """The card of one exported role of an `atest train` run (`ctx`: the run's LoopContext).

    Read from what the run already keeps: its resolved config, run.json (phases, steps, the
    selected folders, adversary totals, held-out evaluations), metrics.jsonl (rewards, time
    per step, validation) and the task files named in the config. `adapter`: the card of the
    exported LoRA adapter; `merged_from`: that adapter, for the full model merged from it.
    """
    from atest.core.training.run import ranks
    from atest.core.training.runner import bundled_tasks, summarize

    run = ctx.run
    config = run.config
    section = config.code_model if role == "code_generator" and config.code_model else config.test_model
    summary = summarize(run, {}, 0.0)
    ledger = run.ledger
    phases = {
        name: {k: v for k, v in info.items() if k not in ("status", "finished")}
        for name, info in ledger.get("phases", {}).items()
        if not name.startswith("final/")
    }
    method = _TRAINING_METHOD.get(config.mode, "grpo")
    family = config.mode.split("-")[0]  # atgen-static -> atgen: the paper the mode comes from
    tags = [
        "atest",
        "unit-test-generation" if role == "test_generator" else "code-generation",
        family,
        method,
    ]
    tags += ["trl", *(["lora", "peft"] if adapter else [])]
    merge = None
    if merged_from is not None:
        merge = MergeInfo(adapter=str(merged_from), base=section.path)
    return new_card(
        title=f"{role.replace('_', ' ')} trained by atest train --mode {config.mode}"
        + (" (LoRA adapter)" if adapter else ""),
        mode=config.mode,
        role=role,
        base_model=section.path,
        base_dir=ctx.base_dirs.get("code" if role == "code_generator" else "test"),
        adapter=adapter,
        tags=tags,
        processes=ranks.world(),
        history=list(ledger.get("history", [])),
        config=config.model_dump(mode="json"),
        data=_run_data(config, len(ctx.tasks), bundled_tasks()),
        phases=phases,
        rewards=summary.rewards,
        time_per_step=summary.time_per_step,
        selection=config.validation.select if config.validation.tasks else None,
        validation=summary.validation,
        merge=merge,
    )


def _run_data(config: Any, n_tasks: int, bundled: Path) -> list[DataFile]:
    """The files the config names; one moved away since the run started is left out, not fatal
    (the export after hours of training must not fail on it)."""
    named = [
        ("training tasks", config.tasks or bundled, n_tasks),
        ("validation tasks", config.validation.tasks, None),
        ("reward tests", config.codegen.tests, None),
        ("held-out evaluation tasks", config.codegen.eval_tasks, None),
    ]
    return [data_file(role, path, used) for role, path, used in named if path and Path(path).is_file()]


def warmup_card(*, model: str, model_dir: str, tasks: str | Path, summary: Any, options: Any) -> ModelCard:
    """The card of an `atest warmup` output (`summary`, `options`: its WarmupSummary, WarmupOptions)."""
    from dataclasses import asdict

    return new_card(
        title=f"{model} after atest warmup ({options.template} format)",
        mode="warmup",
        role="test_generator",
        base_model=model,
        base_dir=model_dir,
        tags=["atest", "unit-test-generation", "warmup", "sft", "trl"],
        config={"model": model, "tasks": str(tasks), **asdict(options)},
        data=[data_file("training tasks", tasks)],
        phases={"warmup": {"steps": summary.steps, "examples": summary.n_examples}},
        figures={"loss_first": summary.loss_first, "loss_last": summary.loss_last},
    )


def merged_card(*, base: str, adapter: str | Path) -> ModelCard:
    """The card of a merged model: the adapter's own card carried over (if atest exported it),
    with the merge recorded; otherwise a card saying only what was merged into what."""
    from atest.core.training.run.merge import local_model

    base_dir = local_model(base)
    merge = MergeInfo(adapter=str(adapter), base=base, command=current_command())
    found = read_model_card(adapter)
    if found is not None:
        hub, license_ = (
            (found.base_model_hub, found.license) if found.base_model == base else hub_lineage(base, base_dir)
        )
        tags = [t for t in found.tags if t not in ("peft",)]
        return found.model_copy(
            update={
                "adapter": False,
                "merge": merge,
                "base_model": base,
                "base_model_hub": hub,
                "license": license_,
                "tags": tags,
                "title": found.title.replace(" (LoRA adapter)", ""),
            }
        )
    return new_card(
        title=f"{Path(adapter).name} merged into {base}",
        mode="merge-lora",
        base_model=base,
        base_dir=base_dir,
        tags=["atest", "lora", "merge"],
        merge=merge,
    )


# -- rendering -----------------------------------------------------------------------------------


def hub_metadata(card: ModelCard) -> dict[str, Any]:
    """The Hub's YAML header, through huggingface_hub's own ModelCardData (model-index included)."""
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(
            task_type="text-generation",
            task_name="unit test generation" if card.role != "code_generator" else "code generation",
            dataset_type=group,
            dataset_name=group,
            metric_type=name,
            metric_name=name,
            metric_value=value,
        )
        for group, metrics in card.evaluation.items()
        for name, value in metrics.items()
    ]
    extra: dict[str, Any] = {}
    if card.base_model_hub:
        extra["base_model_relation"] = "adapter" if card.adapter else "finetune"
    data = ModelCardData(
        base_model=card.base_model_hub,
        library_name="peft" if card.adapter else "transformers",
        pipeline_tag="text-generation",
        license=card.license,
        tags=card.tags or None,
        datasets=card.datasets or None,
        model_name=card.title if results else None,
        eval_results=results or None,
        **extra,
    )
    return data.to_dict()


def render_model_card(card: ModelCard) -> str:
    """README.md: the Hub header, then the card's sections in the order a reader asks."""
    header = yaml.safe_dump(hub_metadata(card), sort_keys=False, allow_unicode=True).strip()
    parts = [f"---\n{header}\n---\n", f"# {card.title}\n", _summary(card)]
    parts += [_how_made(card), _data_section(card), _training_section(card)]
    parts += [_validation_section(card), _evaluation_section(card), _usage(card), _config_section(card)]
    return "\n".join(p for p in parts if p).rstrip() + "\n"


def _summary(card: ModelCard) -> str:
    what = "A LoRA adapter" if card.adapter else "A full model (weights and tokenizer)"
    made = {
        "warmup": "by `atest warmup` (supervised format warm-up)",
        "merge-lora": "by `atest merge-lora`",
    }.get(card.mode, f"by `atest train --mode {card.mode}`")
    rows = [
        ("base model", f"`{card.base_model}`" + (f" ({card.base_model_hub})" if card.base_model_hub else "")),
        ("mode", card.mode),
        ("role", card.role or ""),
        ("atest", card.atest_version),
        ("created", card.created),
        ("license", card.license or "not known (the base model's applies)"),
    ]
    if card.processes > 1:
        rows.append(("processes", str(card.processes)))
    if card.merge is not None:
        rows.append(("merged", f"LoRA adapter `{card.merge.adapter}` folded into `{card.merge.base}`"))
    lines = [f"{what} made {made}.", "", "| | |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in rows if v]
    return "\n".join(lines) + "\n"


def _how_made(card: ModelCard) -> str:
    lines = ["## How it was made", "", "```bash"]
    lines += [f"cd {shlex.quote(card.cwd)}"] if card.cwd else []
    lines += [card.command, "```"]
    resumes = [h for h in card.history if h.get("event") == "resume"]
    if resumes:
        lines.append("")
        lines.append(
            f"The run was resumed {len(resumes)} time(s) (`atest train --resume`); the command above "
            "is the one that finished it, the resolved config below is what every part ran with."
        )
    if card.merge is not None and card.merge.command:
        lines += ["", "Then merged with:", "", "```bash", card.merge.command, "```"]
    return "\n".join(lines) + "\n"


def _data_section(card: ModelCard) -> str:
    if not card.data:
        return ""
    lines = ["## Data", "", "| role | file | records used | sha256 |", "| --- | --- | ---: | --- |"]
    for d in card.data:
        used = "" if d.used is None else str(d.used)
        lines.append(f"| {d.role} | `{d.path}` | {used} | `{d.sha256}` |")
    return "\n".join(lines) + "\n"


def _training_section(card: ModelCard) -> str:
    if not card.phases and not card.figures:
        return ""
    lines = ["## Training", ""]
    if card.phases:
        lines += ["| phase | steps | reward first -> last | recorded |", "| --- | ---: | --- | --- |"]
        for name, info in card.phases.items():
            steps = info.get("steps", "")
            reward = card.rewards.get(name)
            shown = f"{reward['reward_first']:.3f} -> {reward['reward_last']:.3f}" if reward else ""
            rest = ", ".join(f"{k} {_fmt(v)}" for k, v in info.items() if k != "steps")
            lines.append(f"| {name} | {steps} | {shown} | {rest} |")
    if card.figures:
        lines += ["", ", ".join(f"{k} {_fmt(v)}" for k, v in card.figures.items())]
    if card.time_per_step:
        split = ", ".join(f"{k} {v:.3g} s" for k, v in card.time_per_step.items() if k != "reward_fraction")
        lines += ["", f"Time per step (mean over logged steps): {split}."]
    return "\n".join(lines) + "\n"


def _validation_section(card: ModelCard) -> str:
    if not card.validation and card.selection is None:
        return ""
    lines = ["## Validation and selection", ""]
    if card.selection is not None:
        handed = [f"`{n}`: `{i['model']}`" for n, i in card.phases.items() if "model" in i]
        lines.append(
            f"Selection `validation.select: {card.selection}`; each phase handed on "
            + ("; ".join(handed) if handed else "its last model")
            + "."
        )
        lines.append("")
    if card.validation:
        lines += ["| phase | validations | score first | score last | best | best step |"]
        lines += ["| --- | ---: | ---: | ---: | ---: | ---: |"]
        for phase, v in card.validation.items():
            lines.append(
                f"| {phase} | {v['validations']:.0f} | {v['score_first']:.3f} | {v['score_last']:.3f} "
                f"| {v['score_best']:.3f} | {v['best_step']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def _evaluation_section(card: ModelCard) -> str:
    lines = ["## Evaluation", ""]
    if not card.evaluation:
        lines.append("Not evaluated yet: `atest reproduce` adds its figures here and to the header.")
        return "\n".join(lines) + "\n"
    lines += ["| benchmark | metric | value |", "| --- | --- | ---: |"]
    for group, metrics in card.evaluation.items():
        lines += [f"| {group} | {name} | {value:.4g} |" for name, value in metrics.items()]
    if card.evaluation_source:
        lines += ["", f"Measured by `{card.evaluation_source}`."]
    return "\n".join(lines) + "\n"


def _usage(card: ModelCard) -> str:
    if card.adapter:
        load = [
            "from peft import AutoPeftModelForCausalLM",
            "from transformers import AutoTokenizer",
            "",
            'model = AutoPeftModelForCausalLM.from_pretrained("PATH")',
            'tokenizer = AutoTokenizer.from_pretrained("PATH")',
        ]
    else:
        load = [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            'model = AutoModelForCausalLM.from_pretrained("PATH")',
            'tokenizer = AutoTokenizer.from_pretrained("PATH")',
        ]
    lines = ["## Usage", "", "```python", *load, "```", ""]
    if card.role == "test_generator" and not card.adapter:
        lines += [
            "Or with atest: `atest gen-tests --model PATH --tasks tasks.jsonl --out tests.jsonl`.",
            "",
        ]
    return "\n".join(lines)


def _config_section(card: ModelCard) -> str:
    if not card.config:
        return ""
    text = yaml.safe_dump(card.config, sort_keys=False, allow_unicode=True).rstrip()
    return "\n".join(
        [
            "## Resolved config",
            "",
            "<details><summary>config</summary>",
            "",
            "```yaml",
            text,
            "```",
            "",
            "</details>",
        ]
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)
