"""Where the plane lies in a decision-boundary picture, so a click on the picture can be
turned back into a point (x1, x2): the page at ``/`` predicts at the clicked point.

The picture carries it in a PNG ``tEXt`` chunk, keyword ``moonserve:plane``, as JSON:
``{"box": [left, bottom, width, height], "x1": [low, high], "x2": [low, high]}``, the
axes' box in fractions of the picture (from its bottom-left corner, as matplotlib
places axes) and the data range they show. This module owns that chunk: the trainer
writes it through ``plane_text``; the service reads it with ``read_plane``, which needs
neither matplotlib nor the whole picture decoded."""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass

KEYWORD = "moonserve:plane"
AXES_BOX = (0.11, 0.11, 0.64, 0.78)
"""Where the plane's axes sit: the picture is laid out with this box, not by matplotlib's own layout."""
COLORBAR_BOX = (0.79, 0.11, 0.03, 0.78)
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_CHUNKS = 64


@dataclass(frozen=True)
class Plane:
    box: tuple[float, float, float, float]
    x1: tuple[float, float]
    x2: tuple[float, float]

    def as_dict(self) -> dict:
        return {"box": list(self.box), "x1": list(self.x1), "x2": list(self.x2)}


def plane_text(x1: tuple[float, float], x2: tuple[float, float]) -> str:
    return json.dumps(Plane(AXES_BOX, (float(x1[0]), float(x1[1])), (float(x2[0]), float(x2[1]))).as_dict())


def read_plane(png: bytes) -> Plane | None:
    """The plane of a picture, or None: not a PNG, no chunk (a picture from before the
    chunk existed), or a chunk that does not hold a sane plane. Reads chunk headers up
    to the first image data, where matplotlib has written its text chunks."""
    if not png.startswith(_SIGNATURE):
        return None
    offset = len(_SIGNATURE)
    for _ in range(_MAX_CHUNKS):
        if offset + 8 > len(png):
            return None
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        data = png[offset + 8:offset + 8 + length]
        offset += 12 + length
        if kind == b"IDAT" or len(data) != length:
            return None
        if kind == b"tEXt" and data.startswith(KEYWORD.encode() + b"\0"):
            return _parse(data[len(KEYWORD) + 1:])
        if kind == b"zTXt" and data.startswith(KEYWORD.encode() + b"\0"):
            try:
                return _parse(zlib.decompress(data[len(KEYWORD) + 2:], bufsize=4096))
            except zlib.error:
                return None
    return None


def _parse(text: bytes) -> Plane | None:
    try:
        fields = json.loads(text)
        box, x1, x2 = (tuple(float(value) for value in fields[key]) for key in ("box", "x1", "x2"))
    except (ValueError, TypeError, KeyError):
        return None
    numbers = box + x1 + x2
    if (len(box), len(x1), len(x2)) != (4, 2, 2) or not all(math.isfinite(value) for value in numbers):
        return None
    if not (0 <= box[0] < 1 and 0 <= box[1] < 1 and 0 < box[2] <= 1 and 0 < box[3] <= 1
            and x1[0] < x1[1] and x2[0] < x2[1]):
        return None
    return Plane(box, x1, x2)
