"""``POST /predict``'s fast path answers as Flask's view does, to the byte.

Two apps on one models folder: the service as built (the fast path in front of Flask)
and the same with the fast path taken out. Every request of a corpus of good and bad
bodies gets the same status, headers and body from both, the same metrics and the
same access lines; and the fast path really answered them (Flask was not called).
"""

from __future__ import annotations

import gzip
import json
import logging
import re

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.protocols import views
from service.protocols.predict_fast_path import PredictFastPath, status_line, takes_fast_path
from service.settings import Settings
from tests.service.conftest import write_version

ROW = [0.5, -0.4]
JSON = {"Content-Type": "application/json"}
AS_GUNICORN = {"wsgi.input_terminated": True}
"""gunicorn marks where every body ends, chunked or not."""
CORPUS = {
    "one row": (orjson.dumps({"instances": [ROW]}), JSON),
    "30 rows (NumPy)": (orjson.dumps({"instances": [ROW, [1.5, 0.2]] * 15}), JSON),
    "a version": (orjson.dumps({"instances": [ROW], "version": 1}), JSON),
    "the stable label": (orjson.dumps({"instances": [ROW], "version": "stable"}), JSON),
    "a version not loaded": (orjson.dumps({"instances": [ROW], "version": 7}), JSON),
    "a label nobody set": (orjson.dumps({"instances": [ROW], "version": "canary"}), JSON),
    "charset parameter": (orjson.dumps({"instances": [ROW]}), {"Content-Type": "application/json; charset=utf-8"}),
    "gzip": (gzip.compress(orjson.dumps({"instances": [ROW]})), JSON | {"Content-Encoding": "gzip"}),
    "broken gzip": (b"\x1f\x8b not really", JSON | {"Content-Encoding": "gzip"}),
    "unknown encoding": (b"{}", JSON | {"Content-Encoding": "br"}),
    "text/plain": (orjson.dumps({"instances": [ROW]}), {"Content-Type": "text/plain"}),
    "no content type": (orjson.dumps({"instances": [ROW]}), {}),
    "empty body": (b"", JSON),
    "blank body": (b"  \n ", JSON),
    "not JSON": (b'{"instances": [[0.5, ', JSON),
    "NaN": (b'{"instances": [[NaN, 1.0]]}', JSON),
    "too large a number": (b'{"instances": [[1e400, 1.0]]}', JSON),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, JSON),
    "a list": (b"[1, 2]", JSON),
    "no instances": (b'{"rows": [[0.5, -0.4]]}', JSON),
    "no rows": (b'{"instances": []}', JSON),
    "three values": (b'{"instances": [[1, 2, 3]]}', JSON),
    "strings": (b'{"instances": [["a", "b"]], "version": -1}', JSON),
    "many problems": (orjson.dumps({"instances": [["x", None]] * 50}), JSON),
    "many unknown keys": (orjson.dumps({"instances": [ROW]} | {f"k{i}": i for i in range(40)}), JSON),
    "over MAX_BATCH": (orjson.dumps({"instances": [ROW] * 41}), JSON),
    "over MAX_BODY_BYTES": (b'{"instances": [' + b"[0.5, -0.4]," * 500 + b"[0.5, -0.4]]}", JSON),
}


def _through_flask(app):
    """``app`` with the fast path taken out: every request goes to Flask."""
    app.wsgi_app.wsgi_app = app.wsgi_app.wsgi_app.flask_wsgi_app
    return app


def _apps(make_app):
    """The service, and the same service with the fast path taken out; and a list
    that gets an entry each time the first one hands a request to Flask."""
    settings = {"max_batch": 40, "max_body_bytes": 4096}
    fast, flask_only = make_app(**settings), _through_flask(make_app(**settings))
    fast_path = fast.wsgi_app.wsgi_app
    assert isinstance(fast_path, PredictFastPath)
    handed = []
    flask_app = fast_path.flask_wsgi_app

    def counting(environ, start_response):
        handed.append(environ["PATH_INFO"])
        return flask_app(environ, start_response)

    fast_path.flask_wsgi_app = counting
    return fast, flask_only, handed


def _answer(client, name, body, headers, query=""):
    response = client.post("/predict" + query, data=body, headers=headers | {"X-Request-ID": "id-" + re.sub(r"[^A-Za-z0-9]", "-", name)},
                           environ_base=AS_GUNICORN)
    return response.status, list(response.headers.items()), response.data


def _prediction_samples(client) -> dict:
    text = client.get("/metrics").get_data(as_text=True)
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name in ("moonserve_requests_total", "moonserve_predictions_total",
                               "moonserve_prediction_request_rows_count", "moonserve_request_duration_seconds_count")
            and sample.labels.get("endpoint", "/predict") == "/predict"}


