"""core/schema.sql is applied to databases that older versions of it created."""

from __future__ import annotations

import psycopg2

from core.database import apply_schema


def catalog_indexes(dsn: str) -> set[str]:
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'catalog'")
        names = {row[0] for row in cur.fetchall()}
    conn.close()
    return names


def test_the_unused_caption_gin_index_is_dropped_where_an_older_schema_made_it(fresh_dsn: str) -> None:
    conn = psycopg2.connect(fresh_dsn)
    apply_schema(conn)
    with conn.cursor() as cur:  # what the schema created before the index was removed
        cur.execute(
            "CREATE INDEX catalog_caption_fts_idx ON catalog USING gin (to_tsvector('english', caption))"
        )
    conn.commit()
    apply_schema(conn)
    apply_schema(conn)
    conn.close()
    assert catalog_indexes(fresh_dsn) == {"catalog_pkey", "catalog_location_idx"}
