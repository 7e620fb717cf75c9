"""The models page at / and the explorer at /docs, through the Flask test client (the
browser tests, test_browser.py, click on them in a real Chromium)."""

from __future__ import annotations

import html.parser
import json

import pytest
from pydantic import ValidationError

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import flipped, write_plot, write_version
from trainer.artifacts import write_model
from trainer.labels import editing_labels


class Page(html.parser.HTMLParser):
    """Every tag with its attributes, and the text, of an HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, **attributes) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag
                and all(attrs.get(key.replace("_", "-")) == value for key, value in attributes.items())]


@pytest.fixture
def page_models(two_models, trained_layers):
    write_plot(two_models, trained_layers, "moons", 1)
    write_plot(two_models, flipped(trained_layers), "other", 2)
    with editing_labels(two_models / "other") as labels:
        labels["stable"], labels["canary"] = 2, 1
    return two_models


def test_the_page_shows_every_model_with_its_picture_and_where_to_predict(make_app, page_models):
    response = make_app().test_client().get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = Page(response.get_data(as_text=True))
    sections = page.find("section")
    assert [s["data-model"] for s in sections] == ["moons", "other"]
    moons, other = (page.find("img", src=f"/models/{name}/{version}/plot.png")[0]
                    for name, version in (("moons", 1), ("other", 2)))
    assert moons["data-predict"] == "/predict?version=1"
    assert other["data-predict"] == "/v1/models/other/versions/2:predict"
    plane = json.loads(moons["data-plane"])
    assert plane["box"] == [0.11, 0.11, 0.64, 0.78] and plane["x1"][0] < plane["x1"][1]
    text = " ".join(page.text)
    assert "stable" in text and "canary \u2192 1" in text and "2: served" in text and "1: loaded" in text
    assert "Accuracy" in text and "0.95" in text and "2-3-1" in text  # other: accuracy recorded as 0.95


def test_every_address_on_the_page_is_the_service_own(make_app, page_models):
    response = make_app().test_client().get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    page = Page(response.get_data(as_text=True))
    addresses = [attrs.get("src") or attrs.get("href") for tag in ("script", "link", "img", "a")
                 for attrs in page.find(tag)]
    assert addresses and all(address.startswith("/") for address in addresses), addresses
    client = make_app().test_client()
    for address in addresses:
        if address != "/metrics":
            with client.get(address) as answer:
                assert answer.status_code == 200, address


def test_the_grafana_link_is_there_only_when_configured(make_app, page_models):
    assert not Page(make_app().test_client().get("/").get_data(as_text=True)).find("a", id="grafana")
    page = Page(make_app(grafana_url="http://localhost:3000/d/moonserve").test_client().get("/").get_data(as_text=True))
    assert page.find("a", id="grafana")[0]["href"] == "http://localhost:3000/d/moonserve"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "localhost:3000", "http://x/\"onmouseover=\"", "ftp://x"])
def test_a_grafana_url_that_is_not_a_web_address_is_refused(url, tmp_path):
    with pytest.raises(ValidationError, match="grafana_url"):
        Settings(models_dir=tmp_path, grafana_url=url)


def test_what_a_model_file_says_is_text_on_the_page_never_markup(make_app, models_dir, trained_layers):
    hostile = "<script>alert(1)</script>" + "x" * 500
    write_model(models_dir, "moons", trained_layers, {
        "activation": "sigmoid", "loss": "half_squared_error", "created_at": hostile,
        "training": {"activation": hostile, "learning_rate": 0.05},
        "metrics": {"train": {"accuracy": 0.97}}})
    body = make_app().test_client().get("/").get_data(as_text=True)
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "x" * 100 not in body  # shown up to 80 characters


def test_a_model_with_nothing_served_and_a_picture_without_a_plane(make_app, models_dir, trained_layers):
    write_version(models_dir, trained_layers, name="weak", accuracy=0.5)
    (models_dir / "moons" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a picture from before the plane chunk
    response = make_app().test_client().get("/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Nothing is served" in body and "rejected" in body
    assert "retrain to click on it" in body
    assert not Page(body).find("img", data_predict="/predict?version=1")


def test_the_page_with_no_model_at_all(tmp_path):
    settings = Settings(models_dir=tmp_path / "empty", reload_interval_s=0)
    response = create_app(settings, start_reloader=False).test_client().get("/")
    assert response.status_code == 200 and "Nothing is served" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_docs_is_swagger_ui_on_the_openapi_document_from_the_package(client, path):
    response = client.get(path)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "/openapi.json" in body and "swagger-ui-bundle.js" in body
    page = Page(body)
    scripts = [attrs["src"] for attrs in page.find("script") if "src" in attrs]
    assert scripts and all(src.startswith("/docs/") for src in scripts), scripts
    for src in scripts:
        with client.get(src) as answer:
            assert answer.status_code == 200 and answer.mimetype == "text/javascript"


def test_the_app_serves_no_static_folder_of_its_own(client):
    assert client.get("/static/app.py").status_code == 404
