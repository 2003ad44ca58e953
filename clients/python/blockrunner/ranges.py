"""Inclusive height ranges ``(from, to)``, as the protocol carries them (docs/protocol.md)."""

from __future__ import annotations

from collections.abc import Iterable

Range = tuple[int, int]


def ranges_of(heights: Iterable[int]) -> list[list[int]]:
    """Merges heights (any order, duplicates allowed) into sorted inclusive ranges."""
    out: list[list[int]] = []
    for height in sorted(set(heights)):
        if out and out[-1][1] + 1 == height:
            out[-1][1] = height
        else:
            out.append([height, height])
    return out


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorts ranges and joins those that overlap or touch."""
    out: list[list[int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(start, end) for start, end in out]


def subtract(start: int, end: int, removed: list[Range]) -> list[Range]:
    """What is left of ``[start, end]`` once the (merged, sorted) ``removed`` ranges are gone."""
    left: list[Range] = []
    cursor = start
    for r_start, r_end in removed:
        if r_end < cursor:
            continue
        if r_start > end:
            break
        if r_start > cursor:
            left.append((cursor, r_start - 1))
        cursor = max(cursor, r_end + 1)
        if cursor > end:
            break
    if cursor <= end:
        left.append((cursor, end))
    return left


def contains(ranges: list[Range], height: int) -> bool:
    """Whether ``height`` lies in one of the (merged, sorted) ``ranges``."""
    low, high = 0, len(ranges) - 1
    while low <= high:
        middle = (low + high) // 2
        start, end = ranges[middle]
        if height < start:
            high = middle - 1
        elif height > end:
            low = middle + 1
        else:
            return True
    return False


def count(ranges: Iterable[Range]) -> int:
    """How many heights the ranges cover (overlaps counted twice)."""
    return sum(end - start + 1 for start, end in ranges)


def deltas_of(ranges: Iterable[Range] | Iterable[list[int]]) -> list[int]:
    """
    Sorted, disjoint ranges as range deltas ``[from0, len0, gap1, len1, ...]``
    (docs/protocol.md, "Range deltas"): every other height costs ``2, 0``.
    """
    out: list[int] = []
    end = -1
    for start, stop in ranges:
        out.append(start if end < 0 else start - end)
        out.append(stop - start)
        end = stop
    return out
