"""The model registry: which versions are loaded, which one is served, hot reload.

Each worker process holds its own registry. ``refresh`` looks at the models folder,
loads new files with the trainer's validated reader, runs each once on a probe input,
and publishes an immutable ``Snapshot``; a request takes the snapshot once and so
finishes on the model it started with, whatever a concurrent refresh does.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from trainer.artifacts import ArtifactError, list_versions, read_model, version_path
from trainer.gate import gate_reason
from trainer.labels import LABELS_FILE, LabelsError, read_labels
from trainer.inference import compile_predict, compile_predict_rows, exact_everywhere
from trainer.network import Layer, multiply_adds

log = logging.getLogger("moonserve.registry")

PROBE_INPUT = np.array([[0.0, 0.0], [1.0, -0.5], [-1.0, 1.0], [2.0, 0.5], [1e300, -1e300], [-1.7e308, 5.0]])

PYTHON_FLOAT_BUDGET = 216
"""Requests of up to this many multiply-adds (rows times the network's per row; 24
rows of the reference network) are computed with Python floats, beyond with NumPy.
``bench/predict_crossover.py`` measures 1.8 us for one row on Python floats against
47 on NumPy (both with the exact exp of ``trainer.inference``), and NumPy first
faster at 28 to 32 rows; this stays below that. Only networks that
``exact_everywhere`` accepts have this path: the two must agree to the bit."""


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    layers: list[Layer]
    activation: str
    metadata: dict
    loaded_at: float
    _predict: object = field(init=False, repr=False, compare=False)
    python_float_rows: int = field(init=False, compare=False)
    predict_rows: Callable[[list], list[float]] | None = field(init=False, repr=False, compare=False)
    """P(label = 1) for each of at most ``python_float_rows`` rows of Python numbers
    (None when that is 0); a field, not a method, to save a call on every request."""

    def __post_init__(self):
        rows = PYTHON_FLOAT_BUDGET // multiply_adds(self.layers) if exact_everywhere(self.layers) else 0
        object.__setattr__(self, "_predict", compile_predict(self.layers, self.activation))
        object.__setattr__(self, "python_float_rows", rows)
        object.__setattr__(self, "predict_rows", compile_predict_rows(self.layers, self.activation) if rows else None)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(label = 1) for each row of ``x`` (n, 2), shape (n,)."""
        return self._predict(x)


@dataclass(frozen=True)
class Rejected:
    """A valid version the promotion gate keeps from being served (MIN_ACCURACY)."""

    reason: str
    metadata: dict


@dataclass(frozen=True)
class Snapshot:
    models: dict[int, LoadedModel] = field(default_factory=dict)
    served: LoadedModel | None = None
    on_disk: tuple[int, ...] = ()
    refused: dict[int, str] = field(default_factory=dict)
    reason: str = "no model loaded yet"
    rejected: dict[int, Rejected] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    """Every label of the labels file, whether or not its version is loaded."""
    name: str = ""
    pinned: int | None = None

    @property
    def known_versions(self) -> list[int]:
        """Every version on disk or loaded (a loaded one may be serving from memory), ascending."""
        return sorted(set(self.on_disk) | set(self.models))

    def knows(self, version: int) -> bool:
        return version in self.models or version in self.on_disk

    def resolve(self, requested: int | str) -> int | None:
        """The version a request names, by number or by label (None: no such label)."""
        return self.labels.get(requested) if isinstance(requested, str) else requested


def load_and_probe(path: Path, name: str) -> LoadedModel:
    """Read, validate and run a model file once; ``ArtifactError`` if any step fails."""
    artifact = read_model(path)
    model = LoadedModel(name, artifact.version, artifact.layers, artifact.activation, artifact.metadata, time.time())
    probabilities = model.predict(PROBE_INPUT)
    if probabilities.shape != (len(PROBE_INPUT),) or not np.all((probabilities >= 0) & (probabilities <= 1)):
        raise ArtifactError(f"{path.name}: the probe prediction is not a probability per row")
    if model.predict_rows and model.predict_rows(PROBE_INPUT.tolist()) != probabilities.tolist():
        raise ArtifactError(f"{path.name}: the Python-float and NumPy forward passes differ on the probe")
    return model


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino


