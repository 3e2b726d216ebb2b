"""What a killed build leaves is told apart from what search reads or may read again, and removed."""

from __future__ import annotations

from pathlib import Path

import psycopg2

from core.bundle import bundles_root, current_version
from indexing.prune import ACTIVE, INACTIVE, UNPUBLISHED, remove_unpublished, version_state
from indexing.store import version_row_counts
from indexing.versions import CaptionedImage, build_index
from tests.indexing.pipeline_helpers import database


def _copy_version(conn: psycopg2.extensions.connection, source: str, target: str) -> None:
    """Rows and clusters of ``target`` copied from ``source``, as a build killed before publishing leaves."""
    with conn.cursor() as cur:
        for table in ("images", "clusters"):
            cur.execute(
                f"CREATE TEMPORARY TABLE copied AS SELECT * FROM {table} WHERE bundle_version = %s", (source,)
            )
            cur.execute("UPDATE copied SET bundle_version = %s", (target,))
            cur.execute(f"INSERT INTO {table} SELECT * FROM copied")
            cur.execute("DROP TABLE copied")
    conn.commit()


def test_only_versions_without_a_bundle_and_staging_folders_are_removed(
    fresh_dsn: str, tmp_path: Path, encoder_dir: Path, corpus: list[CaptionedImage]
) -> None:
    share = tmp_path / "share"
    conn = psycopg2.connect(fresh_dsn)
    old = build_index(corpus[:40], conn=conn, share=share, encoder_dir=encoder_dir, pca_dim=8, clusters=4)
    active = build_index(corpus[:40], conn=conn, share=share, encoder_dir=encoder_dir, pca_dim=8, clusters=4)
    orphan = "20260101T000000Z-0rphan"
    _copy_version(conn, active, orphan)
    staging = bundles_root(share) / f".incoming-{orphan}-1234abcd"
    (staging / "encoder").mkdir(parents=True)
    assert [version_state(share, v, active) for v in (active, old, orphan)] == [ACTIVE, INACTIVE, UNPUBLISHED]

    db = database(fresh_dsn)
    try:
        assert remove_unpublished(db, share) == [orphan]
        assert remove_unpublished(db, share) == []  # nothing left to remove
    finally:
        db.close()
    assert version_row_counts(conn) == {old: 40, active: 40}  # the replaced version waits for prune
    assert not staging.exists() and current_version(share) == active
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM clusters WHERE bundle_version = %s", (orphan,))
        assert cur.fetchone() == (0,)
    conn.close()
