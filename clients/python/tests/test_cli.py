import contextlib
import io
import unittest

import _path  # noqa: F401

from blockrunner import ConfigError
from blockrunner.cli import parse_worker_args
from blockrunner.logs import configure


def refused(argv: list[str], env: dict[str, str] | None = None) -> str:
    """The one line a bad setting prints; fails unless it exits 2."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), unittest.TestCase().assertRaises(SystemExit) as ctx:
        parse_worker_args(argv, env or {}, prog="w")
    assert ctx.exception.code == 2, ctx.exception.code
    return stderr.getvalue()


class CliTest(unittest.TestCase):
    def test_defaults_and_repeated_flags(self) -> None:
        options, _ = parse_worker_args([], {}, prog="w")
        self.assertEqual(
            options,
            {
                "urls": ["ws://127.0.0.1:8080/v1/ws"],
                "queues": ["default"],
                "concurrency": 16,
                "token": None,
            },
        )
        options, _ = parse_worker_args(
            [
                "--url",
                "ws://a/v1/ws",
                "--url",
                "wss://b/v1/ws",
                "--queue",
                "eth",
                "--queue",
                "op",
                "--concurrency",
                "4",
                "--prefetch",
                "0",
                "--name",
                "n",
            ],
            {"BLOCKRUNNER_WORKER_TOKEN": "t"},
            prog="w",
        )
        self.assertEqual(options["urls"], ["ws://a/v1/ws", "wss://b/v1/ws"])
        self.assertEqual(options["queues"], ["eth", "op"])
        self.assertEqual((options["concurrency"], options["prefetch"]), (4, 0))
        self.assertEqual((options["token"], options["name"]), ("t", "n"))

    def test_variables_when_no_flag(self) -> None:
        env = {
            "BLOCKRUNNER_MANAGER_URL": "ws://a/v1/ws,ws://b/v1/ws",
            "BLOCKRUNNER_QUEUES": "x,y",
            "BLOCKRUNNER_CONCURRENCY": "3",
        }
        options, _ = parse_worker_args([], env, prog="w")
        self.assertEqual(options["urls"], ["ws://a/v1/ws", "ws://b/v1/ws"])
        self.assertEqual((options["queues"], options["concurrency"]), (["x", "y"], 3))

    def test_a_bad_value_is_one_line_naming_it(self) -> None:
        cases = {
            "w: --concurrency: expected a whole number from 1 to 10000": (
                ["--concurrency", "abc"],
                {},
            ),
            "w: BLOCKRUNNER_CONCURRENCY: expected": ([], {"BLOCKRUNNER_CONCURRENCY": "0"}),
            "w: --url: expected a ws:// or wss:// URL": (["--url", "http://x"], {}),
            "w: --queue: queue names match": (["--queue", "Bad"], {}),
            "w: --shutdown-ms: expected": (["--shutdown-ms", "-1"], {}),
        }
        for start, (argv, env) in cases.items():
            with self.subTest(start):
                line = refused(argv, env)
                self.assertTrue(line.startswith(start), line)
                self.assertEqual(line.count("\n"), 1, line)

    def test_log_level_names_the_variable(self) -> None:
        with self.assertRaises(ConfigError) as raised:
            configure("loud")
        self.assertTrue(str(raised.exception).startswith("LOG_LEVEL: expected one of trace,"))


if __name__ == "__main__":
    unittest.main()
