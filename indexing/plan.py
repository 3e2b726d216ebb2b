"""Plan a run: list the source lazily, note what is new, and find what is gone.

The listing is streamed in chunks; the writer records each chunk's ids (the ``listing`` table) and
checks them against the catalog and the skip list, and the new images are appended to a spool file that
the read stage consumes. Memory stays flat however many images the source holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TextIO, TypeVar

from core.images import ImageRef, ImageStore, ImageStoreUnavailable
from indexing.catalog import Skip
from indexing.read import WorkItem
from indexing.report import RunSummary, SkipLog, progress
from indexing.session import IndexingError
from indexing.write import Writer

LIST_CHUNK = 2_000
T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    spool: Path  # one WorkItem per line: the images to caption
    pending: int


def image_identity(location: str, name: str, etag: str) -> str:
    """A stable id for an image: the same source object always gets the same id.

    A folder's file name that is not valid UTF-8 arrives with surrogate escapes (PEP 383); encoding
    them as they are keeps its id stable (and every valid name's id unchanged), so the read stage can
    skip it with a reason instead of the listing crashing.
    """
    key = f"{location}\0{name}\0{etag}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:32]


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def plan_run(
    source: ImageStore,
    writer: Writer,
    run_id: str,
    spool: Path,
    summary: RunSummary,
    skip_log: SkipLog,
    *,
    show_progress: bool = True,
) -> Plan:
    """List ``source``, record the listing under ``run_id``, write the new images to ``spool``."""
    writer.clear_listings()
    pending = 0
    bar = progress(None, "list", enabled=show_progress)
    with spool.open("w", encoding="utf-8") as out, summary.timed("list"):
        try:
            for refs in chunked(source.list_images(), LIST_CHUNK):
                pending += _plan_chunk(source.location, refs, writer, run_id, out, summary, skip_log)
                bar.update(len(refs))
        except ImageStoreUnavailable as exc:
            raise IndexingError(f"cannot list the images: {exc}") from exc
        finally:
            bar.close()
    return Plan(spool, pending)


def _plan_chunk(
    location: str,
    refs: list[ImageRef],
    writer: Writer,
    run_id: str,
    out: TextIO,
    summary: RunSummary,
    skip_log: SkipLog,
) -> int:
    ids = [image_identity(location, ref.name, ref.etag) for ref in refs]
    done, failed = writer.record_listing(run_id, ids)
    summary.seen += len(refs)
    summary.already_indexed += len(done)
    pending = 0
    for image_id, ref in zip(ids, refs, strict=True):
        if image_id in done:
            continue
        if image_id in failed:
            skip_log.add(
                Skip(image_id, ref.name, failed[image_id], "skipped by an earlier run"), earlier=True
            )
            continue
        out.write(WorkItem(image_id, ref.name, ref.etag, ref.last_modified.isoformat()).to_line())
        pending += 1
    return pending


def remove_unlisted(
    writer: Writer, location: str, run_id: str, summary: RunSummary, *, allow_empty_source: bool
) -> int:
    """Delete from the index every image of ``location`` that this run did not list."""
    if summary.seen == 0 and not allow_empty_source:
        held = writer.count_catalog(location)
        if held:
            raise IndexingError(
                f"the source {location} lists no images but the index holds {held} from it; "
                "refusing to delete them all (pass --allow-empty-source if that is intended)"
            )
    with summary.timed("delete"):
        removed = writer.delete_unlisted(location, run_id)
    summary.deleted += removed
    return removed
