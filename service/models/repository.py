"""The model repository: every model folder in MODELS_DIR, each with its own registry.

``choose_models`` (pure) decides which folder names are served; ``ModelRepository``
keeps one ``ModelRegistry`` per served name, refreshes them all (one model's trouble
never reaches another's), and publishes an immutable ``RepositorySnapshot`` that a
request takes once.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from service.models.registry import LoadedModel, ModelRegistry, Snapshot
from trainer.artifacts import MODEL_NAME

log = logging.getLogger("moonserve.repository")

MAX_MODELS = 100
"""Most models one service serves: each is a value of the metrics' ``model`` label, so
this bounds their series whatever lands in MODELS_DIR."""

LOGGED_IGNORED = 20


@dataclass(frozen=True)
class Choice:
    served: tuple[str, ...]
    """The names to serve: the default model, then those listed, then the others found."""
    ignored: dict[str, str] = field(default_factory=dict)
    """A folder name that is not served, and why."""


def choose_models(found: list[str], default: str, listed: tuple[str, ...], limit: int = MAX_MODELS) -> Choice:
    """Which models to serve from the folder names ``found`` in MODELS_DIR.

    With ``listed`` (MODEL_NAMES) exactly those and the default, whether or not their
    folders exist yet; else the default and every folder whose name is a model name.
    Past ``limit`` names, the rest (in name order) are ignored.
    """
    ignored = {}
    wanted = list(dict.fromkeys([default, *listed]))
    for name in sorted(found):
        if name in wanted:
            continue
        if not MODEL_NAME.fullmatch(name):
            ignored[name] = "not a model name (a lowercase letter, then up to 63 of a-z 0-9 _ . -)"
        elif listed:
            ignored[name] = "not in MODEL_NAMES"
        else:
            wanted.append(name)
    for name in wanted[limit:]:
        ignored[name] = f"more than {limit} models; the service serves at most {limit}"
    return Choice(tuple(wanted[:limit]), ignored)


@dataclass(frozen=True)
class RepositorySnapshot:
    models: dict[str, Snapshot]
    """Every served model's snapshot, the default first."""
    default: str

    @property
    def default_model(self) -> Snapshot:
        return self.models[self.default]

    def get(self, name: str) -> Snapshot | None:
        return self.models.get(name)

    def waiting(self, names: tuple[str, ...]) -> list[Snapshot]:
        """The snapshots of ``names`` (served models) that serve no version."""
        return [self.models[name] for name in names if self.models[name].served is None]


def _model_folders(models_dir: Path) -> list[str]:
    """The names of the folders in ``models_dir`` (none when it is missing or unreadable)."""
    try:
        with os.scandir(models_dir) as entries:
            return [entry.name for entry in entries if entry.is_dir(follow_symlinks=True)]
    except OSError as error:
        if not isinstance(error, FileNotFoundError):
            log.warning("models folder unreadable", extra={"fields": {"reason": str(error)[:300]}})
        return []


class ModelRepository:
    """One ``ModelRegistry`` per served model, all refreshed together.

    ``on_load(model, version, result, reason)`` and ``on_serve(model, previous,
    loaded)`` are the registries' callbacks with the model's name first.
    """

    def __init__(self, models_dir: Path, default: str, listed: tuple[str, ...] = (),
                 pins: dict[str, int] | None = None, keep: int = 10, min_accuracy: float = 0.0,
                 on_load: Callable[[str, int, str, str | None], None] | None = None,
                 on_serve: Callable[[str, LoadedModel | None, LoadedModel], None] | None = None,
                 on_model: Callable[[str], None] | None = None, limit: int = MAX_MODELS):
        self.models_dir, self.default, self.listed = Path(models_dir), default, listed
        self.pins, self.keep, self.min_accuracy, self.limit = dict(pins or {}), keep, min_accuracy, limit
        self._on_load = on_load or (lambda model, version, result, reason: None)
        self._on_serve = on_serve or (lambda model, previous, loaded: None)
        self._on_model = on_model or (lambda model: None)
        self._registries: dict[str, ModelRegistry] = {}
        self._logged_ignored: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.snapshot = RepositorySnapshot({}, default)

    def refresh(self) -> RepositorySnapshot:
        """Look at MODELS_DIR once, refresh every model, and publish the result."""
        with self._lock:
            choice = choose_models(_model_folders(self.models_dir), self.default, self.listed, self.limit)
            self._log_ignored(choice.ignored)
            snapshots = {}
            for name in choice.served:
                registry = self._registries.get(name)
                if registry is None:
                    registry = self._registries[name] = self._new_registry(name)
                snapshots[name] = self._refresh_one(registry)
            for name in set(self._registries) - set(snapshots):
                log.info("model folder gone; no longer served", extra={"fields": {"model": name}})
                del self._registries[name]
            self.snapshot = RepositorySnapshot(snapshots, self.default)
            return self.snapshot

    def metadata_on_disk(self, name: str, version: int) -> tuple[dict | None, str | None]:
        """``ModelRegistry.metadata_on_disk`` of model ``name``."""
        registry = self._registries.get(name)
        if registry is None:
            return None, f"model {name!r} is not served"
        return registry.metadata_on_disk(version)

    def _new_registry(self, name: str) -> ModelRegistry:
        self._on_model(name)
        return ModelRegistry(
            self.models_dir, name, self.pins.get(name), self.keep, min_accuracy=self.min_accuracy,
            on_load=lambda version, result, reason: self._on_load(name, version, result, reason),
            on_serve=lambda previous, loaded: self._on_serve(name, previous, loaded))

    @staticmethod
    def _refresh_one(registry: ModelRegistry) -> Snapshot:
        try:
            return registry.refresh()
        except Exception:  # one model's failure keeps its last snapshot and never stops the others
            log.exception("model refresh failed", extra={"fields": {"model": registry.name}})
            return registry.snapshot

    def _log_ignored(self, ignored: dict[str, str]) -> None:
        """One line per folder name newly not served (or for a new reason), for at most
        ``LOGGED_IGNORED`` names per refresh, then one line counting the rest."""
        new = [(name, reason) for name, reason in ignored.items() if self._logged_ignored.get(name) != reason]
        for name, reason in new[:LOGGED_IGNORED]:
            log.warning("model folder ignored", extra={"fields": {"folder": name[:80], "reason": reason}})
        if len(new) > LOGGED_IGNORED:
            log.warning("more model folders ignored", extra={"fields": {"count": len(new) - LOGGED_IGNORED}})
        self._logged_ignored = dict(ignored)

    def start_reloading(self, interval_s: float) -> threading.Thread:
        """Refresh every ``interval_s`` seconds in a daemon thread until ``stop``."""

        def loop():
            while not self._stop.wait(interval_s):
                try:
                    self.refresh()
                except Exception:  # a bad refresh must not end reloading for good
                    log.exception("model refresh failed")

        thread = threading.Thread(target=loop, name="model-reloader", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
