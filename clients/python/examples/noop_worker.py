#!/usr/bin/env python3
"""
A worker whose handler does nothing: the smallest Blockrunner worker in Python.

    /usr/bin/python3 clients/python/examples/noop_worker.py \
        --url ws://127.0.0.1:8080/v1/ws --queue default --concurrency 16
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runs from a checkout without installing: the library sits one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    from blockrunner import HandlerContext, run_worker
    from blockrunner.cli import parse_worker_args
except ImportError as missing:  # websockets is not installed for this python
    sys.exit(f"noop_worker: {missing}")


async def handle(height: int, ctx: HandlerContext) -> None:
    return None


if __name__ == "__main__":
    options, _ = parse_worker_args(prog="noop_worker")
    sys.exit(run_worker(handle, **options))
