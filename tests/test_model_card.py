"""Model cards of exported models, and atest's own figures in TRL's trackers (TensorBoard).

The slow tests run the real commands on the tiny random model (cpu-smoke presets) and check
three things of each exported folder: transformers still loads it as is, huggingface_hub reads
its card's metadata header, and the card holds what made the model (command, config, data
hashes, steps, validation). The TensorBoard checks read the event files TRL's trainer wrote.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from atest_cli import run_cli

from atest.core.errors import InputError
from atest.core.modelcard import (
    CARD_NAME,
    RECORD_NAME,
    DataFile,
    ModelCard,
    hub_lineage,
    read_model_card,
    render_model_card,
    update_model_card_evaluation,
    write_model_card,
)
from atest.core.tasks import read_tasks, write_tasks

SMOKE_TASKS = Path("atest/configs/cpu-smoke/tasks.jsonl")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hub_card(folder: Path):
    """The card as the Hub's own library reads it (header parsed and validated)."""
    from huggingface_hub import ModelCard as HubCard

    return HubCard.load(folder / CARD_NAME)


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard event files under `run_dir`: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[tuple[int, float]]] = {}
    folders = {p.parent for p in run_dir.rglob("events.out.tfevents.*")}
    assert folders, f"no TensorBoard event file under {run_dir}"
    for folder in sorted(folders):
        events = EventAccumulator(str(folder))
        events.Reload()
        for tag in events.Tags()["scalars"]:
            found.setdefault(tag, []).extend((e.step, e.value) for e in events.Scalars(tag))
    return found


