"""The lock files agree with pyproject.toml: every declared requirement is pinned at a
version it allows, nothing is pinned as direct that pyproject.toml no longer declares,
every pin is hash-checked, and both locks were written by scripts/lock.sh.

Offline on purpose: a fresh resolve needs the network and would move with every
release; what can drift without anyone noticing is the lock against pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DIRECT = "moonserve (pyproject.toml)"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")
PYTHONS = ["3.11", "3.12", "3.13", "3.14"]


@dataclass
class Pin:
    version: Version
    marker: Marker | None
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def read_lock(text: str) -> dict[str, list[Pin]]:
    """uv's requirements format: `name==version ; marker \\`, then `--hash=` lines, then
    `# via` comments naming who needs it (one name inline, or one per line below)."""
    pins: dict[str, list[Pin]] = {}
    current: Pin | None = None
    for line in text.splitlines():
        stripped = line.strip()
        match = PIN.match(line)
        if match:
            current = Pin(Version(match["version"]), Marker(match["marker"]) if match["marker"] else None)
            pins.setdefault(canonicalize_name(match["name"]), []).append(current)
        elif current and stripped.startswith("--hash=sha256:"):
            current.hashes += 1
        elif current and stripped.startswith("# via "):
            current.via.append(stripped.removeprefix("# via ").strip())
        elif current and stripped.startswith("#   "):
            current.via.append(stripped.removeprefix("#").strip())
    return pins


def declared(extras: tuple[str, ...] = ()) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return [Requirement(text) for text in requirements]


def disagreements(requirements: list[Requirement], pins: dict[str, list[Pin]]) -> list[str]:
    problems = []
    names = {canonicalize_name(requirement.name) for requirement in requirements}
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not in the lock")
            continue
        for pin in pins[name]:
            if not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{name}=={pin.version} does not satisfy {requirement}")
            if DIRECT not in pin.via:
                problems.append(f"{name} is declared, but the lock does not say it is direct")
        covered = [python for python in PYTHONS
                   if any(pin.marker is None or pin.marker.evaluate({"python_full_version": f"{python}.0",
                                                                    "python_version": python})
                          for pin in pins[name])]
        if covered != PYTHONS:
            problems.append(f"{name} is pinned for Python {covered} only, not {PYTHONS}")
    for name, entries in pins.items():
        if any(DIRECT in pin.via for pin in entries) and name not in names:
            problems.append(f"{name} is pinned as direct but pyproject.toml does not declare it")
        if any(pin.hashes == 0 for pin in entries):
            problems.append(f"{name} has no hash")
    return problems


LOCKS = {"runtime": ("requirements/runtime.txt", ()), "test": ("requirements/test.txt", ("test",))}


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_agrees_with_pyproject(lock):
    path, extras = LOCKS[lock]
    text = (ROOT / path).read_text()
    assert disagreements(declared(extras), read_lock(text)) == [], \
        f"{path} is out of date with pyproject.toml: run scripts/lock.sh"
    command = text.splitlines()[1]
    assert command.lstrip("# ").startswith("uv pip compile pyproject.toml") and path in command, \
        f"{path} was not written by scripts/lock.sh: {command}"


def test_the_tests_run_on_the_versions_that_ship():
    runtime, test = (read_lock((ROOT / LOCKS[lock][0]).read_text()) for lock in LOCKS)
    differ = {name: ([str(pin.version) for pin in pins], [str(pin.version) for pin in test.get(name, [])])
              for name, pins in runtime.items()
              if [pin.version for pin in pins] != [pin.version for pin in test.get(name, [])]}
    assert differ == {}, "runtime.txt and test.txt pin the shipped packages differently: run scripts/lock.sh"


@pytest.mark.parametrize("change, expected", [
    ("flask>=99", "does not satisfy flask>=99"),
    ("left-pad>=1", "left-pad>=1 is not in the lock"),
    (None, "flask is pinned as direct but pyproject.toml does not declare it"),
])
def test_the_check_catches_a_changed_pyproject(change, expected):
    requirements = [r for r in declared() if r.name != "flask"]
    if change:
        requirements.append(Requirement(change))
    pins = read_lock((ROOT / "requirements/runtime.txt").read_text())
    assert any(expected in problem for problem in disagreements(requirements, pins))


def test_the_check_catches_a_pin_without_hashes():
    text = (ROOT / "requirements/runtime.txt").read_text()
    unhashed = re.sub(r"(?m)^(flask==\S+) \\\n(\s+--hash=\S+ \\\n)*\s+--hash=\S+\n", r"\1\n", text)
    assert unhashed != text
    assert "flask has no hash" in disagreements(declared(), read_lock(unhashed))


def test_the_image_and_the_set_up_install_from_the_locks():
    assert "--require-hashes" in (ROOT / "Dockerfile").read_text()
    assert "requirements/runtime.txt" in (ROOT / "Dockerfile").read_text()
    setup = (ROOT / "scripts/setup.sh").read_text()
    assert "--require-hashes" in setup and all(LOCKS[lock][0] in setup for lock in LOCKS)
