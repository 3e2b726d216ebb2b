"""Remove what search no longer reads: rows, clusters and bundle folders of inactive versions.

A refit activates its new version and leaves the old one in place, because running search workers
notice the switch only on their next bundle check. ``prune`` removes inactive versions once they are
older than a grace period, and what a killed refit left behind (rows of a version never activated,
half-written bundle folders).
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from core.bundle import BundleError, bundles_root, current_version
from indexing import store
from indexing.session import Database, IndexingError

log = logging.getLogger(__name__)
DEFAULT_GRACE = timedelta(minutes=5)


def version_time(version: str) -> datetime | None:
    """When a version was created, from its name (see bundle.new_version_name); None if unnamed so."""
    try:
        return datetime.strptime(version.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def prune_versions(
    db: Database, share: Path, grace: timedelta = DEFAULT_GRACE, now: datetime | None = None
) -> list[str]:
    """Delete every inactive version older than ``grace``; returns the versions removed."""
    try:
        active = current_version(share)
    except BundleError as exc:
        raise IndexingError(f"nothing pruned: {exc}") from None
    now = now or datetime.now(UTC)
    root = bundles_root(share)
    on_disk = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
    in_db = set(db.run("listing versions", store.version_row_counts))
    removed = []
    for version in sorted((on_disk | in_db) - {active}):
        name = version.split("-", 2)[1] if version.startswith(".incoming-") else version
        created = version_time(name)
        if created is None or now - created < grace:
            continue
        rows = db.run("deleting a version", partial(store.delete_version, bundle_version=version))
        shutil.rmtree(root / version, ignore_errors=True)
        log.info("pruned version %s (%d rows)", version, rows)
        removed.append(version)
    return removed
