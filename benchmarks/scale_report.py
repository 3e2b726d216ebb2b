"""The scale benchmark's report: docs/scale.md-ready tables and the recall/latency plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy, marker in (("cluster routing", "o"), ("IVFFlat", "s"), ("HNSW", "^"), ("exact", "x")):
        rows = [r for r in report["strategies"] if r["strategy"] == strategy]
        ax.plot(
            [r["c1_median_ms"] for r in rows], [r["recall@10"] for r in rows], marker=marker, label=strategy
        )
        for r in rows:
            ax.annotate(
                r["setting"].split("=")[-1],
                (r["c1_median_ms"], r["recall@10"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(3, -8),
            )
    ax.set_xscale("log")
    ax.set_xlabel("database latency, median ms (concurrency 1, log scale)")
    ax.set_ylabel("recall@10 against exact search")
    ax.set_title(f"{report['rows']:,} rows, PCA {report['pca_dim']}-d, {report['clusters']} lists")
    ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def print_tables(report: dict[str, Any]) -> None:
    print(f"\n### {report['rows']:,} rows: recall against exact search and database latency\n")
    print(
        "| strategy | setting | recall@10 | recall@100 | c1 median ms | c1 p99 ms | c8 median ms | c8 p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in report["strategies"]:
        print(
            f"| {r['strategy']} | {r['setting']} | {r['recall@10']:.3f} | {r['recall@100']:.3f} | "
            f"{r['c1_median_ms']:.1f} | {r['c1_p99_ms']:.1f} | {r['c8_median_ms']:.1f} | {r['c8_p99_ms']:.1f} |"
        )
    print_pca(report["pca"])
    if "http" in report:
        print_http(report["http"])


def print_pca(rows: list[dict[str, float]]) -> None:
    print("\n### Cost of PCA (exact search in the reduced space against the full 384-d space)\n")
    print("| PCA dims | recall@10 (uncentered, the service's) | norm kept | recall@10 (centered) |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['pca_dim']} | {r['recall@10']:.3f} | {r['explained_variance']:.3f} "
            f"| {r.get('centered_recall@10', float('nan')):.3f} |"
        )


def print_http(rows: list[dict[str, float]]) -> None:
    print("\n### HTTP API under load (loopback, bounded)\n")
    print("| concurrency | requests | req/s | median ms | p99 ms | errors |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['requests']} | {r['rps']:.0f} | {r['median_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} |"
        )
