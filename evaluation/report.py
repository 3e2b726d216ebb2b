"""The evaluation's results as markdown tables, as docs/quality.md quotes them."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: Sequence[dict[str, object]]) -> str:
    lines = [
        "| queries | system | n | R@1 | R@5 | R@10 | median rank | mAP@100 | results/query |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        recall: dict[int, float] = row["recall"]  # type: ignore[assignment]
        lines.append(
            f"| {row['set']} | {row['system']} | {row['queries']} | {recall[1]:.3f} | {recall[5]:.3f} "
            f"| {recall[10]:.3f} | {row['median_rank']:g} | {row['mean_ap']:.3f} "
            f"| {row['mean_results']:.1f} |"
        )
    return "\n".join(lines)


def print_report(result: dict[str, object]) -> None:
    """The systems table, the ratios to the human ceiling and the relevance cutoff table."""
    print(format_table(result["rows"]))  # type: ignore[arg-type]
    print("\nRecall@10 against the human ceiling's on the same queries (95 % bootstrap interval):")
    print("| queries | system | against | ratio | interval |")
    print("|---|---|---|---|---|")
    for row in result["ratios"]:  # type: ignore[attr-defined]
        print(
            f"| {row['set']} | {row['system']} | {row['against']} | {row['ratio']:.0%} "
            f"| {row['low']:.0%}–{row['high']:.0%} |"
        )
    print(
        f"\nrelevance cutoff ({result['service_index']}, {result['service_strategy']}, hybrid; "
        f"200 nonsense queries):"
    )
    sets = list(result["cutoff"][0]["recall@10"])  # type: ignore[index]
    print(
        "| answer gate | threshold | "
        + " | ".join(f"R@10 {name}" for name in sets)
        + " | real results@10 | nonsense results@10 | nonsense empty |"
    )
    print("|---|---|" + "---|" * len(sets) + "---|---|---|")
    for row in result["cutoff"]:  # type: ignore[attr-defined]
        print(
            f"| {row['answer_gate']:g} | {row['threshold']:g} | "
            + " | ".join(f"{row['recall@10'][name]:.3f}" for name in sets)
            + f" | {row['real_results@10']:.1f} "
            f"| {row['nonsense_results@10']:.1f} | {row['nonsense_empty']:.2f} |"
        )
