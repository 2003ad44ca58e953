import unittest

import _path  # noqa: F401

from blockrunner.ranges import contains, count, merge, ranges_of, subtract


class RangesTest(unittest.TestCase):
    def test_ranges_of_merges_consecutive_heights(self) -> None:
        self.assertEqual(ranges_of([5, 1, 2, 3, 7, 2]), [[1, 3], [5, 5], [7, 7]])
        self.assertEqual(ranges_of([]), [])

    def test_merge_joins_touching_and_overlapping(self) -> None:
        self.assertEqual(merge([(5, 9), (1, 2), (3, 4), (8, 12)]), [(1, 12)])
        self.assertEqual(merge([(1, 1), (3, 3)]), [(1, 1), (3, 3)])

    def test_subtract(self) -> None:
        self.assertEqual(subtract(0, 10, [(2, 3), (5, 5)]), [(0, 1), (4, 4), (6, 10)])
        self.assertEqual(subtract(0, 10, [(0, 10)]), [])
        self.assertEqual(subtract(4, 6, [(0, 1), (9, 9)]), [(4, 6)])
        self.assertEqual(subtract(4, 6, [(0, 4), (6, 9)]), [(5, 5)])

    def test_contains_and_count(self) -> None:
        ranges = [(1, 3), (7, 7), (10, 20)]
        self.assertEqual(
            [h for h in range(25) if contains(ranges, h)], [1, 2, 3, 7, *range(10, 21)]
        )
        self.assertEqual(count(ranges), 15)


if __name__ == "__main__":
    unittest.main()
