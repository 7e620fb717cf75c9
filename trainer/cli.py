"""``python -m trainer``: train a model version, list the versions on disk, label them.

The only layer of the trainer that prints, reads the clock or touches files other
than through ``artifacts`` and ``labels``; errors end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone

import numpy as np

import trainer
from trainer.artifacts import (
    ArtifactError, check_name, list_versions, model_folder, read_model, version_path, write_file_atomically,
    write_model,
)
from trainer.config import ConfigError, TrainConfig
from trainer.data import DataError, load_dataset, stratified_split
from trainer.gate import DEFAULT_MIN_ACCURACY, gate_reason
from trainer.labels import LabelsError, check_label, editing_labels, read_labels
from trainer.network import ACTIVATIONS, LOSSES
from trainer.training import train

DEFAULTS = TrainConfig()


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UsageError(message)


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every flag's default shown, and descriptions kept as written."""


DESCRIPTION = """\
Train the two-moons network (NumPy, from scratch) and manage its model versions.

Each run of `train` writes a new version, models/<name>/<version>.npz, which a running
service picks up by itself. Versions are never reused; labels (stable, canary) choose
what is served; `prune` deletes old versions.

examples:
  python -m trainer train                              # the reference network on data/moon_data.csv
  python -m trainer train --hidden 8 --activation tanh --lr 0.01 --validation-fraction 0.2
  python -m trainer list                               # versions, metrics, labels, gate
  python -m trainer label stable 2                     # serve version 2
  python -m trainer prune --keep 5 --dry-run
"""


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of widths") from None
    return widths


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _pinned_from_environment() -> int | None:
    text = os.environ.get("MODEL_VERSION", "")
    return int(text) if text.isascii() and text.isdigit() else None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m trainer", description=DESCRIPTION, formatter_class=_Help)
    parser.add_argument("--version", action="version", version=f"%(prog)s {trainer.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND",
                                     title="commands (python -m trainer COMMAND --help for each)")
    fit = commands.add_parser("train", help="fit the network and write a new model version", formatter_class=_Help,
                              description="Fit the network on a CSV of label,x1,x2 rows and write the next\n"
                                          "version of the model, with its metrics and a decision-boundary picture.")
    fit.add_argument("--data", default="data/moon_data.csv",
                     help="CSV of label,x1,x2 rows (../shared/data/moon_data.csv reproduces REFERENCE.md)")
    fit.add_argument("--models-dir", default="models", help="folder of <name>/<version>.npz, the service's MODELS_DIR")
    fit.add_argument("--name", default="moons", help="model name: a lowercase letter, then a-z 0-9 _ . -")
    fit.add_argument("--hidden", type=_hidden, default=",".join(map(str, DEFAULTS.hidden)),
                     help="hidden layer widths, e.g. 3 or 16,16")
    fit.add_argument("--activation", default=DEFAULTS.activation, choices=ACTIVATIONS,
                     help="the hidden layers' activation (the output is always sigmoid)")
    fit.add_argument("--loss", default=DEFAULTS.loss, choices=LOSSES, help="training loss")
    fit.add_argument("--lr", type=float, default=DEFAULTS.learning_rate, help="learning rate (gradient step)")
    fit.add_argument("--iterations", type=int, default=DEFAULTS.iterations, help="gradient steps")
    fit.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the weights and of any shuffling")
    fit.add_argument("--validation-fraction", type=float, default=DEFAULTS.validation_fraction,
                     help="share of rows held out (stratified) to measure validation accuracy; 0: none")
    fit.add_argument("--batch-size", type=int, default=None, help="mini-batch rows; unset: every row each step")
    fit.add_argument("--l2", type=float, default=DEFAULTS.l2, help="L2 weight penalty")
    fit.add_argument("--log-every", type=int, default=DEFAULTS.log_every, help="print progress every this many steps")
    fit.add_argument("--no-plot", action="store_true", help="skip the decision-boundary PNG")
    fit.add_argument("--if-missing", action="store_true", help="do nothing if a valid version exists")
    fit.add_argument("--min-accuracy", type=_fraction, default=DEFAULT_MIN_ACCURACY,
                     help="warn when the result's accuracy (validation, else training) is below this "
                          "(0: no check)")
    fit.add_argument("--require-min-accuracy", action="store_true",
                     help="below --min-accuracy, write nothing and exit 3")
    show = commands.add_parser("list", help="show the versions on disk with their metrics")
    show.add_argument("--models-dir", default="models")
    show.add_argument("--name", default="moons")
    show.add_argument("--min-accuracy", type=_fraction, default=DEFAULT_MIN_ACCURACY,
                      help="the gate the 'gate' column applies, as the service's MIN_ACCURACY (default %(default)s)")
    prune = commands.add_parser("prune", help="delete the oldest versions beyond the newest --keep, "
                                              "never a labelled or pinned one")
    prune.add_argument("--models-dir", default="models")
    prune.add_argument("--name", default="moons")
    prune.add_argument("--keep", type=_count, required=True, help="how many of the newest versions to keep")
    prune.add_argument("--pinned", type=int, default=_pinned_from_environment(),
                       help="a version never to delete (default: MODEL_VERSION from the environment, if set)")
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    label = commands.add_parser("label", help="point a label (stable, canary, ...) at a version, or delete it")
    label.add_argument("--models-dir", default="models")
    label.add_argument("--name", default="moons")
    label.add_argument("--delete", action="store_true", help="remove LABEL instead")
    label.add_argument("--min-accuracy", type=_fraction, default=DEFAULT_MIN_ACCURACY,
                       help="refuse a version whose accuracy is below this, as the service's MIN_ACCURACY "
                            "(default %(default)s)")
    label.add_argument("label", metavar="LABEL")
    label.add_argument("version", metavar="VERSION", nargs="?", type=int)
    labels = commands.add_parser("labels", help="list the labels and the versions they point at")
    labels.add_argument("--models-dir", default="models")
    labels.add_argument("--name", default="moons")
    return parser


