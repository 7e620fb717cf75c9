"""schemathesis against the service's own /openapi.json, on a real gunicorn: no server
errors, schema-valid requests accepted, and every response as documented.

It runs schemathesis's command line (its pytest plugin does not load under pytest 9).
"""

import subprocess
import sys
from pathlib import Path

from tests.service.gunicorn_server import running_service

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def test_api_conforms_to_its_openapi_document(tmp_path, models_dir):
    with running_service(tmp_path, models_dir, reload_interval_s=0, max_batch=50) as server:
        result = subprocess.run(
            [SCHEMATHESIS, "run", server.url + "/openapi.json", "--checks", "all", "--max-examples", "40",
             "--generation-deterministic", "--request-timeout", "10", "--no-color"],
            capture_output=True, text=True, timeout=240)
        server_errors = [line for line in server.log().splitlines() if '"status":5' in line]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Tested: 9" in result.stdout and server_errors == []
