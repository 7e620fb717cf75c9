"""Many models in one MODELS_DIR: which are served, each on its own, without HTTP."""

import logging
import os
import shutil

import pytest

from service.models.repository import ModelRepository, choose_models
from tests.conftest import write_version


def test_choose_models_serves_the_default_then_the_valid_folder_names():
    choice = choose_models(["zeta", "Upper", "alpha", "moons", ".hidden", "9lives", "a" * 65], "moons", ())
    assert choice.served == ("moons", "alpha", "zeta")
    assert set(choice.ignored) == {"Upper", ".hidden", "9lives", "a" * 65}
    assert "not a model name" in choice.ignored["Upper"]


def test_choose_models_with_model_names_serves_those_even_before_their_folders_exist():
    choice = choose_models(["alpha", "zeta"], "moons", ("zeta", "later"))
    assert choice.served == ("moons", "zeta", "later")
    assert choice.ignored == {"alpha": "not in MODEL_NAMES"}


def test_choose_models_past_the_limit_ignores_the_rest_by_name():
    choice = choose_models([f"m{index:03d}" for index in range(150)] + ["moons"], "moons", (), limit=100)
    assert len(choice.served) == 100 and choice.served[0] == "moons" and choice.served[-1] == "m098"
    assert len(choice.ignored) == 51 and "at most 100" in choice.ignored["m149"]


def _repository(models_dir, **options):
    events = []
    repository = ModelRepository(
        models_dir, "moons", on_load=lambda model, version, result, reason: events.append((model, version, result)),
        **options)
    return repository, events


def test_every_model_folder_is_served_with_its_own_versions(models_dir, trained_layers):
    write_version(models_dir, trained_layers, name="other")
    write_version(models_dir, trained_layers, name="other")
    repository, events = _repository(models_dir)
    snapshot = repository.refresh()
    assert list(snapshot.models) == ["moons", "other"]
    assert snapshot.default_model.served.version == 1 and snapshot.get("other").served.version == 2
    assert snapshot.get("other").served.name == "other"
    assert sorted(events) == [("moons", 1, "success"), ("other", 1, "success"), ("other", 2, "success")]


def test_a_bad_file_in_one_model_never_touches_another(models_dir, trained_layers):
    write_version(models_dir, trained_layers, name="other")
    (models_dir / "other" / "2.npz").write_bytes(os.urandom(300))
    (models_dir / "moons" / "2.npz").write_bytes(b"PK\x03\x04 truncated")
    repository, events = _repository(models_dir)
    snapshot = repository.refresh()
    assert snapshot.default_model.served.version == 1 and snapshot.get("other").served.version == 1
    assert list(snapshot.default_model.refused) == [2] and list(snapshot.get("other").refused) == [2]


def test_a_model_whose_refresh_raises_keeps_its_last_snapshot_and_the_others_go_on(models_dir, trained_layers,
                                                                                    monkeypatch):
    write_version(models_dir, trained_layers, name="other")
    repository, _ = _repository(models_dir)
    repository.refresh()
    broken = repository._registries["other"]
    monkeypatch.setattr(broken, "refresh", lambda: 1 / 0)
    write_version(models_dir, trained_layers)  # moons 2
    snapshot = repository.refresh()
    assert snapshot.default_model.served.version == 2 and snapshot.get("other").served.version == 1


def test_folders_that_appear_are_served_and_folders_that_go_are_not(models_dir, trained_layers):
    repository, _ = _repository(models_dir)
    assert list(repository.refresh().models) == ["moons"]
    write_version(models_dir, trained_layers, name="later")
    assert list(repository.refresh().models) == ["moons", "later"]
    shutil.rmtree(models_dir / "later")
    assert list(repository.refresh().models) == ["moons"]


def test_model_names_serves_only_those_and_the_default_even_without_a_folder(models_dir, trained_layers):
    write_version(models_dir, trained_layers, name="other")
    write_version(models_dir, trained_layers, name="unlisted")
    repository, _ = _repository(models_dir, listed=("other", "absent"))
    snapshot = repository.refresh()
    assert list(snapshot.models) == ["moons", "other", "absent"]
    assert snapshot.get("absent").served is None and "no model versions" in snapshot.get("absent").reason


def test_pins_are_per_model(models_dir, trained_layers):
    for name in ("moons", "other", "other"):
        write_version(models_dir, trained_layers, name=name)
    repository, _ = _repository(models_dir, pins={"other": 1})
    snapshot = repository.refresh()
    assert snapshot.default_model.served.version == 2 and snapshot.default_model.pinned is None
    assert snapshot.get("other").served.version == 1 and snapshot.get("other").pinned == 1


def test_ignored_folders_are_logged_once_each(models_dir, caplog):
    for name in ("Bad", "also bad"):
        (models_dir / name).mkdir()
    repository, _ = _repository(models_dir)
    with caplog.at_level(logging.WARNING, logger="moonserve.repository"):
        for _ in range(3):
            repository.refresh()
    ignored = [record for record in caplog.records if record.getMessage() == "model folder ignored"]
    assert sorted(record.fields["folder"] for record in ignored) == ["Bad", "also bad"]


def test_past_the_limit_extra_models_are_refused_with_a_log_line(models_dir, trained_layers, caplog):
    for name in ("a1", "a2", "a3"):
        write_version(models_dir, trained_layers, name=name)
    repository, events = _repository(models_dir, limit=3)
    with caplog.at_level(logging.WARNING, logger="moonserve.repository"):
        snapshot = repository.refresh()
    assert list(snapshot.models) == ["moons", "a1", "a2"]
    assert {model for model, _, _ in events} == {"moons", "a1", "a2"}  # a3 was never even read
    assert any(record.fields.get("folder") == "a3" for record in caplog.records)


@pytest.mark.parametrize("name", ["../moons", "UPPER", "x" * 65])
def test_the_trainer_refuses_names_the_service_would_not_serve(tmp_path, trained_layers, name):
    from trainer.artifacts import ArtifactError

    with pytest.raises(ArtifactError, match="model name"):
        write_version(tmp_path, trained_layers, name=name)