def _format_log(record: dict) -> str:
    train_metrics = record["train"]
    line = f"iteration {record['iteration']:4d}: {train_metrics['deviation']:.4f} {train_metrics['accuracy']:.4f}"
    if "validation" in record:
        held_out = record["validation"]
        line += f" (validation {held_out['deviation']:.4f} {held_out['accuracy']:.4f})"
    return line


def _has_valid_version(models_dir: str, name: str) -> int | None:
    for version in reversed(list_versions(models_dir, name)):
        try:
            read_model(version_path(models_dir, name, version))
            return version
        except ArtifactError:
            continue
    return None


def run_train(args) -> int:
    check_name(args.name)
    if args.if_missing and (existing := _has_valid_version(args.models_dir, args.name)) is not None:
        print(f"version {existing} of {args.name} exists in {args.models_dir}; not training")
        return 0
    config = TrainConfig(
        hidden=args.hidden, activation=args.activation, loss=args.loss, learning_rate=args.lr,
        iterations=args.iterations, seed=args.seed, batch_size=args.batch_size, l2=args.l2,
        validation_fraction=args.validation_fraction, log_every=args.log_every,
    )
    dataset = load_dataset(args.data)
    train_rows, held_out_rows = stratified_split(
        dataset.y, config.validation_fraction, np.random.default_rng(config.seed)
    )
    x, y = dataset.x[train_rows], dataset.y[train_rows]
    validation = (dataset.x[held_out_rows], dataset.y[held_out_rows]) if len(held_out_rows) else None
    started = time.perf_counter()
    result = train(x, y, config, validation, on_log=lambda record: print(_format_log(record), flush=True))
    seconds = time.perf_counter() - started
    metadata = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "activation": config.activation,
        "loss": config.loss,
        "training": config.as_dict(),
        "data": {"path": str(args.data), "sha256": dataset.sha256, "rows": dataset.rows,
                 "train_rows": len(train_rows), "validation_rows": len(held_out_rows)},
        "metrics": result.metrics,
        "history": result.history,
        "training_seconds": round(seconds, 4),
        "numpy_version": np.__version__,
        "moonserve_version": trainer.__version__,
    }
    failed_gate = gate_reason(metadata, args.min_accuracy, "--min-accuracy")
    if failed_gate and args.require_min_accuracy:
        print(f"trainer: error: {failed_gate}; nothing was written (--require-min-accuracy)", file=sys.stderr)
        return 3
    if failed_gate:
        print(f"trainer: warning: {failed_gate}; a service with MIN_ACCURACY at that will not serve it",
              file=sys.stderr)
    path, version = write_model(args.models_dir, args.name, result.layers, metadata)
    if not args.no_plot:
        from trainer.plotting import decision_boundary_png  # matplotlib loads only when needed

        picture = decision_boundary_png(result.layers, config.activation, dataset.x, dataset.y,
                                        f"{args.name} version {version}")
        write_file_atomically(path.with_suffix(".png"), picture)
    final = result.metrics["train"]
    print(f"final: deviation {final['deviation']:.4f} accuracy {final['accuracy']:.4f} in {seconds:.2f} s")
    print(f"wrote {path} (version {version})")
    return 0


