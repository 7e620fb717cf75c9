"""Open Inference Protocol (V2) requests and responses, JSON and binary tensors.

Pure functions: bytes and headers in, a validated ``(n, 2)`` float64 array out; the
model's answers in, response bytes and headers out. Every problem is a
``V2BadRequest`` whose message says what is wrong and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

INPUT_NAME = "X"
OUTPUTS = ("probability", "label")
FLOAT_TYPES = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}
HEADER_LENGTH = "Inference-Header-Content-Length"
_DIGITS = re.compile(r"[0-9]{1,18}")  # str.isdigit() also takes "²", which int() then refuses

Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class V2BadRequest(ValueError):
    """A client mistake in a V2 request; rendered as ``{"error": message}``, 400."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class InferInput(_Loose):
    name: str
    shape: list[Annotated[int, Field(strict=True, ge=0)]]
    datatype: str
    parameters: dict | None = None
    data: list[Finite] | list[list[Finite]] | None = None


class RequestedOutput(_Loose):
    name: str
    parameters: dict | None = None


class InferRequest(_Loose):
    id: str | None = None
    parameters: dict | None = None
    inputs: Annotated[list[InferInput], Field(min_length=1)]
    outputs: list[RequestedOutput] | None = None


@dataclass(frozen=True)
class OutputRequest:
    binary: bool
    classification: int = 0
    """Top classes asked for (the classification extension); 0: the plain tensor."""


@dataclass(frozen=True)
class ParsedInfer:
    rows: np.ndarray  # (n, 2) float64
    request_id: str | None
    outputs: dict[str, OutputRequest]  # requested output name -> how it is sent


def _loc(parts) -> str:
    return ".".join(str(part) for part in parts) or "body"


def parse_infer(body: bytes, header_length: str | None, max_batch: int) -> ParsedInfer:
    """Parse a JSON or binary-extension infer request into rows for the model."""
    json_part, binary_part = _split(body, header_length)
    try:
        request = InferRequest.model_validate_json(json_part)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        raise V2BadRequest(f"invalid inference request at {_loc(first['loc'])}: {first['msg']}") from None
    if len(request.inputs) != 1 or request.inputs[0].name != INPUT_NAME:
        names = [tensor.name for tensor in request.inputs]
        raise V2BadRequest(f"expected exactly one input named {INPUT_NAME!r}, got {names}")
    tensor = request.inputs[0]
    rows = _input_rows(tensor, binary_part, max_batch)
    return ParsedInfer(rows, request.id, _requested_outputs(request))


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    if not _DIGITS.fullmatch(header_length) or not 0 < int(header_length) <= len(body):
        raise V2BadRequest(f"{HEADER_LENGTH} must be a whole number from 1 to the body's {len(body)} bytes, "
                           f"got {header_length!r}")
    return body[: int(header_length)], body[int(header_length):]


def _input_rows(tensor: InferInput, binary: bytes, max_batch: int) -> np.ndarray:
    dtype = FLOAT_TYPES.get(tensor.datatype)
    if dtype is None:
        raise V2BadRequest(f"input {INPUT_NAME}: datatype must be FP32 or FP64, got {tensor.datatype!r}")
    if len(tensor.shape) != 2 or tensor.shape[1] != 2 or not 1 <= tensor.shape[0] <= max_batch:
        raise V2BadRequest(f"input {INPUT_NAME}: shape must be [n, 2] with n from 1 to {max_batch}, got {tensor.shape}")
    count = tensor.shape[0] * 2
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None:
        values = _binary_values(size, binary, dtype, count)
    elif binary:
        raise V2BadRequest(f"the body has {len(binary)} bytes after the JSON header but no input has binary_data_size")
    elif tensor.data is None:
        raise V2BadRequest(f"input {INPUT_NAME}: no data and no binary_data_size")
    else:
        values = _json_values(tensor.data, dtype, count)
    return values.astype(np.float64, copy=False).reshape(-1, 2)


def _binary_values(size, binary: bytes, dtype: np.dtype, count: int) -> np.ndarray:
    if type(size) is not int or size != len(binary):
        raise V2BadRequest(f"input {INPUT_NAME}: binary_data_size {size!r} does not match the "
                           f"{len(binary)} bytes after the JSON header")
    if size != count * dtype.itemsize:
        raise V2BadRequest(f"input {INPUT_NAME}: {size} bytes of binary data, shape needs {count * dtype.itemsize}")
    values = np.frombuffer(binary, dtype=dtype)
    if not np.all(np.isfinite(values)):
        raise V2BadRequest(f"input {INPUT_NAME}: binary data holds values that are not finite")
    return values


