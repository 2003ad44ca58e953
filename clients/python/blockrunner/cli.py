"""
Command-line options shared by the examples: each flag falls back on the variable the Node
worker reads (README.md, "Configuration"), and a bad value exits 2 with one line naming it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

from .protocol import MAX_QUEUES, QUEUE_NAME
from .worker import DEFAULT_URL


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the line names the flag.
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def _bad(prog: str, name: str, problem: str) -> NoReturn:
    print(f"{prog}: {name}: {problem}", file=sys.stderr)
    raise SystemExit(2)


def _whole(prog: str, name: str, raw: str, low: int, high: int) -> int:
    text = raw.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        _bad(prog, name, f'expected a whole number from {low} to {high}, got "{raw}"')
    return int(text)


def _list(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def parse_worker_args(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] = os.environ,
    prog: str | None = None,
    extra: Sequence[tuple[str, dict[str, Any]]] = (),
) -> tuple[dict[str, Any], argparse.Namespace]:
    """
    Parses ``--url`` (repeatable), ``--queue`` (repeatable), ``--concurrency``, ``--prefetch``,
    ``--token``, ``--name``, ``--shutdown-ms`` and ``--heartbeat-ms``; returns the keyword
    arguments for ``Worker``/``run_worker`` and the namespace (for ``extra`` flags).
    """
    parser = _Parser(prog=prog, description="A Blockrunner worker (docs/protocol.md).")
    parser.add_argument("--url", action="append", help="manager URL; repeat for several")
    parser.add_argument("--queue", action="append", help="queue to serve; repeat for several")
    parser.add_argument("--concurrency", help="handlers running at once (default 16)")
    parser.add_argument("--prefetch", help="heights held beyond those (default: concurrency)")
    parser.add_argument("--token", help="worker token (default: BLOCKRUNNER_WORKER_TOKEN)")
    parser.add_argument("--name", help="name in GET /v1/workers")
    parser.add_argument("--shutdown-ms", help="on SIGTERM, time for running handlers (10000)")
    parser.add_argument("--heartbeat-ms", help="wait for the welcome: 2.5 of these (15000)")
    for flag, spec in extra:
        parser.add_argument(flag, **spec)
    args = parser.parse_args(argv)
    name = parser.prog

    def pick(flag: str | None, variable: str) -> tuple[str, str | None]:
        if flag is not None:
            return "--" + variable.lower().removeprefix("blockrunner_").replace("_", "-"), flag
        return variable, env.get(variable) or None

    urls = args.url or _list(env.get("BLOCKRUNNER_MANAGER_URL")) or [DEFAULT_URL]
    for url in urls:
        try:
            scheme = urlsplit(url).scheme
        except ValueError:
            scheme = ""
        if scheme not in ("ws", "wss"):
            where = "--url" if args.url else "BLOCKRUNNER_MANAGER_URL"
            _bad(name, where, f'expected a ws:// or wss:// URL, got "{url}"')
    queues = args.queue or _list(env.get("BLOCKRUNNER_QUEUES")) or ["default"]
    where = "--queue" if args.queue else "BLOCKRUNNER_QUEUES"
    if len(queues) > MAX_QUEUES:
        _bad(name, where, f"expected at most {MAX_QUEUES} queues")
    for queue in queues:
        if not QUEUE_NAME.match(queue):
            _bad(name, where, f'queue names match {QUEUE_NAME.pattern}, got "{queue}"')

    options: dict[str, Any] = {"urls": urls, "queues": queues}
    label, raw = pick(args.concurrency, "BLOCKRUNNER_CONCURRENCY")
    options["concurrency"] = 16 if raw is None else _whole(name, label, raw, 1, 10_000)
    label, raw = pick(args.prefetch, "BLOCKRUNNER_PREFETCH")
    if raw is not None:
        options["prefetch"] = _whole(name, label, raw, 0, 90_000)
    label, raw = pick(args.shutdown_ms, "BLOCKRUNNER_SHUTDOWN_MS")
    if raw is not None:
        options["shutdown_ms"] = _whole(name, label, raw, 0, 600_000)
    label, raw = pick(args.heartbeat_ms, "BLOCKRUNNER_HEARTBEAT_MS")
    if raw is not None:
        options["heartbeat_ms"] = _whole(name, label, raw, 10, 600_000)
    options["token"] = args.token or env.get("BLOCKRUNNER_WORKER_TOKEN") or None
    worker_name = args.name or env.get("BLOCKRUNNER_WORKER_NAME")
    if worker_name is not None:
        if not 1 <= len(worker_name) <= 200:
            _bad(name, "--name", "expected 1 to 200 characters")
        options["name"] = worker_name
    return options, args
