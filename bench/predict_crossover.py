"""Where Python floats stop beating NumPy for a request of a few rows.

    python bench/predict_crossover.py

Times both forward passes of the reference-shaped network (2-3-1, sigmoid) as the
service runs them, labels and plain lists included, for 1 to 32 rows (best of 5
repeats, same process), and prints the first row count at which NumPy is faster.
``PYTHON_FLOAT_BUDGET`` in ``service/models/registry.py`` is set from this.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.inference import compile_predict, compile_predict_rows  # noqa: E402
from trainer.network import init_layers, multiply_adds  # noqa: E402


def main() -> int:
    layers = init_layers([2, 3, 1], np.random.RandomState(0))
    on_floats, on_numpy = compile_predict_rows(layers, "sigmoid"), compile_predict(layers, "sigmoid")

    def python_path(rows):
        probabilities = on_floats(rows)
        return probabilities, [1 if p >= 0.5 else 0 for p in probabilities]

    def numpy_path(rows):
        probabilities = on_numpy(np.asarray(rows, dtype=np.float64).reshape(-1, 2))
        return probabilities.tolist(), (probabilities >= 0.5).astype(np.int8).tolist()

    def best_us(function, rows):
        return min(timeit.repeat(lambda: function(rows), number=5000, repeat=5)) / 5000 * 1e6

    crossover = None
    print(f"{'rows':>4} {'Python floats us':>17} {'NumPy us':>9}")
    for count in (1, 2, 4, 8, 12, 16, 20, 24, 28, 32):
        rows = [tuple(row) for row in np.random.default_rng(count).normal(size=(count, 2)).tolist()]
        python_us, numpy_us = best_us(python_path, rows), best_us(numpy_path, rows)
        print(f"{count:4d} {python_us:17.2f} {numpy_us:9.2f}")
        if crossover is None and numpy_us < python_us:
            crossover = count
    per_row = multiply_adds(layers)
    print(f"NumPy first faster at {crossover} rows ({crossover * per_row if crossover else '-'} multiply-adds)"
          if crossover else "Python floats faster throughout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
