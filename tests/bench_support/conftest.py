"""The benchmark's lean stand-ins (bench/lean_*.py) are scripts beside bench/_lean_server.py,
imported by their file names, as the benchmark runs them."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
