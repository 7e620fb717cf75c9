"""The moons data set: parsing and validating ``label,x1,x2`` CSV text, splitting it."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """The data cannot be used; the message names the file and, where it can, the line."""


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # (n, 2) float64
    y: np.ndarray  # (n, 1) float64, 0.0 or 1.0
    sha256: str
    source: str

    @property
    def rows(self) -> int:
        return len(self.y)


def _parse_line(text: str, where: str) -> tuple[float, float, float]:
    fields = text.split(",")
    if len(fields) != 3:
        raise DataError(f"{where}: expected 3 columns label,x1,x2, found {len(fields)}")
    values = []
    for name, field in zip(("label", "x1", "x2"), fields):
        try:
            value = float(field)
        except ValueError:
            raise DataError(f"{where}: {name} is not a number: {field.strip()[:40]!r}") from None
        if not math.isfinite(value):
            raise DataError(f"{where}: {name} is not finite: {field.strip()[:40]!r}")
        values.append(value)
    if values[0] not in (0.0, 1.0):
        raise DataError(f"{where}: label must be 0 or 1, found {fields[0].strip()[:40]!r}")
    return values[0], values[1], values[2]


def parse_dataset(content: bytes, source: str) -> Dataset:
    """Parse CSV bytes (no header; ``label,x1,x2`` per line) into a validated data set."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{source}: not UTF-8 text (byte {error.start})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append(_parse_line(line, f"{source}, line {number}"))
    if not rows:
        raise DataError(f"{source}: the file has no data rows")
    table = np.array(rows, dtype=np.float64)
    labels = table[:, :1]
    if np.all(labels == labels[0]):
        raise DataError(f"{source}: every row has label {int(labels[0, 0])}; two classes are needed")
    return Dataset(
        x=np.ascontiguousarray(table[:, 1:]),
        y=np.ascontiguousarray(labels),
        sha256=hashlib.sha256(content).hexdigest(),
        source=source,
    )


def load_dataset(path: str | Path) -> Dataset:
    """Read and validate a data file; every problem is a ``DataError`` naming it."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a data file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror})") from None
    if not content.strip():
        raise DataError(f"{path}: the file is empty")
    return parse_dataset(content, str(path))


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, validation)``, ``fraction`` of each class held out.

    Each class keeps at least one training row; with ``fraction`` 0 every row trains,
    in the original order.
    """
    labels = y.reshape(-1)
    if fraction == 0:
        return np.arange(len(labels)), np.arange(0)
    held_out = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = min(int(round(fraction * len(members))), len(members) - 1)
        held_out.append(members[:count])
    validation = np.sort(np.concatenate(held_out))
    train = np.setdiff1d(np.arange(len(labels)), validation)
    return train, validation
