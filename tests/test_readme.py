"""The README's curl examples, taken from the README itself, run against a real gunicorn.

Each example must answer 2xx; where the README shows an answer (a ``# {...}`` line
after it, or a comment on it), every quoted key or string it shows must be in the
answer and every number it shows (``0.98861...``) must begin a number of the answer. The
models are made with the README's own trainer commands: moons versions 1 and 2 (the
reference settings), ``other`` (the README's second model), labels stable=1, canary=2.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.service.gunicorn_server import PROJECT_ROOT, running_service

README = PROJECT_ROOT / "README.md"
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl_examples(text: str) -> list[tuple[str, str]]:
    """``(command, answer shown)`` for each curl command in the README's code blocks."""
    lines = text.splitlines()
    examples, index = [], 0
    while index < len(lines):
        line = lines[index].strip()
        if not line.startswith("curl ") or "localhost:8000" not in line:
            index += 1
            continue
        command, _, comment = _split_comment(line)
        while command.rstrip().endswith("\\") or _unbalanced(command):
            index += 1
            joiner = "\n" if _unbalanced(command) else " "
            command, _, comment = _split_comment(command.rstrip().rstrip("\\").rstrip() + joiner + lines[index].strip())
        shown = comment
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if following.startswith("# {") or following.startswith("# ..."):
            shown = following[2:]
        examples.append((command.strip(), shown.strip()))
        index += 1
    return examples


def _unbalanced(command: str) -> bool:
    return command.count("'") % 2 == 1


def _split_comment(command: str) -> tuple[str, str, str]:
    """The command and its trailing ``# comment`` (a # outside quotes)."""
    quoted = False
    for position, character in enumerate(command):
        if character == "'":
            quoted = not quoted
        elif character == "#" and not quoted and command[position - 1] == " ":
            return command[:position], "#", command[position + 1:]
    return command, "", ""


def test_the_readme_has_the_examples_this_test_runs():
    commands = [command for command, _ in curl_examples(README.read_text())]
    assert len(commands) >= 30
    assert any("/v1/models/moons:predict" in c for c in commands) and any("/v2/models/moons/infer" in c
                                                                            for c in commands)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    models = folder / "models"
    trainer = [sys.executable, "-m", "trainer"]
    for args in (["train"], ["train", "--no-plot"],
                 ["train", "--name", "other", "--hidden", "8", "--activation", "tanh", "--lr", "0.01", "--no-plot"],
                 ["label", "stable", "1"], ["label", "canary", "2"]):
        subprocess.run([*trainer, *args, "--models-dir", str(models)], check=True, capture_output=True,
                       cwd=PROJECT_ROOT, timeout=120)
    with running_service(folder, models, reload_interval_s=0) as running:
        yield running, folder


@pytest.mark.parametrize("command, shown", curl_examples(README.read_text()),
                         ids=lambda value: value[:60] if isinstance(value, str) else None)
def test_each_curl_example_answers_as_the_readme_shows(server, command, shown):
    running, folder = server
    argv = shlex.split(command.replace("localhost:8000", f"127.0.0.1:{running.port}"))
    argv += ["-w", "\n%{http_code}"]
    result = subprocess.run(argv, capture_output=True, cwd=folder, timeout=30)
    body, _, status = result.stdout.rpartition(b"\n")
    assert result.returncode == 0 and status.decode().startswith("2"), (command, status, body[:300])
    text = body.decode(errors="replace")
    for quoted in re.findall(r'"([^"]+)"', shown):  # keys and string values alike
        assert f'"{quoted}"' in text, (quoted, command, text[:300])
    for prefix in re.findall(r"(\d+\.\d+)\.\.\.", shown):
        assert re.search(rf"(?<![\d.]){re.escape(prefix)}", text), (prefix, command, text[:300])
