"""The model file format: round trip, validation, version numbers and atomic writes."""

import json
import multiprocessing
import os

import numpy as np
import pytest

from trainer import artifacts
from trainer.artifacts import ArtifactError, encode, list_versions, read_model, version_path, write_model
from trainer.network import init_layers

METADATA = {"created_at": "2026-01-01T00:00:00+00:00", "activation": "sigmoid", "loss": "half_squared_error"}


def _layers(sizes=(2, 3, 1)):
    return init_layers(list(sizes), np.random.RandomState(3))


def test_round_trip_and_plain_numpy_loading(tmp_path):
    layers = _layers((2, 16, 16, 1))
    path, version = write_model(tmp_path, "moons", layers, METADATA)
    assert (path, version) == (tmp_path / "moons" / "1.npz", 1)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["b1", "b2", "b3", "metadata", "w1", "w2", "w3"]
        metadata = json.loads(str(archive["metadata"]))
    assert metadata["layer_sizes"] == [2, 16, 16, 1] and metadata["version"] == 1 and metadata["name"] == "moons"
    artifact = read_model(path)
    assert artifact.version == 1 and artifact.activation == "sigmoid"
    for (w, b), (w2, b2) in zip(layers, artifact.layers):
        assert np.array_equal(w, w2) and np.array_equal(b, b2)
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_versions_count_up_as_integers(tmp_path):
    folder = tmp_path / "moons"
    folder.mkdir()
    for version in (2, 9, 10):
        (folder / f"{version}.npz").write_bytes(b"")
    (folder / "notes.txt").write_text("x")
    (folder / "011.npz").write_bytes(b"")
    (folder / ".writing-abc.npz").write_bytes(b"")
    assert list_versions(tmp_path, "moons") == [2, 9, 10]
    _, version = write_model(tmp_path, "moons", _layers(), METADATA)
    assert version == 11
    assert list_versions(tmp_path, "absent") == []


def _write_one(models_dir):
    return write_model(models_dir, "moons", _layers(), METADATA)[1]


def test_concurrent_writers_never_share_a_version(tmp_path):
    with multiprocessing.get_context("fork").Pool(4) as pool:
        versions = pool.map(_write_one, [str(tmp_path)] * 12)
    assert sorted(versions) == list(range(1, 13))
    assert sorted(set(os.listdir(tmp_path / "moons")) - {".versions"}) == sorted(f"{v}.npz" for v in range(1, 13))
    for version in versions:
        assert read_model(version_path(tmp_path, "moons", version)).version == version


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_savez(stream, **arrays):
        stream.write(b"PK\x03\x04 half of a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts.np, "savez", broken_savez)
    with pytest.raises(OSError):
        write_model(tmp_path, "moons", _layers(), METADATA)
    assert os.listdir(tmp_path / "moons") == [".versions"]  # no model file; number 1 is spent


@pytest.mark.parametrize("bad_name", ["", "../x", "a/b", ".hidden", "x" * 65, "a b"])
def test_names_are_never_paths(tmp_path, bad_name):
    with pytest.raises(ArtifactError, match="model name"):
        write_model(tmp_path, bad_name, _layers(), METADATA)


def _save(path, arrays):
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)


def _valid_arrays(version=1):
    metadata = dict(METADATA, name="moons", version=version, format_version=1, layer_sizes=[2, 3, 1])
    return encode(_layers(), metadata)


