"""`DIR/report.md` and the figures of a study: what the numbers support first, then the tables.

The report opens with the findings the paired intervals allow (an interval that contains 0
is "no difference shown", never a win), then what the study cannot say (its scale), then the
table in the paper's layout with the paper's own numbers beside it, marked as the paper's
and at the paper's scale. The papers' numbers are the ones their texts state (the project
README copies in /work/shared/seeds/); where a text states none, the table says so.
"""

from __future__ import annotations

from pathlib import Path

from atest.core.io import write_text_atomic
from atest.core.reproduce.preset import RL_MODELS
from atest.core.reproduce.results import LABELS, METRICS, StudyResults

# What the papers' own texts state (seeds: the UTRL and ATGEN repositories' READMEs).
PAPER_NUMBERS: dict[str, dict[str, object]] = {
    "utrl": {
        "scale": "Qwen3-4B test generator, 945 TACO tasks, best-of-32 over Qwen3-8B's samples",
        "rows": {"UTRL (Qwen3-4B)": 0.149, "GPT-4.1": 0.137, "GPT-4o": 0.106},
        "metric": "bon",
        "source": "UTRL README: 14.9% accuracy vs GPT-4o's 10.6% and GPT-4.1's 13.7% (Qwen3-8B code)",
    },
    "atgen": {
        "scale": "Qwen2.5-7B-Instruct + LoRA, APPS / Codeforces",
        "rows": {},
        "metric": "attack_rate",
        "source": "the ATGEN README states no figure; see the paper's tables for its IO accuracy and attack rate",
    },
}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ci(ci: list[float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def findings(res: StudyResults) -> list[str]:
    """One line per RL run against the warm-up and SFT models on the headline metric and split."""
    metric, split = res.headline_metric, res.headline_split
    lines = []
    values = [r.metrics[metric].value for r in res.by_split.get(split, {}).values() if metric in r.metrics]
    if values and all(v == 0 for v in values):
        lines.append(
            f"Every model scores 0 on {LABELS[metric]} on {split}: the study cannot rank them on it "
            "(no model writes a test that is both correct and catches the bug here)."
            if metric == "attack_rate"
            else f"Every model scores 0 on {LABELS[metric]} on {split}: the study cannot rank them on it."
        )
    paired = res.paired_by_split.get(split, {})
    rl = [m for m in res.models if m in RL_MODELS[res.paper]]
    for a in rl:
        for b in ("warmup", "sft", "base"):
            fig = paired.get(f"{a}-vs-{b}", {}).get(metric)
            if fig is None:
                continue
            size = f"{fig.n_tasks} {split} tasks"
            if fig.verdict == "higher":
                text = f"**{a} beats {b}** on {LABELS[metric]}: +{fig.diff:.3f}{_ci(fig.ci95)} over {size}."
            elif fig.verdict == "lower":
                text = f"**{a} is worse than {b}** on {LABELS[metric]}: {fig.diff:.3f}{_ci(fig.ci95)} over {size}."
            elif fig.verdict == "no difference shown":
                text = (
                    f"{a} vs {b} on {LABELS[metric]}: **no difference shown** (paired difference "
                    f"{fig.diff:+.3f}, 95% interval{_ci(fig.ci95)} contains 0, {size})."
                )
            else:
                text = f"{a} vs {b} on {LABELS[metric]}: not measured ({size})."
            lines.append(text)
    return lines


def write_report(path: Path, res: StudyResults, figures: list[Path]) -> Path:
    metrics = METRICS[res.paper]
    split = res.headline_split
    out: list[str] = [f"# atest reproduce {res.paper} --preset {res.preset}", ""]
    out.append("## What the numbers support")
    out.append("")
    found = findings(res)
    out += [f"- {line}" for line in found] or ["- No RL run was compared on the headline split."]
    out.append("")
    out.append("## What they do not support")
    out.append("")
    n = res.n_tasks.get(split, 0)
    out.append(
        f"- Anything beyond this scale: {n} tasks in the headline split `{split}`, the models and budgets of "
        f"preset `{res.preset}`. An interval that contains 0 says the study could not tell the models apart, "
        "not that they are equal; with few tasks only large differences can show."
    )
    out.append(
        "- A comparison with the papers' numbers: those come from other models, data and budgets "
        "(their scale is stated beside them)."
    )
    for name, why in res.skipped.items():
        out.append(f"- The `{name}` split: skipped ({why}).")
    out.append("")
    out.append(f"## Held-out results ({split}, the paper's layout)")
    out.append("")
    out += _table(res, split, metrics)
    out.append("")
    paper = PAPER_NUMBERS[res.paper]
    out.append(
        f"**The paper's own numbers** (the paper's, at its scale: {paper['scale']}; {paper['source']}):"
    )
    out.append("")
    rows = paper["rows"]
    if rows:
        assert isinstance(rows, dict)
        out.append(f"| model (paper) | {LABELS[str(paper['metric'])]} |")
        out.append("| --- | --- |")
        out += [f"| {name} (paper) | {value:.3f} |" for name, value in rows.items()]
    else:
        out.append("_none stated in the paper text available here._")
    out.append("")
    for other in res.by_split:
        if other == split:
            continue
        out.append(f"## Split `{other}`")
        out.append("")
        out += _table(res, other, metrics)
        out.append("")
    if res.paper == "atgen":
        out += _difficulty(res, split)
    out += _bon_curve(res, split)
    out.append(f"## Paired differences on {split} (A - B over the same tasks, 95% interval)")
    out.append("")
    out.append("| pair | " + " | ".join(LABELS[m] for m in metrics) + " |")
    out.append("| --- |" + " --- |" * len(metrics))
    for pair, row in res.paired_by_split.get(split, {}).items():
        cells = [
            f"{row[m].diff:+.3f}{_ci(row[m].ci95)} ({row[m].verdict})"
            if m in row and row[m].diff is not None
            else "n/a"
            for m in metrics
        ]
        out.append(f"| {pair} | " + " | ".join(cells) + " |")
    out.append("")
    for model, curve in res.validation.items():
        if curve:
            best = max(curve, key=lambda p: p.score if p.score is not None else float("-inf"))
            pts = ", ".join(f"{p.step}: {_fmt(p.score)}" for p in curve)
            out.append(f"Validation of `{model}` (val/score by step): {pts}; best step {best.step} kept.")
    out.append("")
    for fig in figures:
        out.append(f"![{fig.stem}]({fig.name})")
    out.append("")
    out.append("## Models")
    out.append("")
    out += [f"- `{name}`: `{where}`" for name, where in res.models.items()]
    out.append("")
    out.append("## Commands (in order; `atest reproduce` reruns skip finished ones)")
    out.append("")
    out.append("```")
    out += [c.command for c in res.commands]
    out.append("```")
    write_text_atomic(path, "\n".join(out) + "\n")
    return path


def _table(res: StudyResults, split: str, metrics: tuple[str, ...]) -> list[str]:
    models = res.by_split.get(split, {})
    n = max((f.n_tasks for r in models.values() for f in r.metrics.values()), default=0)
    lines = [f"{n} tasks; each cell: value [95% task-bootstrap interval]", ""]
    lines.append("| model | " + " | ".join(LABELS[m] for m in metrics) + " |")
    lines.append("| --- |" + " --- |" * len(metrics))
    for model, r in models.items():
        cells = [
            f"{_fmt(r.metrics[m].value)}{_ci(r.metrics[m].ci95)}" if m in r.metrics else "n/a"
            for m in metrics
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _difficulty(res: StudyResults, split: str) -> list[str]:
    models = res.by_split.get(split, {})
    levels = sorted({d for r in models.values() for d in r.by_difficulty})
    if not levels:
        return []
    lines = [f"## By difficulty ({split}; IO accuracy / attack rate)", ""]
    lines.append("| model | " + " | ".join(levels) + " |")
    lines.append("| --- |" + " --- |" * len(levels))
    for model, r in models.items():
        cells = []
        for d in levels:
            block = r.by_difficulty.get(d)
            cells.append(
                "n/a" if block is None else f"{_fmt(block['io_accuracy'])} / {_fmt(block['attack_rate'])}"
            )
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _bon_curve(res: StudyResults, split: str) -> list[str]:
    """Best-of-N against N (UTRL's figure): accuracy when the tests pick among the first N candidates."""
    models = res.by_split.get(split, {})
    ns = sorted({int(n) for r in models.values() for n in r.bon_curve}, key=int)
    if not ns:
        return []
    lines = [f"## Best-of-N against N ({split}, candidate pool: gold + mutants)", ""]
    lines.append("| model | " + " | ".join(f"N={n}" for n in ns) + " |")
    lines.append("| --- |" + " --- |" * len(ns))
    for model, r in models.items():
        lines.append(f"| {model} | " + " | ".join(_fmt(r.bon_curve.get(str(n))) for n in ns) + " |")
    lines.append("")
    return lines


def plot_metrics(path: Path, res: StudyResults) -> Path | None:
    """One panel per metric: each model's value on the headline split with its interval."""
    models = res.by_split.get(res.headline_split, {})
    metrics = [m for m in METRICS[res.paper] if any(m in r.metrics for r in models.values())]
    if not models or not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4), squeeze=False)
    names = list(models)
    for ax, metric in zip(axes[0], metrics, strict=True):
        vals, lo, hi = [], [], []
        for name in names:
            f = models[name].metrics.get(metric)
            v = f.value if f and f.value is not None else 0.0
            ci = f.ci95 if f and f.ci95 else [v, v]
            vals.append(v)
            lo.append(max(v - ci[0], 0.0))
            hi.append(max(ci[1] - v, 0.0))
        ax.bar(range(len(names)), vals, yerr=[lo, hi], capsize=4, color="#4c72b0")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_title(LABELS[metric], fontsize=10)
        ax.set_ylim(min(0.0, min(vals) - 0.1), max(1.0, max(v + h for v, h in zip(vals, hi, strict=True))))
    fig.suptitle(f"{res.paper} on {res.headline_split} (95% task-bootstrap intervals)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_validation(path: Path, res: StudyResults) -> Path | None:
    """Each RL run's validation score by step (the split it selected its checkpoint on)."""
    curves = {m: c for m, c in res.validation.items() if c}
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    for model, curve in curves.items():
        ax.plot([p.step for p in curve], [p.score or 0.0 for p in curve], marker="o", label=model)
    ax.set_xlabel("training step")
    ax.set_ylabel("val/score")
    ax.set_title("validation (val split) during RL", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
