"""Whatever bytes a model file holds, ``read_model`` returns a model or raises
``ArtifactError`` with a one-line reason: never another exception, never a huge
allocation, never a hang. Mutations of a valid file, generated and hand-made."""

import io
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.artifacts import MAX_REASON_CHARS, ArtifactError, ModelArtifact, read_model, write_model
from trainer.network import init_layers

METADATA = {"created_at": "2026-01-01T00:00:00+00:00", "activation": "sigmoid", "loss": "half_squared_error"}
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    path, _ = write_model(folder, "moons", init_layers([2, 3, 1], np.random.RandomState(3)), METADATA)
    return path.read_bytes()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _judge(tmp_path, data: bytes):
    """The reader's verdict on ``data`` saved as 1.npz: the model, or the reason."""
    path = tmp_path / "1.npz"
    path.write_bytes(data)
    try:
        result = read_model(path)
    except ArtifactError as error:
        reason = str(error)
        assert reason.startswith("1.npz: ") and "\n" not in reason and len(reason) <= MAX_REASON_CHARS, reason
        return reason
    assert isinstance(result, ModelArtifact)
    return result


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=8))
def test_flipped_bytes(tmp_path, valid_file, flips):
    data = bytearray(valid_file)
    for position, mask in flips:
        data[position % len(data)] ^= mask
    _judge(tmp_path, bytes(data))


@FUZZ
@given(cut=st.integers(0, 10**6))
def test_truncation(tmp_path, valid_file, cut):
    _judge(tmp_path, valid_file[: cut % len(valid_file)])


HEADER_TEXT = st.one_of(
    st.text(max_size=120),
    st.builds(lambda descr, order, shape: f"{{'descr': {descr!r}, 'fortran_order': {order}, 'shape': {shape!r}, }}",
              st.sampled_from(["<f8", ">f8", "<f4", "|O", "<U10", "<U0", "|V8", "<c16", "x", "<i8"]),
              st.sampled_from(["False", "True", "1", "None"]),
              st.lists(st.integers(-2, 2**62), max_size=4).map(tuple)),
)


@FUZZ
@given(member=st.sampled_from(["w1.npy", "b1.npy", "w2.npy", "b2.npy", "metadata.npy"]), header=HEADER_TEXT,
       version=st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x09"]))
def test_edited_array_headers(tmp_path, valid_file, member, header, version):
    members = _members(valid_file)
    raw = members[member]
    data_start = raw.index(b"\n") + 1
    encoded = header.encode("utf-8", "replace") + b"\n"
    size_field = len(encoded).to_bytes(2 if version[0] == 1 else 4, "little")
    members[member] = b"\x93NUMPY" + version + size_field + encoded + raw[data_start:]
    _judge(tmp_path, _zip(members))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30)


@FUZZ
@given(edits=st.dictionaries(st.sampled_from(["name", "version", "created_at", "layer_sizes", "activation",
                                              "format_version", "metrics", "x"]), json_values, max_size=4),
       drop=st.lists(st.sampled_from(["version", "layer_sizes", "activation", "format_version"]), max_size=2))
def test_edited_metadata(tmp_path, valid_file, edits, drop):
    members = _members(valid_file)
    metadata = json.loads(str(np.load(io.BytesIO(members["metadata.npy"]))))
    metadata.update(edits)
    for key in drop:
        metadata.pop(key, None)
    members["metadata.npy"] = _npy(np.array(json.dumps(metadata)))
    _judge(tmp_path, _zip(members))


@FUZZ
@given(text=st.text(max_size=300))
def test_metadata_text(tmp_path, valid_file, text):
    members = _members(valid_file)
    members["metadata.npy"] = _npy(np.array(text))
    _judge(tmp_path, _zip(members))


@FUZZ
@given(extra=st.dictionaries(st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True), st.binary(max_size=64),
                             max_size=3),
       missing=st.lists(st.sampled_from(["w1.npy", "b1.npy", "w2.npy", "b2.npy", "metadata.npy"]), max_size=2))
def test_extra_and_missing_members(tmp_path, valid_file, extra, missing):
    members = _members(valid_file)
    for name in missing:
        members.pop(name, None)
    members.update(extra)
    _judge(tmp_path, _zip(members))


def _with(valid_file, **replaced) -> bytes:
    members = _members(valid_file)
    members.update(replaced)
    return _zip(members)


def _metadata_text(valid_file, text: str) -> bytes:
    return _with(valid_file, **{"metadata.npy": _npy(np.array(text))})


def _header(descr: str, shape: tuple, version: bytes = b"\x01\x00") -> bytes:
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}".encode()
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY" + version + len(text).to_bytes(2, "little") + text


def test_the_reported_cases_are_refused_with_their_reason(tmp_path, valid_file):
    """Each of these escaped as another exception, or tried to allocate terabytes."""
    cases = {
        "member without .npy": (_zip({**_members(valid_file), "w1": b"raw bytes"}), "not an array name"),
        "terabyte shape": (_with(valid_file, **{"w1.npy": _header("<f8", (2, 10**12)) + b"\0" * 48}),
                           "declares 16000000000000 bytes"),
        "deep metadata": (_metadata_text(valid_file, "[" * 5000 + "]" * 5000), "nested"),
        "huge integer": (_metadata_text(valid_file, '{"version": ' + "9" * 5000 + "}"), "64-bit range"),
        "malformed header": (_with(valid_file, **{"w1.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': <<<<}\n"}),
                             "not a valid .npy header"),
        "pickled objects": (_with(valid_file, **{"w1.npy": _header("|O", (2, 3)) + b"\0" * 48}), "pickled"),
        "lone surrogate": (_metadata_text(valid_file, '{"name": "\\ud800"}'), "not valid Unicode"),
        "plain text": (b"version 4 of the model\n", "not a zip (.npz) file"),
        "huge number": (_metadata_text(valid_file, '{"version": 1e999}'), "too large for a double"),
    }
    for name, (data, reason) in cases.items():
        verdict = _judge(tmp_path, data)
        assert isinstance(verdict, str) and reason in verdict, (name, verdict)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "1.npz")
    with pytest.raises(ArtifactError, match="not a regular file"):
        read_model(tmp_path / "1.npz")


def test_the_valid_file_still_reads(tmp_path, valid_file):
    assert _judge(tmp_path, valid_file).version == 1


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "1.npz").mkdir()
    with pytest.raises(ArtifactError, match="not a regular file"):
        read_model(tmp_path / "1.npz")
