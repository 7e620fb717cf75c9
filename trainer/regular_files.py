"""Opening a file that may not be what its name says: a FIFO, a folder, a huge file.

The file is opened without blocking (a FIFO put in its place after any earlier
check would block a plain ``open`` for good) and checked on the open descriptor, so
no swap between a check and the open can get past it. Used for model files, labels
files and decision-boundary pictures.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path


class NotARegularFile(ValueError):
    """The path names something other than a regular file of at most the size asked."""


@contextmanager
def open_regular_file(path: str | Path, max_bytes: int):
    """A binary stream of ``path``, a regular file of at most ``max_bytes``, else
    ``NotARegularFile``; ``OSError`` (``FileNotFoundError`` among them) when it
    cannot be opened."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise NotARegularFile("not a regular file")
        if status.st_size > max_bytes:
            raise NotARegularFile(f"{status.st_size} bytes is over the {max_bytes} limit")
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            yield stream
    finally:
        os.close(descriptor)
