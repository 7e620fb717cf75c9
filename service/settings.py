"""The service's configuration: environment variables, read and checked once."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Settings(BaseSettings):
    """Every setting is an environment variable of the same name in capitals."""

    model_config = SettingsConfigDict(use_attribute_docstrings=True, extra="ignore", frozen=True, env_ignore_empty=True)

    models_dir: Path = Path("models")
    """Folder holding ``<model_name>/<version>.npz`` files, as the trainer writes them."""
    model_name: str = "moons"
    """Which model in MODELS_DIR to serve."""
    model_version: int | None = Field(default=None, ge=1)
    """Pin one version (for rollback); unset serves the newest valid version."""
    min_accuracy: float = Field(default=0.9, ge=0, le=1)
    """The promotion gate: a version whose recorded accuracy (validation, else training)
    is below this is rejected, never served; 0 turns the gate off."""
    canary_percent: int = Field(default=0, ge=0, le=100)
    """Share of the requests that name no version to send to the version labelled
    ``canary`` (when it is loaded), chosen by a hash of the request id."""
    keep_versions: int = Field(default=10, ge=1, le=1000)
    """How many of the newest valid versions stay loaded for ``?version=N``."""
    max_batch: int = Field(default=10_000, ge=1, le=1_000_000)
    """Most rows one prediction request may carry."""
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    """Request bodies over this many bytes are refused with 413 before parsing."""
    body_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """Seconds a request body may take to arrive; a slower client gets 408."""
    header_timeout_s: float = Field(default=2.0, gt=0, le=300)
    """Seconds a request line and its headers may take to arrive, from their first
    byte (a connection that has sent nothing waits without a thread); a slower
    client's connection is closed, so a slowloris client holds a thread no longer."""
    send_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    """Seconds an answer may take to be written to the client; a client that does not
    read it (or reads too slowly) has its connection closed."""
    reload_interval_s: float = Field(default=5.0, ge=0, le=3600)
    """Seconds between each worker's look at MODELS_DIR for new versions; 0 turns it off."""
    host: str = "0.0.0.0"
    """Address gunicorn listens on."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port gunicorn listens on."""
    workers: int = Field(default=2, ge=1, le=64)
    """Gunicorn worker processes."""
    threads: int = Field(default=2, ge=1, le=256)
    """Threads per gunicorn worker (gthread). The work is CPU-bound under the GIL, so
    more threads add throughput slowly and tail latency quickly (p99 16 ms at 2, 25 at 4)."""
    worker_connections: int = Field(default=256, ge=1, le=10_000)
    """Most connections one worker holds, idle ones included: past it the worker stops
    accepting, so it bounds how many idle connections it takes to stall a worker
    (at 32, 64 idle connections stalled the service: ``bench/slow_clients.py``)."""
    timeout_s: int = Field(default=30, ge=1, le=3600)
    """A worker silent for this long is killed and replaced."""
    graceful_timeout_s: int = Field(default=30, ge=1, le=3600)
    """On SIGTERM, requests in flight get this long to finish."""
    keepalive_s: int = Field(default=5, ge=0, le=300)
    """Seconds an idle keep-alive connection stays open."""
    log_level: str = "info"
    """debug, info, warning or error; the access log (a JSON line per request) is on at debug and info."""
    access_log_flush_s: float = Field(default=1.0, ge=0, le=60)
    """Access lines are written in blocks of up to 4 KiB, at most this many seconds after
    the request; 0 writes each line at once (a system call per request)."""

    @field_validator("model_name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 1-64 of letters, digits, '_', '.', '-'")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be debug, info, warning or error")
        return value.lower()

    @property
    def bind(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def describe_error(error: ValidationError) -> str:
    """One line naming each bad environment variable and what is wrong with it."""
    parts = []
    for problem in error.errors(include_url=False, include_input=False):
        variable = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        parts.append(f"{variable}: {problem['msg']}")
    return "bad setting " + "; ".join(parts)
