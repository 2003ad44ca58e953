import unittest

import _path  # noqa: F401

from blockrunner.backoff import MAX_MS, reconnect_delay_ms


class BackoffTest(unittest.TestCase):
    def test_doubles_from_100_ms_times_one_to_two(self) -> None:
        self.assertEqual(reconnect_delay_ms(1, lambda: 0.0), 100)
        self.assertEqual(reconnect_delay_ms(1, lambda: 0.5), 150)
        self.assertEqual(reconnect_delay_ms(3, lambda: 0.0), 400)
        self.assertEqual(reconnect_delay_ms(4, lambda: 0.999), 800 * 1.999)

    def test_capped_at_10_s_however_many_failures(self) -> None:
        self.assertEqual(reconnect_delay_ms(8, lambda: 0.0), MAX_MS)
        self.assertEqual(reconnect_delay_ms(10_000, lambda: 0.999), MAX_MS)

    def test_rejects_zero_failures(self) -> None:
        with self.assertRaises(ValueError):
            reconnect_delay_ms(0)


if __name__ == "__main__":
    unittest.main()
