"""What the tags add to a query's full-text work: the candidates' rank with and without their tags.

    .venv/bin/python -m benchmarks.full_text_terms [--rounds 400]

Runs the hybrid ranking's full-text query (function_app/index_reader.py) on 50 random rows of the
active bundle of the demo index (or MODEL_SHARE_PATH / DATABASE_URL), alternating the searchable text
of today (captions and tags) with captions only (before tags), and prints the median milliseconds of
each. The rest of the query path is the same for both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from core.bundle import current_version
from function_app.index_reader import IMAGE_TERMS, QUERY_LEXEMES_CTE

CAPTIONS_ONLY = "to_tsvector('english'::regconfig, caption || ' ' || alternatives)"
QUERIES = ("a red flower", "a cat on a chair", "an old car", "a map of the world", "a smiling sun")


def ranks_sql(terms: str) -> str:
    return (
        QUERY_LEXEMES_CTE
        + f""", candidates AS (
    SELECT image_id, {terms} AS terms FROM images
    WHERE bundle_version = %(version)s AND image_id = ANY(%(ids)s))
SELECT image_id, ts_rank_cd(terms, q.query, 32) AS rank FROM candidates, q
WHERE q.query IS NOT NULL AND terms @@ q.query"""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    import psycopg2

    from core.database import default_embedded_dir, start_embedded_postgres

    root = Path(__file__).resolve().parents[1]
    share = Path(os.environ.get("MODEL_SHARE_PATH", root / ".data" / "share"))
    dsn = os.environ.get("DATABASE_URL") or start_embedded_postgres(default_embedded_dir(root))
    version = current_version(share)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT image_id FROM images WHERE bundle_version = %s ORDER BY random() LIMIT 50", (version,)
        )
        ids = [row[0] for row in cur.fetchall()]
        systems = {
            "captions only (before tags)": ranks_sql(CAPTIONS_ONLY),
            "captions and tags": ranks_sql(IMAGE_TERMS),
        }
        times: dict[str, list[float]] = {name: [] for name in systems}
        for i in range(args.rounds):
            for name, query in systems.items():
                started = time.perf_counter()
                cur.execute(query, {"text": QUERIES[i % len(QUERIES)], "version": version, "ids": ids})
                cur.fetchall()
                times[name].append(1000 * (time.perf_counter() - started))
    conn.close()
    print(f"full-text rank of 50 candidates, version {version}, {args.rounds} rounds alternated")
    for name, values in times.items():
        print(f"{name:30} median {statistics.median(values):.3f} ms")


if __name__ == "__main__":
    main()
