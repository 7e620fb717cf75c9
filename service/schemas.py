"""Request and response shapes; pydantic validates, and they make the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, TypeAdapter, WithJsonSchema, create_model
from pydantic_core import PydanticCustomError

from trainer.labels import LABEL_NAME

FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Row = tuple[FiniteNumber, FiniteNumber]


LABEL_PATTERN = f"^{LABEL_NAME.pattern}$"  # JSON Schema patterns search: anchored
MAX_VERSION = 10**18 - 1
"""The largest version a request may name: 18 digits, as in a URL (``web.VERSION_TEXT``)."""
VERSION_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_VERSION}


def _version_or_label(value):
    """One problem at ``version`` whatever it is (a union would report one per member).
    A float with an integral value (``3.0``) is the integer JSON Schema says it is."""
    if type(value) is float and value.is_integer():
        value = int(value)
    if value is None or (type(value) is int and 1 <= value <= MAX_VERSION):
        return value
    if isinstance(value, str) and LABEL_NAME.fullmatch(value):
        return value
    raise PydanticCustomError("version_type", "must be a positive integer version or a label")


VersionOrLabel = Annotated[
    int | str | None, PlainValidator(_version_or_label),
    WithJsonSchema({"anyOf": [VERSION_SCHEMA, {"type": "string", "pattern": LABEL_PATTERN},
                              {"type": "null"}]}),
    Field(description="A loaded model version, or a label (stable, canary, ...); default: the served one."),
]

ROWS = TypeAdapter(list[Row])
"""Rows alone, every problem reported (no ``fail_fast``): see ``problems``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def make_predict_request(max_batch: int) -> type[BaseModel]:
    """The ``POST /predict`` body, with the batch cap of this service's settings."""
    return create_model(
        "PredictRequest",
        __base__=_Strict,
        instances=(Annotated[list[Row], Field(min_length=1, max_length=max_batch, fail_fast=True,
                                              description="Rows of two finite numbers [x1, x2].")], ...),
        version=(VersionOrLabel, None),
    )


class ModelRef(BaseModel):
    name: str
    version: int


class Prediction(BaseModel):
    label: Literal[0, 1]
    probability: float = Field(ge=0, le=1, description="P(label = 1)")


class PredictResponse(BaseModel):
    model: ModelRef
    predictions: list[Prediction]


class ErrorDetail(BaseModel):
    loc: str
    msg: str
    type: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelState(BaseModel):
    name: str
    ready: bool
    version: int | None = Field(description="The version served (null: none)")
    reason: str | None = Field(description="Why none is served")


class HealthResponse(BaseModel):
    status: Literal["ready"]
    model: ModelRef = Field(description="The default model (MODEL_NAME) and its served version")
    loaded_at: str = Field(description="UTC ISO 8601 time the served model was loaded")
    uptime_s: float
    models: list[ModelState] = Field(description="Every served model's state")


class LiveResponse(BaseModel):
    status: Literal["alive"]


class ModelVersion(BaseModel):
    version: int
    status: Literal["served", "loaded", "rejected", "refused", "on_disk"]
    reason: str | None = None
    has_plot: bool
    labels: list[str] = Field(description="The labels that point at this version")
    metadata: dict | None = None


class ModelResponse(BaseModel):
    name: str
    served_version: int | None
    pinned_version: int | None
    labels: dict[str, int]
    versions: list[ModelVersion]


class ModelsResponse(BaseModel):
    models: list[ModelResponse]
