"""KServe's V1 protocol, which is TF Serving's REST API: requests in, answers out.

Pure functions. A predict body is ``{"instances": [...]}`` (row format: each instance
``[x1, x2]`` or ``{"X": [x1, x2]}``) or ``{"inputs": ...}`` (columnar: ``[[x1, x2],
...]`` or ``{"X": [[x1, x2], ...]}``), optionally with ``"signature_name":
"serving_default"``. Every problem is a ``V1BadRequest`` saying what is wrong and
where; the answer has the two named outputs in the request's format.
"""

from __future__ import annotations

import math

import orjson

INPUT_NAME = "X"
SIGNATURE = "serving_default"
_KEYS = frozenset({"instances", "inputs", "signature_name"})


class V1BadRequest(ValueError):
    """A client mistake in a V1 request; rendered as ``{"error": message}``, 400."""


def _number(value, where: str) -> float:
    if type(value) not in (int, float) or (type(value) is float and not math.isfinite(value)):
        raise V1BadRequest(f"{where} must be a finite number, got {_short(value)}")
    return float(value)  # orjson reads integers of at most 64 bits: always a finite double


def _short(value) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 40 else text[:40] + "..."


def _row(value, where: str) -> list[float]:
    if isinstance(value, dict):
        if set(value) != {INPUT_NAME}:
            raise V1BadRequest(f"{where} must name the one input {INPUT_NAME!r}, got {sorted(value)[:5]}")
        value, where = value[INPUT_NAME], f"{where}.{INPUT_NAME}"
    if not isinstance(value, list) or len(value) != 2:
        raise V1BadRequest(f"{where} must be [x1, x2], got {_short(value)}")
    return [_number(value[0], f"{where}[0]"), _number(value[1], f"{where}[1]")]


def _rows(values, where: str, max_batch: int) -> list[list[float]]:
    if not isinstance(values, list) or not 1 <= len(values) <= max_batch:
        raise V1BadRequest(f"{where} must be a list of 1 to {max_batch} rows, got "
                           f"{len(values) if isinstance(values, list) else _short(values)}"
                           f"{' rows' if isinstance(values, list) else ''}")
    return [_row(value, f"{where}[{index}]") for index, value in enumerate(values)]


def parse_predict(body: bytes, max_batch: int) -> tuple[list[list[float]], bool]:
    """``(rows, columnar)`` of a predict request."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise V1BadRequest(f"the body is not valid JSON: {error}") from None
    if not isinstance(request, dict):
        raise V1BadRequest("the body must be a JSON object with \"instances\" or \"inputs\"")
    unknown = sorted(set(request) - _KEYS)
    if unknown:
        raise V1BadRequest(f"unknown key {unknown[0][:40]!r}; a predict request has instances or inputs "
                           "and optionally signature_name")
    signature = request.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise V1BadRequest(f"Serving signature name: {_short(signature)} not found in signature def "
                           f"(the model has {SIGNATURE!r})")
    if ("instances" in request) == ("inputs" in request):
        raise V1BadRequest("the body must have exactly one of \"instances\" (row format) or \"inputs\" (columnar)")
    if "instances" in request:
        return _rows(request["instances"], "instances", max_batch), False
    inputs = request["inputs"]
    if isinstance(inputs, dict):
        if set(inputs) != {INPUT_NAME}:
            raise V1BadRequest(f"inputs must name the one input {INPUT_NAME!r}, got {sorted(inputs)[:5]}")
        return _rows(inputs[INPUT_NAME], f"inputs.{INPUT_NAME}", max_batch), True
    return _rows(inputs, "inputs", max_batch), True


def predict_answer(probabilities: list[float], labels: list[int], columnar: bool) -> bytes:
    """TF Serving's answer for a model with two named outputs, in the request's format."""
    if columnar:
        return orjson.dumps({"outputs": {"label": labels, "probability": probabilities}})
    return orjson.dumps({"predictions": [{"label": label, "probability": probability}
                                         for label, probability in zip(labels, probabilities)]})


def _tensor_info(name: str, dtype: str, dims: list[int]) -> dict:
    return {"dtype": dtype, "tensor_shape": {"dim": [{"size": str(size), "name": ""} for size in dims],
                                             "unknown_rank": False}, "name": f"{name}:0"}


def metadata_answer(name: str, version: int) -> dict:
    """TF Serving's ``GET /v1/models/<name>/metadata``: the one signature."""
    signature = {
        "inputs": {INPUT_NAME: _tensor_info(INPUT_NAME, "DT_DOUBLE", [-1, 2])},
        "outputs": {"probability": _tensor_info("probability", "DT_DOUBLE", [-1]),
                    "label": _tensor_info("label", "DT_INT64", [-1])},
        "method_name": "tensorflow/serving/predict",
    }
    return {"model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}}}


def version_status(version: int, state: str, error_code: str = "OK", message: str = "") -> dict:
    """One entry of TF Serving's ``model_version_status``."""
    return {"version": str(version), "state": state, "status": {"error_code": error_code, "error_message": message}}
