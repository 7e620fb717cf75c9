"""The model file format: ``<models_dir>/<name>/<version>.npz``.

Arrays ``w1, b1, w2, b2, ...`` (shapes ``(fan_in, fan_out)`` and ``(1, fan_out)``)
and ``metadata``, a 0-d unicode array holding JSON. Files are plain ``np.savez``
archives, readable with ``np.load(path, allow_pickle=False)``. This module owns
writing (atomic, with race-free version numbers), reading (validated) and listing;
the trainer and the service both use it.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.inference import check_weights
from trainer.npz_archive import ArchiveError, read_arrays
from trainer.regular_files import NotARegularFile, open_regular_file
from trainer.network import ACTIVATIONS, Layer, layer_sizes_of

FORMAT_VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024
MODEL_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
"""A model name (and its folder's): what the service serves from MODELS_DIR. Use with
``fullmatch``."""
_VERSION_FILE = re.compile(r"^([1-9][0-9]{0,17})\.npz$")
_VERSION_NUMBER = re.compile(r"[1-9][0-9]{0,17}")
_FILE_MODE = 0o644  # readable by a service that runs as another user, as in the container
_REQUIRED_METADATA = ("name", "version", "created_at", "layer_sizes", "activation", "format_version")


class ArtifactError(ValueError):
    """A model file that cannot be used; the message says which and why, in one line
    of at most ``MAX_REASON_CHARS``, whatever the file holds."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())
        super().__init__(message if len(message) <= MAX_REASON_CHARS else message[: MAX_REASON_CHARS - 3] + "...")


MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class ModelArtifact:
    layers: list[Layer]
    metadata: dict

    @property
    def version(self) -> int:
        return int(self.metadata["version"])

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def activation(self) -> str:
        return str(self.metadata["activation"])


def check_name(name: str) -> str:
    """A model name is a plain file name (``MODEL_NAME``), never a path."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise ArtifactError(f"model name {str(name)[:80]!r} must be a lowercase letter then up to 63 of "
                            "lowercase letters, digits, '_', '.', '-'")
    return name


def model_folder(models_dir: str | Path, name: str) -> Path:
    return Path(models_dir) / check_name(name)


def version_path(models_dir: str | Path, name: str, version: int) -> Path:
    return model_folder(models_dir, name) / f"{int(version)}.npz"


def list_versions(models_dir: str | Path, name: str) -> list[int]:
    """Version numbers on disk for ``name``, ascending, compared as integers."""
    try:
        entries = os.listdir(model_folder(models_dir, name))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(int(m.group(1)) for m in map(_VERSION_FILE.match, entries) if m)


def encode(layers: list[Layer], metadata: dict) -> dict[str, np.ndarray]:
    """The arrays of a model file: ``w1, b1, ...`` and the JSON ``metadata``."""
    arrays = {"metadata": np.array(json.dumps(metadata, sort_keys=True))}
    for index, (weights, bias) in enumerate(layers, start=1):
        arrays[f"w{index}"] = np.asarray(weights, dtype=np.float64)
        arrays[f"b{index}"] = np.asarray(bias, dtype=np.float64)
    return arrays


def decode(arrays: dict[str, np.ndarray]) -> ModelArtifact:
    """Validate a model file's arrays: keys, shapes that chain from 2 inputs to 1
    output, finite float64 values of at most 2**64 in magnitude (``check_weights``),
    and metadata that parses and agrees."""
    metadata = _decode_metadata(arrays.get("metadata"))
    count = len(metadata["layer_sizes"]) - 1
    expected = {"metadata"} | {f"{kind}{i}" for i in range(1, count + 1) for kind in "wb"}
    if set(arrays) != expected:
        raise ArtifactError(f"arrays {sorted(arrays)} do not match layer_sizes {metadata['layer_sizes']}")
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(metadata["layer_sizes"], metadata["layer_sizes"][1:]), 1):
        weights, bias = arrays[f"w{index}"], arrays[f"b{index}"]
        for key, array, shape in ((f"w{index}", weights, (fan_in, fan_out)), (f"b{index}", bias, (1, fan_out))):
            if array.dtype != np.float64 or array.shape != shape:
                raise ArtifactError(f"{key} is {array.dtype} {array.shape}, expected float64 {shape}")
        layers.append((weights, bias))
    try:
        check_weights(layers)
    except ValueError as error:
        raise ArtifactError(str(error)) from None
    return ModelArtifact(layers, metadata)


MAX_METADATA_CHARS = 1024 * 1024
MAX_METADATA_DEPTH = 32
MAX_LAYERS = 16
_INT64 = range(-(2**63), 2**63)


def _json_int(text: str) -> int:
    """JSON integers within int64, checked on the digits before ``int`` sees them
    (a 5,000-digit integer would otherwise meet Python's own digit limit)."""
    if len(text) > 20 or int(text) not in _INT64:
        raise ValueError(f"integer {text[:24]}... is outside the 64-bit range")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:24]} is too large for a double")
    return value


