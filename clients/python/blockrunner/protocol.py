"""
Frames of the worker protocol, version 5 (docs/protocol.md; shared/protocol.ts holds the
manager's zod schemas): building the worker's frames and checking the manager's, field by field,
as strictly as the manager checks ours, except that fields this worker does not know are
ignored (a manager may add optional ones; docs/protocol.md, "Versions"). Change this file with
that page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .ranges import deltas_of

PROTOCOL_VERSION = 5

MAX_HEIGHT = 2**53 - 1
MAX_ID = 2**53 - 1
#: Most heights a worker may hold (hello capacity) and a dispatch may carry.
MAX_HEIGHTS_PER_FRAME = 100_000
#: Most items of any list in a frame (ranges, failures, hashes).
MAX_ITEMS_PER_FRAME = 100_000
#: Longest error text; longer messages are cut before sending.
MAX_ERROR_LENGTH = 2_000
MAX_HASH_LENGTH = 130
MAX_NAME_LENGTH = 200
MAX_QUEUES = 64
#: A close frame's reason holds at most 123 bytes.
MAX_CLOSE_REASON_BYTES = 123

QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

# Close codes (docs/protocol.md, "Close codes").
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_UTF8 = 1007
CLOSE_TOO_BIG = 1009
CLOSE_BAD_FRAME = 4400
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_UNSUPPORTED_PROTOCOL = 4426

#: Closes that mean the manager refused what this worker sent: back off before reconnecting.
REFUSALS = frozenset(
    {
        CLOSE_PROTOCOL_ERROR,
        CLOSE_INVALID_UTF8,
        CLOSE_TOO_BIG,
        CLOSE_BAD_FRAME,
        CLOSE_UNSUPPORTED_PROTOCOL,
    }
)


class BadFrame(ValueError):
    """A manager frame that breaks the protocol; ``reason`` is the 4400 close reason."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.reason = close_reason("bad_frame", detail)


def close_reason(name: str, detail: str) -> str:
    """``<name>: <detail>``, cut to fit a close frame."""
    reason = f"{name}: {detail}"
    encoded = reason.encode("utf-8")
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return encoded[:MAX_CLOSE_REASON_BYTES].decode("utf-8", errors="ignore")


@dataclass(frozen=True)
class Welcome:
    worker_id: str
    lease_ms: int
    heartbeat_ms: int


@dataclass(frozen=True)
class Dispatch:
    lease: int
    queue: str
    ranges: list[tuple[int, int]]
    #: Attempt number of each range's heights; None when all are first attempts.
    attempts: list[int] | None
    #: "tip" for a lease of the queue's tip lane, which starts before buffered backfill
    #: (docs/protocol.md, "Lanes"); None for the backfill.
    lane: str | None = None


@dataclass(frozen=True)
class Cancel:
    lease: int
    ranges: list[tuple[int, int]]


@dataclass(frozen=True)
class Revert:
    revert: int
    queue: str
    start: int
    end: int


ManagerFrame = Welcome | Dispatch | Cancel | Revert


# Worker -> manager


#: This worker reads dispatches as range deltas and sends its done heights as them: it says so in
#: hello, and the height loop writes ``doneDeltas`` (docs/protocol.md, "Range deltas").
SPEAKS_DELTAS = True


def hello(
    name: str, queues: list[str], capacity: int, deltas: bool = SPEAKS_DELTAS
) -> dict[str, Any]:
    """
    ``deltas``: this worker reads dispatches as range deltas and writes its results' done heights
    as them (docs/protocol.md, "Range deltas"); the manager then sends them to it.
    """
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise ValueError(f"name must be 1 to {MAX_NAME_LENGTH} characters")
    if not 1 <= len(queues) <= MAX_QUEUES:
        raise ValueError(f"queues must list 1 to {MAX_QUEUES} queue names")
    for queue in queues:
        if not QUEUE_NAME.match(queue):
            raise ValueError(f"queue name {queue!r} does not match {QUEUE_NAME.pattern}")
    if not 1 <= capacity <= MAX_HEIGHTS_PER_FRAME:
        raise ValueError(f"capacity must be 1 to {MAX_HEIGHTS_PER_FRAME}")
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "name": name,
        "queues": list(queues),
        "capacity": capacity,
        **({"deltas": True} if deltas else {}),
    }


