"""Refit: a new search space on the whole catalog, built and activated as a new version.

The catalog holds the full caption embeddings, so nothing is captioned again. The version is built
by ``versions.build_version``: every row is written before the bundle is activated, and search keeps
reading the old version until then.
"""

from __future__ import annotations

from pathlib import Path

from indexing.report import RunSummary
from indexing.session import IndexingError
from indexing.versions import CatalogRows, FitOptions, build_version, encoder_id
from indexing.write import Writer

__all__ = ["FitOptions", "refit"]


def refit(writer: Writer, share: Path, encoder_dir: Path, options: FitOptions, summary: RunSummary) -> str:
    """Fit, store a complete new version of the catalog, publish and activate its bundle; returns it."""
    encoders = writer.catalog_encoders()
    wanted = encoder_id(encoder_dir)
    if encoders != [wanted]:
        raise IndexingError(
            f"the catalog holds embeddings of {', '.join(encoders) or 'no encoder'}; "
            f"the encoder folder {encoder_dir} is {wanted}"
        )
    version = build_version(CatalogRows(writer), writer, share, encoder_dir, options, summary)
    summary.refitted = True
    return version
