"""What PostgreSQL plans for a search statement when it may not sort the rows itself."""

from __future__ import annotations

from collections.abc import Mapping

from psycopg2 import sql

from core.database import Connection


def explain_through_index(conn: Connection, statement: sql.Composable, params: Mapping[str, object]) -> str:
    """EXPLAIN of ``statement`` with sequential scans and sorts forbidden, then rolled back: a few hundred
    rows are sorted faster than an index is walked, so this shows whether the index is usable at all."""
    with conn.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("SET LOCAL enable_sort = off")
        cur.execute("EXPLAIN " + statement.as_string(conn), params)
        explained = "\n".join(row[0] for row in cur.fetchall())
    conn.rollback()
    return explained