def _corrupt(kind, path):
    arrays = _valid_arrays()
    if kind == "truncated":
        _save(path, arrays)
        path.write_bytes(path.read_bytes()[:200])
        return
    if kind == "random bytes":
        path.write_bytes(os.urandom(3000))
        return
    if kind == "plain npy":
        with path.open("wb") as stream:
            np.save(stream, np.zeros(3))
        return
    if kind == "pickled object":
        arrays["w1"] = np.array([{"evil": 1}, None], dtype=object)
        with open(path, "wb") as stream:
            np.savez(stream, **arrays)
        return
    changes = {
        "wrong shape": ("w2", np.zeros((4, 1))),
        "nan weight": ("b1", np.array([[0.0, np.nan, 0.0]])),
        "int weights": ("w1", np.zeros((2, 3), dtype=np.int64)),
        "missing array": ("b2", None),
        "extra array": ("w9", np.zeros(1)),
        "metadata not json": ("metadata", np.array("{not json")),
        "metadata bytes": ("metadata", np.array(b"{}")),
        "wrong version inside": ("metadata", np.array(json.dumps(dict(json.loads(str(arrays["metadata"])), version=7)))),
        "bad activation": ("metadata", np.array(json.dumps(dict(json.loads(str(arrays["metadata"])), activation="os.system")))),
        "bad sizes": ("metadata", np.array(json.dumps(dict(json.loads(str(arrays["metadata"])), layer_sizes=[3, 1])))),
    }
    key, value = changes[kind]
    if value is None:
        del arrays[key]
    else:
        arrays[key] = value
    _save(path, arrays)


@pytest.mark.parametrize(
    "kind",
    ["truncated", "random bytes", "plain npy", "pickled object", "wrong shape", "nan weight", "int weights",
     "missing array", "extra array", "metadata not json", "metadata bytes", "wrong version inside",
     "bad activation", "bad sizes"],
)
def test_unusable_files_are_refused_with_a_reason(tmp_path, kind):
    path = tmp_path / "1.npz"
    _corrupt(kind, path)
    with pytest.raises(ArtifactError) as caught:
        read_model(path)
    assert str(caught.value).startswith("1.npz: ")


def test_oversized_file_is_refused_before_loading(tmp_path, monkeypatch):
    path = tmp_path / "1.npz"
    _save(path, _valid_arrays())
    monkeypatch.setattr(artifacts, "MAX_FILE_BYTES", 100)
    with pytest.raises(ArtifactError, match="over the 100 limit"):
        read_model(path)


_SLOW_WRITER = """
import sys, time
import numpy as np
from trainer import artifacts
from trainer.network import init_layers

def stalled_savez(stream, **arrays):
    stream.write(b"PK\\x03\\x04" + b"half a model" * 100)
    stream.flush()
    print("writing", flush=True)
    time.sleep(60)

np.savez = stalled_savez
artifacts.write_model(sys.argv[1], "moons", init_layers([2, 3, 1], np.random.RandomState(3)),
                      {"created_at": "x", "activation": "sigmoid"})
"""


def test_a_trainer_killed_mid_write_leaves_no_version(tmp_path):
    import signal
    import subprocess
    import sys

    writer = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    finally:
        writer.kill()
        writer.stdout.close()
    leftovers = sorted(set(os.listdir(tmp_path / "moons")) - {".versions"})
    assert list_versions(tmp_path, "moons") == []
    assert len(leftovers) == 1 and leftovers[0].startswith(".writing-")  # ignored by every reader
    assert write_model(tmp_path, "moons", _layers(), METADATA)[1] == 2  # the killed writer had taken 1
    assert leftovers[0] in os.listdir(tmp_path / "moons")  # young: it could be a live writer's
    stale = tmp_path / "moons" / leftovers[0]
    os.utime(stale, (stale.stat().st_atime - 7200, stale.stat().st_mtime - 7200))
    assert write_model(tmp_path, "moons", _layers(), METADATA)[1] == 3
    assert sorted(os.listdir(tmp_path / "moons")) == [".versions", "2.npz", "3.npz"]


def test_versions_are_never_reused_after_deletion(tmp_path):
    for _ in range(4):
        _write_one(tmp_path)
    os.unlink(tmp_path / "moons" / "4.npz")
    os.unlink(tmp_path / "moons" / "3.npz")
    assert _write_one(tmp_path) == 5  # not 3: that number named another model once
    assert list_versions(tmp_path, "moons") == [1, 2, 5]
    assert sorted(os.listdir(tmp_path / "moons" / ".versions"), key=int) == ["1", "2", "3", "4", "5"]


def test_concurrent_writers_after_deletions_never_share_a_version(tmp_path):
    for _ in range(3):
        _write_one(tmp_path)
    os.unlink(tmp_path / "moons" / "3.npz")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        versions = pool.map(_write_one, [str(tmp_path)] * 12)
    assert sorted(versions) == list(range(4, 16))