def results(
    lease: int,
    done: list[list[int]],
    failed: list[dict[str, Any]],
    run_ms: float | None = None,
    hashes: list[dict[str, Any]] | None = None,
    deltas: bool = False,
) -> dict[str, Any]:
    """``done``: sorted, disjoint ranges; sent as ``doneDeltas`` when ``deltas`` (said in hello)."""
    frame: dict[str, Any] = {"type": "results", "lease": lease}
    if deltas:
        frame["doneDeltas"] = deltas_of(done)
    else:
        frame["done"] = done
    frame["failed"] = failed
    if run_ms is not None:
        frame["runMs"] = round(run_ms, 3)
    if hashes:
        frame["hashes"] = hashes
    return frame


def release(lease: int, ranges: list[list[int]]) -> dict[str, Any]:
    return {"type": "release", "lease": lease, "ranges": ranges}


def reverted(revert: int, error: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "reverted", "revert": revert}
    if error is not None:
        frame["error"] = error_text(error)
    return frame


MAX_RETRY_AFTER_MS = 3_600_000


def failure(height: int, message: str, error: BaseException) -> dict[str, Any]:
    """
    A ``failed`` entry of a results frame. An error named ``RateLimitedError`` (the class this
    library exports, or a user's own of that name) is marked ``"kind": "rate-limited"``, with
    ``retryAfterMs`` when it carries ``retry_after_ms``: the manager counts no attempt for it.
    """
    entry: dict[str, Any] = {"height": height, "error": error_text(message)}
    if type(error).__name__ == "RateLimitedError":
        entry["kind"] = "rate-limited"
        after = getattr(error, "retry_after_ms", None)
        if isinstance(after, (int, float)) and not isinstance(after, bool) and after >= 0:
            entry["retryAfterMs"] = min(MAX_RETRY_AFTER_MS, round(after))
    return entry


def error_text(message: str) -> str:
    """An error message as the protocol takes it: at most 2,000 characters."""
    return message[:MAX_ERROR_LENGTH]


def block_report(height: int, value: object) -> dict[str, Any] | None:
    """
    The ``hashes`` entry for what a handler returned: a mapping with ``hash`` and
    ``parent_hash`` (or ``parentHash``), two strings of 1 to 130 characters. Anything else
    is no report, so a handler returning something of its own still succeeds.
    """
    if not isinstance(value, dict):
        return None
    block_hash = value.get("hash")
    parent = value.get("parent_hash", value.get("parentHash"))
    if not (_is_hash(block_hash) and _is_hash(parent)):
        return None
    return {"height": height, "hash": block_hash, "parentHash": parent}


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_HASH_LENGTH


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), allow_nan=False)


# Manager -> worker


def parse_manager_frame(text: str | bytes) -> ManagerFrame:
    """Checks one manager frame; raises BadFrame with the close reason to send."""
    if isinstance(text, bytes):
        raise BadFrame("binary frame")
    try:
        data = json.loads(text)
    except ValueError:
        raise BadFrame("not JSON") from None
    if not isinstance(data, dict):
        raise BadFrame("expected an object")
    kind = data.get("type")
    if kind == "welcome":
        return _welcome(data)
    if kind == "dispatch":
        return _dispatch(data)
    if kind == "cancel":
        _keys(data, {"type", "lease", "ranges"})
        return Cancel(_id(data, "lease"), _ranges(data, "ranges"))
    if kind == "revert":
        _keys(data, {"type", "revert", "queue", "from", "to"})
        start = _height(data.get("from"), "from")
        end = _height(data.get("to"), "to")
        return Revert(_id(data, "revert"), _queue(data), start, end)
    raise BadFrame(f"type: unknown frame type {kind!r}")


def _welcome(data: dict[str, Any]) -> Welcome:
    _keys(data, {"type", "protocol", "workerId", "leaseMs", "heartbeatMs"})
    if data.get("protocol") != PROTOCOL_VERSION or isinstance(data.get("protocol"), bool):
        raise BadFrame(f"protocol: expected {PROTOCOL_VERSION}")
    worker_id = data.get("workerId")
    if not isinstance(worker_id, str):
        raise BadFrame("workerId: expected a string")
    return Welcome(worker_id, _int(data, "leaseMs", 1), _int(data, "heartbeatMs", 1))


