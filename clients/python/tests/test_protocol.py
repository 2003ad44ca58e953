import json
import unittest

import _path  # noqa: F401

from blockrunner import protocol
from blockrunner.protocol import BadFrame, Cancel, Dispatch, Revert, Welcome


def frame(**fields: object) -> str:
    return json.dumps(fields)


class ParseTest(unittest.TestCase):
    def test_welcome(self) -> None:
        parsed = protocol.parse_manager_frame(
            frame(type="welcome", protocol=5, workerId="w", leaseMs=30000, heartbeatMs=15000)
        )
        self.assertEqual(parsed, Welcome("w", 30000, 15000))

    def test_dispatch_with_and_without_attempts(self) -> None:
        parsed = protocol.parse_manager_frame(
            frame(type="dispatch", lease=17, queue="eth", ranges=[[3, 3], [1, 2]], attempts=[2, 1])
        )
        self.assertEqual(parsed, Dispatch(17, "eth", [(3, 3), (1, 2)], [2, 1]))
        parsed = protocol.parse_manager_frame(
            frame(type="dispatch", lease=1, queue="q", ranges=[[0, 99_999]])
        )
        self.assertEqual(parsed, Dispatch(1, "q", [(0, 99_999)], None))

    def test_dispatch_as_range_deltas(self) -> None:
        parsed = protocol.parse_manager_frame(
            frame(
                type="dispatch", lease=4, queue="q", deltas=[10, 0, 2, 0, 1, 3], attempts=[2, 1, 1]
            )
        )
        self.assertEqual(parsed, Dispatch(4, "q", [(10, 10), (12, 12), (13, 16)], [2, 1, 1]))
        bad = {
            "ranges: expected ranges or deltas, exactly one": {
                "ranges": [[1, 1]],
                "deltas": [1, 0],
            },
            "deltas: expected at least one range": {"deltas": []},
            "deltas: range deltas come in pairs": {"deltas": [1, 0, 2]},
            "deltas.2: a gap is at least 1": {"deltas": [1, 0, 0, 0]},
            "deltas.0: expected a whole number": {"deltas": [-1, 0]},
            "deltas.1: expected a whole number": {"deltas": [1, True]},
            "deltas.1: the ranges reach past height": {"deltas": [2**53 - 1, 1]},
            "deltas: expected a list": {"deltas": {"a": 1}},
        }
        for reason, fields in bad.items():
            with self.subTest(reason), self.assertRaises(BadFrame) as raised:
                protocol.parse_manager_frame(frame(type="dispatch", lease=1, queue="q", **fields))
            self.assertIn(reason, raised.exception.reason)

    def test_dispatch_range_size_is_accepted_and_ignored(self) -> None:
        parsed = protocol.parse_manager_frame(
            frame(type="dispatch", lease=2, queue="q", ranges=[[0, 9]], rangeSize=5)
        )
        self.assertEqual(parsed, Dispatch(2, "q", [(0, 9)], None))

    def test_dispatch_of_the_tip_lane(self) -> None:
        parsed = protocol.parse_manager_frame(
            frame(type="dispatch", lease=3, queue="q", ranges=[[500, 500]], lane="tip")
        )
        self.assertEqual(parsed, Dispatch(3, "q", [(500, 500)], None, "tip"))
        for lane in ["backfill", "TIP", 1, None]:
            with self.assertRaises(BadFrame) as raised:
                protocol.parse_manager_frame(
                    frame(type="dispatch", lease=3, queue="q", ranges=[[0, 0]], lane=lane)
                )
            self.assertEqual(raised.exception.reason, 'bad_frame: lane: expected "tip"')

    def test_ignores_fields_it_does_not_know(self) -> None:
        self.assertEqual(
            protocol.parse_manager_frame(frame(type="cancel", lease=1, ranges=[[2, 3]], later=[1])),
            Cancel(1, [(2, 3)]),
        )
        self.assertEqual(
            protocol.parse_manager_frame(
                frame(type="dispatch", lease=3, queue="q", ranges=[[5, 5]], later={"a": 1})
            ),
            Dispatch(3, "q", [(5, 5)], None, None),
        )

    def test_cancel_and_revert(self) -> None:
        self.assertEqual(
            protocol.parse_manager_frame(frame(type="cancel", lease=4, ranges=[[7, 9]])),
            Cancel(4, [(7, 9)]),
        )
        self.assertEqual(
            protocol.parse_manager_frame(
                frame(type="revert", revert=2, queue="eth", **{"from": 4, "to": 6})
            ),
            Revert(2, "eth", 4, 6),
        )

    def test_refuses_what_the_schemas_refuse(self) -> None:
        bad = {
            "not JSON": "{",
            "binary frame": b"{}",
            "unknown frame type": frame(type="nope"),
            "lease: missing": frame(type="cancel", ranges=[]),
            "lease: expected a whole number": frame(type="cancel", lease=0, ranges=[]),
            "from <= to": frame(type="cancel", lease=1, ranges=[[5, 4]]),
            "expected a height": frame(type="cancel", lease=1, ranges=[[-1, 4]]),
            "ranges.0.1: expected a height": frame(type="cancel", lease=1, ranges=[[1, True]]),
            "at least one range": frame(type="dispatch", lease=1, queue="q", ranges=[]),
            "at most 100000 heights": frame(
                type="dispatch", lease=1, queue="q", ranges=[[0, 100_000]]
            ),
            "one entry per range": frame(
                type="dispatch", lease=1, queue="q", ranges=[[0, 1]], attempts=[1, 1]
            ),
            "queue names": frame(type="dispatch", lease=1, queue="Q!", ranges=[[0, 1]]),
            "protocol: expected 5": frame(
                type="welcome", protocol=2, workerId="w", leaseMs=1, heartbeatMs=1
            ),
        }
        for problem, text in bad.items():
            with self.subTest(problem), self.assertRaises(BadFrame) as raised:
                protocol.parse_manager_frame(text)
            self.assertIn(problem, raised.exception.reason)
            self.assertTrue(raised.exception.reason.startswith("bad_frame: "))

    def test_close_reason_fits_a_close_frame(self) -> None:
        reason = protocol.close_reason("bad_frame", "é" * 200)
        self.assertLessEqual(len(reason.encode("utf-8")), 123)
        self.assertTrue(reason.startswith("bad_frame: é"))