def _json_values(data: list, dtype: np.dtype, count: int) -> np.ndarray:
    if data and isinstance(data[0], list) and any(len(row) != 2 for row in data):
        raise V2BadRequest(f"input {INPUT_NAME}: nested data must be rows of 2 values")
    values = np.array(data, dtype=np.float64).reshape(-1)
    if values.size != count:
        raise V2BadRequest(f"input {INPUT_NAME}: data has {values.size} values, shape needs {count}")
    if dtype == FLOAT_TYPES["FP32"]:
        with np.errstate(over="ignore"):
            values = values.astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise V2BadRequest(f"input {INPUT_NAME}: data holds values too large for FP32")
    return values


def _flag(parameters: dict | None, key: str, default: bool, where: str) -> bool:
    """A boolean parameter: JSON true or false only (the string "false" is not false)."""
    value = (parameters or {}).get(key, default)
    if type(value) is not bool:
        raise V2BadRequest(f"{where}.{key} must be true or false, got {_short(value)}")
    return value


def _short(value) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 40 else text[:40] + "..."


def _requested_outputs(request: InferRequest) -> dict[str, OutputRequest]:
    """Each output asked for: per-output ``binary_data`` beats the request's
    ``binary_data_output``; every output when none is named."""
    binary_default = _flag(request.parameters, "binary_data_output", False, "parameters")
    if request.outputs is None:
        return {name: OutputRequest(binary_default) for name in OUTPUTS}
    chosen = {}
    for index, output in enumerate(request.outputs):
        if output.name not in OUTPUTS:
            raise V2BadRequest(f"unknown output {output.name[:40]!r}; outputs are {', '.join(OUTPUTS)}")
        if output.name in chosen:
            raise V2BadRequest(f"output {output.name!r} is requested twice")
        where = f"outputs.{index}.parameters"
        chosen[output.name] = OutputRequest(_flag(output.parameters, "binary_data", binary_default, where),
                                            _classification(output.name, output.parameters, where))
    return chosen


def _classification(name: str, parameters: dict | None, where: str) -> int:
    """The classification extension's class count: the probability output read as the
    scores of the two classes, 0 (1 - p) and 1 (p)."""
    count = (parameters or {}).get("classification", 0)
    if type(count) is not int or not 0 <= count <= len(CLASSES):
        raise V2BadRequest(f"{where}.classification must be an integer from 0 to {len(CLASSES)}, got {_short(count)}")
    if count and name != "probability":
        raise V2BadRequest(f"{where}.classification applies to the probability output only, not {name!r}")
    return count


CLASSES = (0, 1)


def classify(probabilities: np.ndarray, count: int) -> list[list[bytes]]:
    """Triton's classification strings, ``score:index``, the top ``count`` classes of
    each row, best first (class 1 first on a tie, as a stable descending sort of the
    scores (1 - p, p) gives it); scores printed as C++'s ``std::to_string`` does."""
    rows = []
    for probability in probabilities.tolist():
        scores = sorted(((probability, 1), (1.0 - probability, 0)), key=lambda pair: -pair[0])
        rows.append([f"{score:f}:{index}".encode() for score, index in scores[:count]])
    return rows


def _bytes_tensor(rows: list[list[bytes]]) -> bytes:
    """BYTES elements in the binary extension: each a 4-byte little-endian length, then its bytes."""
    return b"".join(len(item).to_bytes(4, "little") + item for row in rows for item in row)


def build_infer_response(model_name: str, model_version: int, parsed: ParsedInfer, probabilities: np.ndarray,
                         labels: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """The response body and its extra headers (the JSON header's length when binary).
    Outputs have the datatypes model metadata declares: FP64 probability, INT64 label
    (whatever the input's datatype), BYTES for classification."""
    rows = len(labels)
    outputs, binary_chunks = [], []
    for name, wanted in parsed.outputs.items():
        if wanted.classification:
            classes = classify(probabilities, wanted.classification)
            entry = {"name": name, "shape": [rows, wanted.classification], "datatype": "BYTES"}
            chunk, data = (_bytes_tensor(classes), None) if wanted.binary else (None, [
                item.decode() for row in classes for item in row])
        else:
            values = probabilities.astype("<f8", copy=False) if name == "probability" else labels.astype("<i8")
            entry = {"name": name, "shape": [rows, 1], "datatype": "FP64" if name == "probability" else "INT64"}
            chunk, data = (values.tobytes(), None) if wanted.binary else (None, values.tolist())
        if chunk is not None:
            entry["parameters"] = {"binary_data_size": len(chunk)}
            binary_chunks.append(chunk)
        else:
            entry["data"] = data
        outputs.append(entry)
    header = {"model_name": model_name, "model_version": str(model_version), "outputs": outputs}
    if parsed.request_id is not None:
        header["id"] = parsed.request_id
    json_part = orjson.dumps(header)
    if not binary_chunks:
        return json_part, {}
    return b"".join([json_part, *binary_chunks]), {HEADER_LENGTH: str(len(json_part))}
