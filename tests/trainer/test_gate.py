"""The promotion gate's rule on a version's recorded metrics."""

from trainer.gate import gate_reason, recorded_accuracy


def test_validation_accuracy_is_judged_when_recorded_else_training():
    both = {"metrics": {"train": {"accuracy": 0.99}, "validation": {"accuracy": 0.85}}}
    assert recorded_accuracy(both) == ("validation", 0.85)
    assert gate_reason(both, 0.9) == "validation accuracy 0.8500 < MIN_ACCURACY 0.9000"
    train_only = {"metrics": {"train": {"accuracy": 0.5}}}
    assert gate_reason(train_only, 0.9) == "training accuracy 0.5000 < MIN_ACCURACY 0.9000"
    assert gate_reason({"metrics": {"train": {"accuracy": 0.95}}}, 0.9) is None


def test_no_recorded_accuracy_fails_an_active_gate_and_zero_turns_it_off():
    for metadata in ({}, {"metrics": None}, {"metrics": {"train": {"accuracy": "high"}}},
                     {"metrics": {"train": {"accuracy": True}}}, {"metrics": {"train": {"accuracy": float("nan")}}}):
        assert gate_reason(metadata, 0.9).startswith("no recorded accuracy"), metadata
        assert gate_reason(metadata, 0) is None
    assert gate_reason({"metrics": {"train": {"accuracy": 0.1}}}, 0.5, "--min-accuracy").endswith("--min-accuracy 0.5000")
