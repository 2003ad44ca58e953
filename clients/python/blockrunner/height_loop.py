"""
The height loop (docs/protocol.md, "Capacity and flow control"): dispatched heights wait in a
buffer, in arrival order but for tip-lane dispatches, which go before the backfill ("Lanes"),
at most ``concurrency`` handlers run at once (one asyncio task each), and results are
sent per lease, batched: on the next loop turn once half the prefetch or less is left to start,
otherwise within 20 ms, like the Node worker.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from . import protocol
from .context import HandlerContext
from .protocol import Cancel, Dispatch
from .ranges import Range, contains, merge, ranges_of, subtract

Handler = Callable[[int, HandlerContext], Awaitable[Any] | Any]
Send = Callable[[dict[str, Any]], None]

#: Longest that results wait while the buffer still holds plenty of heights to run.
RESULTS_LINGER_S = 0.020
#: Block reports per results frame: about 6 MiB at the longest hashes, far below 16 MiB.
MAX_HASHES_PER_FRAME = 20_000
#: Failures per results frame stay under this many bytes of JSON.
MAX_FAILURE_BYTES_PER_FRAME = 4 * 1024 * 1024


class _Batch:
    """One dispatch's heights not started yet, with a cursor on the next one."""

    __slots__ = ("lease", "queue", "segments", "index", "next", "tip")

    def __init__(
        self, lease: int, queue: str, segments: list[tuple[int, int, int]], tip: bool = False
    ) -> None:
        self.lease = lease
        self.queue = queue
        #: A tip-lane lease: starts before the buffered backfill batches.
        self.tip = tip
        #: (from, to, attempt) in dispatch order.
        self.segments = segments
        self.index = 0
        self.next = segments[0][0] if segments else 0

    @classmethod
    def of(cls, frame: Dispatch) -> _Batch:
        attempts = frame.attempts or [1] * len(frame.ranges)
        segments = [(start, end, attempts[i]) for i, (start, end) in enumerate(frame.ranges)]
        return cls(frame.lease, frame.queue, segments, frame.lane == "tip")

    @property
    def exhausted(self) -> bool:
        return self.index >= len(self.segments)

    def take(self) -> tuple[int, int]:
        """The next height and its attempt; moves the cursor past it."""
        height = self.next
        _, end, attempt = self.segments[self.index]
        if height < end:
            self.next += 1
        else:
            self.index += 1
            self.next = self.segments[self.index][0] if not self.exhausted else 0
        return height, attempt

    def unstarted(self) -> list[tuple[int, int, int]]:
        left = self.segments[self.index :]
        if left:
            _, end, attempt = left[0]
            left[0] = (self.next, end, attempt)
        return left

    def count(self) -> int:
        return sum(end - start + 1 for start, end, _ in self.unstarted())

    def drop(self, removed: list[Range]) -> None:
        """Drops the (merged) ``removed`` heights from what is left to start."""
        segments = [
            (start, end, attempt)
            for s_start, s_end, attempt in self.unstarted()
            for start, end in subtract(s_start, s_end, removed)
        ]
        self.segments = segments
        self.index = 0
        self.next = segments[0][0] if segments else 0


class _Run:
    __slots__ = ("ctx", "link", "task")

    def __init__(self, ctx: HandlerContext, link: int) -> None:
        self.ctx = ctx
        #: The loop's link generation when the run started: an older one reports nothing.
        self.link = link
        self.task: asyncio.Task[None] | None = None

    def abort(self) -> None:
        self.ctx._cancel()
        if self.task is not None:
            self.task.cancel()


class _LeaseResults:
    __slots__ = ("done", "failed", "run_ms", "hashes")

    def __init__(self) -> None:
        self.done: list[int] = []
        self.failed: list[dict[str, Any]] = []
        self.run_ms = 0.0
        self.hashes: list[dict[str, Any]] = []


def error_message(error: BaseException) -> str:
    """The message of a raised exception, as ``lastError``: never empty, never too long."""
    try:
        message = str(error) or type(error).__name__
    except Exception:
        message = "handler raised an exception that cannot be printed"
    return protocol.error_text(message)


