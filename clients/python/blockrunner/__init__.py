"""
Blockrunner's worker library for Python 3.11+ (asyncio and websockets): connects to a
Blockrunner manager over the worker protocol (docs/protocol.md) and runs a handler per height.

    from blockrunner import run_worker

    async def handle(height, ctx):
        ...  # index the block at `height`, idempotently
        return {"hash": "0x...", "parent_hash": "0x..."}  # optional

    raise SystemExit(run_worker(handle, urls=["ws://127.0.0.1:8080/v1/ws"], queues=["default"]))
"""

from .context import HandlerContext, RevertContext
from .errors import ConfigError, RangeTooLargeError, RateLimitedError, TokenRefusedError
from .protocol import PROTOCOL_VERSION
from .worker import Worker, run_worker

__all__ = [
    "PROTOCOL_VERSION",
    "ConfigError",
    "HandlerContext",
    "RangeTooLargeError",
    "RateLimitedError",
    "RevertContext",
    "TokenRefusedError",
    "Worker",
    "run_worker",
]
