"""Kubernetes manifests: every file parses, `kubectl kustomize` builds base and both overlays
(offline, no cluster), and the built objects are complete and refer only to objects that
exist (or to the two created out of band: the Secret and Envoy's generated config)."""

import re

import pytest
import yaml

from tests.deploy.support import DEPLOY, run, tool

K8S = DEPLOY / "k8s"
# Created by the operator, never from files here (docs/operations.md, base/kustomization.yaml).
OUT_OF_BAND = {("Secret", "paneas-secrets"), ("ConfigMap", "envoy-config")}
SERVICES = {"asr": 50051, "llm": 50052, "ocr": 50053, "tts": 50054, "jobs": 50055}
# Each service's settings prefix (`OCR_PORT`); the jobs service's is JOBS_GRPC_ (JOBS_ is the
# jobs settings the gateway and the workers share).
PREFIXES = {name: name.upper() for name in SERVICES} | {"jobs": "JOBS_GRPC"}


def build(target: str) -> list[dict]:
    result = run(tool("kubectl"), "kustomize", str(K8S / target))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=["base", "overlays/cpu", "overlays/reference-box"])
def objects(request) -> list[dict]:
    return build(request.param)


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def test_every_manifest_file_parses():
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 14
    for path in files:
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        assert docs, path
        for doc in docs:
            assert "kind" in doc and "apiVersion" in doc, path


def test_objects_are_complete_and_unique(objects):
    seen = set()
    for obj in objects:
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"], obj
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "paneas", obj["metadata"]["name"]
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in seen, key
        seen.add(key)
    assert not any(obj["kind"] == "Secret" for obj in objects), "secrets are created out of band"


def test_references_resolve(objects):
    present = {(o["kind"], o["metadata"]["name"]) for o in objects} | OUT_OF_BAND
    services = by_kind(objects, "Service")
    secret_keys = set(yaml.safe_load((K8S / "secret.example.yaml").read_text())["stringData"])
    config_maps = by_kind(objects, "ConfigMap")
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    for workload in workloads:
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        if workload["kind"] == "StatefulSet":
            assert ("Service", workload["spec"]["serviceName"]) in present, name
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in present, name
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in present, name
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in present, name
                if "secretRef" in source:
                    assert ("Secret", source["secretRef"]["name"]) in present, name
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ("Secret", ref["secretKeyRef"]["name"]) in present
                    assert ref["secretKeyRef"]["key"] in secret_keys, (name, env["name"])
                if "configMapKeyRef" in ref:
                    cm = ref["configMapKeyRef"]
                    assert cm["key"] in config_maps[cm["name"]]["data"], (name, env["name"])
                # host:port targets in the environment name Services that exist.
                for host in re.findall(r"(?:@|//|^)([a-z][a-z0-9-]*):\d+", env.get("value", "")):
                    assert host in services, (name, env["name"], host)
    for key, value in config_maps["paneas-env"]["data"].items():
        if key.endswith("_TARGET"):
            assert value.split(":")[0] in services, key
    # Every Service selects some pod.
    for name, service in services.items():
        selector = service["spec"]["selector"].items()
        assert any(
            selector <= w["spec"]["template"]["metadata"]["labels"].items() for w in workloads
        ), name


