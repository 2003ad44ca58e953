"""What a handler gets beside its height: queue, attempt, cancellation and a logger."""

from __future__ import annotations

import asyncio
import logging
from typing import Any


class FieldsAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger with fields of its own, merged with the ``extra={"fields": ...}`` of a call."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = kwargs.get("extra") or {}
        fields = {**(self.extra or {}).get("fields", {}), **extra.get("fields", {})}
        kwargs["extra"] = {**extra, "fields": fields}
        return msg, kwargs


class HandlerContext:
    """
    One handler run's context. ``cancelled`` is an ``asyncio.Event`` set when the manager
    cancels the height (its lease expired or a reorganisation orphaned it), the link dropped,
    or the worker gave up waiting at shutdown; the handler's task is cancelled at the same time
    (``asyncio.CancelledError`` at its next ``await``). A handler that shields itself from the
    cancellation may still watch the event.
    """

    __slots__ = ("queue", "height", "attempt", "lease", "_event", "_log", "_parent_log")

    def __init__(
        self,
        queue: str,
        height: int,
        attempt: int,
        lease: int,
        parent_log: logging.Logger,
    ) -> None:
        self.queue = queue
        self.height = height
        self.attempt = attempt
        self.lease = lease
        # Made on first use: a noop handler touches neither, at tens of thousands of heights a
        # second.
        self._event: asyncio.Event | None = None
        self._log: FieldsAdapter | None = None
        self._parent_log = parent_log

    @property
    def cancelled(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    @property
    def log(self) -> FieldsAdapter:
        if self._log is None:
            fields = {"queue": self.queue, "height": self.height, "attempt": self.attempt}
            self._log = FieldsAdapter(self._parent_log, {"fields": fields})
        return self._log

    def _cancel(self) -> None:
        self.cancelled.set()


class RevertContext:
    """A revert's context: its queue, a cancellation event (the asking link dropped), a logger."""

    __slots__ = ("queue", "cancelled", "log")

    def __init__(self, queue: str, log: FieldsAdapter) -> None:
        self.queue = queue
        self.cancelled = asyncio.Event()
        self.log = log
