"""deploy/ against real tools: promtool on the config, rules and our /metrics, and a
real Prometheus scraping the real service, asked every dashboard and alert query."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
import requests
import yaml

from tests.conftest import write_version

from tests.service.gunicorn_server import PROJECT_ROOT, free_port, running_service, stop_process, wait_until

pytestmark = pytest.mark.timeout(900)  # the first test may apt-get install prometheus
DEPLOY = PROJECT_ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "moonserve.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
_COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*[-+0-9.e]+\s*$")


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]  # a row has none


def alert_expressions() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_config_and_the_rules(prometheus_tools):
    _, promtool = prometheus_tools
    for args in (["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")], ["check", "rules", str(ALERTS)]):
        result = subprocess.run([promtool, *args], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def _traffic(server, requests_count=40):
    for index in range(requests_count):
        requests.post(server.url + "/predict", json={"instances": [[0.5, -0.4]] * (index % 5 + 1)}, timeout=5)
    requests.post(server.url + "/predict", json={"instances": []}, timeout=5)
    requests.get(server.url + "/health", timeout=5)


@pytest.fixture
def service(tmp_path, models_dir, trained_layers):
    """Two versions, the second labelled canary and sent half the traffic, so the
    dashboard's canary row and the canary alerts have series to answer from."""
    write_version(models_dir, trained_layers)
    (models_dir / "moons" / "labels.json").write_text('{"stable": 1, "canary": 2}')
    with running_service(tmp_path, models_dir, reload_interval_s=1, canary_percent=50) as server:
        _traffic(server)
        yield server


def test_promtool_accepts_our_metrics(prometheus_tools, service):
    _, promtool = prometheus_tools
    text = requests.get(service.url + "/metrics", timeout=5).text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), \
        result.stdout + result.stderr


@pytest.fixture
def prometheus(prometheus_tools, service, tmp_path):
    binary, _ = prometheus_tools
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{"job_name": "moonserve",
                            "static_configs": [{"targets": [f"127.0.0.1:{service.port}"]}]}],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    process = subprocess.Popen(
        [binary, f"--config.file={config_path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def scraped():
            try:
                result = requests.get(url + "/api/v1/query", params={"query": "up"}, timeout=2).json()
                return result["data"]["result"] and result["data"]["result"][0]["value"][1] == "1"
            except (requests.RequestException, ValueError, KeyError):
                return False

        assert wait_until(scraped, timeout=30), (tmp_path / "prometheus.log").read_text()[-3000:]
        yield url
    finally:
        stop_process(process)
        log.close()


def _query(url: str, expression: str) -> dict:
    return requests.get(url + "/api/v1/query", params={"query": expression}, timeout=5).json()


def test_every_dashboard_and_alert_query_parses_and_returns_data(prometheus, service):
    time.sleep(2)
    _traffic(service)
    time.sleep(3)  # several 1 s scrapes after the traffic, so rate() over them has data
    expressions = dashboard_expressions() + alert_expressions()
    assert len(expressions) >= 12
    for expression in expressions:
        parsed = _query(prometheus, expression)
        assert parsed["status"] == "success", (expression, parsed)
        without_threshold = _COMPARISON.sub("", expression)
        result = _query(prometheus, without_threshold)
        assert result["status"] == "success" and result["data"]["result"], (without_threshold, result)
