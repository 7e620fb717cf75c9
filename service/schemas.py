"""Request and response shapes; pydantic validates, and they make the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Row = tuple[FiniteNumber, FiniteNumber]


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
        version=(Annotated[int | None, Field(default=None, strict=True, ge=1,
                                             description="A loaded model version; default: the served one.")], None),
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


class HealthResponse(BaseModel):
    status: Literal["ready"]
    model: ModelRef
    loaded_at: str = Field(description="UTC ISO 8601 time the served model was loaded")
    uptime_s: float


class LiveResponse(BaseModel):
    status: Literal["alive"]


class ModelVersion(BaseModel):
    version: int
    status: Literal["served", "loaded", "rejected", "refused", "on_disk"]
    reason: str | None = None
    has_plot: bool
    metadata: dict | None = None


class ModelsResponse(BaseModel):
    name: str
    served_version: int | None
    pinned_version: int | None
    versions: list[ModelVersion]
