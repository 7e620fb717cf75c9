"""The deployment files pass their linters and say what the issue asks of them."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.service.gunicorn_server import PROJECT_ROOT

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/proxy/Dockerfile"])
def test_hadolint_reports_nothing(dockerfile):
    result = subprocess.run([_tool("hadolint"), dockerfile], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_compose_file_validates_against_the_compose_specification():
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                             "docker-compose.yml"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_can_scale_the_api_and_mounts_models_read_only():
    services = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]
    assert all("container_name" not in service for service in services.values())
    api = services["api"]
    assert api["depends_on"]["trainer"]["condition"] == "service_completed_successfully"
    assert "models:/models:ro" in api["volumes"] and "healthcheck" in api
    assert "ports" not in api and api["expose"] == ["8000"]  # replicas publish nothing: the proxy is the endpoint
    proxy = services["proxy"]
    assert proxy["ports"] == ["${PORT:-8000}:8000"] and proxy["depends_on"]["api"]["condition"] == "service_healthy"
    assert proxy["environment"]["MAX_BODY_BYTES"] == api["environment"]["MAX_BODY_BYTES"]
    assert all(":" in services[name]["image"] and not services[name]["image"].endswith(":latest")
               for name in ("prometheus", "grafana"))


def test_dockerfile_runs_unprivileged_and_ignores_local_clutter():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M) and "HEALTHCHECK" in dockerfile
    assert re.search(r'^CMD \["gunicorn", "-c"', dockerfile, re.M) and "EXPOSE 8000" in dockerfile
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {"tests", ".venv", "models", ".git", "**/__pycache__"} <= set(ignored)
