"""Loading validates and names the file and line of every problem."""

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT, SHIPPED_DATA
from trainer.data import DataError, load_dataset, stratified_split


def _write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("1,0.5,0.5\n0,0.1\n", "line 2: expected 3 columns label,x1,x2, found 2"),
        ("1,0.5,0.5,9\n", "line 1: expected 3 columns"),
        ("1,0.5,abc\n0,1,1\n", "line 1: x2 is not a number: 'abc'"),
        ("1,0.5,0.5\n0,nan,1\n", "line 2: x1 is not finite: 'nan'"),
        ("1,0.5,0.5\n0,1,-inf\n", "line 2: x2 is not finite"),
        ("1,0.5,0.5\n2,1,1\n", "line 2: label must be 0 or 1, found '2'"),
        ("1,0.5,0.5\n0.5,1,1\n", "line 2: label must be 0 or 1"),
        ("1,0.5,0.5\n1,1,1\n", "every row has label 1; two classes are needed"),
    ],
)
def test_bad_files_fail_with_file_and_line(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as caught:
        load_dataset(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_file_folder_and_binary(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(tmp_path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not UTF-8"):
        load_dataset(binary)


def test_good_file_parses_with_hash(tmp_path):
    data = load_dataset(_write(tmp_path, "1,0.5,-0.25\n0,1e-3,2\n"))
    assert data.rows == 2 and data.x.shape == (2, 2) and data.y.shape == (2, 1)
    assert data.y[:, 0].tolist() == [1.0, 0.0] and data.x[1].tolist() == [0.001, 2.0]
    assert len(data.sha256) == 64


def test_stratified_split_holds_out_each_class_in_proportion(rng):
    y = np.array([0] * 100 + [1] * 60, dtype=float).reshape(-1, 1)
    train, held_out = stratified_split(y, 0.25, rng)
    assert len(np.intersect1d(train, held_out)) == 0 and len(train) + len(held_out) == 160
    assert (y[held_out] == 0).sum() == 25 and (y[held_out] == 1).sum() == 15
    everything, nothing = stratified_split(y, 0.0, rng)
    assert everything.tolist() == list(range(160)) and len(nothing) == 0


def test_shipped_data_is_what_the_generator_makes(tmp_path, shipped_data):
    out = tmp_path / "regenerated.csv"
    subprocess.run([sys.executable, str(PROJECT_ROOT / "data" / "make_moons.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == SHIPPED_DATA.read_bytes()
    assert shipped_data.rows == 2000 and int(shipped_data.y.sum()) == 1000
