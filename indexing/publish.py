"""Moved to ``indexing.versions``; this name stays only until tests/function_app and tests/web import it
from there (their owners' files). Delete it then."""

from indexing.versions import CaptionedImage, build_index

__all__ = ["CaptionedImage", "build_index"]
