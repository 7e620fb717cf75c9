"""Reading ``.npz`` archives without trusting a byte of them.

``np.load`` believes an archive: a member without the ``.npy`` suffix comes back as
bytes, a header that declares a terabyte shape is allocated before anything is
checked, a malformed header raises whatever its parser happens to raise. This reader
checks every count, name, header, dtype and size against the limits and the bytes
really there BEFORE it allocates, reads each member to its end so that zip's CRC is
checked, and raises ``ArchiveError`` with a one-line reason for anything else.
Plain functions over an open binary stream; the model file format is ``artifacts``'.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib

import numpy as np

MAX_MEMBERS = 64
MAX_HEADER_BYTES = 4096
_MEMBER = re.compile(r"^([A-Za-z][A-Za-z0-9_]{0,31})\.npy$")
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class ArchiveError(ValueError):
    """The archive cannot be read as plain arrays; the message says why."""


def read_arrays(stream, max_unpacked_bytes: int) -> dict[str, np.ndarray]:
    """Every member of the ``.npz`` archive in ``stream`` as an array, by name without
    ``.npy``. Only float arrays of 8-byte items and unicode strings are read: nothing
    that could carry pickled objects. At most ``max_unpacked_bytes`` in all."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError):
        raise ArchiveError("not a zip (.npz) file") from None
    with archive:
        members = archive.infolist()
        _check_members(members, max_unpacked_bytes)
        try:
            return {_MEMBER.match(info.filename).group(1): _read_member(archive, info) for info in members}
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:  # a CRC or a deflate stream that is off
            raise ArchiveError(f"a damaged member ({str(error)[:120]})") from None
        except (NotImplementedError, RuntimeError) as error:  # unknown compression, encryption
            raise ArchiveError(f"a member that cannot be unpacked ({str(error)[:120]})") from None


def _check_members(members: list[zipfile.ZipInfo], max_unpacked_bytes: int) -> None:
    if len(members) > MAX_MEMBERS:
        raise ArchiveError(f"{len(members)} members, more than {MAX_MEMBERS}")
    names = [info.filename for info in members]
    if len(set(names)) != len(names):
        raise ArchiveError("a member name appears twice")
    for name in names:
        if not _MEMBER.match(name):
            raise ArchiveError(f"member {name[:80]!r} is not an array name ending in .npy")
    unpacked = sum(info.file_size for info in members)
    if unpacked > max_unpacked_bytes:
        raise ArchiveError(f"unpacks to {unpacked} bytes, over the {max_unpacked_bytes} limit")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    key = info.filename[:-4]
    with archive.open(info) as member:
        shape, fortran_order, dtype = _read_header(member, key)
        count = math.prod(shape)
        size = count * dtype.itemsize
        if size > info.file_size:  # checked before the allocation, on Python integers
            raise ArchiveError(f"{key}: its header declares {size} bytes of data, the member holds fewer")
        data = member.read(size)
        if len(data) != size or member.read(1):
            raise ArchiveError(f"{key}: {info.file_size} bytes do not match its header's shape {shape}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)


def _read_header(member, key: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(member)
        reader = _HEADER_READERS.get(version)
        if reader is None:
            raise ArchiveError(f"{key}: .npy format version {version} is not 1.0 or 2.0")
        shape, fortran_order, dtype = reader(member, max_header_size=MAX_HEADER_BYTES)
    except ArchiveError:
        raise
    except (ValueError, TypeError, SyntaxError, EOFError, OverflowError, MemoryError, RecursionError) as error:
        raise ArchiveError(f"{key}: not a valid .npy header ({str(error)[:120]})") from None
    if dtype.hasobject:
        raise ArchiveError(f"{key}: holds Python objects (pickled data), which are never loaded")
    if not (dtype.kind == "f" and dtype.itemsize == 8) and dtype.kind != "U":
        raise ArchiveError(f"{key}: dtype {str(dtype)[:40]} is neither float64 nor a string")
    if dtype.itemsize == 0:
        raise ArchiveError(f"{key}: dtype {str(dtype)[:40]} has items of no size")
    if not all(type(side) is int and side >= 0 for side in shape):
        raise ArchiveError(f"{key}: shape {str(shape)[:80]} is not a tuple of sizes")
    return shape, bool(fortran_order), dtype
