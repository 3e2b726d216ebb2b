"""Turns a corpus of images into a searchable index."""
