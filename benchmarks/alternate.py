"""Kinds of HTTP request measured side by side: each round asks every kind once, the order rotating per
round, so load drift on this shared machine hits all kinds alike. Shared by search_latency.py,
similar_latency.py and picture_latency.py, with the median and p99 they print.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import httpx

Ask = Callable[[int], "httpx.Response"]  # round i -> the response to that round's request of one kind
WARM_UP = 20


def ms(values: list[float]) -> tuple[float, float]:
    """Median and p99, in ms, of ``values`` in seconds."""
    array = np.asarray(values) * 1000
    return float(np.median(array)), float(np.percentile(array, 99))


def take_turns(
    asks: Mapping[str, Ask],
    rounds: int,
    warm_up: int = WARM_UP,
    inspect: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Per kind, its round trip and each part of the answer's ``timing_ms`` (seconds), over ``rounds``
    rounds after ``warm_up`` unmeasured ones (the encoders, the pool, the version facts, Postgres'
    buffers). A non-2xx answer raises, in the warm-up too. ``inspect`` sees each measured answer's kind
    and JSON body, after its clock stopped."""
    kinds = list(asks)
    for i in range(min(warm_up, rounds)):  # the rounds' own first requests
        for kind in kinds:
            asks[kind](i).raise_for_status()
    parts: dict[str, dict[str, list[float]]] = {kind: {"round trip": []} for kind in kinds}
    for i in range(rounds):
        shift = i % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            started = time.perf_counter()
            response = asks[kind](i)
            parts[kind]["round trip"].append(time.perf_counter() - started)
            response.raise_for_status()
            body = response.json()
            for name, value in body["timing_ms"].items():
                parts[kind].setdefault(name, []).append(value / 1000)
            if inspect is not None:
                inspect(kind, body)
    return parts


def print_parts(parts: Mapping[str, Mapping[str, list[float]]]) -> None:
    """A markdown table of each kind's parts, median and p99 in ms."""
    print("| query | part | median ms | p99 ms |\n|---|---|---|---|")
    for kind, timings in parts.items():
        for name, values in timings.items():
            median, p99 = ms(values)
            print(f"| {kind} | {name} | {median:.1f} | {p99:.1f} |")