def _failure_chunks(failed: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = []
    chunk: list[dict[str, Any]] = []
    size = 0
    for failure in failed:
        item = len(json.dumps(failure).encode("utf-8")) + 1
        if chunk and size + item > MAX_FAILURE_BYTES_PER_FRAME:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(failure)
        size += item
    if chunk:
        chunks.append(chunk)
    return chunks


class HeightLoop:
    def __init__(
        self,
        handler: Handler,
        concurrency: int,
        prefetch: int,
        log: logging.Logger,
    ) -> None:
        self._handler = handler
        self._concurrency = concurrency
        self._prefetch = prefetch
        self._log = log
        self._batches: deque[_Batch] = deque()
        self._running: set[_Run] = set()
        self._pending: dict[int, _LeaseResults] = {}
        #: Heights dispatched and not started yet.
        self._buffered = 0
        self._send: Send | None = None
        self._link = 0
        self._releasing = False
        self._flush_handle: asyncio.Handle | None = None
        self._idle_waiters: list[asyncio.Future[None]] = []

    @property
    def running_count(self) -> int:
        return len(self._running)

    @property
    def buffered_count(self) -> int:
        return self._buffered

    def connected(self, send: Send) -> None:
        """A link is up: results and releases go through ``send`` from now on."""
        self._send = send

    def disconnected(self) -> None:
        """
        The link dropped: the manager took back every height it held, so running handlers are
        cancelled, buffered heights dropped and unsent results discarded.
        """
        self._send = None
        self._link += 1
        self._batches.clear()
        self._buffered = 0
        self._pending.clear()
        self._cancel_flush()
        self.abort_running()

    def dispatch(self, frame: Dispatch) -> None:
        batch = _Batch.of(frame)
        if self._releasing:
            self._send_release([batch])
            return
        if batch.tip:
            # Behind the tip batches already buffered (always the first ones), before the
            # backfill (docs/protocol.md, "Lanes").
            index = 0
            while index < len(self._batches) and self._batches[index].tip:
                index += 1
            self._batches.insert(index, batch)
        else:
            self._batches.append(batch)
        self._buffered += batch.count()
        self._pump()

    def cancel(self, frame: Cancel) -> None:
        """Cancels the named heights that run and drops the buffered ones."""
        removed = merge(frame.ranges)
        for run in list(self._running):
            if run.ctx.lease == frame.lease and contains(removed, run.ctx.height):
                run.abort()
        for batch in self._batches:
            if batch.lease == frame.lease:
                batch.drop(removed)
        self._batches = deque(batch for batch in self._batches if not batch.exhausted)
        self._buffered = sum(batch.count() for batch in self._batches)

    def release_buffered(self) -> None:
        """Stopping: hands buffered heights back and from now on releases every dispatch."""
        self._releasing = True
        self._buffered = 0
        batches = list(self._batches)
        self._batches.clear()
        self._send_release(batches)

    def abort_running(self) -> None:
        for run in list(self._running):
            run.abort()

    async def idle(self) -> None:
        """Returns once no handler runs."""
        if not self._running:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        await waiter

    def flush(self) -> None:
        """Sends every collected result now, one frame per lease (more for many failures)."""
        self._cancel_flush()
        pending, self._pending = self._pending, {}
        send = self._send
        if send is None:
            return
        for lease, results in pending.items():
            first, *more = _failure_chunks(results.failed) or [[]]
            send(
                protocol.results(
                    lease,
                    ranges_of(results.done),
                    first,
                    results.run_ms,
                    results.hashes,
                    deltas=protocol.SPEAKS_DELTAS,
                )
            )
            for chunk in more:
                send(protocol.results(lease, [], chunk, 0, deltas=protocol.SPEAKS_DELTAS))

    def _pump(self) -> None:
        if not self._batches:
            return
        loop = asyncio.get_running_loop()
        while len(self._running) < self._concurrency and self._batches:
            batch = self._batches[0]
            height, attempt = batch.take()
            if batch.exhausted:
                self._batches.popleft()
            self._buffered -= 1
            ctx = HandlerContext(batch.queue, height, attempt, batch.lease, self._log)
            run = _Run(ctx, self._link)
            self._running.add(run)
            run.task = loop.create_task(self._run(run))

    async def _run(self, run: _Run) -> None:
        started = time.perf_counter()
        outcome: object = None
        failed: BaseException | None = None
        try:
            result = self._handler(run.ctx.height, run.ctx)
            outcome = await result if inspect.isawaitable(result) else result
        except asyncio.CancelledError:
            # Cancelled by the manager, a dropped link or the shutdown deadline: the manager
            # ignores any result for it, so none is sent.
            self._settled(run)
            return
        except Exception as error:  # a handler's failure never stops the loop
            failed = error
        self._settled(run, (time.perf_counter() - started) * 1000, outcome, failed)

    def _settled(
        self,
        run: _Run,
        elapsed_ms: float | None = None,
        outcome: object = None,
        failed: BaseException | None = None,
    ) -> None:
        self._running.discard(run)
        if elapsed_ms is not None and run.link == self._link and self._send is not None:
            results = self._pending.get(run.ctx.lease)
            if results is None:
                results = self._pending[run.ctx.lease] = _LeaseResults()
            results.run_ms += elapsed_ms
            height = run.ctx.height
            if failed is not None:
                message = error_message(failed)
                results.failed.append(protocol.failure(height, message, failed))
                self._log.debug(
                    "height failed",
                    extra={"fields": {"queue": run.ctx.queue, "height": height, "error": message}},
                )
            else:
                results.done.append(height)
                report = protocol.block_report(height, outcome)
                if report is not None:
                    results.hashes.append(report)
            # Hashes travel in the frame of their heights' done: send before a frame grows
            # past the manager's limit.
            if len(results.hashes) >= MAX_HASHES_PER_FRAME:
                self.flush()
            else:
                self._schedule_flush()
        if not self._running:
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._idle_waiters.clear()
        self._pump()

    def _schedule_flush(self) -> None:
        loop = asyncio.get_running_loop()
        if self._buffered <= self._prefetch / 2:
            if self._flush_handle is not None and not isinstance(
                self._flush_handle, asyncio.TimerHandle
            ):
                return
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush_handle = loop.call_soon(self.flush)
        elif self._flush_handle is None:
            self._flush_handle = loop.call_later(RESULTS_LINGER_S, self.flush)

    def _cancel_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _send_release(self, batches: list[_Batch]) -> None:
        by_lease: dict[int, list[Range]] = {}
        for batch in batches:
            left = by_lease.setdefault(batch.lease, [])
            left.extend((start, end) for start, end, _ in batch.unstarted())
        send = self._send
        if send is None:
            return
        for lease, left in by_lease.items():
            ranges = [[start, end] for start, end in merge(left)]
            for i in range(0, len(ranges), protocol.MAX_ITEMS_PER_FRAME):
                send(protocol.release(lease, ranges[i : i + protocol.MAX_ITEMS_PER_FRAME]))
