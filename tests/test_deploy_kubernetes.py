"""deploy/kubernetes, checked offline: every manifest against the Kubernetes schemas (strict), and
against the code (commands parse with the services' own parsers, ports, probes, environment,
grace periods, the autoscaler's metric). No cluster, kubectl or kustomize is needed."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

import services.interpolator.__main__ as interpolator_main
import services.stylizer.__main__ as stylizer_main
from mvstylizer_common.auth import TOKEN_ENV, resolve_token
from mvstylizer_common.healthcheck import check
from services.interpolator.server import SERVICE_NAME as INTERPOLATOR_SERVICE
from services.stylizer.metrics import StylizerMetrics
from services.stylizer.server import SERVICE_NAME as STYLIZER_SERVICE

REPO_ROOT = Path(__file__).resolve().parents[1]
KUBE = REPO_ROOT / "deploy" / "kubernetes"
ADAPTER_VALUES = KUBE / "prometheus-adapter" / "values.yaml"
# The oldest Kubernetes the manifests target (native gRPC probes: 1.27; preStop `sleep`: 1.30) and
# the newest kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.30", "1.37")
VARIANTS = {"gpu": KUBE / "gpu", "cpu": KUBE / "cpu"}
# Kustomization fields the small renderer below understands; anything else must fail here, not be ignored.
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources"}
# Environment variables that are not the project's own but are read by a library it uses.
LIBRARY_ENV = {"OMP_NUM_THREADS"}  # torch's intra-op threads

MODULES: dict[str, tuple[Callable, str, object]] = {
    "services.stylizer": (stylizer_main.build_parser, STYLIZER_SERVICE, stylizer_main),
    "services.interpolator": (interpolator_main.build_parser, INTERPOLATOR_SERVICE, interpolator_main),
}


# ---------------------------------------------------------------- loading and rendering


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization_files() -> list[Path]:
    return sorted(KUBE.rglob("kustomization.yaml"))


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest: all YAML files except kustomizations and the adapter's Helm values."""
    return sorted(p for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml" and p != ADAPTER_VALUES)


def render(directory: Path) -> list[dict]:
    """What `kubectl apply -k directory` would apply, for the kustomize fields used here."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    assert not unknown, f"{directory}: kustomization fields this test does not render: {unknown}"
    objects: list[dict] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        objects += render(path) if path.is_dir() else load_documents(path)
    if namespace := kustomization.get("namespace"):
        for obj in objects:
            if obj["kind"] != "Namespace":
                obj.setdefault("metadata", {})["namespace"] = namespace
    return objects


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def deployments(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] == "Deployment"]


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def container_env(container: dict) -> dict[str, str | None]:
    """Name -> literal value (None for one taken from a Secret or elsewhere)."""
    return {item["name"]: item.get("value") for item in container.get("env", [])}


def parse_container(container: dict, monkeypatch: pytest.MonkeyPatch | None = None):
    """(module, parsed args, health service name); the container's literal env applied first.
    A flag the service's parser rejects raises SystemExit."""
    command = [*container.get("command", []), *container.get("args", [])]
    assert command[:2] == ["python", "-m"], command
    module = command[2]
    assert module in MODULES, f"unknown module {module}"
    build_parser, service_name, _ = MODULES[module]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in container_env(container).items():
            if value is not None:
                patch.setenv(name, value)
        parser = build_parser()
        args = parser.parse_args(command[3:])
    # argparse checks choices only for values given on the command line, not for defaults taken
    # from the environment: check those too.
    for action in parser._actions:
        if action.choices is not None and action.dest != "help":
            value = getattr(args, action.dest)
            assert value in action.choices, f"{module}: {action.dest}={value!r} is not one of {action.choices}"
    return module, args, service_name


def reads_env(module: str, name: str) -> bool:
    """Whether the service's code reads `name`: setting it changes (or breaks) the parser's defaults,
    or, for the token, what the service resolves as its token."""
    build_parser, _, main_module = MODULES[module]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(name, raising=False)
        baseline = vars(build_parser().parse_args([]))
        for sentinel in ("7", "sentinel-value"):
            patch.setenv(name, sentinel)
            if name == TOKEN_ENV and resolve_token(None) == sentinel:
                return "resolve_token(args.auth_token_file)" in inspect.getsource(main_module)
            try:
                if vars(build_parser().parse_args([])) != baseline:
                    return True
            except (ValueError, SystemExit):  # the code parsed the value (and refused this one)
                return True
    return False


def container_port(container: dict, port: int | str) -> int:
    """A port number, or a named port resolved against the container."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in named, f"no container port named {port}"
    return named[port]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request) -> tuple[str, list[dict]]:
    return request.param, render(VARIANTS[request.param])


@pytest.fixture(scope="module")
def adapter_rules() -> list[dict]:
    return yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]


# ---------------------------------------------------------------- schemas


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(KUBE)))
def test_every_manifest_validates_strictly_against_the_kubernetes_schemas(path, version):
    documents = load_documents(path)
    assert documents, path
    for document in documents:
        assert kubernetes_validate.validate(document, version, strict=True) == version


def test_the_schema_check_rejects_what_kubernetes_would():
    deployment = copy.deepcopy(find(render(VARIANTS["gpu"]), "Deployment", "stylizer"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["servce"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment = copy.deepcopy(find(render(VARIANTS["gpu"]), "Deployment", "stylizer"))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "50051"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomizations_use_every_manifest_and_render_both_variants():
    used: set[Path] = set()
    for kustomization in kustomization_files():
        for entry in yaml.safe_load(kustomization.read_text())["resources"]:
            path = (kustomization.parent / entry).resolve()
            assert path.exists(), f"{kustomization}: {entry} does not exist"
            if path.is_file():
                used.add(path)
    assert set(manifest_files()) == used, "manifests no kustomization applies"
    # The top-level kustomization is the GPU variant.
    assert render(KUBE) == render(VARIANTS["gpu"])
    for directory in VARIANTS.values():
        objects = render(directory)
        names = [(o["kind"], o["metadata"]["name"]) for o in objects]
        assert len(names) == len(set(names)), f"{directory}: duplicate objects"
        assert all(o["metadata"].get("namespace") == "mvstylizer" for o in objects if o["kind"] != "Namespace")


# ---------------------------------------------------------------- against the code


def test_every_container_runs_a_real_module_with_flags_its_parser_accepts(variant):
    _, objects = variant
    for deployment in deployments(objects):
        for container in pod_spec(deployment)["containers"]:
            _, args, _ = parse_container(container)  # SystemExit here = a bad flag
            assert args.host == "0.0.0.0", f"{deployment['metadata']['name']} must listen beyond the pod's loopback"


def test_a_flag_the_parser_rejects_fails_the_check(variant):
    _, objects = variant
    container = copy.deepcopy(pod_spec(find(objects, "Deployment", "stylizer"))["containers"][0])
    container["args"] = [*container["args"], "--no-such-flag"]
    with pytest.raises(SystemExit):
        parse_container(container)


def test_environment_variables_are_read_by_the_code(variant):
    _, objects = variant
    for deployment in deployments(objects):
        for container in pod_spec(deployment)["containers"]:
            module, _, _ = parse_container(container)
            for name in container_env(container):
                if name.startswith("MVS_"):
                    assert reads_env(module, name), f"{module} does not read {name}"
                else:
                    assert name in LIBRARY_ENV, f"{name} is not read by the code or a library it uses"


def test_the_env_check_can_fail():
    assert not reads_env("services.stylizer", "MVS_NO_SUCH_SETTING")
    assert not reads_env("services.interpolator", "MVS_DEVICE")  # the stylizer's, not the interpolator's
    assert reads_env("services.stylizer", "MVS_DEVICE") and reads_env("services.interpolator", TOKEN_ENV)


def test_ports_agree_between_containers_probes_and_services(variant):
    _, objects = variant
    services = [o for o in objects if o["kind"] == "Service"]
    for deployment in deployments(objects):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
        (container,) = pod_spec(deployment)["containers"]
        _, args, service_name = parse_container(container)
        assert container_port(container, "grpc") == args.port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            grpc_probe = container[probe]["grpc"]
            assert grpc_probe == {"port": args.port, "service": service_name}, (deployment["metadata"]["name"], probe)
        selecting = [s for s in services if selects(s["spec"]["selector"], labels)]
        assert selecting, f"no Service for {deployment['metadata']['name']}"
        for service in selecting:
            for port in service["spec"]["ports"]:
                assert container_port(container, port["targetPort"]) == args.port, service["metadata"]["name"]
        metrics_port = getattr(args, "metrics_port", -1)
        if metrics_port >= 0:
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert container_port(container, "metrics") == metrics_port
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/port"] == str(metrics_port)


def test_probes_name_health_services_the_servers_register(stylizer_address, interpolator_address):
    addresses = {STYLIZER_SERVICE: stylizer_address, INTERPOLATOR_SERVICE: interpolator_address}
    probed = set()
    for directory in VARIANTS.values():
        for deployment in deployments(render(directory)):
            for container in pod_spec(deployment)["containers"]:
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    probed.add(container[probe]["grpc"]["service"])
    assert probed == set(addresses)
    for service, address in addresses.items():
        assert check(address, service) == "SERVING"
    assert check(stylizer_address, INTERPOLATOR_SERVICE) == "NOT_FOUND"  # the names are not interchangeable


def test_the_grace_period_covers_the_pre_stop_wait_and_the_drain(variant):
    _, objects = variant
    for deployment in deployments(objects):
        spec = pod_spec(deployment)
        (container,) = spec["containers"]
        _, args, _ = parse_container(container)
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert spec["terminationGracePeriodSeconds"] >= pre_stop + args.grace_seconds, deployment["metadata"]["name"]


def test_the_stylizer_services_headless_for_round_robin_and_cluster_ip(variant):
    _, objects = variant
    labels = find(objects, "Deployment", "stylizer")["spec"]["template"]["metadata"]["labels"]
    headless = find(objects, "Service", "stylizer-headless")["spec"]
    plain = find(objects, "Service", "stylizer")["spec"]
    assert headless["clusterIP"] == "None" and not headless.get("publishNotReadyAddresses", False)
    assert plain.get("type", "ClusterIP") == "ClusterIP" and "clusterIP" not in plain
    assert selects(headless["selector"], labels) and selects(plain["selector"], labels)
    interpolator = find(objects, "Deployment", "interpolator")
    assert selects(
        find(objects, "Service", "interpolator")["spec"]["selector"],
        interpolator["spec"]["template"]["metadata"]["labels"],
    )


def test_gpu_and_cpu_variants(variant):
    name, objects = variant
    deployment = find(objects, "Deployment", "stylizer")
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    _, args, _ = parse_container(container)
    resources = container["resources"]
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "ARG TORCH_INDEX=" in dockerfile and '--index-url "${TORCH_INDEX}"' in dockerfile
    if name == "gpu":
        assert args.device == "cuda"
        assert resources["limits"]["nvidia.com/gpu"] == 1
        assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
        # The image docker compose builds with a CUDA torch.
        assert container["image"] == compose["stylizer"]["image"]
        assert "cu" in compose["stylizer"]["build"]["args"]["TORCH_INDEX"].rsplit("/", 1)[-1]
    else:
        assert args.device == "cpu"
        assert "nvidia.com/gpu" not in resources.get("limits", {}) and "tolerations" not in spec
        assert container["image"] == compose["stylizer-cpu"]["image"]
        assert "TORCH_INDEX" not in compose["stylizer-cpu"]["build"].get("args", {})
        # Worker threads and torch threads follow the pod's CPU limit, not the node's cores.
        cpus = int(resources["limits"]["cpu"])
        assert args.workers == cpus and container_env(container)["OMP_NUM_THREADS"] == str(cpus)
    assert container["image"].startswith("mvstylizer:")
    interpolator = pod_spec(find(objects, "Deployment", "interpolator"))["containers"][0]
    assert interpolator["image"] == compose["interpolator"]["image"]


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_resources_are_requested_and_limits_hold_the_requests(variant):
    _, objects = variant
    for deployment in deployments(objects):
        (container,) = pod_spec(deployment)["containers"]
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert {"cpu", "memory"} <= set(requests)
        assert _mebibytes(limits["memory"]) >= _mebibytes(requests["memory"])
    # The measured figures (docs/deployment.md): the CPU stylizer peaked at 690 MiB resident.
    if variant[0] == "cpu":
        requests = pod_spec(find(objects, "Deployment", "stylizer"))["containers"][0]["resources"]["requests"]
        assert _mebibytes(requests["memory"]) >= 690


def test_the_autoscaler_scales_the_stylizer_on_cpu_and_its_real_queue_metric(variant, adapter_rules):
    _, objects = variant
    hpa = find(objects, "HorizontalPodAutoscaler", "stylizer")["spec"]
    deployment = find(objects, "Deployment", "stylizer")
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "stylizer"}
    (container,) = pod_spec(deployment)["containers"]
    _, args, _ = parse_container(container)
    by_type = {m["type"]: m for m in hpa["metrics"]}
    assert by_type["Resource"]["resource"]["name"] == "cpu" and "cpu" in container["resources"]["requests"]
    pods_metric = by_type["Pods"]["pods"]
    # The metric the adapter serves under that name is a gauge the stylizer really exports.
    (rule,) = [r for r in adapter_rules if r["name"]["as"] == pods_metric["metric"]["name"]]
    series = rule["seriesQuery"].split("{")[0].strip("'\" ")
    exported = {m.name: m.type for m in StylizerMetrics().registry.collect()}
    assert exported.get(series) == "gauge", f"{series} is not a gauge the stylizer exports"
    assert series == "mvs_stylizer_queue_depth"
    assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    for placeholder in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
        assert placeholder in rule["metricsQuery"]
    assert args.metrics_port >= 0, "the stylizer must serve /metrics for the adapter to see the queue"
    target = float(pods_metric["target"]["averageValue"])
    assert pods_metric["target"]["type"] == "AverageValue" and 0 < target <= args.max_batch < args.max_queue
    assert 1 <= hpa["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["maxReplicas"]


def test_the_disruption_budget_leaves_a_stylizer_serving(variant):
    _, objects = variant
    pdb = find(objects, "PodDisruptionBudget", "stylizer")["spec"]
    hpa = find(objects, "HorizontalPodAutoscaler", "stylizer")["spec"]
    labels = find(objects, "Deployment", "stylizer")["spec"]["template"]["metadata"]["labels"]
    assert selects(pdb["selector"]["matchLabels"], labels)
    if "maxUnavailable" in pdb:
        assert pdb["maxUnavailable"] < hpa["minReplicas"]
    else:
        assert 0 < pdb["minAvailable"] < hpa["minReplicas"]
