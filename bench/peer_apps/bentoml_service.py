"""BentoML 1.4: ``bentoml serve peer_apps.bentoml_service:Moons``, two workers. BentoML
takes the JSON body's keys as the API's parameters: ``{"instances": [[x1, x2], ...]}``."""

import bentoml

from peer_apps import moons


@bentoml.service(workers=2)
class Moons:
    @bentoml.api
    def predict(self, instances: list[list[float]]) -> dict:
        return moons.answer(instances)
