"""Run one command and print, as JSON on the last line, its wall time and the peak RSS of the largest
process it started (itself or any descendant). Used by build_benchmark.py so that each step's peak
memory is measured on its own.

    python -m benchmarks.measure -- CMD [ARG...]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    started = time.monotonic()
    completed = subprocess.run(argv, check=False)
    wall = time.monotonic() - started
    # ru_maxrss of waited-for children is the largest RSS any one of them reached (KiB on Linux).
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"wall_s": wall, "peak_rss_mb": peak_kib / 1024, "returncode": completed.returncode}))
    return completed.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
