"""The decision-boundary pictures beside the model files, read safely."""

from __future__ import annotations

from pathlib import Path

from trainer.artifacts import version_path
from trainer.regular_files import NotARegularFile, open_regular_file

MAX_PLOT_BYTES = 16 * 1024 * 1024


def plot_path(models_dir: Path, name: str, version: int) -> Path:
    return version_path(models_dir, name, version).with_suffix(".png")


PLANE_BYTES = 64 * 1024
"""Enough of a picture for its plane chunk, which comes before the image data
(``trainer.plot_geometry``): the models page reads this much of each, not all of it."""


def read_plot(path: Path, limit: int = MAX_PLOT_BYTES) -> bytes | None:
    """The picture's bytes (its first ``limit``), or None when there is no usable one (a
    FIFO or folder in its place, or a huge file, is no picture and must not hang or
    exhaust a worker)."""
    try:
        with open_regular_file(path, MAX_PLOT_BYTES) as stream:
            return stream.read(limit)
    except (OSError, NotARegularFile):
        return None
