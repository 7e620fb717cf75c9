"""LitServe 0.2: ``python -m peer_apps.litserve_app`` (``PORT`` in the environment),
two inference workers on the CPU."""

import os

import litserve as ls

from peer_apps import moons


class MoonsAPI(ls.LitAPI):
    def setup(self, device):
        pass

    def decode_request(self, request):
        return request["instances"]

    def predict(self, instances):
        return moons.predictions(instances)

    def encode_response(self, output):
        return {"model": {"name": moons.NAME, "version": moons.VERSION}, "predictions": output}


if __name__ == "__main__":
    server = ls.LitServer(MoonsAPI(), accelerator="cpu", workers_per_device=2)
    server.run(host="127.0.0.1", port=int(os.environ["PORT"]), generate_client_file=False, log_level="warning")
