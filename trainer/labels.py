"""Labels (aliases) of a model's versions: ``<models_dir>/<name>/labels.json``.

``{"stable": 3, "canary": 4}``: a label name (``^[a-z][a-z0-9_-]{0,31}$``) to a
version number. This module owns the file: reading it validated (a malformed file
raises ``LabelsError`` with a one-line reason, whatever it holds), and writing it
atomically (a temporary file renamed into place) under an exclusive lock, so two
label commands at once never lose each other's change.
"""

from __future__ import annotations

import fcntl
import json
import re
from contextlib import contextmanager
from pathlib import Path

from trainer.artifacts import write_file_atomically
from trainer.regular_files import NotARegularFile, open_regular_file

LABELS_FILE = "labels.json"
MAX_LABELS_BYTES = 64 * 1024
MAX_LABELS = 100
LABEL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class LabelsError(ValueError):
    """A labels file, label name or version that cannot be used; one line, bounded."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())
        super().__init__(message[:300])


def check_label(name) -> str:
    if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
        raise LabelsError(f"label {str(name)[:40]!r} must be a lower-case letter, then up to 31 of "
                          "lower-case letters, digits, '_' and '-'")
    return name


def parse_labels(content: bytes) -> dict[str, int]:
    """The labels a file's bytes hold; ``LabelsError`` unless they are a JSON object of
    at most ``MAX_LABELS`` valid names to positive integer versions."""
    if len(content) > MAX_LABELS_BYTES:
        raise LabelsError(f"{LABELS_FILE} is {len(content)} bytes, over the {MAX_LABELS_BYTES} limit")
    try:
        labels = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise LabelsError(f"{LABELS_FILE} is not JSON ({str(error)[:80]})") from None
    if not isinstance(labels, dict) or len(labels) > MAX_LABELS:
        raise LabelsError(f"{LABELS_FILE} must be a JSON object of at most {MAX_LABELS} labels")
    for name, version in labels.items():
        check_label(name)
        if type(version) is not int or not 1 <= version < 2**63:
            raise LabelsError(f"{LABELS_FILE}: label {name!r} points at {str(version)[:40]!r}, not a version number")
    return labels


def read_labels(folder: Path) -> dict[str, int]:
    """The labels of the model in ``folder``; none when there is no file."""
    try:
        # a FIFO in its place never blocks a reload
        with open_regular_file(Path(folder) / LABELS_FILE, MAX_LABELS_BYTES) as stream:
            return parse_labels(stream.read(MAX_LABELS_BYTES + 1))
    except FileNotFoundError:
        return {}
    except NotARegularFile as error:
        raise LabelsError(f"{LABELS_FILE}: {error}") from None


@contextmanager
def editing_labels(folder: Path):
    """The labels as a dict to change, written back atomically on leaving, with an
    exclusive lock held throughout (``.labels.lock`` beside the file)."""
    folder = Path(folder)
    with open(folder / ".labels.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        labels = read_labels(folder)
        yield labels
        for name in labels:
            check_label(name)
        write_file_atomically(folder / LABELS_FILE, (json.dumps(labels, sort_keys=True) + "\n").encode())
