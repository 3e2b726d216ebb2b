"""Retrieval quality: how well a text query finds the right image (`python -m evaluation.quality`)."""
