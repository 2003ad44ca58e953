"""
The reconnect backoff, the same as the Node worker's (docs/protocol.md, "Stopping"): 100 ms
doubling to 10 s, each delay times a random 1 to 2, capped at 10 s.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

BASE_MS = 100
MAX_MS = 10_000
FACTOR = 2


def reconnect_delay_ms(failures: int, random: Callable[[], float] = _random.random) -> float:
    """The delay after ``failures`` (>= 1) failed connects in a row, in milliseconds."""
    if failures < 1:
        raise ValueError(f"failures must be >= 1, got {failures}")
    # The exponent is bounded so that a huge count gives the cap, never an overflow.
    step = BASE_MS * FACTOR ** min(failures - 1, 32)
    return min(MAX_MS, step * (1 + random()))
