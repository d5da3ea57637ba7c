"""Run every benchmark of ``bench/`` in turn: ``python -m bench [name …]`` (``make bench``).

Each ``bench/bench_*.py`` has a ``main()`` that prints its figures; results are summarised by hand in
``bench/RESULTS.md`` with the command that produced them.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time


def main(argv: list[str]) -> int:
    import bench

    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")]
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    failed = 0
    for name in sorted(names):
        print(f"\n=== {name}", flush=True)
        t0 = time.monotonic()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as exc:  # noqa: BLE001 — report and go on with the other benchmarks
            failed += 1
            print(f"!!! {name} failed: {exc!r}", flush=True)
        print(f"=== {name} took {time.monotonic() - t0:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
