"""What a run did: counts, skip reasons, time per stage, the skip log, and progress bars."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from indexing.catalog import Skip

log = logging.getLogger(__name__)


def printable_name(name: str) -> str:
    """``name`` as valid Unicode for logs and the database: bytes that are not UTF-8 (a folder's
    surrogate escapes, PEP 383) written as ``\\xNN``; a valid name is returned unchanged."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no OS byte became
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def progress(total: int | None, desc: str, unit: str = "img", enabled: bool = True) -> Any:
    """A tqdm bar showing count, rate and (when the total is known) ETA, on stderr."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, smoothing=0.1)


@dataclass
class RunSummary:
    command: str
    seen: int = 0  # images listed in the source
    already_indexed: int = 0
    indexed: int = 0  # captioned, encoded and stored by this run
    deleted: int = 0  # gone from the source, removed from the index
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> images
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # stage -> s
    bundle_version: str | None = None
    refitted: bool = False
    db_retries: int = 0
    removed_unpublished: list[str] = field(default_factory=list)  # versions a killed build left behind

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "seen": self.seen,
            "already_indexed": self.already_indexed,
            "indexed": self.indexed,
            "deleted": self.deleted,
            "skipped": dict(sorted(self.skipped.items())),
            "seconds": {k: round(v, 3) for k, v in sorted(self.seconds.items())},
            "bundle_version": self.bundle_version,
            "refitted": self.refitted,
            "db_retries": self.db_retries,
            "removed_unpublished": self.removed_unpublished,
        }

    def render(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        lines = [
            f"{self.command}: bundle {self.bundle_version or '(none)'}"
            + (" (refitted)" if self.refitted else ""),
            f"  images seen {self.seen}, already indexed {self.already_indexed}, indexed now {self.indexed}, "
            f"deleted {self.deleted}",
            f"  skipped {sum(self.skipped.values())}: {skipped}",
            "  time per stage (s): "
            + ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in sorted(self.seconds.items())),
        ]
        if self.db_retries:
            lines.append(f"  database retries: {self.db_retries}")
        if self.removed_unpublished:
            lines.append(
                "  removed versions a killed run left unpublished: " + ", ".join(self.removed_unpublished)
            )
        return "\n".join(lines)


class SkipLog:
    """Every skipped file with its reason: a warning in the log and a JSON line in ``path`` (if given)."""

    def __init__(self, path: Path | None, summary: RunSummary) -> None:
        self._summary = summary
        self._handle: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("a", encoding="utf-8")

    def add(self, skip: Skip, *, earlier: bool = False) -> None:
        reason = f"{skip.reason} (earlier run)" if earlier else skip.reason
        self._summary.skipped[reason] += 1
        name = printable_name(skip.name)
        if not earlier:
            log.warning("skipped %s: %s: %s", name, skip.reason, skip.detail)
        if self._handle is not None:
            record = {
                "name": name,
                "image_id": skip.image_id,
                "reason": skip.reason,
                "detail": skip.detail,
            }
            self._handle.write(json.dumps({**record, "earlier_run": earlier}) + "\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
