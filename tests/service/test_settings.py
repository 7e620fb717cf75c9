"""Settings from the environment: the model list and per-model pins, and one line per
bad value (what gunicorn prints before exiting 2)."""

import subprocess
import sys

import pytest
from pydantic import ValidationError

from service.settings import Settings, describe_error
from tests.service.gunicorn_server import PROJECT_ROOT


def test_model_names_and_pins_are_parsed(monkeypatch):
    monkeypatch.setenv("MODEL_NAMES", " other, moons ,other,")
    monkeypatch.setenv("MODEL_VERSIONS", "other=3, moons=1")
    monkeypatch.setenv("MODEL_VERSION", "1")
    settings = Settings()
    assert settings.model_names == ("other", "moons")
    assert settings.pins() == {"other": 3, "moons": 1}


def test_model_version_pins_the_default_model(monkeypatch):
    monkeypatch.setenv("MODEL_NAME", "other")
    monkeypatch.setenv("MODEL_VERSION", "2")
    assert Settings().pins() == {"other": 2}


@pytest.mark.parametrize("variable, value, needle", [
    ("MODEL_VERSIONS", "moons", "not name=version"),
    ("MODEL_VERSIONS", "moons=0", "not name=version"),
    ("MODEL_VERSIONS", "moons=١", "not name=version"),
    ("MODEL_VERSIONS", "Moons=1", "not name=version"),
    ("MODEL_VERSIONS", "moons=1,moons=2", "pinned twice"),
    ("MODEL_NAMES", "moons,../etc", "lowercase letter"),
    ("MODEL_NAME", "Moons", "lowercase letter"),
])
def test_bad_values_are_one_line_naming_the_variable(monkeypatch, variable, value, needle):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    line = describe_error(error.value)
    assert "\n" not in line and variable in line and needle in line


def test_two_pins_of_the_default_model_that_disagree_are_refused(monkeypatch):
    monkeypatch.setenv("MODEL_VERSION", "2")
    monkeypatch.setenv("MODEL_VERSIONS", "moons=3")
    with pytest.raises(ValidationError, match="pin the default model twice"):
        Settings()


def test_gunicorn_refuses_a_bad_pin_list_in_one_line_and_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "service" / "gunicorn.conf.py"),
         "service.wsgi:app"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "MODEL_VERSIONS": "moons=x", "MODELS_DIR": str(tmp_path)})
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "MODEL_VERSIONS" in result.stderr and "Traceback" not in result.stderr
