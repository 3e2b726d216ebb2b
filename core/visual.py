"""The visual space of search by picture: pooled backbone features reduced by the bundle's visual PCA.

The indexer projects every image's pooled features (indexing/versions.py, indexing/mapper.py) and the
Function projects the query picture's (function_app/picture_query.py) with the same function, so the two
cannot drift apart. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from core.space import normalize_rows


def project_visual(features: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(N, E) pooled features -> (N, v) unit vectors; a NaN row (an image without features) stays NaN."""
    data = np.asarray(features, dtype=np.float32)
    missing = np.asarray(np.isnan(data).any(axis=1), dtype=bool)
    reduced = normalize_rows(np.where(missing[:, None], 0.0, data) @ components.T)  # (N, v)
    reduced[missing] = np.nan
    return reduced
