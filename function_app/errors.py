"""Exceptions the search service raises; the HTTP layer maps each to a status code and a message."""


class InvalidRequest(ValueError):
    """The request is malformed (400); the message says what is wrong and what is allowed."""


class ServiceUnavailable(Exception):
    """The index cannot answer right now (503): no bundle, a broken bundle or the database is down."""
