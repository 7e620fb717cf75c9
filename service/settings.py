"""The service's configuration: environment variables, read and checked once."""

from __future__ import annotations

import re

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from trainer.artifacts import MODEL_NAME

_NAME_RULE = "must be a lowercase letter then up to 63 of lowercase letters, digits, '_', '.', '-'"


class Settings(BaseSettings):
    """Every setting is an environment variable of the same name in capitals."""

    model_config = SettingsConfigDict(use_attribute_docstrings=True, extra="ignore", frozen=True, env_ignore_empty=True)

    models_dir: Path = Path("models")
    """Folder holding ``<model_name>/<version>.npz`` files, as the trainer writes them."""
    model_name: str = "moons"
    """The default model: the one ``POST /predict`` and ``/health`` are about."""
    model_names: Annotated[tuple[str, ...], NoDecode] = ()
    """Comma-separated models to serve; unset serves every model folder in MODELS_DIR
    (up to ``MAX_MODELS``). When set, ``/health`` is ready only when each is served."""
    model_version: int | None = Field(default=None, ge=1)
    """Pin the default model to one version (for rollback); unset serves its stable
    label, else its newest valid version."""
    model_versions: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    """Pins of any model, ``moons=3,other=1``; MODEL_VERSION is the default model's."""
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
    balance_connections: bool = True
    """Spread connections evenly over the workers (service/transport/accept_balance.py);
    false: whichever worker accepts first takes each, as gunicorn does by itself."""
    keepalive_s: int = Field(default=5, ge=0, le=300)
    """Seconds an idle keep-alive connection stays open."""
    log_level: str = "info"
    """debug, info, warning or error; the access log (a JSON line per request) is on at debug and info."""
    access_log_flush_s: float = Field(default=1.0, ge=0, le=60)
    """Access lines are written in blocks of up to 4 KiB, at most this many seconds after
    the request; 0 writes each line at once (a system call per request)."""
    grafana_url: str | None = Field(default=None, max_length=2048)
    """The Grafana dashboard's address, linked from the models page at ``/`` (an
    http(s) URL as the browser reaches it); unset, the page has no such link."""

    @field_validator("model_name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not MODEL_NAME.fullmatch(value):
            raise ValueError(_NAME_RULE)
        return value

    @field_validator("grafana_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s\"'<>]+", value):
            raise ValueError("must be an http:// or https:// URL, such as http://localhost:3000/")
        return value

    @field_validator("model_names", mode="before")
    @classmethod
    def _name_list(cls, value):
        names = [name.strip() for name in value.split(",") if name.strip()] if isinstance(value, str) else value
        for name in names:
            if not MODEL_NAME.fullmatch(name):
                raise ValueError(f"{name[:80]!r} {_NAME_RULE}")
        return tuple(dict.fromkeys(names))

    @field_validator("model_versions", mode="before")
    @classmethod
    def _pins(cls, value):
        if not isinstance(value, str):
            return value
        pins = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, equals, version = item.partition("=")
            name, version = name.strip(), version.strip()
            if not equals or not MODEL_NAME.fullmatch(name) or not version.isascii() or not version.isdigit() \
                    or not 1 <= int(version) < 2**63:
                raise ValueError(f"{item[:80]!r} is not name=version (a model name, a positive integer)")
            if name in pins:
                raise ValueError(f"model {name!r} is pinned twice")
            pins[name] = int(version)
        return pins

    @model_validator(mode="after")
    def _one_pin_per_model(self):
        other = self.model_versions.get(self.model_name)
        if self.model_version is not None and other is not None and other != self.model_version:
            raise ValueError(f"MODEL_VERSION={self.model_version} and MODEL_VERSIONS "
                             f"{self.model_name}={other} pin the default model twice")
        return self

    @property
    def required_models(self) -> tuple[str, ...]:
        """The models that must be served for the service to be ready: the default one
        and every one in MODEL_NAMES."""
        return tuple(dict.fromkeys([self.model_name, *self.model_names]))

    def pins(self) -> dict[str, int]:
        """Every model's pinned version (MODEL_VERSIONS, and MODEL_VERSION for the default)."""
        pinned = dict(self.model_versions)
        if self.model_version is not None:
            pinned[self.model_name] = self.model_version
        return pinned

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
