"""``/``: the served models, each with its picture and a click-to-predict plane; ``/docs``:
Swagger UI on ``/openapi.json``, from the flask-swagger-ui package (its files are in
the wheel: no CDN, nothing fetched at run time)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_swagger_ui import get_swaggerui_blueprint

import trainer

from service.models.pictures import PLANE_BYTES, plot_path, read_plot
from service.pages.cards import model_card
from service.protocols.views import model_entry
from service.protocols.web import service_state
from trainer.plot_geometry import read_plane

pages = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/assets")
docs = get_swaggerui_blueprint("/docs", "/openapi.json", config={
    "app_name": "Moonserve API", "tryItOutEnabled": True, "displayRequestDuration": True,
    "defaultModelsExpandDepth": 0}, blueprint_name="docs")

PAGE_POLICY = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
"""The page loads only its own files: what a model file's metadata says cannot become script."""


def _plane(name: str, version: int | None):
    if version is None:
        return None
    picture = read_plot(plot_path(service_state().settings.models_dir, name, version), PLANE_BYTES)
    return read_plane(picture) if picture else None


@pages.get("/")
def index():
    state = service_state()
    default_model = state.settings.model_name
    cards = []
    for snapshot in state.repository.snapshot.models.values():
        entry = model_entry(snapshot)
        cards.append(model_card(entry, default_model, _plane(snapshot.name, entry["served_version"])))
    html = render_template("moonserve_index.html", cards=cards, grafana_url=state.settings.grafana_url,
                           version=trainer.__version__)
    return html, 200, {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"}
