"""How busy each gunicorn worker is: its share of a core while something runs.

    python bench/worker_cpu.py MASTER_PID -- COMMAND [ARGS...]

runs COMMAND (a load generator) and prints, on stderr, each worker's share of a core
over that time, busiest first, and the spread (1 - least / busiest). Used by
bench/perf_analyzer.sh; bench/serve_bench.py imports the two functions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def worker_cpu_seconds(master_pid: int) -> dict[int, float]:
    """CPU seconds (user + system) each of a gunicorn master's workers has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    seconds = {}
    for pid in map(int, children):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def cpu_split(before: dict[int, float], after: dict[int, float], wall: float) -> list[float]:
    """Each worker's share of a core over ``wall`` seconds, busiest first."""
    return sorted(((after[pid] - before.get(pid, 0.0)) / wall for pid in after), reverse=True)


def spread(shares: list[float]) -> float:
    """How unevenly the workers worked: 0 when equally busy, 1 when one did all."""
    return 1 - min(shares) / max(shares) if shares and max(shares) > 0 else 0.0


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    master = int(argv[0])
    before, started = worker_cpu_seconds(master), time.monotonic()
    code = subprocess.run(argv[2:]).returncode
    shares = cpu_split(before, worker_cpu_seconds(master), time.monotonic() - started)
    print(f"worker CPU: {' '.join(f'{share:.2f}' for share in shares)} of a core; spread {spread(shares):.2f}",
          file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
