"""The best-of-N curve as a PNG: one line per solution model, dashed oracle bound beside it."""

from __future__ import annotations

from pathlib import Path

from atest.core.io import atomic_path


def plot_bon_curve(
    path: str | Path,
    curve: dict[str, dict[int, float]],
    oracle_curve: dict[str, dict[int, float]] | None,
    title: str,
) -> None:
    """Write the plot atomically; the Agg backend needs no display and no GUI toolkit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    try:
        for i, (model, points) in enumerate(sorted(curve.items())):
            color = f"C{i % 10}"
            ns = sorted(points)
            ax.plot(ns, [points[k] for k in ns], marker="o", color=color, label=model)
            if oracle_curve and model in oracle_curve:
                bound = oracle_curve[model]
                ax.plot(
                    ns,
                    [bound[k] for k in ns],
                    ls="--",
                    color=color,
                    alpha=0.7,
                    label=f"{model} (ground-truth tests)",
                )
        ax.set_xscale("log", base=2)
        all_ns = sorted({k for pts in curve.values() for k in pts})
        ax.set_xticks(all_ns, [str(k) for k in all_ns])
        ax.set_xlabel("N (candidates per task)")
        ax.set_ylabel("best-of-N accuracy")
        ax.set_ylim(0, 1.04)
        ax.grid(alpha=0.3)
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