def test_grpc_services_probe_health_drain_and_bind_all_interfaces(objects):
    env = by_kind(objects, "ConfigMap")["paneas-env"]["data"]
    workloads = by_kind(objects, "Deployment") | by_kind(objects, "StatefulSet")
    for name, port in SERVICES.items():
        prefix = PREFIXES[name]
        assert env[f"{prefix}_HOST"] == "0.0.0.0"
        spec = pod_spec(workloads[name])
        container = spec["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == port, (name, probe)
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        values = {e["name"]: e.get("value") for e in container["env"]}
        assert values[f"{prefix}_PORT"] == str(port)
        grace = float(values[f"{prefix}_SHUTDOWN_GRACE_SECONDS"])
        assert spec["terminationGracePeriodSeconds"] > grace + 10, name
        assert "API_TOKENS" in values
    assert env["GATEWAY_HOST"] == "0.0.0.0"


# Runs kubectl kustomize.
@pytest.mark.slow
def test_reference_box_runs_one_asr_pod_per_gpu():
    objects = build("overlays/reference-box")
    asr = by_kind(objects, "StatefulSet")["asr"]
    assert asr["spec"]["replicas"] == 4
    container = pod_spec(asr)["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ASR_DEVICE"] == "cuda" and env["ASR_DEVICE_INDEX"] == "0"
    llm = pod_spec(by_kind(objects, "Deployment")["llm"])["containers"][0]
    assert llm["resources"]["limits"]["nvidia.com/gpu"] == 2
    llm_env = {e["name"]: e.get("value") for e in llm["env"]}
    assert llm_env["LLM_CATALOGUE"] == "/app/deploy/llm/reference-box.yaml"
    # The catalogue's engines are the ones the GPU overrides name.
    catalogue = yaml.safe_load((DEPLOY / "llm" / "reference-box.yaml").read_text())
    for key in ("LLM_ENGINES__Q32B__GPUS", "LLM_ENGINES__Q14B__GPUS"):
        engine = key.split("__")[1].lower()
        assert catalogue["engines"][engine]["kind"] == "vllm"
    cpu = build("overlays/cpu")
    assert not any(
        "nvidia.com/gpu" in str(c.get("resources"))
        for w in cpu
        if w["kind"] in ("Deployment", "StatefulSet")
        for c in pod_spec(w)["containers"]
    )


def _selects(policy: dict, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_network_policies_deny_by_default_and_keep_services_behind_envoy(objects):
    policies = by_kind(objects, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"]["podSelector"] == {}
    workloads = by_kind(objects, "Deployment") | by_kind(objects, "StatefulSet")
    for name, workload in workloads.items():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        allowing = [p for n, p in policies.items() if n != "default-deny-ingress"]
        assert any(_selects(p, labels) for p in allowing), f"nothing may reach {name}"
    grpc = policies["grpc-services"]["spec"]["ingress"]
    grpc_ports = {p["port"] for p in grpc[0]["ports"]}
    assert grpc_ports == set(SERVICES.values())
    envoy_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "envoy"}}}
    assert grpc[0]["from"] == [envoy_pods]
    # The stores: only from what uses them (the queue, the records, the files).
    users = {
        "redis": {"gateway", "jobs", "jobs-worker"},
        "postgres": {"gateway", "jobs", "jobs-worker"},
        "minio": {"gateway", "jobs", "jobs-worker", "minio-bucket"},
    }
    for store, names in users.items():
        (rule,) = policies[store]["spec"]["ingress"]
        (source,) = rule["from"]
        (expression,) = source["podSelector"]["matchExpressions"]
        assert expression["key"] == "app.kubernetes.io/name" and set(expression["values"]) == names
    # The workers serve nothing; only their metrics are reachable, from observability.
    (rule,) = policies["jobs-worker"]["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [9455]
    assert "namespaceSelector" in rule["from"][0]


def test_envoy_admin_is_not_exposed_and_envoy_checks_tokens(objects):
    envoy = by_kind(objects, "Deployment")["envoy"]
    container = next(c for c in pod_spec(envoy)["containers"] if c["name"] == "envoy")
    assert 9901 not in {p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["port"] == "stats"
    assert any(e["name"] == "API_TOKENS" for e in container["env"])
    services = by_kind(objects, "Service")
    assert [p["port"] for p in services["envoy-pods"]["spec"]["ports"]] == [9902]


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_jobs_workers_run_the_gateways_image_with_its_jobs_settings(objects):
    deployments = by_kind(objects, "Deployment")
    gateway = pod_spec(deployments["gateway"])["containers"][0]
    worker_deployment = deployments["jobs-worker"]
    worker = pod_spec(worker_deployment)["containers"][0]
    assert worker["image"] == gateway["image"]
    assert worker["command"] == ["python", "-m", "paneas.gateway.jobs"]
    assert worker_deployment["spec"]["replicas"] >= 1
    assert worker["envFrom"] == gateway["envFrom"]
    config = by_kind(objects, "ConfigMap")["paneas-env"]["data"]
    assert config["JOBS_ENABLED"] == "true" and config["JOBS_STORAGE_URL"] == "s3://paneas-jobs"
    endpoint_host = config["JOBS_S3_ENDPOINT_URL"].split("//")[1].split(":")[0]
    assert endpoint_host in by_kind(objects, "Service")
    # The same queue, records, store keys and webhook key as the gateway.
    gateway_env, worker_env = _env(gateway), _env(worker)
    for name in (
        "API_TOKENS", "JOBS_BROKER_URL", "DATABASE_URL", "JOBS_S3_ACCESS_KEY_ID",
        "JOBS_S3_SECRET_ACCESS_KEY", "JOBS_WEBHOOK_SECRET",
    ):  # fmt: skip
        assert worker_env[name] == gateway_env[name], name
    assert gateway_env["JOBS_BROKER_URL"]["value"].endswith("@redis:6379/1")
    assert gateway_env["REDIS_URL"]["value"].endswith("@redis:6379/0")
    # Its /metrics, on every interface, behind the headless Service Prometheus resolves.
    assert worker_env["JOBS_METRICS_HOST"]["value"] == "0.0.0.0"
    assert {"name": "metrics", "containerPort": 9455} in worker["ports"]
    pods = by_kind(objects, "Service")["jobs-worker-pods"]["spec"]
    assert pods["clusterIP"] == "None" and pods["ports"][0]["port"] == 9455
    # The bucket the ConfigMap names is the one the Job makes, on the MinIO the keys open.
    job = by_kind(objects, "Job")["minio-bucket"]
    mc = job["spec"]["template"]["spec"]["containers"][0]
    assert mc["args"] == ["mb", "--ignore-existing", "paneas/paneas-jobs"]
    minio_env = _env(pod_spec(by_kind(objects, "StatefulSet")["minio"])["containers"][0])
    keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in minio_env.values()}
    assert keys == {"JOBS_S3_ACCESS_KEY_ID", "JOBS_S3_SECRET_ACCESS_KEY"}


# Runs kubectl kustomize.
@pytest.mark.slow
def test_cpu_overlay_runs_one_jobs_worker():
    cpu = by_kind(build("overlays/cpu"), "Deployment")
    assert cpu["jobs-worker"]["spec"]["replicas"] == 1


def test_every_image_is_pinned(objects):
    for workload in objects:
        if workload["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        spec = workload["spec"]["template"]["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            image = container["image"]
            if image.startswith("paneas/"):
                continue  # ours, built from this repository (`images:` in the overlays)
            name, _, tag = image.rpartition(":")
            assert name and "/" not in tag and tag != "latest", (
                workload["metadata"]["name"],
                image,
            )