class BuildTest(unittest.TestCase):
    def test_a_rate_limited_failure_is_marked_and_counts_no_attempt(self) -> None:
        from blockrunner import RateLimitedError

        self.assertEqual(
            protocol.failure(7, "429", RateLimitedError("429", retry_after_ms=1500.4)),
            {"height": 7, "error": "429", "kind": "rate-limited", "retryAfterMs": 1500},
        )
        self.assertEqual(
            protocol.failure(7, "429", RateLimitedError("429")),
            {"height": 7, "error": "429", "kind": "rate-limited"},
        )
        self.assertEqual(
            protocol.failure(8, "boom", ValueError("boom")), {"height": 8, "error": "boom"}
        )

    def test_hello_checks_its_limits(self) -> None:
        self.assertEqual(
            protocol.hello("w", ["eth"], 32),
            {
                "type": "hello",
                "protocol": 5,
                "name": "w",
                "queues": ["eth"],
                "capacity": 32,
                "deltas": True,
            },
        )
        for args in (("", ["eth"], 1), ("w", [], 1), ("w", ["Bad"], 1), ("w", ["q"], 100_001)):
            with self.subTest(args), self.assertRaises(ValueError):
                protocol.hello(*args)  # type: ignore[arg-type]

    def test_results_leave_out_empty_optional_fields(self) -> None:
        self.assertEqual(
            protocol.results(3, [[1, 2]], [], None, []),
            {"type": "results", "lease": 3, "done": [[1, 2]], "failed": []},
        )
        self.assertEqual(
            protocol.results(3, [[1, 2], [4, 4], [6, 6]], [], None, [], deltas=True),
            {"type": "results", "lease": 3, "doneDeltas": [1, 1, 2, 0, 2, 0], "failed": []},
        )
        self.assertEqual(protocol.results(3, [], [], 1.23456)["runMs"], 1.235)

    def test_reverted_cuts_long_errors(self) -> None:
        self.assertEqual(protocol.reverted(4), {"type": "reverted", "revert": 4})
        self.assertEqual(len(protocol.reverted(4, "x" * 5000)["error"]), 2000)

    def test_block_report_only_for_two_hashes_within_limits(self) -> None:
        self.assertEqual(
            protocol.block_report(7, {"hash": "0xa", "parent_hash": "0xb"}),
            {"height": 7, "hash": "0xa", "parentHash": "0xb"},
        )
        self.assertEqual(
            protocol.block_report(7, {"hash": "0xa", "parentHash": "0xb"}),
            {"height": 7, "hash": "0xa", "parentHash": "0xb"},
        )
        for value in (
            None,
            "0xa",
            {"hash": "0xa"},
            {"hash": "", "parent_hash": "0xb"},
            {"hash": "x" * 131, "parent_hash": "0xb"},
            {"hash": 1, "parent_hash": 2},
        ):
            with self.subTest(value):
                self.assertIsNone(protocol.block_report(7, value))


if __name__ == "__main__":
    unittest.main()
