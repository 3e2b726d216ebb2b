"""Loads the active search bundle and its encoder once per worker, and notices when it changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.bundle import BundleError, SearchBundle, current_version, load_bundle
from core.text_encoder import EncoderError, OnnxSentenceEncoder
from core.vocabulary import Vocabulary
from function_app.errors import ServiceUnavailable

if TYPE_CHECKING:
    import numpy as np

_RETRY_AFTER_FAILURE_SECONDS = 2.0


class SentenceEncoder(Protocol):
    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """(N,) texts -> (N, D) unit vectors in the encoder's space."""
        ...


@dataclass(frozen=True)
class LoadedBundle:
    bundle: SearchBundle
    encoder: SentenceEncoder  # the bundle's own encoder (an OnnxSentenceEncoder of its encoder folder)
    vocabulary: Vocabulary | None = None  # its tokenizer's words, for the gate; None: no language check


class BundleSource(Protocol):
    """Where the search service gets the bundle it searches."""

    @property
    def last_error(self) -> str | None:
        """Why the last load failed, or None."""
        ...

    def get(self) -> LoadedBundle:
        """The bundle to search now, or ServiceUnavailable saying why there is none."""
        ...


class PinnedBundle:
    """Always the same loaded bundle version: to search a version that is not the share's CURRENT one
    (the evaluation ranks several versions side by side)."""

    last_error: str | None = None

    def __init__(self, loaded: LoadedBundle) -> None:
        self._loaded = loaded

    def get(self) -> LoadedBundle:
        return self._loaded


class BundleProvider:
    """Hands out the loaded active bundle.

    The CURRENT pointer is re-read at most every ``check_seconds``; when it names a new version that
    version is loaded and swapped in. A new version that fails to load leaves the old one serving.
    """

    def __init__(self, share: Path, *, check_seconds: float = 10.0) -> None:
        self._share = share
        self._check_seconds = check_seconds
        self._loaded: LoadedBundle | None = None
        self._error: str | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()

    @property
    def last_error(self) -> str | None:
        return self._error

    def get(self) -> LoadedBundle:
        """The active bundle, or ServiceUnavailable saying why there is none."""
        now = time.monotonic()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check:
                    self._refresh()
        loaded = self._loaded
        if loaded is None:
            raise ServiceUnavailable(f"the search index is not available: {self._error}")
        return loaded

    def _refresh(self) -> None:
        try:
            version = current_version(self._share)
            if self._loaded is None or self._loaded.bundle.version != version:
                bundle = load_bundle(self._share, version)
                encoder = OnnxSentenceEncoder(bundle.encoder_dir)
                self._loaded = LoadedBundle(bundle, encoder, encoder.vocabulary())
            self._error = None
            self._next_check = time.monotonic() + self._check_seconds
        except (BundleError, EncoderError) as exc:
            self._error = str(exc)
            self._next_check = time.monotonic() + min(self._check_seconds, _RETRY_AFTER_FAILURE_SECONDS)
        except Exception as exc:  # e.g. onnxruntime refusing a corrupt model file
            self._error = f"the bundle could not be loaded ({type(exc).__name__}: {exc})"
            self._next_check = time.monotonic() + min(self._check_seconds, _RETRY_AFTER_FAILURE_SECONDS)
