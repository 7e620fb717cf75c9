"""Time the trainer against the plain reference loop, in one process, alternating.

    python bench/train_bench.py [--rounds 7] [--data PATH]

Both fit the reference network (seed 3, 5000 iterations, learning rate 0.05) on the
same data; the script prints each one's median time, the ratio, and whether the two
give the same training log and final weights (they should be identical to the bit).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from trainer.config import TrainConfig
from trainer.data import load_dataset
from trainer.reference import reference_train
from trainer.training import train

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "moon_data.csv"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--data", default=str(DEFAULT_DATA if DEFAULT_DATA.exists() else ROOT / "data" / "moon_data.csv"))
    args = parser.parse_args(argv)
    data = load_dataset(args.data)
    times = {"plain": [], "trainer": []}
    for _ in range(args.rounds):
        started = time.perf_counter()
        plain_layers, plain_log = reference_train(data.x, data.y)
        times["plain"].append(time.perf_counter() - started)
        started = time.perf_counter()
        result = train(data.x, data.y, TrainConfig())
        times["trainer"].append(time.perf_counter() - started)
    same_log = [(r["iteration"], r["train"]["deviation"], r["train"]["accuracy"]) for r in result.history] == [
        (i, float(d), float(a)) for i, d, a in plain_log
    ]
    same_weights = all(
        np.array_equal(a, b.reshape(a.shape))
        for layer, plain_layer in zip(result.layers, plain_layers)
        for a, b in zip(layer, plain_layer)
    )
    plain, fast = statistics.median(times["plain"]), statistics.median(times["trainer"])
    print(f"data: {args.data} ({data.rows} rows), {args.rounds} alternating rounds, medians")
    print(f"plain reference loop: {plain * 1000:8.1f} ms")
    print(f"trainer:              {fast * 1000:8.1f} ms")
    print(f"speed-up:             {plain / fast:8.2f}x")
    print(f"same log: {same_log}, same final weights to the bit: {same_weights}")
    return 0 if same_log and same_weights else 1


if __name__ == "__main__":
    sys.exit(main())
