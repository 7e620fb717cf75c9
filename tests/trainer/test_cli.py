"""``python -m trainer``: the log, the files it writes, one-line errors."""

import re
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT, SHIPPED_DATA
from trainer.artifacts import list_versions, read_model
from trainer.cli import main


def test_train_writes_versions_with_metadata_and_plot(tmp_path, capsys):
    args = ["train", "--data", str(SHIPPED_DATA), "--models-dir", str(tmp_path), "--iterations", "1001"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:3]] == ["iteration    1", "iteration  501", "iteration 1001"]
    assert out[-1] == f"wrote {tmp_path / 'moons' / '1.npz'} (version 1)"
    assert (tmp_path / "moons" / "1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(args + ["--no-plot", "--hidden", "8,4", "--activation", "tanh", "--validation-fraction", "0.2"]) == 0
    assert not (tmp_path / "moons" / "2.png").exists()
    metadata = read_model(tmp_path / "moons" / "2.npz").metadata
    assert metadata["layer_sizes"] == [2, 8, 4, 1] and metadata["activation"] == "tanh"
    assert metadata["training"]["validation_fraction"] == 0.2 and metadata["data"]["validation_rows"] == 400
    assert set(metadata["metrics"]) == {"train", "validation"}
    assert set(metadata["metrics"]["validation"]) == {"accuracy", "deviation", "log_loss"}
    assert len(metadata["data"]["sha256"]) == 64 and metadata["data"]["rows"] == 2000
    for key in ("created_at", "numpy_version", "moonserve_version", "training_seconds", "loss", "history"):
        assert key in metadata
    assert "(validation " in capsys.readouterr().out


def test_if_missing_trains_only_once(tmp_path, capsys):
    args = ["train", "--data", str(SHIPPED_DATA), "--models-dir", str(tmp_path), "--iterations", "10",
            "--no-plot", "--if-missing"]
    assert main(args) == 0 and main(args) == 0
    assert sorted(p.name for p in (tmp_path / "moons").iterdir()) == [".versions", "1.npz"]
    assert "exists" in capsys.readouterr().out


def test_list_shows_versions_and_metrics(tmp_path, capsys):
    main(["train", "--data", str(SHIPPED_DATA), "--models-dir", str(tmp_path), "--iterations", "300", "--no-plot"])
    (tmp_path / "moons" / "2.npz").write_bytes(b"junk")
    capsys.readouterr()
    assert main(["list", "--models-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[0] == "1" and "2-3-1" in lines[1]
    assert lines[2].startswith("      2  unusable: 2.npz")


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--hidden", "3,x"], "not a comma-separated list"),
        (["train", "--hidden", "0"], "hidden must be"),
        (["train", "--activation", "softmax"], "invalid choice: 'softmax' (choose from 'sigmoid', 'tanh', 'relu')"),
        (["train", "--lr", "-1"], "learning_rate must be"),
        (["train", "--iterations", "0"], "iterations must be"),
        (["train", "--validation-fraction", "1.5"], "validation_fraction must be"),
        (["train", "--batch-size", "0"], "batch_size must be"),
        (["train", "--data", "/no/such.csv"], "/no/such.csv: no such file"),
        (["train", "--name", "../escape"], "model name '../escape'"),
        (["train", "--wat"], "unrecognized arguments: --wat"),
        (["fly"], "invalid choice"),
    ],
)
def test_errors_are_one_line_with_non_zero_exit(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "trainer", *args, "--models-dir", str(tmp_path)]
                            if args[0] == "train" else [sys.executable, "-m", "trainer", *args],
                            capture_output=True, text=True, cwd=SHIPPED_DATA.parents[1])
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr
    assert result.stderr.startswith("trainer: error: ")


