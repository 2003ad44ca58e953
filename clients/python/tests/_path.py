"""Puts the library (one folder up) on sys.path, so the tests run from a checkout."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
