"""The labels file: validated when read, whatever it holds; edits never lost."""

import json
import multiprocessing
import os

import pytest

from trainer.labels import LabelsError, editing_labels, parse_labels, read_labels


@pytest.mark.parametrize("content, reason", [
    (b"{", "not JSON"), (b"\xff\xfe", "not JSON"), (b"[1]", "JSON object"), (b'{"stable": "3"}', "not a version"),
    (b'{"stable": 0}', "not a version"), (b'{"stable": true}', "not a version"), (b'{"Stable": 1}', "must be"),
    (b'{"stable": 1e3}', "not a version"), (b"[" * 60_000, "not JSON"),
    (json.dumps({f"l{i}": 1 for i in range(101)}).encode(), "at most 100"),
    (b" " * 70_000, "over the"),
])
def test_a_malformed_labels_file_is_one_bounded_reason(content, reason):
    with pytest.raises(LabelsError, match=reason) as caught:
        parse_labels(content)
    assert "\n" not in str(caught.value) and len(str(caught.value)) <= 300


def test_no_file_is_no_labels_and_a_fifo_does_not_block(tmp_path):
    assert read_labels(tmp_path) == {}
    os.mkfifo(tmp_path / "labels.json")
    with pytest.raises(LabelsError, match="not a regular file"):
        read_labels(tmp_path)


def _label(args):
    folder, index = args
    with editing_labels(folder) as labels:
        labels[f"l{index}"] = index + 1


def test_concurrent_edits_are_all_kept(tmp_path):
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_label, [(tmp_path, index) for index in range(24)])
    assert read_labels(tmp_path) == {f"l{index}": index + 1 for index in range(24)}
