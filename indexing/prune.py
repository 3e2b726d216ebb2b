"""Remove what search no longer reads: rows, clusters and bundle folders of inactive versions.

A refit activates its new version and leaves the old one in place, because running search workers
notice the switch only on their next bundle check. ``prune`` removes inactive versions once they are
older than a grace period. What a killed build left behind (rows, clusters and an ANN index of a
version whose bundle was never published, and half-written ``.incoming-*`` bundle folders) is removed
sooner, by the next ``index`` or ``refit`` (``remove_unpublished``), and by ``prune``.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from core.bundle import MANIFEST_FILE, BundleError, bundles_root, current_version
from indexing import store
from indexing.session import Database, IndexingError

log = logging.getLogger(__name__)
DEFAULT_GRACE = timedelta(minutes=5)
STAGING_PREFIX = ".incoming-"  # core.bundle.write_bundle's folder beside the final one

# What a version with rows in the database is, as ``status`` reports it.
ACTIVE = "active"  # named by bundles/CURRENT: search reads it
INACTIVE = "inactive"  # published, then replaced by a refit; prune removes it after the grace period
UNPUBLISHED = "unpublished"  # rows but no bundle on the share: a build that was killed (or is running)


def version_time(version: str) -> datetime | None:
    """When a version was created, from its name (see bundle.new_version_name); None if unnamed so."""
    try:
        return datetime.strptime(version.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def active_version(share: Path) -> str | None:
    """The version bundles/CURRENT names, or None where there is none (or it cannot be read)."""
    try:
        return current_version(share)
    except BundleError:
        return None


def version_state(share: Path, version: str, active: str | None) -> str:
    """ACTIVE, INACTIVE or UNPUBLISHED: whether search reads ``version``, or could, or never could."""
    if version == active:
        return ACTIVE
    return INACTIVE if (bundles_root(share) / version / MANIFEST_FILE).is_file() else UNPUBLISHED


def staging_folders(share: Path) -> list[Path]:
    """Bundle folders still being written, or left half-written by a killed build."""
    root = bundles_root(share)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir())


def remove_unpublished(db: Database, share: Path) -> list[str]:
    """Delete what killed builds left: the rows, clusters and ANN indexes of unpublished versions, and
    the share's staging folders; returns the versions removed.

    Safe only while no other build is under way: ``db`` holds the indexer's advisory lock from its first
    unit of work, and every build of a production database (``index``, ``refit``) runs under it.
    """
    active = active_version(share)
    in_db = db.run("listing versions", store.version_row_counts)
    removed = []
    for version in sorted(in_db):
        if version_state(share, version, active) != UNPUBLISHED:
            continue
        rows = db.run(
            "deleting an unpublished version", partial(store.delete_version, bundle_version=version)
        )
        log.warning("removed version %s (%d rows): a killed build never published its bundle", version, rows)
        removed.append(version)
    for folder in staging_folders(share):
        shutil.rmtree(folder, ignore_errors=True)
        log.warning("removed %s: a bundle folder a killed build left half-written", folder.name)
    return removed


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
        name = version.split("-", 2)[1] if version.startswith(STAGING_PREFIX) else version
        created = version_time(name)
        if created is None or now - created < grace:
            continue
        rows = db.run("deleting a version", partial(store.delete_version, bundle_version=version))
        shutil.rmtree(root / version, ignore_errors=True)
        log.info("pruned version %s (%d rows)", version, rows)
        removed.append(version)
    return removed
