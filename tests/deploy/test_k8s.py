"""The Kubernetes and KServe manifests, checked as far as can be done without a cluster.

- ``kubectl kustomize`` builds each overlay (kubectl 1.20, Debian's, or newer);
- every object validates strictly (unknown fields are errors) against the Kubernetes
  1.31 schemas that ``kubernetes-validate`` ships;
- the KServe objects validate against KServe's own API types, as its Python SDK
  generates them from KServe's Go types (the wheel from PyPI is read, not imported:
  its imports need a server stack), with the Kubernetes types inside them (containers,
  probes) checked against the same 1.31 schemas;
- a policy test reads the built YAML: probe paths and ports are ones the app serves
  (a real gunicorn answers them), the UID is the Dockerfile's, the settings are real
  ``Settings`` fields with values ``Settings`` accepts.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
import yaml

from service.settings import Settings
from tests.service.gunicorn_server import PROJECT_ROOT, running_service

K8S = PROJECT_ROOT / "deploy" / "k8s"
KSERVE = PROJECT_ROOT / "deploy" / "kserve"
KUBERNETES_VERSION = "1.31"
KSERVE_SDK = "kserve==0.21.0"
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is a test dependency")


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (apt-get install kubernetes-client)")
    overlays = {}
    for overlay in ("dev", "prod"):
        result = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        overlays[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return overlays


def _one(objects: list[dict], kind: str) -> dict:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in objects]
    return found[0]


def test_each_overlay_builds_the_objects_it_promises(built):
    assert sorted(o["kind"] for o in built["dev"]) == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"]
    assert sorted(o["kind"] for o in built["prod"]) == [
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]
    assert _one(built["dev"], "Deployment")["spec"]["replicas"] == 1
    prod = _one(built["prod"], "Deployment")
    assert prod["spec"]["replicas"] == 3 and _one(built["prod"], "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 3
    init = prod["spec"]["template"]["spec"]["initContainers"][0]
    assert init["image"].startswith("registry.example.com/moonserve-models:")
    assert "/opt/moonserve/models" in " ".join(init["command"])  # the model image's folder
    assert "ENV MODELS_DIR=/opt/moonserve/models" in (PROJECT_ROOT / "deploy" / "model-image" / "Dockerfile").read_text()
    volumes = {v["name"]: v for v in prod["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["models"] and "persistentVolumeClaim" not in volumes["models"]
    claim = _one(built["dev"], "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_object_validates_strictly_against_the_kubernetes_schemas(built, overlay):
    for document in built[overlay]:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_request_rate_hpa_example_validates():
    example = yaml.safe_load((K8S / "examples" / "hpa-request-rate.yaml").read_text())
    kubernetes_validate.validate(example, KUBERNETES_VERSION, strict=True)
    assert example["spec"]["metrics"][0]["pods"]["metric"]["name"] == "moonserve_requests_per_second"


def test_a_misspelt_field_is_caught(built):
    """The validation can fail: a typo in a probe is an error, not ignored."""
    deployment = json.loads(json.dumps(_one(built["dev"], "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# KServe: its SDK's generated API types


@pytest.fixture(scope="module")
def kserve_types(tmp_path_factory) -> dict[str, dict[str, tuple[str, str]]]:
    """``{class name: {json key: (attribute, type)}}`` of KServe's SDK models."""
    folder = tmp_path_factory.mktemp("kserve-sdk")
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
                             ":all:", "-d", str(folder), KSERVE_SDK], capture_output=True, text=True, timeout=300)
    wheels = list(folder.glob("kserve-*.whl"))
    if result.returncode != 0 or not wheels:
        pytest.skip(f"cannot download {KSERVE_SDK} from the package index: {result.stderr.strip()[-300:]}")
    types = {}
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name in wheel.namelist():
            if name.startswith("kserve/models/v1") and name.endswith(".py"):
                types.update(_model_types(wheel.read(name).decode()))
    assert {"V1alpha1ServingRuntime", "V1beta1InferenceService"} <= set(types)
    return types


def _model_types(source: str) -> dict[str, dict[str, tuple[str, str]]]:
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            values = {target.id: ast.literal_eval(statement.value) for statement in node.body
                      if isinstance(statement, ast.Assign) for target in statement.targets
                      if isinstance(target, ast.Name) and target.id in ("openapi_types", "attribute_map")}
            if "openapi_types" in values:
                found[node.name] = {values["attribute_map"][attribute]: (attribute, kind)
                                    for attribute, kind in values["openapi_types"].items()}
    return found


@pytest.fixture(scope="module")
def kubernetes_definitions() -> dict:
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return json.loads((folder / f"v{KUBERNETES_VERSION}.0-local-strict" / "_definitions.json").read_text())


def _check(value, kind: str, where: str, types: dict, definitions: dict) -> list[str]:
    """The problems of ``value`` as KServe's SDK type ``kind`` (a class or ``list[..]``,
    ``dict(str, ..)``, str, int, bool, float, object)."""
    if kind.startswith("list["):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [p for index, item in enumerate(value) for p in _check(item, kind[5:-1], f"{where}[{index}]",
                                                                        types, definitions)]
    if kind.startswith("dict("):
        inner = kind[5:-1].split(", ", 1)[1]
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        return [p for key, item in value.items() for p in _check(item, inner, f"{where}.{key}", types, definitions)]
    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
    if kind in scalars:
        ok = isinstance(value, scalars[kind]) and not (kind == "int" and isinstance(value, bool))
        return [] if ok else [f"{where}: {value!r} is not {kind}"]
    if kind in types:
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        problems = [f"{where}.{key}: not a field of {kind}" for key in value if key not in types[kind]]
        for key, item in value.items():
            if key in types[kind]:
                problems += _check(item, types[kind][key][1], f"{where}.{key}", types, definitions)
        return problems
    return _check_kubernetes(value, kind, where, definitions)


