"""
One WebSocket link to a manager (docs/protocol.md, "Connecting" and "Heartbeats"): open it,
say hello, wait for welcome, then hand frames on until it closes. Frames go out through one
writer task, in order. A watchdog pings the manager every ``heartbeatMs`` of the welcome and
drops the link (no close frame) once nothing, no frame and no pong, arrived for 2.5 of them.

Works with websockets 10.4 (Debian 12's python3-websockets, the legacy client) and with the
``websockets.asyncio`` client of websockets 13 and later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:
    import websockets
    import websockets.exceptions
except ImportError as missing:  # one line that says what to do, not a traceback to read
    raise ImportError(
        "blockrunner needs websockets 10.4 or newer: apt-get install python3-websockets "
        "(Debian, for /usr/bin/python3) or pip install websockets"
    ) from missing

from . import protocol
from .protocol import BadFrame, ManagerFrame, Welcome

try:  # websockets >= 13
    from websockets.asyncio.client import connect as _connect

    _HEADERS_ARG = "additional_headers"
except ImportError:  # websockets 10 to 12: the legacy client
    from websockets.legacy.client import connect as _connect  # type: ignore[no-redef]

    _HEADERS_ARG = "extra_headers"

#: Silence tolerated on a welcomed link, in the manager's heartbeats.
SILENT_HEARTBEATS = 2.5
#: Dispatch frames carry up to 100,000 heights; leave ample room above that (as the Node worker).
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: How long a close handshake may take before the connection is dropped.
CLOSE_TIMEOUT_S = 2.0


class LinkError(Exception):
    """The link could not be opened or was lost; ``status`` is the refused upgrade's HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LinkEnd:
    code: int
    reason: str
    #: Set when this side gave up on the link (bad frame, silence).
    error: str | None = None


OnFrame = Callable[[ManagerFrame], None]


