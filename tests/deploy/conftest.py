"""Real Prometheus (Debian's package) for the monitoring tests."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _install_prometheus() -> str | None:
    """Install Debian's prometheus package if it is missing; None if it can't be."""
    if shutil.which("promtool") and shutil.which("prometheus"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "prometheus is not installed and this user cannot apt-get install it"
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "prometheus"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if result.returncode != 0:
            return f"apt-get could not install prometheus: {result.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def prometheus_tools():
    problem = _install_prometheus()
    if problem:
        pytest.skip(problem)
    return shutil.which("prometheus"), shutil.which("promtool")