def _number(section, key) -> float:
    value = section.get(key) if isinstance(section, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def run_list(args) -> int:
    versions = list_versions(args.models_dir, args.name)
    if not versions:
        print(f"no versions of {args.name} in {args.models_dir}")
        return 0
    labels_of: dict[int, list[str]] = {}
    for label, version in read_labels(model_folder(args.models_dir, args.name)).items():
        labels_of.setdefault(version, []).append(label)
    print(f"{'version':>7}  {'created_at':25}  {'layers':12}  {'accuracy':>8}  {'deviation':>9}  {'val_acc':>7}  "
          f"{'gate':8}  labels")
    for version in versions:
        labels = ",".join(sorted(labels_of.get(version, []))) or "-"
        try:
            metadata = read_model(version_path(args.models_dir, args.name, version)).metadata
        except ArtifactError as error:
            print(f"{version:>7}  unusable: {error}  labels: {labels}")
            continue
        metrics = metadata.get("metrics") if isinstance(metadata.get("metrics"), dict) else {}
        train_metrics, held_out = metrics.get("train"), metrics.get("validation")
        layers = "-".join(str(size) for size in metadata["layer_sizes"])
        val = _number(held_out, "accuracy")
        gate = "rejected" if gate_reason(metadata, args.min_accuracy) else "passes"
        print(f"{version:>7}  {str(metadata['created_at'])[:25]:25}  {layers:12}  "
              f"{_number(train_metrics, 'accuracy'):8.4f}  {_number(train_metrics, 'deviation'):9.4f}  "
              f"{'-' if val != val else f'{val:.4f}':>7}  {gate:8}  {labels}")
    return 0


def run_prune(args) -> int:
    """Delete the oldest version files beyond the ``--keep`` newest, and their pictures;
    never a labelled version nor the pinned one."""
    folder = model_folder(args.models_dir, args.name)
    versions = list_versions(args.models_dir, args.name)
    protected = set(read_labels(folder).values()) | ({args.pinned} if args.pinned else set())
    doomed = [version for version in versions[: max(len(versions) - args.keep, 0)] if version not in protected]
    for version in doomed:
        path = version_path(args.models_dir, args.name, version)
        print(f"{'would remove' if args.dry_run else 'removing'} {path}")
        if not args.dry_run:
            path.unlink(missing_ok=True)
            path.with_suffix(".png").unlink(missing_ok=True)
    kept = [version for version in versions if version not in doomed]
    print(f"{len(doomed)} version(s) {'to remove' if args.dry_run else 'removed'}; kept {kept}")
    return 0


def run_label(args) -> int:
    folder = model_folder(args.models_dir, args.name)
    label = check_label(args.label)
    if args.delete:
        if args.version is not None:
            raise UsageError("--delete takes a label only")
        with editing_labels(folder) as labels:
            if labels.pop(label, None) is None:
                raise LabelsError(f"{args.name} has no label {label!r}")
        print(f"deleted label {label} of {args.name}")
        return 0
    if args.version is None:
        raise UsageError("label needs LABEL VERSION (or --delete LABEL)")
    try:
        metadata = read_model(version_path(args.models_dir, args.name, args.version)).metadata
    except ArtifactError as error:
        raise LabelsError(f"version {args.version} of {args.name} cannot be labelled: {error}") from None
    if failed_gate := gate_reason(metadata, args.min_accuracy, "--min-accuracy"):
        raise LabelsError(f"version {args.version} of {args.name} is rejected: {failed_gate}")
    with editing_labels(folder) as labels:
        labels[label] = args.version
    print(f"label {label} of {args.name} -> version {args.version}")
    return 0


def run_labels(args) -> int:
    labels = read_labels(model_folder(args.models_dir, args.name))
    if not labels:
        print(f"{args.name} has no labels")
    for label, version in sorted(labels.items()):
        print(f"{label:>12}  {version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"train": run_train, "list": run_list, "label": run_label, "labels": run_labels,
                "prune": run_prune}[args.command](args)
    except (UsageError, ConfigError, DataError, ArtifactError, LabelsError) as error:
        print(f"trainer: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"trainer: error: {error.filename or ''}: {error.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trainer: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
