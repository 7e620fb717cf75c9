"""The picture's plane chunk: the point read back from a pixel is the point drawn there."""

import io
import struct
import zlib

import numpy as np
import pytest

from trainer.plot_geometry import KEYWORD, read_plane
from trainer.plotting import decision_boundary_png

matplotlib_image = pytest.importorskip("matplotlib.image")

# One sigmoid unit, P(label = 1) = sigmoid(8 (x1 - x2)): red below the diagonal, blue above.
LAYERS = [(np.array([[8.0], [-8.0]]), np.array([0.0]))]
X = np.array([[-1.0, -1.0], [2.0, 1.5], [0.0, 1.0], [1.0, -0.5]])
Y = np.array([[0], [1], [0], [1]])


def pixel_of(plane, point, width, height):
    """What the page's script computes, the other way round: a point to its pixel."""
    left, bottom, box_width, box_height = plane.box
    fx = left + (point[0] - plane.x1[0]) / (plane.x1[1] - plane.x1[0]) * box_width
    fy = bottom + (point[1] - plane.x2[0]) / (plane.x2[1] - plane.x2[0]) * box_height
    return round(fx * width), round((1 - fy) * height)


def test_the_plane_maps_points_to_where_they_are_drawn():
    png = decision_boundary_png(LAYERS, "sigmoid", X, Y, "geometry")
    plane = read_plane(png)
    assert plane is not None and plane.x1 == (-1.5, 2.5) and plane.x2 == (-1.5, 2.0)
    picture = matplotlib_image.imread(io.BytesIO(png))
    height, width = picture.shape[:2]
    for point, reddish in [((1.0, -1.0), True), ((-1.0, 1.5), False), ((2.0, 0.0), True), ((-0.5, 1.0), False)]:
        column, row = pixel_of(plane, point, width, height)
        red, _, blue = picture[row, column, :3]
        assert (red > blue) == reddish, (point, picture[row, column])
    # the corners of the box are the plane's corners: just outside them is the white figure
    column, row = pixel_of(plane, (plane.x1[0], plane.x2[1]), width, height)
    assert picture[row - 3, column - 3, :3].min() > 0.95 and picture[row + 3, column + 3, :3].max() < 0.95


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize("text", [b"not json", b'{"box": [0, 0, 1], "x1": [0, 1], "x2": [0, 1]}',
                                  b'{"box": [0, 0, 1, 1], "x1": [1, 0], "x2": [0, 1]}',
                                  b'{"box": [0, 0, 1, 1], "x1": [0, NaN], "x2": [0, 1]}',
                                  b'{"box": [2, 0, 1, 1], "x1": [0, 1], "x2": [0, 1]}'])
def test_a_bad_chunk_is_no_plane(text):
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", bytes(13)) + _chunk(b"tEXt", KEYWORD.encode() + b"\0" + text)
    assert read_plane(png) is None


@pytest.mark.parametrize("png", [b"", b"GIF89a", b"\x89PNG\r\n\x1a\n" + b"\xff" * 7,
                                 b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", bytes(13)) + _chunk(b"IDAT", b"x"),
                                 b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 2**31) + b"tEXt" + b"short"])
def test_no_chunk_or_no_png_is_no_plane(png):
    assert read_plane(png) is None


def test_a_compressed_chunk_is_read():
    text = b'{"box": [0.1, 0.1, 0.5, 0.5], "x1": [0, 1], "x2": [-1, 1]}'
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"zTXt", KEYWORD.encode() + b"\0\0" + zlib.compress(text))
    assert read_plane(png).x2 == (-1.0, 1.0)
