"""Versions, reload and refusal in the model registry, without HTTP."""

import os

import numpy as np

from service.models.inference import predict_lists
from service.models.registry import ModelRegistry
from tests.service.conftest import write_version
from trainer.network import init_layers, predict_proba


def _registry(models_dir, **options):
    events = []
    registry = ModelRegistry(models_dir, "moons", on_load=lambda v, result, reason: events.append((v, reason)), **options)
    return registry, events


def test_newest_valid_version_is_served_and_switches_on_refresh(models_dir, trained_layers):
    registry, events = _registry(models_dir)
    first = registry.refresh()
    assert first.served.version == 1
    write_version(models_dir, trained_layers)
    second = registry.refresh()
    assert second.served.version == 2 and sorted(second.models) == [1, 2]
    assert first.served.version == 1  # a request holding the old snapshot keeps its model
    assert events == [(1, None), (2, None)]


def test_bad_files_are_refused_once_and_never_served(models_dir, trained_layers):
    registry, events = _registry(models_dir)
    registry.refresh()
    (models_dir / "moons" / "2.npz").write_bytes(os.urandom(500))
    nan_layers = [(w.copy(), b.copy()) for w, b in trained_layers]
    nan_layers[0][0][0, 0] = np.nan
    np.savez(models_dir / "moons" / "3.npz", **{"w1": nan_layers[0][0]})
    for _ in range(3):
        snapshot = registry.refresh()
        assert snapshot.served.version == 1
    assert sorted(snapshot.refused) == [2, 3]
    assert [v for v, e in events if e] == [3, 2]  # counted once each, not on every refresh


def test_pinned_version_never_changes(models_dir, trained_layers):
    write_version(models_dir, trained_layers)
    registry, _ = _registry(models_dir, pinned=1)
    assert registry.refresh().served.version == 1
    write_version(models_dir, trained_layers)
    assert registry.refresh().served.version == 1 and sorted(registry.snapshot.models) == [1]


def test_keeps_only_the_newest_valid_versions(models_dir, trained_layers):
    for _ in range(4):
        write_version(models_dir, trained_layers)
    registry, _ = _registry(models_dir, keep=3)
    assert sorted(registry.refresh().models) == [3, 4, 5]


def test_vanished_file_unloads_unless_it_is_the_last_model(models_dir, trained_layers):
    write_version(models_dir, trained_layers)
    registry, _ = _registry(models_dir)
    registry.refresh()
    os.unlink(models_dir / "moons" / "2.npz")
    assert registry.refresh().served.version == 1  # rolled back to what is on disk
    os.unlink(models_dir / "moons" / "1.npz")
    snapshot = registry.refresh()
    assert snapshot.served.version == 1 and snapshot.on_disk == ()  # still serving from memory


def test_empty_folder_then_first_model(tmp_path, trained_layers):
    registry, _ = _registry(tmp_path / "models")
    snapshot = registry.refresh()
    assert snapshot.served is None and "no model versions in" in snapshot.reason
    write_version(tmp_path / "models", trained_layers)
    assert registry.refresh().served.version == 1


def test_a_network_too_large_for_python_floats_is_served_with_numpy(tmp_path):
    layers = init_layers([2, 64, 64, 1], np.random.RandomState(3))
    write_version(tmp_path / "models", layers)
    registry, events = _registry(tmp_path / "models")
    model = registry.refresh().served
    assert events == [(1, None)] and model.python_float_rows == 0 and model.predict_rows is None
    probabilities, labels = predict_lists(model, [(0.5, -0.4)])
    assert probabilities == predict_proba(layers, np.array([[0.5, -0.4]]), "sigmoid").tolist()
    assert labels == [int(probabilities[0] >= 0.5)]


def _archive_with_a_raw_member(path):
    """A file on which the old reader raised AttributeError (NumPy hands back bytes
    for a member without the .npy suffix), aborting the whole refresh."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata", b"{}")
        archive.writestr("w1", b"raw")


def test_a_file_that_broke_the_reader_is_refused_alone(models_dir, trained_layers):
    _archive_with_a_raw_member(models_dir / "moons" / "2.npz")
    write_version(models_dir, trained_layers)  # 3, newer and valid
    registry, events = _registry(models_dir)
    snapshot = registry.refresh()
    assert snapshot.served.version == 3 and sorted(snapshot.models) == [1, 3]
    assert list(snapshot.refused) == [2] and "not an array name" in snapshot.refused[2]
    assert sorted(events, key=lambda e: e[0])[1][0] == 2 and events.count((3, None)) == 1


def test_an_unreadable_models_folder_is_no_model_not_a_crash(tmp_path):
    (tmp_path / "models").write_text("a file where the folder should be")
    registry, _ = _registry(tmp_path / "models" / "inside")
    snapshot = registry.refresh()
    assert snapshot.served is None and "no model versions" in snapshot.reason
