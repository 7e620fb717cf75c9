"""Small pieces both HTTP front ends (``views`` and ``v2``) use."""

from __future__ import annotations

import re

import orjson
from flask import Response, current_app

from trainer.labels import LABEL_NAME

VERSION_TEXT = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)
"""A model version as it may appear in a URL or query: a positive integer in ASCII
digits, no sign, no space, no leading zero, small enough for an int64. Use it with
``fullmatch``: ``$`` would let a trailing newline through."""


def version_or_label(text: str) -> int | str | None:
    """A version number or a label as a request spells it; None when it is neither."""
    if VERSION_TEXT.fullmatch(text):
        return int(text)
    return text if LABEL_NAME.fullmatch(text) else None


def service_state():
    """The app's ``ServiceState`` (see ``app.py``)."""
    return current_app.extensions["moonserve"]


def json_response(payload, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")
