"""MLServer 1.7: a custom runtime answering Open Inference Protocol (V2) requests,
``mlserver start <folder>`` with a ``model-settings.json`` naming this class."""

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

from peer_apps import moons


class MoonsRuntime(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0])
        output = NumpyCodec.encode_output("probability", moons.probabilities(rows).reshape(-1, 1))
        return InferenceResponse(model_name=self.name, outputs=[output])