def _check_kubernetes(value, kind: str, where: str, definitions: dict) -> list[str]:
    """A Kubernetes type inside a KServe object (``V1Container``: io.k8s.api.core.v1.Container)."""
    import jsonschema

    version, name = re.fullmatch(r"(V\d+(?:alpha\d+|beta\d+)?)(\w+)", kind).groups()
    keys = [key for key in definitions["$defs"] if key.endswith(f".{version.lower()}.{name}")]
    keys = [key for key in keys if ".core." in key or "meta" in key] or keys
    assert len(keys) == 1, (kind, keys)
    schema = {"$schema": definitions["$schema"], "$ref": f"#/$defs/{keys[0]}", "$defs": definitions["$defs"]}
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{where}.{'.'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(value)]


@pytest.mark.parametrize("file, kind", [("servingruntime.yaml", "V1alpha1ServingRuntime"),
                                        ("inferenceservice.yaml", "V1beta1InferenceService")])
def test_kserve_objects_validate_against_kserves_api_types(kserve_types, kubernetes_definitions, file, kind):
    document = yaml.safe_load((KSERVE / file).read_text())
    assert document["apiVersion"].startswith("serving.kserve.io/")
    assert _check(document, kind, file, kserve_types, kubernetes_definitions) == []


def test_the_kserve_check_can_fail(kserve_types, kubernetes_definitions):
    runtime = yaml.safe_load((KSERVE / "servingruntime.yaml").read_text())
    runtime["spec"]["protocolVersion"] = "v2"  # the field is protocolVersions
    runtime["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = [8080]
    problems = _check(runtime, "V1alpha1ServingRuntime", "rt", kserve_types, kubernetes_definitions)
    assert any("protocolVersion" in p for p in problems) and any("readinessProbe" in p for p in problems)


# Policy: what the manifests say about the app is true of the app


def _user_id() -> int:
    return int(re.search(r"^USER (\d+)", (PROJECT_ROOT / "Dockerfile").read_text(), re.M).group(1))


def _probe_paths(container: dict) -> set[tuple[str, object]]:
    return {(container[probe]["httpGet"]["path"], container[probe]["httpGet"]["port"])
            for probe in ("startupProbe", "livenessProbe", "readinessProbe") if probe in container}


def test_the_policy_the_manifests_promise(built):
    for overlay, objects in built.items():
        deployment = _one(objects, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        settings = _one(objects, "ConfigMap")["data"]
        fields = {name.upper() for name in Settings.model_fields}
        assert set(settings) <= fields, set(settings) - fields
        env = {item["name"]: item["value"] for item in container.get("env", [])}
        assert set(env) - {"PROMETHEUS_MULTIPROC_DIR"} <= fields
        parsed = Settings(**{key.lower(): value for key, value in settings.items()})
        assert pod["securityContext"]["runAsUser"] == _user_id() and pod["securityContext"]["runAsNonRoot"]
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert "/tmp" in mounts and env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
        pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
        assert pod["terminationGracePeriodSeconds"] > parsed.graceful_timeout_s + pre_stop
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports == {"http": parsed.port}
        assert {port for _, port in _probe_paths(container)} == {"http"}
        service = _one(objects, "Service")
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert int(annotations["prometheus.io/port"]) == parsed.port
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert pod["topologySpreadConstraints"] and container["resources"]["limits"]["memory"]


def test_probe_paths_and_the_scrape_path_are_served_by_the_app(built, tmp_path, models_dir):
    deployment = _one(built["prod"], "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    runtime = yaml.safe_load((KSERVE / "servingruntime.yaml").read_text())["spec"]["containers"][0]
    paths = {path for path, _ in _probe_paths(container) | _probe_paths(runtime)}
    paths.add(deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"])
    runtime_env = {item["name"]: item["value"] for item in runtime["env"]}
    assert {name.lower() for name in runtime_env} - {"prometheus_multiproc_dir"} <= set(Settings.model_fields)
    assert int(runtime_env["PORT"]) == runtime["ports"][0]["containerPort"]
    assert {port for _, port in _probe_paths(runtime)} == {int(runtime_env["PORT"])}
    assert runtime["securityContext"]["runAsUser"] == _user_id()
    with running_service(tmp_path, models_dir, reload_interval_s=0) as server:
        for path in sorted(paths):
            assert requests.get(server.url + path, timeout=5).status_code == 200, path
    assert paths == {"/health", "/health/live", "/metrics"}


def test_the_kserve_runtime_speaks_the_protocols_the_app_serves(tmp_path, models_dir):
    runtime = yaml.safe_load((KSERVE / "servingruntime.yaml").read_text())["spec"]
    service = yaml.safe_load((KSERVE / "inferenceservice.yaml").read_text())
    assert runtime["protocolVersions"] == ["v1", "v2"]
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == yaml.safe_load((KSERVE / "servingruntime.yaml").read_text())["metadata"]["name"]
    assert model["modelFormat"]["name"] in {f["name"] for f in runtime["supportedModelFormats"]}
    name = service["metadata"]["name"]
    with running_service(tmp_path, models_dir, reload_interval_s=0, model_name=name) as server:
        assert requests.post(f"{server.url}/v1/models/{name}:predict", json={"instances": [[0.5, -0.4]]},
                             timeout=5).status_code == 200
        assert requests.get(f"{server.url}/v2/models/{name}/ready", timeout=5).status_code == 200
    assert os.path.basename(model["storageUri"].rstrip("/"))