def assert_loads(folder: Path) -> None:
    """transformers loads the folder as is, README.md and atest_card.json beside the weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(**tokenizer("print(1)", return_tensors="pt")).logits
    assert torch.isfinite(logits).all()


# -- the record and its rendering (no model) --------------------------------------------------------


def sample_card(**changes) -> ModelCard:
    card = ModelCard(
        title="test generator trained by atest train --mode atgen-static",
        mode="atgen-static",
        role="test_generator",
        base_model="smollm2-135m",
        base_model_hub="HuggingFaceTB/SmolLM2-135M-Instruct",
        license="apache-2.0",
        atest_version="0.1.0",
        command="atest train --mode atgen-static --out runs/x",
        config={"mode": "atgen-static", "grpo": {"learning_rate": 1e-6}},
        data=[DataFile(role="training tasks", path="tasks.jsonl", sha256="ab" * 32, used=4)],
        phases={"atgen/train": {"steps": 3, "model": "atgen/train/best"}},
        selection="best",
        validation={
            "atgen/train/validation": {
                "validations": 4,
                "score_first": 0.0,
                "score_last": 0.5,
                "score_best": 0.5,
                "best_step": 3,
            }
        },
        tags=["atest", "atgen"],
    )
    return card.model_copy(update=changes)


def test_card_header_is_the_hubs_metadata_and_the_body_says_how_the_model_was_made(tmp_path):
    write_model_card(tmp_path, sample_card())
    data = hub_card(tmp_path).data
    assert data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert data.library_name == "transformers" and data.license == "apache-2.0"
    assert data.pipeline_tag == "text-generation" and data.tags == ["atest", "atgen"]
    assert data.eval_results is None  # nothing evaluated yet: no model-index
    text = (tmp_path / CARD_NAME).read_text()
    for shown in (
        "atest train --mode atgen-static --out runs/x",
        "ab" * 32,
        "atgen/train/best",
        "learning_rate",
    ):
        assert shown in text
    assert "| atgen/train/validation | 4 | 0.000 | 0.500 | 0.500 | 3 |" in text
    assert "Not evaluated yet" in text
    assert read_model_card(tmp_path) == sample_card()


def test_an_adapter_card_says_peft_and_an_unknown_base_leaves_the_header_without_one(tmp_path):
    write_model_card(
        tmp_path, sample_card(adapter=True, base_model="tiny-random", base_model_hub=None, license=None)
    )
    data = hub_card(tmp_path).data
    assert data.library_name == "peft" and data.base_model is None and data.license is None
    assert "AutoPeftModelForCausalLM" in (tmp_path / CARD_NAME).read_text()


def test_evaluation_figures_reach_the_table_and_the_model_index(tmp_path):
    write_model_card(tmp_path, sample_card())
    update_model_card_evaluation(
        tmp_path, {"taco-test": {"attack_rate": 0.25, "bon_accuracy": 0.5}}, source="atest reproduce --x"
    )
    update_model_card_evaluation(tmp_path, {"mutation_score": 0.75})  # flat: one group, "evaluation"
    update_model_card_evaluation(tmp_path, {"taco-test": {"attack_rate": 0.3}})  # a group is replaced
    card = read_model_card(tmp_path)
    assert card.evaluation == {"taco-test": {"attack_rate": 0.3}, "evaluation": {"mutation_score": 0.75}}
    results = {(r.dataset_name, r.metric_type): r.metric_value for r in hub_card(tmp_path).data.eval_results}
    assert results == {("taco-test", "attack_rate"): 0.3, ("evaluation", "mutation_score"): 0.75}
    text = (tmp_path / CARD_NAME).read_text()
    assert "| taco-test | attack_rate | 0.3 |" in text and "atest reproduce --x" in text
    assert "Not evaluated yet" not in text


def test_evaluation_needs_an_atest_card_and_numbers(tmp_path):
    with pytest.raises(InputError, match=RECORD_NAME):
        update_model_card_evaluation(tmp_path, {"x": 1.0})
    write_model_card(tmp_path, sample_card())
    with pytest.raises(ValueError, match="not a number"):
        update_model_card_evaluation(tmp_path, {"x": "high"})
    assert read_model_card(tmp_path).evaluation == {}


def test_hub_lineage_is_known_only_where_it_can_be_without_the_network(tmp_path):
    assert hub_lineage("smollm2-135m") == ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")
    assert hub_lineage("tiny-random", str(tmp_path)) == (None, None)
    assert hub_lineage("Qwen/Qwen3-4B")[0] == "Qwen/Qwen3-4B"
    # A local folder inherits from its own card: atest's record, or a README header.
    warmed = tmp_path / "warmed"
    warmed.mkdir()
    write_model_card(warmed, sample_card())
    assert hub_lineage(str(warmed)) == ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")
    other = tmp_path / "other"
    other.mkdir()
    (other / CARD_NAME).write_text("---\nbase_model: org/model\nlicense: mit\n---\n# x\n")
    assert hub_lineage(str(other)) == ("org/model", "mit")
    assert render_model_card(sample_card()).startswith("---\n")


def test_a_tracker_that_is_not_installed_is_refused_before_anything_loads(tmp_path):
    import importlib.util

    missing = next(n for n in ("neptune", "clearml", "swanlab", "dvclive") if not importlib.util.find_spec(n))
    out = tmp_path / "run"
    proc = run_cli(
        "train", "--mode", "atgen-static", "--preset", "cpu-smoke", "--out", str(out),
        "--set", f"grpo.report_to=[{missing}]", timeout=900,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"grpo.report_to names {missing}, which is not installed" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()


# -- real exports --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sft_export_has_a_card_loads_as_is_and_reports_its_loss_to_tensorboard(tmp_path):
    out = tmp_path / "sft"
    proc = run_cli(
        "train", "--mode", "sft", "--preset", "cpu-smoke", "--out", str(out),
        "--set", "sft.report_to=[tensorboard]", timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = out / "final/test_generator"
    assert_loads(final)
    card = read_model_card(final)
    assert card.mode == "sft" and card.role == "test_generator" and card.base_model == "tiny-random"
    assert card.command.startswith("atest train --mode sft --preset cpu-smoke")
    assert card.config == json.loads(json.dumps(card.config)) and card.config["sft"]["max_steps"] == 2
    assert card.phases["sft/train"]["steps"] == 2
    (data,) = card.data
    assert data.sha256 == sha256(SMOKE_TASKS) and data.used == 4
    meta = hub_card(final).data
    assert meta.library_name == "transformers" and "sft" in meta.tags
    assert [step for step, _ in scalars(out / "sft")["train/loss"]] == [1, 2]


@pytest.mark.slow
def test_atgen_export_cards_tensorboard_figures_merge_and_evaluation(tmp_path):
    """One ATGEN run: the adapter and merged cards, validation / adversary / timing figures in
    TensorBoard, then merge-lora of the exported adapter and an evaluation added to the card."""
    tasks, _ = read_tasks(SMOKE_TASKS)
    held_out = tmp_path / "val.jsonl"
    write_tasks(held_out, tasks[-1:])  # the presets train on the first 4 of 8 tasks
    out = tmp_path / "atgen"
    proc = run_cli(
        "train", "--mode", "atgen-static", "--preset", "cpu-smoke", "--out", str(out), "--json",
        "--set", "atgen.max_steps=2", "--set", "grpo.report_to=[tensorboard]",
        "--set", f"validation.tasks={held_out}", "--set", "validation.eval_steps=1",
        "--set", "validation.select=best", timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)

    # TensorBoard: TRL's step figures, atest's adversary and timing figures with them, and the
    # validations (between steps, outside TRL's log) at their steps under eval/.
    found = scalars(out / "atgen/train")
    assert [s for s, _ in found["eval/score"]] == [0, 1, 2]
    val_rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    val_rows = [r for r in val_rows if r["phase"] == "atgen/train/validation"]
    assert [v for _, v in found["eval/io_accuracy"]] == pytest.approx(
        [r["val/io_accuracy"] for r in val_rows]
    )
    for tag in (
        "train/reward",
        "train/adversary/accepted",
        "train/adversary/slots_seen",
        "train/time/generation",
    ):
        assert [s for s, _ in found[tag]] == [1, 2], tag

    final, adapter = out / "final/test_generator", out / "final/test_generator_adapter"
    assert_loads(final)
    card = read_model_card(final)
    assert (
        not card.adapter and card.merge is not None and card.merge.adapter == "final/test_generator_adapter"
    )
    assert card.selection == "best" and card.phases["atgen/train"]["model"] == "atgen/train/best"
    assert card.validation == summary["validation"]
    assert [d.role for d in card.data] == ["training tasks", "validation tasks"]
    assert card.data[1].sha256 == sha256(held_out)
    assert set(card.time_per_step) >= {"generation", "reward", "optimisation"}
    assert read_model_card(adapter).adapter and hub_card(adapter).data.library_name == "peft"

    # merge-lora of the exported adapter: the training card carries over, with the merge.
    merged = tmp_path / "merged"
    proc = run_cli("merge-lora", "--base", "tiny-random", "--adapter", str(adapter), "--out", str(merged))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_loads(merged)
    merged_card = read_model_card(merged)
    assert merged_card.mode == "atgen-static" and not merged_card.adapter
    assert merged_card.merge.command.startswith("atest merge-lora --base tiny-random")
    assert merged_card.phases == card.phases and merged_card.data == card.data
    assert "Then merged with:" in (merged / CARD_NAME).read_text()

    # What `atest reproduce` calls once it has measured the model.
    update_model_card_evaluation(final, {"smoke": {"attack_rate": 0.0}}, source="atest reproduce")
    assert hub_card(final).data.eval_results[0].metric_value == 0.0
    assert_loads(final)


@pytest.mark.slow
def test_warmup_output_and_a_foreign_merge_have_cards(tmp_path, tiny_model_dir):
    out = tmp_path / "warm"
    proc = run_cli(
        "warmup", "--tasks", str(SMOKE_TASKS), "--model", "tiny-random", "--steps", "2", "--batch-size", "2",
        "--out", str(out), "--workers", "2", timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_loads(out)
    card = read_model_card(out)
    assert card.mode == "warmup" and card.base_model == "tiny-random"
    assert card.phases["warmup"]["steps"] == 2 and set(card.figures) == {"loss_first", "loss_last"}
    assert card.data[0].sha256 == sha256(SMOKE_TASKS) and card.config["template"] == "utrl-test"
    assert "atest warmup --tasks" in (out / CARD_NAME).read_text()

    # An adapter atest did not export: the merged card says only what was merged into what.
    from test_merge_lora import make_adapter

    adapter = tmp_path / "adapter"
    make_adapter(tiny_model_dir, adapter)
    merged = tmp_path / "merged"
    proc = run_cli(
        "merge-lora", "--base", str(tiny_model_dir), "--adapter", str(adapter), "--out", str(merged)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = read_model_card(merged)
    assert card.mode == "merge-lora" and card.merge.adapter == str(adapter) and card.phases == {}
    assert hub_card(merged).data.tags == ["atest", "lora", "merge"]
    shutil.rmtree(adapter)
    assert_loads(merged)
