"""`make bench`: run every benchmark module and print its figures (never asserts on speed).

Each `benchmarks/bench_<area>.py` offers `bench_<area>() -> dict`; a module whose optional
inputs are missing (e.g. ../shared/eval) prints why it skipped.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["pipeline", "live", "render", "io", "rig", "lipsync", "lstm", "web", "artalk", "dinet", "corpus", "training"]


def main(selected: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    found = sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    areas = selected or [a for a in ORDER if a in found] + [a for a in found if a not in ORDER]
    failures = 0
    for area in areas:
        print(f"\n== {area} ==", flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"bench_{area}")
            result = getattr(module, f"bench_{area}")()
        except Exception:  # a broken benchmark should not hide the others
            traceback.print_exc()
            failures += 1
            continue
        print(json.dumps(result, indent=1, default=str))
        print(f"({time.perf_counter() - start:.1f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
