"""Property-based fuzzing of POST /predict: whatever arrives, the answer is a 2xx or a
4xx with the JSON error envelope, never a 5xx."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NUMBER_SPELLINGS = ["NaN", "-NaN", "Infinity", "-Infinity", "inf", "nan", "1e999", "-1e999", "1e-999", "0x10",
                    "01", "1.", ".5", "+1", "1e", "--1", "1_000", "９"]

json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(json_leaves, lambda children: st.lists(children, max_size=5)
                           | st.dictionaries(st.text(max_size=10), children, max_size=5), max_leaves=40)
rows = st.lists(st.tuples(st.floats(allow_nan=False, allow_infinity=False, width=64),
                          st.floats(allow_nan=False, allow_infinity=False)), min_size=1, max_size=20)


def _check(response):
    assert response.status_code < 500, response.data[:500]
    if response.status_code >= 400:
        body = response.get_json()
        assert set(body) == {"error"} and isinstance(body["error"]["message"], str)
        assert set(body["error"]) == {"code", "message", "details"}
    else:
        body = response.get_json()
        assert set(body) == {"model", "predictions"}


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(value=json_values)
def test_any_json_value(client, value):
    _check(client.post("/predict", data=json.dumps(value), content_type="application/json"))
    _check(client.post("/predict", data=json.dumps({"instances": value}), content_type="application/json"))


@FUZZ
@given(instances=rows)
def test_valid_rows_always_predict(client, instances):
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == len(instances)


@FUZZ
@given(spelling=st.sampled_from(NUMBER_SPELLINGS), position=st.integers(0, 1))
def test_number_spellings(client, spelling, position):
    row = ["0.5", "0.5"]
    row[position] = spelling
    body = '{"instances": [[%s, %s]]}' % tuple(row)
    response = client.post("/predict", data=body, content_type="application/json")
    _check(response)
    if spelling != "1e-999":  # underflows to 0.0: a finite number, rightly accepted
        assert response.status_code in (400, 422)


@FUZZ
@given(raw=st.binary(max_size=300), cut=st.integers(0, 60))
def test_random_and_truncated_bodies(client, raw, cut):
    _check(client.post("/predict", data=raw, content_type="application/json"))
    valid = json.dumps({"instances": [[0.5, -0.4], [1.0, 2.0]]}).encode()
    _check(client.post("/predict", data=valid[:cut], content_type="application/json"))


@FUZZ
@given(text=st.text(max_size=50), depth=st.integers(1, 3000))
def test_unicode_keys_and_deep_nesting(client, text, depth):
    _check(client.post("/predict", data=json.dumps({text: [[1, 2]], "instances": [[1, 2]]}),
                       content_type="application/json"))
    _check(client.post("/predict", data="[" * depth + "]" * depth, content_type="application/json"))
    _check(client.post("/predict", data='{"instances": ' + "[" * depth + "1" + "]" * depth + "}",
                       content_type="application/json"))


@FUZZ
@given(content_type=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40) | st.sampled_from(["text/json", "application/jsonx", "application/json+x",
                                                            "APPLICATION/JSON", "application/json;;", ""]))
def test_content_types(client, content_type):
    response = client.post("/predict", data='{"instances": [[1, 2]]}', headers={"Content-Type": content_type})
    _check(response)


def test_duplicate_keys_take_the_last(client):
    response = client.post("/predict", data='{"instances": "x", "instances": [[1, 2]]}',
                           content_type="application/json")
    assert response.status_code == 200
