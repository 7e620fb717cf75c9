"""``POST /predict`` answered before Flask, by the same code as Flask's view.

Flask's machinery around a view (the request and app contexts, URL matching, the
response object, signals) costs more per request under gunicorn than a one-row
prediction does. ``bench/service_parts.py`` (2026-12-02, wrk -c32, 2 workers): through
Flask, the service answered 0.75 of the requests per second of a Flask app returning a
fixed answer; with this path, 1.05 of them (``serve_bench.py``: 1.10), its CPU per
request 251 us instead of 363. A request takes it when nothing in it needs
Flask: ``POST`` to exactly ``/predict``, no query string (``?version=`` is read by
Flask's view), and a body ``read_body`` can read alone. Everything else, and every
other endpoint, goes to Flask.

The answer is the same to the byte either way: the body is ``views.answer_predict``'s,
the view's own, and an error's is ``errors.rendered_error``'s, which Flask's handlers
send too; the bookkeeping around both (``RequestObserver``) is the same.
"""

from __future__ import annotations

from werkzeug.http import HTTP_STATUS_CODES

from service.protocols.errors import rendered_error
from service.protocols.views import answer_predict
from service.telemetry.observability import ENDPOINT, REQUEST_ID
from service.transport.http_body import readable_without_flask

PATH = "/predict"


def takes_fast_path(environ: dict) -> bool:
    return (environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "POST"
            and not environ.get("QUERY_STRING") and readable_without_flask(environ))


def status_line(status: int) -> str:
    """As werkzeug writes it (``422 UNPROCESSABLE ENTITY``)."""
    return f"{status} {HTTP_STATUS_CODES.get(status, 'unknown').upper()}"


class PredictFastPath:
    """WSGI middleware in front of the Flask app: ordinary predictions answered here."""

    def __init__(self, flask_wsgi_app, state, answer=answer_predict):
        self.flask_wsgi_app, self.state, self.answer = flask_wsgi_app, state, answer

    def __call__(self, environ, start_response):
        if not takes_fast_path(environ):
            return self.flask_wsgi_app(environ, start_response)
        environ[ENDPOINT] = PATH  # the endpoint label Flask's matched rule would give
        try:
            status, body, headers = 200, self.answer(self.state, environ, None), []
        except Exception as error:  # any: rendered as Flask's handlers render it
            status, body, headers = rendered_error(error, PATH, environ.get(REQUEST_ID))
        start_response(status_line(status), [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body))), *headers])
        return [body]
