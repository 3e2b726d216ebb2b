"""The demo notices a bundle whose rows are not in its database (a new embedded PostgreSQL data folder)."""

from __future__ import annotations

from pathlib import Path

from demo.cli import indexed_rows
from function_app.settings import Settings
from indexing.versions import CaptionedImage
from tests.conftest import create_database, index_corpus
from tests.function_app.conftest import make_settings


def test_indexed_rows_counts_the_bundles_rows_and_is_zero_in_an_empty_database(
    pg_admin_dsn: str, encoder_dir: Path, tmp_path: Path
) -> None:
    corpus = [CaptionedImage(f"i{n}", f"{n}.png", text) for n, text in enumerate(["a red car", "a dog"] * 3)]
    dsn, share, version = index_corpus(
        pg_admin_dsn, encoder_dir, tmp_path / "share", corpus, pca_dim=2, clusters=2
    )
    assert indexed_rows(make_settings(dsn, share, tmp_path), version) == 6
    empty = make_settings(create_database(pg_admin_dsn), share, tmp_path)  # the same bundle, a new database
    assert indexed_rows(empty, version) == 0
    unreachable = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1",
            "MODEL_SHARE_PATH": str(share),
        }
    )
    assert indexed_rows(unreachable, version) == 0
