"""What the models page shows of one model: pure, from the model's ``/models`` entry."""

from __future__ import annotations

from urllib.parse import quote

from trainer.plot_geometry import Plane

MAX_SHOWN = 80
"""A metadata value is shown up to this many characters: a model file's metadata is
whatever the file says, and the page stays small whatever it is."""
SETTINGS = ("hidden", "activation", "loss", "learning_rate", "iterations", "batch_size", "l2", "seed",
            "validation_fraction")


def shown(value) -> str:
    text = value if isinstance(value, str) else "none" if value is None else str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "\u2026"


def _accuracy(metadata: dict, split: str) -> str | None:
    metrics = metadata.get("metrics")
    figures = metrics.get(split) if isinstance(metrics, dict) else None
    value = figures.get("accuracy") if isinstance(figures, dict) else None
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def predict_url(name: str, version: int, default_model: str) -> str:
    """Where a click predicts: ``/predict`` for the default model (the service's own API),
    V1's predict for another (``/predict`` serves the default model only)."""
    if name == default_model:
        return f"/predict?version={version}"
    return f"/v1/models/{quote(name)}/versions/{version}:predict"


def model_card(entry: dict, default_model: str, plane: Plane | None) -> dict:
    """The card of one model: its served version with labels, accuracy and training
    settings, its picture and where to predict; or why nothing is served."""
    served = entry["served_version"]
    version = next((v for v in entry["versions"] if v["version"] == served), None)
    card = {"name": entry["name"], "default": entry["name"] == default_model, "version": served,
            "all_labels": [(label, number) for label, number in sorted(entry["labels"].items())],
            "versions": [(v["version"], v["status"], shown(v["reason"]) if v["reason"] else "")
                         for v in entry["versions"][:20]],
            "more_versions": max(0, len(entry["versions"]) - 20)}
    if version is None:
        return card
    metadata = version["metadata"] if isinstance(version["metadata"], dict) else {}
    training = metadata.get("training") if isinstance(metadata.get("training"), dict) else {}
    card.update(
        labels=version["labels"],
        accuracy=_accuracy(metadata, "train"), validation_accuracy=_accuracy(metadata, "validation"),
        created_at=shown(metadata.get("created_at")),
        layer_sizes=shown("-".join(str(size) for size in metadata.get("layer_sizes", [])) or None),
        settings=[(key, shown(training[key])) for key in SETTINGS if key in training],
        plot_url=f"/models/{quote(entry['name'])}/{served}/plot.png" if version["has_plot"] else None,
        plane=plane.as_dict() if plane else None,
        predict_url=predict_url(entry["name"], served, default_model),
    )
    return card
