"""``deploy/k8s``: the manifests parse, refer to each other correctly, and configure Firstline validly.

No cluster or schema validator is at hand (kubectl and kubeconform are not packaged for Debian), so the
tests check what goes wrong in practice: a manifest without apiVersion/kind/metadata, a kustomization
naming a missing file, probes on the wrong paths or port, an autoscaler or a disruption budget whose
target or selector misses the pods, a Secret name the Deployment does not use, and a ``firstline.toml``
that Firstline refuses. The ConfigMap's ``firstline.toml`` is loaded with :func:`load_settings`
together with the example Secret's values, with ``workers > 1``, so the scale checks (PostgreSQL, a
vector-store server, Redis) run on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from firstline.errors import ConfigError
from firstline.settings import load_settings

GROUPS = {  # kind -> apiVersion these manifests must use (current, non-deprecated ones)
    "Namespace": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "Ingress": "networking.k8s.io/v1",
}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@pytest.fixture(scope="module")
def k8s(repo: Path) -> Path:
    return repo / "deploy" / "k8s"


@pytest.fixture(scope="module")
def manifests(k8s: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every object under deploy/k8s (the llm component included), by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(k8s.rglob("*.yaml")):
        if path.name in ("kustomization.yaml", "engine-patch.yaml"):
            continue
        for document in _documents(path):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def test_every_manifest_has_apiversion_kind_and_metadata(k8s: Path) -> None:
    for path in sorted(k8s.rglob("*.yaml")):
        for document in _documents(path):
            assert {"apiVersion", "kind", "metadata"} <= set(document) or document["kind"] in (
                "Kustomization",
                "Component",
            ), path
            if document["kind"] in GROUPS:
                assert document["apiVersion"] == GROUPS[document["kind"]], path
                assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", document["metadata"]["name"]), path


def test_the_kustomization_names_files_that_exist(k8s: Path) -> None:
    main = _documents(k8s / "kustomization.yaml")[0]
    assert main["kind"] == "Kustomization"
    for resource in main["resources"]:
        assert (k8s / resource).is_file(), resource
    # The placeholder Secret is never applied by `kubectl apply -k`.
    assert "secret.example.yaml" not in main["resources"]
    component = _documents(k8s / "llm" / "kustomization.yaml")[0]
    assert component["kind"] == "Component"
    for resource in component["resources"] + [p["path"] for p in component["patches"]]:
        assert (k8s / "llm" / resource).is_file(), resource


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_the_deployment_probes_ready_and_health(manifests: dict[tuple[str, str], dict[str, Any]]) -> None:
    deployment = manifests[("Deployment", "firstline")]
    container = _container(deployment)
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names
    assert container["args"] == ["--host", "0.0.0.0"]
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # The Service reaches the container's named port, and selects the pods.
    service = manifests[("Service", "firstline")]
    assert service["spec"]["ports"][0]["targetPort"] in port_names
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_autoscaler_and_the_disruption_budget_hit_the_pods(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    deployment = manifests[("Deployment", "firstline")]
    hpa = manifests[("HorizontalPodAutoscaler", "firstline")]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", "firstline")
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = manifests[("PodDisruptionBudget", "firstline")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # A budget that leaves room for an eviction while the autoscaler keeps its minimum.
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_the_secret_and_configmap_are_the_ones_the_pods_use(
    manifests: dict[tuple[str, str], dict[str, Any]], name_problem: Callable[[str], str | None]
) -> None:
    deployment = manifests[("Deployment", "firstline")]
    container = _container(deployment)
    secret = manifests[("Secret", "firstline-secrets")]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    [config_volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    assert config_volume["configMap"]["name"] == "firstline-config"
    [mount] = [m for m in container["volumeMounts"] if m["name"] == config_volume["name"]]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["FIRSTLINE_CONFIG"] == f"{mount['mountPath']}/firstline.toml"
    names = list(secret["stringData"]) + list(env)
    patch = _documents(Path(__file__).parents[2] / "deploy" / "k8s" / "llm" / "engine-patch.yaml")[0]
    names += [e["name"] for e in _container(patch)["env"]]
    assert [p for p in map(name_problem, names) if p] == []


def _load_config(
    tmp_path: Path, manifests: dict[tuple[str, str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch, **extra: str
) -> Any:
    path = tmp_path / "firstline.toml"
    path.write_text(manifests[("ConfigMap", "firstline-config")]["data"]["firstline.toml"])
    for key, value in {**manifests[("Secret", "firstline-secrets")]["stringData"], **extra}.items():
        monkeypatch.setenv(key, value)
    return load_settings(path)


def test_the_configmap_loads_with_several_workers(
    tmp_path: Path, manifests: dict[tuple[str, str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _load_config(tmp_path, manifests, monkeypatch)
    assert settings.scale.workers > 1
    assert settings.knowledge.store in ("chroma-server", "qdrant-server")
    assert settings.ticket_database_url.startswith("postgresql+psycopg://")
    assert settings.scale.redis_url.startswith("redis://")
    assert settings.service.host == "0.0.0.0"
    assert settings.service.port == _container(manifests[("Deployment", "firstline")])["ports"][0]["containerPort"]
    # Two workers a pod: the pod requests a CPU for each.
    requests = _container(manifests[("Deployment", "firstline")])["resources"]["requests"]
    assert int(requests["cpu"]) == settings.scale.workers
    # The llm component's switch loads too, pointing at the vLLM Service and its served model name.
    settings = _load_config(tmp_path, manifests, monkeypatch, FIRSTLINE_LLM__ENGINE="llm")
    endpoint = settings.llm.endpoints["vllm"]
    vllm = _container(manifests[("Deployment", "vllm")])
    assert endpoint.model == vllm["args"][vllm["args"].index("--served-model-name") + 1]
    assert endpoint.base_url == "http://vllm.firstline.svc.cluster.local:8000/v1"
    assert manifests[("Service", "vllm")]["spec"]["ports"][0]["port"] == 8000
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_the_configmap_alone_is_refused(tmp_path: Path, manifests: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Without the Secret's PostgreSQL URLs, several workers on SQLite are refused: the scale check runs."""
    path = tmp_path / "firstline.toml"
    path.write_text(manifests[("ConfigMap", "firstline-config")]["data"]["firstline.toml"])
    with pytest.raises(ConfigError, match="SQLite"):
        load_settings(path)