def _json_constant(text: str):
    raise ValueError(f"{text} is not JSON")


def _depth(value) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_METADATA_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _parse_metadata_json(text: str) -> dict:
    if len(text) > MAX_METADATA_CHARS:
        raise ArtifactError(f"metadata is {len(text)} characters, over the {MAX_METADATA_CHARS} limit")
    try:
        metadata = json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except json.JSONDecodeError as error:
        raise ArtifactError(f"metadata is not JSON: {error.msg} at character {error.pos}") from None
    except RecursionError:
        raise ArtifactError("metadata is nested too deeply") from None
    except ValueError as error:
        raise ArtifactError(f"metadata holds a bad number: {error}") from None
    if _depth(metadata) > MAX_METADATA_DEPTH:
        raise ArtifactError(f"metadata is nested more than {MAX_METADATA_DEPTH} deep")
    if not isinstance(metadata, dict):
        raise ArtifactError("metadata must be a JSON object")
    try:  # what the service sends back must encode: no lone surrogates
        json.dumps(metadata, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ArtifactError("metadata holds text that is not valid Unicode") from None
    return metadata


def _decode_metadata(array) -> dict:
    if array is None or array.shape != () or array.dtype.kind != "U":
        raise ArtifactError("metadata must be a 0-d string array")
    metadata = _parse_metadata_json(str(array))
    missing = [key for key in _REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ArtifactError(f"metadata lacks {', '.join(missing)}")
    sizes = metadata["layer_sizes"]
    if (
        not isinstance(sizes, list)
        or not 2 <= len(sizes) <= MAX_LAYERS + 1
        or not all(type(size) is int and 0 < size <= 4096 for size in sizes)
        or sizes[0] != 2
        or sizes[-1] != 1
    ):
        raise ArtifactError(f"layer_sizes {_short(sizes)} must run from 2 inputs to 1 output, "
                            f"in at most {MAX_LAYERS} layers of at most 4096 units")
    if not isinstance(metadata["activation"], str) or metadata["activation"] not in ACTIVATIONS:
        raise ArtifactError(f"activation {_short(metadata['activation'])} is not one of {', '.join(ACTIVATIONS)}")
    if metadata["format_version"] != FORMAT_VERSION:
        raise ArtifactError(f"format_version {_short(metadata['format_version'])} is not {FORMAT_VERSION}")
    if type(metadata["version"]) is not int or metadata["version"] < 1:
        raise ArtifactError(f"version {_short(metadata['version'])} must be a positive integer")
    return metadata


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def read_model(path: str | Path) -> ModelArtifact:
    """Load and validate one model file, without pickle: a ``ModelArtifact``, or
    ``ArtifactError`` with a one-line reason, whatever the bytes on disk are."""
    path = Path(path)
    try:
        arrays = _read_archive(path)
        artifact = decode(arrays)
    except ArtifactError as error:
        raise ArtifactError(f"{path.name}: {error}") from None
    except ArchiveError as error:
        raise ArtifactError(f"{path.name}: {error}") from None
    except FileNotFoundError:
        raise ArtifactError(f"{path.name}: no such file") from None
    except OSError as error:
        raise ArtifactError(f"{path.name}: cannot be read ({error.strerror or type(error).__name__})") from None
    except Exception as error:  # the last line of defence: a model file never escapes as anything else
        raise ArtifactError(f"{path.name}: not a readable model file ({type(error).__name__}: {error})") from None
    if path.name != f"{artifact.version}.npz":
        raise ArtifactError(f"{path.name}: its metadata says version {artifact.version}")
    return artifact


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    try:
        with open_regular_file(path, MAX_FILE_BYTES) as stream:
            return read_arrays(stream, MAX_FILE_BYTES)
    except NotARegularFile as error:
        raise ArtifactError(str(error)) from None


def write_model(models_dir: str | Path, name: str, layers: list[Layer], metadata: dict) -> tuple[Path, int]:
    """Write a new version of ``name`` atomically and return its path and version.

    The number is reserved first (``reserve_version``), so it is one more than any
    version that ever existed in the folder, deleted ones included, and two writers
    at once never share it. The file is written and flushed under a temporary name in
    the same folder, then hard-linked to ``<version>.npz``, so a reader sees either no
    file or the whole one. ``metadata`` gains ``name``, ``version``,
    ``format_version`` and ``layer_sizes``.
    """
    folder = model_folder(models_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder, time.time())
    while True:
        version = reserve_version(folder)
        full = dict(metadata, name=name, version=version, format_version=FORMAT_VERSION,
                    layer_sizes=layer_sizes_of(layers))
        temporary = _write_temporary(folder, encode(layers, full))
        try:
            os.link(temporary, folder / f"{version}.npz")
        except FileExistsError:  # a file put there by hand since: take the next number
            continue
        finally:
            os.unlink(temporary)
        _sync_folder(folder)
        return folder / f"{version}.npz", version


RESERVED = ".versions"
"""Folder in each model folder holding an empty file per version number ever taken:
the high-water mark that survives deleting version files."""


def reserved_versions(folder: Path) -> list[int]:
    try:
        entries = os.listdir(folder / RESERVED)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [int(entry) for entry in entries if _VERSION_NUMBER.fullmatch(entry)]


def reserve_version(folder: Path) -> int:
    """Take the next version number for good: one more than the highest ever taken
    or on disk, claimed by creating its marker with O_EXCL, which only one writer
    can do. A writer that dies after this leaves the number unused, never reused."""
    (folder / RESERVED).mkdir(exist_ok=True)
    while True:
        on_disk = [int(m.group(1)) for m in map(_VERSION_FILE.match, os.listdir(folder)) if m]
        version = max([*reserved_versions(folder), *on_disk], default=0) + 1
        try:
            os.close(os.open(folder / RESERVED / str(version), os.O_CREAT | os.O_EXCL | os.O_WRONLY, _FILE_MODE))
        except FileExistsError:
            continue
        _sync_folder(folder / RESERVED)
        return version


STALE_TEMPORARY_S = 3600


def remove_stale_temporaries(folder: Path, now: float) -> list[str]:
    """Delete ``.writing-*`` files older than an hour: what a writer killed mid-write
    left. Nothing reads them; a live writer's file is seconds old."""
    removed = []
    for entry in os.scandir(folder):
        if entry.name.startswith(".writing-") and entry.is_file(follow_symlinks=False):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY_S:
                    os.unlink(entry.path)
                    removed.append(entry.name)
            except FileNotFoundError:
                continue
    return removed


def _write_temporary(folder: Path, arrays: dict[str, np.ndarray]) -> Path:
    handle, name = tempfile.mkstemp(prefix=".writing-", suffix=".npz", dir=folder)
    try:
        os.fchmod(handle, _FILE_MODE)
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def write_file_atomically(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content`` so that no reader sees a partial file."""
    handle, name = tempfile.mkstemp(prefix=".writing-", suffix=path.suffix, dir=path.parent)
    try:
        os.fchmod(handle, _FILE_MODE)
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(name, path)
    except BaseException:
        if os.path.exists(name):
            os.unlink(name)
        raise


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