def test_bad_data_row_names_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,0.1,0.2\n0,0.3,oops\n")
    result = subprocess.run([sys.executable, "-m", "trainer", "train", "--data", str(bad), "--models-dir",
                             str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == f"trainer: error: {bad}, line 2: x2 is not a number: 'oops'"
    assert not (tmp_path / "moons").exists()


def test_trained_model_classifies_deep_points_of_each_moon(tmp_path):
    main(["train", "--data", str(SHIPPED_DATA), "--models-dir", str(tmp_path), "--no-plot"])
    artifact = read_model(tmp_path / "moons" / "1.npz")
    from trainer.network import predict_proba

    upper_moon = np.array([[-0.9, 0.4], [0.0, 1.0], [0.9, 0.4]])
    lower_moon = np.array([[0.1, -0.0], [1.0, -0.5], [1.9, 0.0]])
    assert np.all(predict_proba(artifact.layers, upper_moon, "sigmoid") < 0.2)
    assert np.all(predict_proba(artifact.layers, lower_moon, "sigmoid") > 0.8)


def test_a_model_below_min_accuracy_is_written_with_a_warning_or_refused(tmp_path, capsys):
    """The example users met: ReLU hidden units at lr 5 end at chance (0.5)."""
    args = ["train", "--data", str(SHIPPED_DATA), "--models-dir", str(tmp_path), "--activation", "relu",
            "--lr", "5", "--iterations", "50", "--no-plot"]
    assert main(args + ["--require-min-accuracy"]) == 3
    error = capsys.readouterr().err
    assert "training accuracy 0.5" in error and "< --min-accuracy 0.9000" in error and "nothing was written" in error
    assert not (tmp_path / "moons").exists() or list((tmp_path / "moons").glob("*.npz")) == []
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "trainer: warning: training accuracy" in captured.err and "wrote" in captured.out
    assert main(args + ["--min-accuracy", "0"]) == 0 and "warning" not in capsys.readouterr().err
    assert main(args + ["--min-accuracy", "2"]) == 2 and "between 0 and 1" in capsys.readouterr().err


def test_validation_accuracy_is_what_the_gate_judges(tmp_path, capsys):
    args = ["train", "--data", str(SHIPPED_DATA), "--models-dir", str(tmp_path), "--iterations", "400",
            "--validation-fraction", "0.2", "--no-plot", "--min-accuracy", "0.999", "--require-min-accuracy"]
    assert main(args) == 3
    assert "validation accuracy 0." in capsys.readouterr().err


def _trained(tmp_path, count=2):
    for _ in range(count):
        assert main(["train", "--data", str(SHIPPED_DATA), "--models-dir", str(tmp_path), "--iterations", "300",
                     "--no-plot"]) == 0


def test_labels_point_at_versions_and_are_written_atomically(tmp_path, capsys):
    import json

    _trained(tmp_path)
    assert main(["label", "--models-dir", str(tmp_path), "stable", "1"]) == 0
    assert main(["label", "--models-dir", str(tmp_path), "canary", "2"]) == 0
    assert json.loads((tmp_path / "moons" / "labels.json").read_text()) == {"canary": 2, "stable": 1}
    capsys.readouterr()
    assert main(["labels", "--models-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["canary", "2", "stable", "1"]
    assert main(["label", "--models-dir", str(tmp_path), "--delete", "canary"]) == 0
    assert json.loads((tmp_path / "moons" / "labels.json").read_text()) == {"stable": 1}
    assert not [p for p in (tmp_path / "moons").iterdir() if p.name.startswith(".writing-")]


@pytest.mark.parametrize("argv, message", [
    (["label", "stable", "9"], "version 9 of moons cannot be labelled: 9.npz: no such file"),
    (["label", "Stable", "1"], "label 'Stable' must be"),
    (["label", "--delete", "nope"], "moons has no label 'nope'"),
    (["label", "stable"], "label needs LABEL VERSION"),
    (["label", "stable", "1", "--min-accuracy", "0.999"], "version 1 of moons is rejected: training accuracy"),
])
def test_label_mistakes_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    _trained(tmp_path, count=1)
    capsys.readouterr()
    assert main(argv[:1] + ["--models-dir", str(tmp_path)] + argv[1:]) == 2
    error = capsys.readouterr().err
    assert error.startswith("trainer: error: ") and message in error and error.count("\n") == 1, error


def test_prune_keeps_the_newest_and_every_labelled_or_pinned_version(tmp_path, capsys, monkeypatch):
    _trained(tmp_path, count=6)
    for version in (1, 3):
        (tmp_path / "moons" / f"{version}.png").write_bytes(b"png")
    assert main(["label", "--models-dir", str(tmp_path), "stable", "2"]) == 0
    capsys.readouterr()
    assert main(["prune", "--models-dir", str(tmp_path), "--keep", "2", "--pinned", "1", "--dry-run"]) == 0
    assert "would remove" in capsys.readouterr().out and list_versions(tmp_path, "moons") == [1, 2, 3, 4, 5, 6]
    assert main(["prune", "--models-dir", str(tmp_path), "--keep", "2", "--pinned", "1"]) == 0
    out = capsys.readouterr().out
    assert list_versions(tmp_path, "moons") == [1, 2, 5, 6] and "removing" in out and "3.npz" in out
    assert not (tmp_path / "moons" / "3.png").exists() and (tmp_path / "moons" / "1.png").exists()
    monkeypatch.setenv("MODEL_VERSION", "5")
    assert main(["prune", "--models-dir", str(tmp_path), "--keep", "0"]) == 0  # the pin from the environment
    assert list_versions(tmp_path, "moons") == [2, 5]
    assert main(["prune", "--models-dir", str(tmp_path), "--keep", "-1"]) == 2


def test_list_shows_labels_and_the_gate(tmp_path, capsys):
    _trained(tmp_path, count=2)
    assert main(["label", "--models-dir", str(tmp_path), "canary", "2"]) == 0
    capsys.readouterr()
    assert main(["list", "--models-dir", str(tmp_path), "--min-accuracy", "0.999"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-2:] == ["gate", "labels"]
    assert lines[1].split()[-2:] == ["rejected", "-"] and lines[2].split()[-2:] == ["rejected", "canary"]


def test_list_survives_odd_metadata(tmp_path, capsys):
    from trainer.artifacts import write_model
    from trainer.network import init_layers

    write_model(tmp_path, "moons", init_layers([2, 3, 1], np.random.RandomState(0)),
                {"created_at": ["not", "a", "date"], "activation": "sigmoid", "metrics": [1, 2]})
    assert main(["list", "--models-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-2:] == ["rejected", "-"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "trainer", *args], capture_output=True, text=True, timeout=60,
                          cwd=PROJECT_ROOT)


def test_help_says_what_the_tool_does_and_lists_every_command():
    result = _cli("--help")
    assert result.returncode == 0 and "Train the two-moons network" in result.stdout
    for command in ("train", "list", "prune", "label", "labels"):
        assert re.search(rf"^\s+{command}\s+\w", result.stdout, re.M), command
    assert "``" not in result.stdout  # not an internal docstring


def test_train_help_shows_every_flags_default_and_the_choices():
    text = _cli("train", "--help").stdout.split("\noptions:\n", 1)[1]
    assert "--activation {sigmoid,tanh,relu}" in text and "--loss {half_squared_error,cross_entropy}" in text
    flags = re.findall(r"^  (--[a-z-]+)", text, re.M)
    assert len(flags) >= 15
    for flag in set(flags) - {"--no-plot", "--if-missing", "--require-min-accuracy"}:
        block = text.split(f"\n  {flag}", 1)[1].split("\n  --", 1)[0]
        assert "(default:" in block, flag
    assert "(default: 0.05)" in text and "(default: 5000)" in text and "(default: 3)" in text


def test_version_prints_the_version():
    import trainer

    result = _cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"python -m trainer {trainer.__version__}"