def _dispatch(data: dict[str, Any]) -> Dispatch:
    # rangeSize is for range handlers, which this library does not run: accepted and ignored.
    optional = {"ranges", "deltas", "attempts", "rangeSize", "lane"}
    _keys(data, {"type", "lease", "queue", *optional}, optional)
    if ("ranges" in data) == ("deltas" in data):
        raise BadFrame("ranges: expected ranges or deltas, exactly one")
    ranges = _ranges(data, "ranges") if "ranges" in data else parse_deltas(data["deltas"], "deltas")
    if not ranges:
        raise BadFrame(f"{'ranges' if 'ranges' in data else 'deltas'}: expected at least one range")
    if sum(end - start + 1 for start, end in ranges) > MAX_HEIGHTS_PER_FRAME:
        raise BadFrame(f"ranges: a dispatch holds at most {MAX_HEIGHTS_PER_FRAME} heights")
    attempts = data.get("attempts")
    if attempts is not None:
        if not isinstance(attempts, list) or len(attempts) != len(ranges):
            raise BadFrame("attempts: attempts must have one entry per range")
        for index, attempt in enumerate(attempts):
            if not _whole(attempt) or attempt < 1:
                raise BadFrame(f"attempts.{index}: expected a whole number >= 1")
        attempts = [int(attempt) for attempt in attempts]
    lane = data.get("lane")
    if "lane" in data and lane != "tip":
        raise BadFrame('lane: expected "tip"')
    return Dispatch(_id(data, "lease"), _queue(data), ranges, attempts, lane)


def _keys(
    data: dict[str, Any], allowed: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> None:
    """The fields a frame must have are there; fields not in ``allowed`` are ignored."""
    for key in allowed - optional:
        if key not in data:
            raise BadFrame(f"{key}: missing")


def _whole(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def _int(data: dict[str, Any], key: str, minimum: int, maximum: int = MAX_ID) -> int:
    value = data.get(key)
    if not _whole(value) or not minimum <= value <= maximum:
        raise BadFrame(f"{key}: expected a whole number from {minimum} to {maximum}")
    return int(value)


def _id(data: dict[str, Any], key: str) -> int:
    return _int(data, key, 1)


def _height(value: object, where: str) -> int:
    if not _whole(value) or not 0 <= value <= MAX_HEIGHT:  # type: ignore[operator]
        raise BadFrame(f"{where}: expected a height from 0 to {MAX_HEIGHT}")
    return int(value)  # type: ignore[arg-type]


def _queue(data: dict[str, Any]) -> str:
    queue = data.get("queue")
    if not isinstance(queue, str) or not QUEUE_NAME.match(queue):
        raise BadFrame(f"queue: queue names match {QUEUE_NAME.pattern}")
    return queue


def _ranges(data: dict[str, Any], key: str) -> list[tuple[int, int]]:
    value = data.get(key)
    if not isinstance(value, list):
        raise BadFrame(f"{key}: expected a list of ranges")
    if len(value) > MAX_ITEMS_PER_FRAME:
        raise BadFrame(f"{key}: at most {MAX_ITEMS_PER_FRAME} ranges")
    ranges: list[tuple[int, int]] = []
    for index, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 2:
            raise BadFrame(f"{key}.{index}: expected [from, to]")
        start = _height(item[0], f"{key}.{index}.0")
        end = _height(item[1], f"{key}.{index}.1")
        if start > end:
            raise BadFrame(f"{key}.{index}: a range is [from, to] with from <= to")
        ranges.append((start, end))
    return ranges


def parse_deltas(value: object, key: str) -> list[tuple[int, int]]:
    """
    Range deltas ``[from0, len0, gap1, len1, ...]`` as ranges, one per pair of numbers, touching
    ones not joined (``attempts`` index them): docs/protocol.md, "Range deltas". Raises BadFrame
    naming ``key``.
    """
    if not isinstance(value, list):
        raise BadFrame(f"{key}: expected a list of range deltas")
    if len(value) % 2:
        raise BadFrame(f"{key}: range deltas come in pairs (start or gap, length)")
    if len(value) // 2 > MAX_ITEMS_PER_FRAME:
        raise BadFrame(f"{key}: at most {MAX_ITEMS_PER_FRAME} ranges")
    ranges: list[tuple[int, int]] = []
    end = -1
    for index in range(0, len(value), 2):
        step, length = value[index], value[index + 1]
        if not _whole(step) or step < 0:
            raise BadFrame(f"{key}.{index}: expected a whole number >= 0")
        if not _whole(length) or length < 0:
            raise BadFrame(f"{key}.{index + 1}: expected a whole number >= 0")
        if index > 0 and step < 1:
            raise BadFrame(f"{key}.{index}: a gap is at least 1")
        start = int(step) if index == 0 else end + int(step)
        end = start + int(length)
        if end > MAX_HEIGHT:
            raise BadFrame(f"{key}.{index + 1}: the ranges reach past height {MAX_HEIGHT}")
        ranges.append((start, end))
    return ranges
