"""Exceptions a handler may raise, and the ones the worker raises itself."""

from __future__ import annotations


class RateLimitedError(Exception):
    """
    The handler's upstream (a node, an API) said it was rate limited; ``retry_after_ms`` is how
    long it asked to wait, when it said. Not a failed attempt: the worker reports it with
    ``"kind": "rate-limited"``, the manager hands the height back and the whole queue backs off
    (docs/api.md, "Queue settings"), as for the Node worker.
    """

    def __init__(self, message: str = "rate limited", retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class RangeTooLargeError(Exception):
    """
    The range asked of a handler was too large for its upstream; ``max_range`` is the size that
    would work, when known. The manager does not yet treat it specially: the worker reports it
    as a failed attempt, as the Node worker does.
    """

    def __init__(self, message: str = "range too large", max_range: int | None = None) -> None:
        super().__init__(message)
        self.max_range = max_range


class TokenRefusedError(Exception):
    """The manager refused the worker token (HTTP 401 at the upgrade) several times in a row."""


class ConfigError(ValueError):
    """A bad setting; the message is one line naming the variable or flag."""
