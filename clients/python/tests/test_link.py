"""The link against a small WebSocket server of the tests' own, standing in for the manager."""

import asyncio
import json
import logging
import unittest
from collections.abc import Awaitable, Callable
from typing import Any

import _path  # noqa: F401
import websockets

from blockrunner import protocol
from blockrunner.link import LinkError, open_link
from blockrunner.protocol import Dispatch

LOG = logging.getLogger("blockrunner.test")
WELCOME = {"type": "welcome", "protocol": 5, "workerId": "w", "leaseMs": 1000, "heartbeatMs": 5000}
HELLO = protocol.hello("t", ["q"], 4)


class FakeManager:
    """Runs ``script(ws)`` for each connection; keeps the frames and the close it received."""

    def __init__(self, script: Callable[[Any], Awaitable[None]]) -> None:
        self.script = script
        self.received: list[dict[str, Any]] = []
        self.closes: list[tuple[int, str]] = []
        self.done = asyncio.Event()

    async def handle(self, ws: Any) -> None:
        try:
            self.received.append(json.loads(await ws.recv()))  # the hello
            await self.script(ws)
            async for message in ws:
                self.received.append(json.loads(message))
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            # websockets 10 keeps it on the connection, 13+ on its protocol object.
            received = getattr(ws, "close_rcvd", None) or getattr(
                getattr(ws, "protocol", None), "close_rcvd", None
            )
            if received is not None:
                self.closes.append((received.code, received.reason))
            self.done.set()


class LinkTest(unittest.IsolatedAsyncioTestCase):
    async def serve(self, script: Callable[[Any], Awaitable[None]]) -> tuple[FakeManager, str]:
        manager = FakeManager(script)
        server = await websockets.serve(manager.handle, "127.0.0.1", 0)
        self.addAsyncCleanup(self.stop_server, server)
        port = list(server.sockets)[0].getsockname()[1]
        return manager, f"ws://127.0.0.1:{port}/v1/ws"

    @staticmethod
    async def stop_server(server: Any) -> None:
        server.close()
        await server.wait_closed()

    async def test_hello_welcome_frames_in_order_and_a_normal_close(self) -> None:
        async def script(ws: Any) -> None:
            await ws.send(json.dumps(WELCOME))
            await ws.send(
                json.dumps({"type": "dispatch", "lease": 1, "queue": "q", "ranges": [[1, 2]]})
            )

        manager, url = await self.serve(script)
        frames: list[Any] = []
        link = await open_link(url, None, HELLO, 5.0, frames.append, LOG)
        self.assertEqual(link.welcome.heartbeat_ms, 5000)
        for lease in range(1, 4):
            link.send(protocol.release(lease, [[lease, lease]]))
        end = await link.close(1000, "normal: worker stopping")
        await asyncio.wait_for(manager.done.wait(), 5)
        self.assertEqual(frames, [Dispatch(1, "q", [(1, 2)], None)])
        self.assertEqual(manager.received[0], HELLO)
        self.assertEqual([frame["lease"] for frame in manager.received[1:]], [1, 2, 3])
        self.assertEqual(manager.closes, [(1000, "normal: worker stopping")])
        self.assertEqual(end.code, 1000)

    async def test_a_bad_manager_frame_closes_with_4400(self) -> None:
        async def script(ws: Any) -> None:
            await ws.send(json.dumps(WELCOME))
            await ws.send(json.dumps({"type": "cancel", "lease": 0, "ranges": []}))

        manager, url = await self.serve(script)
        link = await open_link(url, None, HELLO, 5.0, lambda frame: None, LOG)
        end = await asyncio.wait_for(link.closed, 5)
        await asyncio.wait_for(manager.done.wait(), 5)
        self.assertEqual(manager.closes[0][0], 4400)
        self.assertTrue(manager.closes[0][1].startswith("bad_frame: lease:"))
        self.assertIn("manager sent a bad frame", end.error or "")

    async def test_no_welcome_first_is_a_failed_attempt(self) -> None:
        async def script(ws: Any) -> None:
            await ws.send(json.dumps({"type": "cancel", "lease": 1, "ranges": []}))

        manager, url = await self.serve(script)
        with self.assertRaises(LinkError) as raised:
            await open_link(url, None, HELLO, 5.0, lambda frame: None, LOG)
        self.assertIn("expected welcome, got cancel", str(raised.exception))
        await asyncio.wait_for(manager.done.wait(), 5)
        self.assertEqual(manager.closes[0][0], 4400)

    async def test_an_unreachable_manager_is_a_link_error(self) -> None:
        with self.assertRaises(LinkError) as raised:
            await open_link("ws://127.0.0.1:9/v1/ws", None, HELLO, 2.0, lambda frame: None, LOG)
        self.assertTrue(str(raised.exception).startswith("cannot connect"))
        self.assertIsNone(raised.exception.status)


if __name__ == "__main__":
    unittest.main()