def _access_lines(text: str) -> list[tuple]:
    lines = [json.loads(line) for line in text.splitlines() if '"moonserve.access"' in line and "/metrics" not in line]
    return [(line["request_id"], line["method"], line["path"], line["status"], line["model"], line["model_version"])
            for line in lines]


def test_every_request_of_the_corpus_gets_the_same_answer_metrics_and_log_lines(make_app, capfd):
    fast, flask_only, handed = _apps(make_app)
    capfd.readouterr()
    answers = {}
    for label, client in (("fast", fast.test_client()), ("flask", flask_only.test_client())):
        answers[label] = {name: _answer(client, name, body, headers) for name, (body, headers) in CORPUS.items()}
        answers[label]["metrics"] = _prediction_samples(client)
        answers[label]["log"] = _access_lines(capfd.readouterr().err)
    for name in CORPUS:
        assert answers["fast"][name] == answers["flask"][name], name
    assert answers["fast"]["log"] == answers["flask"]["log"] and len(answers["fast"]["log"]) == len(CORPUS)
    assert answers["fast"]["metrics"] == answers["flask"]["metrics"]
    statuses = {answers["fast"][name][0][:3] for name in CORPUS}
    assert statuses >= {"200", "400", "404", "413", "415", "422"}, "the corpus must reach every kind of answer"
    assert handed == ["/metrics"], "the fast path handed a request of the corpus to Flask"


def test_an_unexpected_error_is_the_same_500_envelope_and_is_logged(make_app, monkeypatch, caplog):
    fast, flask_only, _ = _apps(make_app)

    def broken(model, rows):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "predict_lists", broken)
    with caplog.at_level(logging.ERROR, logger="moonserve.errors"):
        got = [_answer(app.test_client(), "bug", *CORPUS["one row"]) for app in (fast, flask_only)]
    assert got[0] == got[1] and got[0][0] == "500 INTERNAL SERVER ERROR"
    assert orjson.loads(got[0][2])["error"]["code"] == "internal_error" and b"a bug" not in got[0][2]
    logged = [(record.getMessage(), record.fields["request_id"], str(record.exc_info[1])) for record in caplog.records
              if record.name == "moonserve.errors"]
    assert logged == [("unhandled error", "id-bug", "a bug")] * 2


def test_no_model_is_the_same_503(tmp_path):
    apps = [create_app(Settings(models_dir=tmp_path, reload_interval_s=0, access_log_flush_s=0), start_reloader=False) for _ in range(2)]
    _through_flask(apps[1])
    got = [_answer(app.test_client(), "none", *CORPUS["one row"]) for app in apps]
    assert got[0] == got[1] and got[0][0] == "503 SERVICE UNAVAILABLE"


def test_a_query_string_or_another_method_goes_to_flask_with_the_same_answer(make_app, models_dir, trained_layers):
    write_version(models_dir, trained_layers)
    fast, flask_only, handed = _apps(make_app)
    body, headers = CORPUS["one row"]
    for query in ("?version=2", "?version=0", "?version=stable"):
        assert _answer(fast.test_client(), query, body, headers, query) == \
            _answer(flask_only.test_client(), query, body, headers, query)
    got = [app.test_client().get("/predict") for app in (fast, flask_only)]
    assert got[0].status == got[1].status == "405 METHOD NOT ALLOWED" and got[0].headers["Allow"] == got[1].headers["Allow"]
    assert handed == ["/predict"] * 4


@pytest.mark.parametrize("environ, taken", [
    ({"PATH_INFO": "/predict", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "12"}, True),
    ({"PATH_INFO": "/predict", "REQUEST_METHOD": "POST", "wsgi.input_terminated": True,
      "HTTP_TRANSFER_ENCODING": "chunked"}, True),  # gunicorn's chunked bodies
    ({"PATH_INFO": "/predict", "REQUEST_METHOD": "POST", "HTTP_TRANSFER_ENCODING": "chunked"}, False),
    ({"PATH_INFO": "/predict", "REQUEST_METHOD": "POST"}, False),  # no length: Flask reads it
    ({"PATH_INFO": "/predict", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "12", "QUERY_STRING": "version=1"}, False),
    ({"PATH_INFO": "/predict/", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "12"}, False),
    ({"PATH_INFO": "/predict", "REQUEST_METHOD": "PUT", "CONTENT_LENGTH": "12"}, False),
    ({"PATH_INFO": "/v2/models/moons/infer", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "12"}, False),
])
def test_which_requests_take_the_fast_path(environ, taken):
    assert takes_fast_path(environ) is taken


def test_status_lines_are_werkzeugs():
    assert [status_line(code) for code in (200, 413, 422, 599)] == [
        "200 OK", "413 REQUEST ENTITY TOO LARGE", "422 UNPROCESSABLE ENTITY", "599 UNKNOWN"]
