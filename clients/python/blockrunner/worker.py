"""
A worker: one link to a manager at a time, kept up with capped, jittered backoff over a list of
URLs (the next URL after every failed attempt), heights run by the height loop, reverts run by
the handler module's ``revert``, and a graceful stop on SIGTERM/SIGINT: release what is
buffered, let running handlers finish within the shutdown time, send their results, close 1000.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import logs, protocol
from .backoff import reconnect_delay_ms
from .context import FieldsAdapter, RevertContext
from .errors import ConfigError, TokenRefusedError
from .height_loop import Handler, HeightLoop, error_message
from .link import SILENT_HEARTBEATS, Link, LinkError, open_link
from .protocol import Cancel, Dispatch, ManagerFrame, Revert

Reverter = Callable[[int, int, RevertContext], Awaitable[None] | None]

#: A refused token is not worth retrying for long: after this many 401s in a row, stop.
TOKEN_REFUSALS_BEFORE_EXIT = 3

DEFAULT_URL = "ws://127.0.0.1:8080/v1/ws"


def display_url(url: str) -> str:
    """The URL without credentials or query, for log lines."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "[unparseable url]"


class Worker:
    """
    ``handler(height, ctx)`` runs once per dispatched height (a coroutine function, or a plain
    function); it may return ``{"hash": ..., "parent_hash": ...}`` for its block. ``revert(from,
    to, ctx)``, optional, undoes heights a reorganisation orphaned.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        urls: Sequence[str] = (DEFAULT_URL,),
        queues: Sequence[str] = ("default",),
        concurrency: int = 16,
        prefetch: int | None = None,
        token: str | None = None,
        name: str | None = None,
        heartbeat_ms: int = 15_000,
        shutdown_ms: int = 10_000,
        revert: Reverter | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if not urls:
            raise ValueError("urls must list at least one manager URL")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._urls = list(urls)
        self._token = token
        self._heartbeat_ms = heartbeat_ms
        self._shutdown_ms = shutdown_ms
        self._revert = revert
        self._log = log or logging.getLogger("blockrunner")
        prefetch = concurrency if prefetch is None else prefetch
        self._hello = protocol.hello(
            name or f"{socket.gethostname()}-{os.getpid()}"[: protocol.MAX_NAME_LENGTH],
            list(queues),
            concurrency + prefetch,
        )
        self._loop = HeightLoop(handler, concurrency, prefetch, self._log)
        self._link: Link | None = None
        #: Reverts running, with their context (whose event is set when they are cancelled).
        self._reverts: dict[asyncio.Task[None], RevertContext] = {}
        self._stopping = False
        self._stop_requested: asyncio.Event | None = None

    def stop(self) -> None:
        """Asks ``run()`` to stop gracefully; safe to call from a signal handler, more than once."""
        self._stopping = True
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def run(self) -> None:
        """Works until ``stop()``; raises TokenRefusedError when the manager refuses the token."""
        self._stop_requested = asyncio.Event()
        if self._stopping:
            self._stop_requested.set()
        connecting = asyncio.create_task(self._keep_connected())
        stop_wait = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({connecting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if connecting.done():
                connecting.result()  # a refused token, or a bug: raise it
                return
            await self._drain(connecting)
        finally:
            stop_wait.cancel()
            if not connecting.done():
                connecting.cancel()
        self._log.info("worker stopped")

    async def _drain(self, connecting: asyncio.Task[None]) -> None:
        deadline = asyncio.get_running_loop().time() + self._shutdown_ms / 1000
        self._loop.release_buffered()
        link = self._link
        if link is None:
            # Between links (a backoff delay or a connect in flight): nothing is held.
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            return
        waits = [self._loop.idle(), *self._reverts]
        settled = asyncio.ensure_future(asyncio.gather(*waits, return_exceptions=True))
        left = deadline - asyncio.get_running_loop().time()
        await asyncio.wait(
            {settled, link.closed}, timeout=max(0.0, left), return_when=asyncio.FIRST_COMPLETED
        )
        settled.cancel()
        if self._loop.running_count > 0:
            self._log.warning(
                "shutdown time is up, cancelling handlers",
                extra={"fields": {"running": self._loop.running_count}},
            )
            self._loop.abort_running()
        self._cancel_reverts()
        self._loop.flush()
        await link.close(protocol.CLOSE_NORMAL, "normal: worker stopping")
        await asyncio.gather(connecting, return_exceptions=True)

    async def _keep_connected(self) -> None:
        failures = 0
        refusals = 0
        index = 0
        silence_s = SILENT_HEARTBEATS * self._heartbeat_ms / 1000
        while not self._stopping:
            url = self._urls[index % len(self._urls)]
            try:
                link = await open_link(
                    url, self._token, self._hello, silence_s, self._on_frame, self._log
                )
            except LinkError as error:
                failures += 1
                # Counted until a link is welcomed, whatever fails in between (another URL).
                if error.status == 401:
                    refusals += 1
                if refusals >= TOKEN_REFUSALS_BEFORE_EXIT:
                    raise TokenRefusedError(
                        f"the manager at {display_url(url)} refused the worker token "
                        f"{refusals} times (HTTP 401): check BLOCKRUNNER_WORKER_TOKEN"
                    ) from error
                await self._back_off(url, failures, str(error))
                index += 1
                continue
            # Welcomed: the attempt count starts over.
            failures = refusals = 0
            self._link = link
            self._loop.connected(link.send)
            self._log.info(
                "worker connected",
                extra={
                    "fields": {
                        "workerId": link.welcome.worker_id,
                        "url": display_url(url),
                        "leaseMs": link.welcome.lease_ms,
                        "heartbeatMs": link.welcome.heartbeat_ms,
                    }
                },
            )
            end = await link.closed
            self._link = None
            self._loop.disconnected()
            self._cancel_reverts()
            if self._stopping:
                return
            self._log.warning(
                "worker disconnected, reconnecting",
                extra={"fields": {"code": end.code, "reason": end.reason, "err": end.error}},
            )
            if end.code in protocol.REFUSALS:
                # Welcomed, then refused: reconnecting at once would loop.
                failures = 1
                await self._back_off(url, failures, f"link closed: {end.code} {end.reason}")
                index += 1

    async def _back_off(self, url: str, failures: int, error: str) -> None:
        delay = reconnect_delay_ms(failures)
        self._log.warning(
            "cannot connect to the manager, retrying",
            extra={
                "fields": {
                    "url": display_url(url),
                    "attempt": failures,
                    "delayMs": round(delay),
                    "err": error,
                }
            },
        )
        await asyncio.sleep(delay / 1000)

    def _on_frame(self, frame: ManagerFrame) -> None:
        if isinstance(frame, Dispatch):
            self._loop.dispatch(frame)
        elif isinstance(frame, Cancel):
            self._loop.cancel(frame)
        elif isinstance(frame, Revert):
            fields = {"queue": frame.queue, "revert": [frame.start, frame.end]}
            ctx = RevertContext(frame.queue, FieldsAdapter(self._log, {"fields": fields}))
            task = asyncio.get_running_loop().create_task(self._run_revert(frame, ctx, self._link))
            self._reverts[task] = ctx
            task.add_done_callback(lambda done: self._reverts.pop(done, None))

    def _cancel_reverts(self) -> None:
        for task, ctx in list(self._reverts.items()):
            ctx.cancelled.set()
            task.cancel()

    async def _run_revert(self, frame: Revert, ctx: RevertContext, link: Link | None) -> None:
        """Runs the module's revert once and answers on the link that asked, or nowhere."""
        log = ctx.log
        error: str | None = None
        if self._revert is not None:
            try:
                result = self._revert(frame.start, frame.end, ctx)
                if inspect.isawaitable(result):
                    await result
                log.info("reverted an orphaned range")
            except Exception as raised:
                error = error_message(raised)
                log.warning("revert failed", extra={"fields": {"err": error}})
        if link is not None and link is self._link:
            link.send(protocol.reverted(frame.revert, error))


def run_worker(handler: Handler, **options: Any) -> int:
    """
    Runs a Worker in a new event loop until SIGTERM or SIGINT, logging JSON lines to stdout.
    Returns the exit code: 0 after a graceful stop, 2 for a bad LOG_LEVEL or option, or when the
    manager refused the token (one line on stderr says which).
    """
    try:
        logs.configure(os.environ.get("LOG_LEVEL") or "info")
        worker = Worker(handler, **options)
    except (ConfigError, ValueError) as bad:
        print(f"blockrunner worker: {bad}", file=sys.stderr, flush=True)
        return 2

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        try:
            await worker.run()
        except TokenRefusedError as refused:
            print(f"blockrunner worker: {refused}", file=sys.stderr, flush=True)
            return 2
        return 0

    return asyncio.run(main())