def _status_of(error: BaseException) -> int | None:
    """The HTTP status of a refused upgrade, from either websockets API."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status is None:
        status = getattr(error, "status_code", None)
    return int(status) if isinstance(status, int) else None


def _body_of(error: BaseException) -> str:
    body = getattr(getattr(error, "response", None), "body", None)
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace").strip()[:200]
    return ""


def _close_of(error: websockets.exceptions.ConnectionClosed) -> tuple[int, str]:
    received = getattr(error, "rcvd", None)
    if received is not None:
        return int(received.code), str(received.reason)
    return 1006, ""


class Link:
    def __init__(
        self,
        ws: Any,
        welcome: Welcome,
        on_frame: OnFrame,
        log: logging.Logger,
    ) -> None:
        self.welcome = welcome
        self._ws = ws
        self._on_frame = on_frame
        self._log = log
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._last_seen = time.monotonic()
        self._failure: str | None = None
        self._closing: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[LinkEnd] = loop.create_future()
        self._writer = loop.create_task(self._write())
        self._watchdog = loop.create_task(self._watch())
        self._reader = loop.create_task(self._read())

    def send(self, frame: dict[str, Any]) -> None:
        """Queues a frame; frames go out in the order they were queued."""
        if not self.closed.done():
            self._outbox.put_nowait(protocol.encode(frame))

    async def close(self, code: int = protocol.CLOSE_NORMAL, reason: str = "") -> LinkEnd:
        """Sends what is queued, then closes with ``code``; returns how the link ended."""
        if not self.closed.done():
            self._outbox.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_TIMEOUT_S)
            except (TimeoutError, Exception):
                pass
            try:
                await asyncio.wait_for(self._ws.close(code, reason), CLOSE_TIMEOUT_S)
            except (TimeoutError, Exception):
                self._drop()
        return await self.closed

    def _drop(self) -> None:
        """Ends the link without a close frame."""
        transport = getattr(self._ws, "transport", None)
        if transport is not None:
            transport.abort()

    def _fail(self, error: str, close: tuple[int, str] | None = None) -> None:
        if self._failure is None:
            self._failure = error
        if close is None:
            self._drop()
        elif self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close_quietly(*close))

    async def _close_quietly(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self._ws.close(code, reason), CLOSE_TIMEOUT_S)
        except (TimeoutError, Exception):
            self._drop()

    async def _read(self) -> None:
        code, reason = 1006, ""
        try:
            while True:
                message = await self._ws.recv()
                self._last_seen = time.monotonic()
                if self._failure is not None:
                    continue  # given up on: nothing more is handled while it closes
                try:
                    frame = protocol.parse_manager_frame(message)
                    if isinstance(frame, Welcome):
                        raise BadFrame("welcome twice")
                except BadFrame as bad:
                    self._fail(f"manager sent a bad frame: {bad.reason}", (4400, bad.reason))
                    continue
                try:
                    self._on_frame(frame)
                except Exception:
                    self._log.exception("handling a manager frame failed")
        except websockets.exceptions.ConnectionClosed as closed:
            code, reason = _close_of(closed)
        except Exception as error:  # a socket error: the link is gone
            self._failure = self._failure or str(error)
            self._drop()
        finally:
            self._watchdog.cancel()
            if not self._writer.done():
                self._writer.cancel()
            if not self.closed.done():
                self.closed.set_result(LinkEnd(code, reason, self._failure))

    async def _write(self) -> None:
        while True:
            text = await self._outbox.get()
            if text is None:
                return
            try:
                await self._ws.send(text)
            except websockets.exceptions.ConnectionClosed:
                return

    async def _watch(self) -> None:
        """Pings every heartbeat; drops the link once silent for 2.5 heartbeats, to the moment."""
        heartbeat = self.welcome.heartbeat_ms / 1000
        silence = SILENT_HEARTBEATS * heartbeat
        next_ping = time.monotonic() + heartbeat
        while True:
            now = time.monotonic()
            silent = now - self._last_seen
            if silent >= silence:
                self._fail(f"no frame or pong from the manager for {int(silent * 1000)} ms")
                return
            if now >= next_ping:
                next_ping = now + heartbeat
                try:
                    waiter = await self._ws.ping()
                except websockets.exceptions.ConnectionClosed:
                    return
                waiter.add_done_callback(self._ponged)
            wake = min(next_ping, self._last_seen + silence)
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    def _ponged(self, waiter: asyncio.Future[Any]) -> None:
        if not waiter.cancelled() and waiter.exception() is None:
            self._last_seen = time.monotonic()


async def open_link(
    url: str,
    token: str | None,
    hello: dict[str, Any],
    timeout_s: float,
    on_frame: OnFrame,
    log: logging.Logger,
) -> Link:
    """Connects, says hello and returns once welcomed; raises LinkError otherwise."""
    options: dict[str, Any] = {
        "compression": None,
        "max_size": MAX_FRAME_BYTES,
        "open_timeout": timeout_s,
        # The watchdog pings, at the welcome's interval.
        "ping_interval": None,
        "close_timeout": CLOSE_TIMEOUT_S,
    }
    if token:
        options[_HEADERS_ARG] = {"Authorization": f"Bearer {token}"}
    try:
        ws = await _connect(url, **options)
    except asyncio.CancelledError:
        raise
    except websockets.exceptions.InvalidHandshake as error:
        status = _status_of(error)
        if status is None:
            raise LinkError(f"upgrade failed: {error}") from error
        body = _body_of(error)
        raise LinkError(
            f"upgrade refused: HTTP {status}{' ' + body if body else ''}", status
        ) from error
    except (TimeoutError, OSError, websockets.exceptions.WebSocketException) as error:
        raise LinkError(f"cannot connect: {error or type(error).__name__}") from error
    try:
        await ws.send(protocol.encode(hello))
        message = await asyncio.wait_for(ws.recv(), timeout_s)
        frame = protocol.parse_manager_frame(message)
        if not isinstance(frame, Welcome):
            raise BadFrame(f"expected welcome, got {type(frame).__name__.lower()}")
    except BadFrame as bad:
        await _close_now(ws, protocol.CLOSE_BAD_FRAME, bad.reason)
        raise LinkError(f"manager sent a bad frame: {bad.reason}") from bad
    except websockets.exceptions.ConnectionClosed as closed:
        code, reason = _close_of(closed)
        raise LinkError(f"manager closed the link: {code} {reason}".rstrip()) from closed
    except TimeoutError:
        await _close_now(ws, protocol.CLOSE_NORMAL, "normal: no welcome")
        raise LinkError(f"no welcome within {int(timeout_s * 1000)} ms") from None
    except BaseException:
        await _close_now(ws, protocol.CLOSE_NORMAL, "normal: worker stopping")
        raise
    return Link(ws, frame, on_frame, log)


async def _close_now(ws: Any, code: int, reason: str) -> None:
    try:
        await asyncio.wait_for(ws.close(code, reason), CLOSE_TIMEOUT_S)
    except (TimeoutError, Exception):
        transport = getattr(ws, "transport", None)
        if transport is not None:
            transport.abort()
