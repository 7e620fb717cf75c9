"""Make the project's two-moons data set: ``python data/make_moons.py [--out PATH]``.

Two interleaved half circles with Gaussian noise, half the rows in each class, in
the reference file's format (no header, ``label,x1,x2``). The defaults reproduce
the committed ``data/moon_data.csv`` byte for byte.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def make_moons(rows: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(x, labels)``: x (rows, 2) floats, labels (rows,) 0 or 1, shuffled.

    Label 0 is the upper moon ``(cos t, sin t)``, label 1 the lower one
    ``(1 - cos t, 0.5 - sin t)``, t uniform on [0, pi].
    """
    upper = rows // 2
    angles = rng.uniform(0.0, np.pi, size=rows)
    labels = (np.arange(rows) >= upper).astype(np.int64)
    x = np.where(
        labels[:, None] == 0,
        np.column_stack([np.cos(angles), np.sin(angles)]),
        np.column_stack([1.0 - np.cos(angles), 0.5 - np.sin(angles)]),
    )
    x += rng.normal(0.0, noise, size=x.shape)
    order = rng.permutation(rows)
    return x[order], labels[order]


def to_csv(x: np.ndarray, labels: np.ndarray) -> str:
    return "".join(f"{label},{a:.12f},{b:.12f}\n" for label, (a, b) in zip(labels, x))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/moon_data.csv")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    if args.rows < 2 or not args.noise >= 0:
        print("make_moons: error: --rows must be at least 2 and --noise at least 0", file=sys.stderr)
        return 2
    x, labels = make_moons(args.rows, args.noise, np.random.default_rng(args.seed))
    with open(args.out, "w", encoding="ascii") as stream:
        stream.write(to_csv(x, labels))
    print(f"wrote {args.rows} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
