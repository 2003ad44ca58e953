import asyncio
import logging
import unittest
from typing import Any

import _path  # noqa: F401

from blockrunner import HandlerContext, RateLimitedError
from blockrunner import protocol
from blockrunner.height_loop import HeightLoop
from blockrunner.protocol import Cancel, Dispatch

LOG = logging.getLogger("blockrunner.test")


class Recorder:
    """What the loop sent, and the handler's view of what ran."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.running = 0
        self.most_running = 0
        self.started: list[tuple[int, int]] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.cancelled: list[int] = []

    def send(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == kind]

    def done(self) -> list[list[int]]:
        return [r for frame in self.of("results") for r in done_of(frame)]


def done_of(frame: dict[str, Any]) -> list[list[int]]:
    """A results frame's done heights as [from, to] ranges; this worker sends range deltas."""
    return [list(r) for r in protocol.parse_deltas(frame["doneDeltas"], "doneDeltas")]


async def settle() -> None:
    """Lets the loop's tasks and its linger timer (20 ms) run."""
    for _ in range(3):
        await asyncio.sleep(0.05)


class HeightLoopTest(unittest.IsolatedAsyncioTestCase):
    def make(
        self, concurrency: int, prefetch: int, gated: set[int] = frozenset()
    ) -> tuple[HeightLoop, Recorder]:
        recorder = Recorder()

        async def handle(height: int, ctx: HandlerContext) -> Any:
            recorder.started.append((height, ctx.attempt))
            recorder.running += 1
            recorder.most_running = max(recorder.most_running, recorder.running)
            try:
                if height in gated:
                    gate = recorder.gates.setdefault(height, asyncio.Event())
                    try:
                        await gate.wait()
                    except asyncio.CancelledError:
                        recorder.cancelled.append(height)
                        self.assertTrue(ctx.cancelled.is_set())
                        raise
                await asyncio.sleep(0)
                if height == 13:
                    raise RuntimeError("height 13 fails")
                if height == 14:
                    raise RateLimitedError("node said 429", retry_after_ms=500)
                if height >= 100:
                    return {"hash": f"0x{height}", "parent_hash": f"0x{height - 1}"}
                return None
            finally:
                recorder.running -= 1

        loop = HeightLoop(handle, concurrency, prefetch, LOG)
        loop.connected(recorder.send)
        return loop, recorder

    async def test_runs_at_most_concurrency_and_batches_results(self) -> None:
        loop, recorder = self.make(concurrency=3, prefetch=3)
        loop.dispatch(Dispatch(1, "q", [(0, 9)], None))
        loop.dispatch(Dispatch(2, "q", [(20, 21)], None))
        await settle()
        self.assertEqual(recorder.most_running, 3)
        self.assertEqual([h for h, _ in recorder.started], [*range(10), 20, 21])
        by_lease: dict[int, list[list[int]]] = {}
        for frame in recorder.of("results"):
            by_lease.setdefault(frame["lease"], []).extend(done_of(frame))
            self.assertEqual(frame["failed"], [])
            self.assertGreaterEqual(frame["runMs"], 0)
        self.assertEqual(
            sorted(h for r in by_lease[1] for h in range(r[0], r[1] + 1)), list(range(10))
        )
        self.assertEqual(by_lease[2], [[20, 21]])
        # Batched: fewer frames than heights.
        self.assertLess(len(recorder.of("results")), 12)

    async def test_attempts_failures_and_hashes(self) -> None:
        loop, recorder = self.make(concurrency=4, prefetch=0)
        loop.dispatch(Dispatch(5, "q", [(13, 13), (14, 14), (100, 101)], [3, 2, 1]))
        await settle()
        self.assertEqual(sorted(recorder.started), [(13, 3), (14, 2), (100, 1), (101, 1)])
        failed = [f for frame in recorder.of("results") for f in frame["failed"]]
        self.assertEqual(
            sorted(failed, key=lambda f: f["height"]),
            [
                {"height": 13, "error": "height 13 fails"},
                # RateLimitedError: marked so that the manager counts no attempt.
                {
                    "height": 14,
                    "error": "node said 429",
                    "kind": "rate-limited",
                    "retryAfterMs": 500,
                },
            ],
        )
        hashes = [h for frame in recorder.of("results") for h in frame.get("hashes", [])]
        self.assertEqual(
            sorted(hashes, key=lambda h: h["height"]),
            [
                {"height": 100, "hash": "0x100", "parentHash": "0x99"},
                {"height": 101, "hash": "0x101", "parentHash": "0x100"},
            ],
        )

    async def test_cancel_stops_running_and_drops_buffered_heights(self) -> None:
        loop, recorder = self.make(concurrency=1, prefetch=3, gated={0})
        loop.dispatch(Dispatch(7, "q", [(0, 3)], None))
        await settle()
        self.assertEqual(recorder.started, [(0, 1)])
        loop.cancel(Cancel(7, [(0, 0), (2, 2)]))
        await settle()
        self.assertEqual(recorder.cancelled, [0])
        self.assertEqual([h for h, _ in recorder.started], [0, 1, 3])
        self.assertEqual(sorted(h for r in recorder.done() for h in range(r[0], r[1] + 1)), [1, 3])

    async def test_release_hands_back_what_has_not_started(self) -> None:
        loop, recorder = self.make(concurrency=1, prefetch=4, gated={10})
        loop.dispatch(Dispatch(8, "q", [(10, 12), (20, 21)], [1, 2]))
        await settle()
        loop.release_buffered()
        self.assertEqual(
            recorder.of("release"),
            [{"type": "release", "lease": 8, "ranges": [[11, 12], [20, 21]]}],
        )
        loop.dispatch(Dispatch(9, "q", [(30, 31)], None))
        self.assertEqual(
            recorder.of("release")[-1], {"type": "release", "lease": 9, "ranges": [[30, 31]]}
        )
        recorder.gates[10].set()
        await loop.idle()
        loop.flush()
        self.assertEqual(recorder.done(), [[10, 10]])
        self.assertEqual([h for h, _ in recorder.started], [10])

    async def test_tip_dispatch_starts_before_buffered_backfill(self) -> None:
        loop, recorder = self.make(concurrency=1, prefetch=100, gated={0, 500, 501, 600, 2})
        loop.dispatch(Dispatch(1, "q", [(0, 4)], None))
        loop.dispatch(Dispatch(2, "q", [(10, 11)], None))
        await settle()
        loop.dispatch(Dispatch(3, "q", [(500, 501)], None, "tip"))
        loop.dispatch(Dispatch(4, "q", [(600, 600)], None, "tip"))
        for height in [0, 500, 501, 600]:
            recorder.gates.setdefault(height, asyncio.Event()).set()
            await settle()
        # Tip batches in arrival order, then the backfill batch that had started, where it
        # stopped, then the next one.
        self.assertEqual([h for h, _ in recorder.started], [0, 500, 501, 600, 1, 2])
        # Cancel and release still find every buffered height, whichever part holds it.
        loop.dispatch(Dispatch(5, "q", [(700, 702)], [2, 1], "tip"))
        loop.cancel(Cancel(5, [(701, 701)]))
        loop.release_buffered()
        self.assertEqual(
            recorder.of("release"),
            [
                {"type": "release", "lease": 5, "ranges": [[700, 700], [702, 702]]},
                {"type": "release", "lease": 1, "ranges": [[3, 4]]},
                {"type": "release", "lease": 2, "ranges": [[10, 11]]},
            ],
        )
        recorder.gates[2].set()
        await loop.idle()
        loop.flush()
        done = sorted(h for r in recorder.done() for h in range(r[0], r[1] + 1))
        self.assertEqual(done, [0, 1, 2, 500, 501, 600])

    async def test_disconnect_cancels_running_and_sends_nothing_more(self) -> None:
        loop, recorder = self.make(concurrency=2, prefetch=2, gated={0, 1})
        loop.dispatch(Dispatch(1, "q", [(0, 3)], None))
        await settle()
        loop.disconnected()
        await settle()
        self.assertEqual(sorted(recorder.cancelled), [0, 1])
        self.assertEqual(recorder.frames, [])
        self.assertEqual(loop.running_count, 0)
        self.assertEqual(loop.buffered_count, 0)


if __name__ == "__main__":
    unittest.main()