class ModelRegistry:
    """Loads ``models_dir/name/<version>.npz`` files and picks the one to serve.

    Without a pin it serves the newest valid version that passes the promotion gate
    (``min_accuracy``, see ``trainer.gate``) and keeps the ``keep`` newest such
    versions loaded; with a pin, that version only. A rejected version is never
    served nor selectable. A file is read again only when
    its size, mtime or inode change, so a refused file is refused (and counted) once.
    A version whose file disappears is unloaded, unless it is the last model there
    is: then it goes on serving from memory.
    """

    def __init__(self, models_dir: Path, name: str, pinned: int | None = None, keep: int = 10,
                 on_load: Callable[[int, str, str | None], None] | None = None,
                 on_serve: Callable[[LoadedModel | None, LoadedModel], None] | None = None,
                 min_accuracy: float = 0.0):
        self.models_dir, self.name, self.pinned, self.keep = Path(models_dir), name, pinned, keep
        self.min_accuracy = min_accuracy
        self._on_load = on_load or (lambda version, result, reason: None)
        self._on_serve = on_serve or (lambda previous, model: None)
        self._seen: dict[int, tuple[tuple, LoadedModel | Rejected | str]] = {}
        self._disk_metadata: dict[int, tuple[tuple, tuple[dict | None, str | None]]] = {}
        self._labels: tuple[tuple | None, dict[str, int]] = (None, {})
        self._last_warning: tuple | None = None
        self._lock = threading.Lock()
        self._metadata_lock = threading.Lock()  # requests read the cache while refresh prunes it
        self.snapshot = Snapshot(reason="no model loaded yet", name=name, pinned=pinned)

    def refresh(self) -> Snapshot:
        """Look at the folder once and publish what should be served now."""
        with self._lock:
            try:
                on_disk = tuple(list_versions(self.models_dir, self.name))
            except OSError as error:  # unreadable folder: judged like an empty one, with its reason
                log.warning("models folder unreadable", extra=self._fields(reason=str(error)[:300]))
                on_disk = ()
            labels = self._read_labels()
            candidates = [self.pinned] if self.pinned is not None else sorted(on_disk, reverse=True)
            labelled = [] if self.pinned is not None else sorted(set(labels.values()) & set(on_disk), reverse=True)
            models, refused, rejected, visited = {}, {}, {}, set()
            for version in [*candidates, *labelled]:
                if version in visited or (len(models) >= self.keep and version not in labelled):
                    continue  # the keep newest, and every labelled version: a request may name it
                visited.add(version)
                outcome = self._load(version)
                if isinstance(outcome, LoadedModel):
                    models[version] = outcome
                elif isinstance(outcome, Rejected):
                    rejected[version] = outcome
                elif outcome is not None:
                    refused[version] = outcome
            self._seen = {v: seen for v, seen in self._seen.items() if v in visited}
            with self._metadata_lock:
                self._disk_metadata = {v: meta for v, meta in self._disk_metadata.items() if v in on_disk}
            self.snapshot = self._publish(models, refused, rejected, on_disk, labels)
            return self.snapshot

    def _read_labels(self) -> dict[str, int]:
        """The labels file, read again when its size, mtime or inode change; a malformed
        one is refused (logged and counted once) and the last good labels kept."""
        path = self.models_dir / self.name / LABELS_FILE
        signature = _signature(path)
        if signature == self._labels[0]:
            return self._labels[1]
        try:
            labels = read_labels(path.parent) if signature is not None else {}
            if labels != self._labels[1]:
                log.info("labels changed", extra=self._fields(labels=labels))
        except LabelsError as error:
            log.warning("labels refused", extra=self._fields(reason=str(error)))
            self._on_load(0, "failure", str(error))
            labels = self._labels[1]
        self._labels = (signature, labels)
        return labels

    def metadata_on_disk(self, version: int) -> tuple[dict | None, str | None]:
        """``(metadata, None)`` of a version file that is not loaded, or ``(None, reason)``;
        each file is read once per size, mtime and inode."""
        path = version_path(self.models_dir, self.name, version)
        signature = _signature(path)
        if signature is None:
            return None, f"{path.name}: no such file"
        with self._metadata_lock:
            cached = self._disk_metadata.get(version)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            result = (read_model(path).metadata, None)
        except ArtifactError as error:
            result = (None, str(error))
        with self._metadata_lock:
            self._disk_metadata[version] = (signature, result)
        return result

    def _load(self, version: int) -> LoadedModel | Rejected | str | None:
        path = version_path(self.models_dir, self.name, version)
        signature = _signature(path)
        if signature is None:
            self._seen.pop(version, None)
            return None
        cached = self._seen.get(version)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            outcome: LoadedModel | str = load_and_probe(path, self.name)
        except ArtifactError as error:
            outcome = str(error)
        except Exception as error:  # one file never stops a refresh, whatever goes wrong with it
            log.exception("unexpected error loading a model file", extra=self._fields(file=path.name))
            outcome = str(ArtifactError(f"{path.name}: cannot be loaded ({type(error).__name__}: {error})"))
        if isinstance(outcome, LoadedModel) and (failed := gate_reason(outcome.metadata, self.min_accuracy)):
            outcome = Rejected(failed, outcome.metadata)
        if isinstance(outcome, LoadedModel):
            log.info("model loaded", extra=self._fields(model_version=version, file=path.name))
            self._on_load(version, "success", None)
        elif isinstance(outcome, Rejected):
            log.warning("model rejected", extra=self._fields(model_version=version, reason=outcome.reason))
            self._on_load(version, "rejected", outcome.reason)
        else:
            log.warning("model refused", extra=self._fields(model_version=version, reason=outcome))
            self._on_load(version, "failure", outcome)
        self._seen[version] = (signature, outcome)
        return outcome

    def _publish(self, models, refused, rejected, on_disk, labels) -> Snapshot:
        previous = self.snapshot.served
        if not models and previous is not None and (self.pinned is None or previous.version == self.pinned):
            log.warning("model files gone; serving from memory",
                        extra=self._fields(model_version=previous.version))
            models = {previous.version: previous}
        if self.pinned is not None and self.pinned not in models:
            self._warn_once("pinned version not servable", self.pinned, rejected.get(self.pinned),
                            refused.get(self.pinned))
        stable = labels.get("stable") if self.pinned is None else None
        if stable is not None and stable not in models:
            self._warn_once("stable label not servable", stable, rejected.get(stable), refused.get(stable))
            stable = None
        served = models[stable if stable is not None else max(models)] if models else None
        if served is not None and (previous is None or served.version != previous.version):
            log.info("serving model", extra=self._fields(model_version=served.version))
            self._on_serve(previous, served)
        reason = self._reason(on_disk, refused, rejected) if served is None else ""
        return Snapshot(models, served, on_disk, refused, reason, rejected, labels, self.name, self.pinned)

    def _warn_once(self, message: str, version: int, rejected: Rejected | None, refused: str | None) -> None:
        why = rejected.reason if rejected else refused or "no such version loaded"
        if self._last_warning != (message, version, why):
            log.warning(message, extra=self._fields(model_version=version, reason=why))
            self._last_warning = (message, version, why)

    def _reason(self, on_disk, refused, rejected) -> str:
        where = self.models_dir / self.name
        if self.pinned is not None:
            if self.pinned in refused:
                return f"pinned version {self.pinned} was refused: {refused[self.pinned]}"
            if self.pinned in rejected:
                return f"pinned version {self.pinned} was rejected: {rejected[self.pinned].reason}"
            return f"pinned version {self.pinned} is not in {where}"
        if not on_disk:
            return f"no model versions in {where}"
        if rejected:
            return (f"none of the {len(on_disk)} version file(s) in {where} is valid and passes the gate "
                    f"({len(rejected)} rejected, e.g. version {max(rejected)}: {rejected[max(rejected)].reason})")
        return f"none of the {len(on_disk)} version file(s) in {where} is valid"

    def _fields(self, **fields) -> dict:
        """``extra`` for a log line about this model."""
        return {"fields": {"model": self.name, **fields}}
