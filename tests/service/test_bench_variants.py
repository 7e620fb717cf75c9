"""bench/service_variants.py takes out what it says, and only that: otherwise the
prices bench/service_parts.py and bench/request_cost.py print are of something else."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings
from tests.conftest import PROJECT_ROOT

ROW = {"instances": [[0.5, -0.4]]}


@pytest.fixture
def variants(monkeypatch):
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "bench"))
    import floors
    import service_variants

    return service_variants, floors.FIXED


def _requests_counted(client) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "moonserve_requests_total" and sample.labels["endpoint"] == "/predict")


@pytest.mark.parametrize("variant", ["full", "through_flask", "no_observer", "fixed_view", "fixed_view_no_observer"])
def test_each_variant_answers_and_keeps_or_drops_its_parts(variants, models_dir, variant):
    service_variants, fixed = variants
    app = service_variants.build(variant, Settings(models_dir=models_dir, reload_interval_s=0, access_log_flush_s=0),
                                 start_reloader=False)
    client = app.test_client()
    response = client.post("/predict", json=ROW)
    assert response.status_code == 200
    answer = orjson.loads(response.data)
    if variant.startswith("fixed_view"):
        assert response.data == fixed
    else:
        assert answer["model"]["name"] == "moons" and 0 < answer["predictions"][0]["probability"] < 1
        assert response.data != fixed
    observed = not variant.endswith("no_observer")
    assert ("X-Request-ID" in response.headers) is observed
    assert _requests_counted(client) == (1 if observed else 0)


def test_an_unknown_variant_is_refused(variants, models_dir):
    service_variants, _ = variants
    with pytest.raises(ValueError, match="unknown variant"):
        service_variants.build("no_model", Settings(models_dir=models_dir, reload_interval_s=0), start_reloader=False)
