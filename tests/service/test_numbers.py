"""Every finite row gets a finite probability in [0, 1] in a 200, and the same answer
alone or in a batch, through /predict and V2, JSON and binary. Rows near the double
range gave "probability": null, and another label inside a larger batch."""

import json
import math
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

finite = st.floats(allow_nan=False, allow_infinity=False)
rows = st.lists(st.tuples(finite, finite), min_size=1, max_size=5)
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PADDING = np.random.default_rng(0).normal(size=(30, 2)).tolist()  # past the 24 rows of the Python-float path


def _predict(client, instances):
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200, response.data[:300]
    return [(p["label"], p["probability"]) for p in response.get_json()["predictions"]]


def _v2(client, instances, binary=False):
    parameters = {"binary_data_output": False}
    if binary:
        raw = np.array(instances, dtype="<f8").tobytes()
        header = json.dumps({"inputs": [{"name": "X", "shape": [len(instances), 2], "datatype": "FP64",
                                         "parameters": {"binary_data_size": len(raw)}}],
                             "parameters": parameters}).encode()
        response = client.post("/v2/models/moons/infer", data=header + raw,
                               headers={"Inference-Header-Content-Length": str(len(header))})
    else:
        response = client.post("/v2/models/moons/infer", data=json.dumps({
            "inputs": [{"name": "X", "shape": [len(instances), 2], "datatype": "FP64", "data": instances}],
            "parameters": parameters}))
    assert response.status_code == 200, response.data[:300]
    outputs = {o["name"]: o["data"] for o in response.get_json()["outputs"]}
    return list(zip(outputs["label"], outputs["probability"]))


@FUZZ
@given(instances=rows)
def test_any_finite_rows_answer_the_same_alone_and_in_a_batch_in_both_protocols(client, instances):
    alone = [_predict(client, [row])[0] for row in instances]
    for label, probability in alone:
        assert math.isfinite(probability) and 0.0 <= probability <= 1.0 and label == int(probability >= 0.5)
    assert _predict(client, [list(row) for row in instances]) == alone
    assert _predict(client, PADDING + [list(row) for row in instances])[len(PADDING):] == alone
    assert _v2(client, [list(row) for row in instances]) == alone
    assert _v2(client, PADDING + [list(row) for row in instances], binary=True)[len(PADDING):] == alone


def test_the_reported_rows(client):
    extremes = [[1e308, 1e308], [-1.7976931348623157e308, 1.7976931348623157e308], [1e308, -1e308]]
    alone = [_predict(client, [row])[0] for row in extremes]
    assert all(probability is not None and 0 <= probability <= 1 for _, probability in alone)
    assert _predict(client, PADDING + extremes)[len(PADDING):] == alone
