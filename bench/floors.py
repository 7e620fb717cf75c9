"""The two floors the serving benchmark measures the service against.

``bare``: a WSGI callable that reads the body and returns a fixed JSON answer.
``flask_fixed``: a Flask app that does the same through Flask's routing.
"""

from flask import Flask, Response, request

FIXED = b'{"model":{"name":"moons","version":1},"predictions":[{"label":1,"probability":0.9980603094286203}]}'


def bare(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(FIXED)))])
    return [FIXED]


flask_fixed = Flask("floor")


@flask_fixed.post("/predict")
def predict():
    request.get_data()
    return Response(FIXED, mimetype="application/json")
