"""FastAPI: ``uvicorn peer_apps.fastapi_app:app --workers 2`` (uvicorn[standard]:
uvloop and httptools). The body is validated by a pydantic model, as FastAPI's
documentation does it; ``async def``, FastAPI's fastest way for a short computation
(a plain ``def`` would hop to a thread pool)."""

from fastapi import FastAPI
from pydantic import BaseModel

from peer_apps import moons

app = FastAPI()


class PredictRequest(BaseModel):
    instances: list[tuple[float, float]]


@app.post("/predict")
async def predict(body: PredictRequest) -> dict:
    return moons.answer(body.instances)
