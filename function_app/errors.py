"""Exceptions the search service raises; the HTTP layer maps each to a status code and a message."""


class InvalidRequest(ValueError):
    """The request is malformed (400); the message says what is wrong and what is allowed."""


class NotFound(LookupError):
    """What the request names is not in the index (404); the message says what was looked for."""


class ServiceUnavailable(Exception):
    """The index cannot answer right now (503): no bundle, a broken bundle or the database is down."""
