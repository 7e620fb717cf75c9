"""/openapi.json documents the whole HTTP surface, and its examples work as "Try it out"
in /docs sends them."""

from __future__ import annotations

import re

import pytest

from tests.service.conftest import write_plot
from trainer.labels import editing_labels

NOT_DOCUMENTED = {"/assets/{filename}", "/docs/", "/docs/{path}"}
"""The page's and the explorer's own files: not an API."""
SERVED_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def document(client):
    return client.get("/openapi.json").get_json()


def flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        if path not in NOT_DOCUMENTED:
            routes |= {(path, method.lower()) for method in rule.methods & SERVED_METHODS}
    return routes


def documented(document) -> set[tuple[str, str]]:
    return {(path, method) for path, operations in document["paths"].items() for method in operations}


def test_every_route_is_documented_and_every_documented_route_exists(app, document):
    assert flask_routes(app) - documented(document) == set()
    assert documented(document) - flask_routes(app) == set()
    assert {"/v1/models/{name}:predict", "/v2/models/{model_name}/infer", "/v2/repository/index", "/",
            "/docs"} <= set(document["paths"])


def test_every_reference_resolves(document):
    text = str(document)
    references = set(re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", text))
    assert references and references <= set(document["components"]["schemas"])


def _url(path: str, operation: dict) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(parameter["example"]))
    return path


@pytest.fixture
def labelled_client(models_dir, make_app, trained_layers):
    write_plot(models_dir, trained_layers)
    with editing_labels(models_dir / "moons") as labels:
        labels["stable"] = 1
    return make_app().test_client()


def test_every_example_answers_as_documented(labelled_client, document):
    """Each operation called with its own examples (path parameters and body), as a user
    pressing "Try it out" and "Execute" would: a documented status, 2xx where one is
    documented, a JSON body where JSON is documented."""
    tried = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
            response = labelled_client.open(_url(path, operation), method=method.upper(), json=body)
            documented_statuses = set(operation["responses"])
            assert str(response.status_code) in documented_statuses, (path, method, response.status_code,
                                                                      response.get_data(as_text=True)[:300])
            if any(status.startswith("2") for status in documented_statuses):
                assert 200 <= response.status_code < 300, (path, method, response.get_data(as_text=True)[:300])
            media = operation["responses"][str(response.status_code)].get("content", {})
            if "application/json" in media:
                assert response.is_json, (path, method)
            tried += 1
    assert tried == len(documented(document))


def test_the_examples_name_the_default_model(make_app):
    document = make_app(model_name="moons").test_client().get("/openapi.json").get_json()
    parameter = document["paths"]["/v2/models/{model_name}/infer"]["post"]["parameters"][0]
    assert parameter["example"] == "moons"
