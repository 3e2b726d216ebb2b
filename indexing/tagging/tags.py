"""An image's tags from a classifier's class probabilities: moved to ``core.class_tags`` so that the
Function can tag a query picture too; the indexer's names stay importable from here."""

from core.class_tags import Tag, TagOptions, image_tags, softmax, tags_text

__all__ = ["Tag", "TagOptions", "image_tags", "softmax", "tags_text"]
