"""The Helm chart as a cluster sees it: rendered by Helm itself, checked against Kubernetes' schemas.

Rendering uses Helm's Go SDK (the ``helm-python-sdk`` wheel ships it; no cluster is contacted),
validation the Kubernetes OpenAPI schemas shipped by ``kubernetes-validate``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bots.settings import AppSettings as Settings
from tests.support.services import in_ci

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "switchboard"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one.
KUBERNETES = ("1.25", "1.33")
SETTINGS = {field.alias for field in Settings.model_fields.values()}
PLATFORM_PATHS = ["/slack/events", "/slack/install", "/slack/oauth_redirect", "/api/messages"]

Manifests = dict[tuple[str, str], dict[str, Any]]


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed (pip install -e '.[test]')"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def _helm(action: str, values: dict[str, Any]) -> tuple[int, Any]:
    _need("helm_python")
    done = subprocess.run(
        [sys.executable, "-m", "tests.deploy.render_chart", action, str(CHART)],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def render(values: dict[str, Any] | None = None) -> Manifests:
    code, result = _helm("render", values or {})
    assert code == 0, result
    manifests: Manifests = {}
    for path, text in result.items():
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                manifests[(doc["kind"], doc["metadata"]["name"])] = doc
    return manifests


def render_error(values: dict[str, Any]) -> str:
    code, result = _helm("render", values)
    assert code != 0, "the chart rendered although it should have refused these values"
    return str(result["error"])


def one(manifests: Manifests, kind: str) -> dict[str, Any]:
    found = [doc for (k, _), doc in manifests.items() if k == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]["containers"][0]


def env_of(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container(workload)["env"]}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


EVERYTHING_ON = {
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "tls": [{"secretName": "sb-tls", "hosts": ["switchboard.example.com"]}],
    },
    "serviceMonitor": {"enabled": True},
    "config": {
        "SWITCHBOARD_CHAT_MODEL": "gpt-4o-mini",
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
    },
    "secrets": {"env": [{"name": "DATABASE_URL", "secretName": "pg-app", "key": "uri"}]},
}


@pytest.fixture(scope="module")
def defaults() -> Manifests:
    return render()


@pytest.fixture(scope="module")
def everything() -> Manifests:
    return render(EVERYTHING_ON)


def test_chart_lints_without_warnings():
    code, report = _helm("lint", {})
    assert code == 0 and not report["errors"], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize("values", ["defaults", "everything"])
def test_rendered_objects_are_valid_kubernetes(
    values: str, version: str, request: pytest.FixtureRequest
):
    _need("kubernetes_validate")
    import kubernetes_validate

    manifests: Manifests = request.getfixturevalue(values)
    for (kind, name), doc in manifests.items():
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD; checked by its own test below
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind}/{name} is not valid for Kubernetes {version}: {exc}")


def test_several_replicas_that_autoscale_and_survive_node_drains(defaults: Manifests):
    deployment = one(defaults, "Deployment")
    hpa = one(defaults, "HorizontalPodAutoscaler")
    pdb = one(defaults, "PodDisruptionBudget")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    fixed = render({"autoscaling": {"enabled": False}, "replicaCount": 4})
    assert one(fixed, "Deployment")["spec"]["replicas"] == 4
    assert not [k for k, _ in fixed if k == "HorizontalPodAutoscaler"]


def test_probes_reach_health_and_readiness_on_the_port_the_server_listens_on(defaults: Manifests):
    server = container(one(defaults, "Deployment"))
    env = env_of(one(defaults, "Deployment"))
    (port,) = server["ports"]

    assert server["command"] == ["switchboard", "serve", "--host", "0.0.0.0"]
    assert env["PORT"]["value"] == str(port["containerPort"])
    assert server["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert server["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert server["resources"]["requests"]["cpu"] and server["resources"]["requests"]["memory"]
    assert server["resources"]["limits"]["memory"]


def test_the_service_reaches_server_pods_and_never_the_migration_job(defaults: Manifests):
    service = one(defaults, "Service")
    deployment = one(defaults, "Deployment")
    job = one(defaults, "Job")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(service["spec"]["selector"], pod_labels)
    assert not selects(service["spec"]["selector"], job["spec"]["template"]["metadata"]["labels"])
    assert service["spec"]["ports"][0]["targetPort"] == container(deployment)["ports"][0]["name"]


def test_pods_run_as_an_unprivileged_user_on_a_read_only_root(defaults: Manifests):
    for workload in (one(defaults, "Deployment"), one(defaults, "Job")):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        security = container(workload)["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"] for m in container(workload)["volumeMounts"]}
        assert "/tmp" in mounts


def test_secrets_are_referenced_and_never_rendered(defaults: Manifests, everything: Manifests):
    for manifests in (defaults, everything):
        assert not [k for k, _ in manifests if k == "Secret"]
        for workload in (one(manifests, "Deployment"), one(manifests, "Job")):
            env = env_of(workload)
            for name in ("DATABASE_URL", "REDIS_URL"):
                reference = env[name]["valueFrom"]["secretKeyRef"]
                assert "value" not in env[name] and not reference.get("optional", False)
            assert container(workload)["envFrom"] == [{"secretRef": {"name": "switchboard"}}]

    # A variable taken from another Secret replaces the default reference, once.
    env = env_of(one(everything, "Deployment"))
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg-app", "key": "uri"}
    names = [item["name"] for item in container(one(everything, "Deployment"))["env"]]
    assert names.count("DATABASE_URL") == 1


@pytest.mark.parametrize(
    "name", ["SLACK_BOT_TOKEN", "OPENAI_API_KEY", "DATABASE_URL", "MICROSOFT_APP_PASSWORD"]
)
def test_a_secret_put_in_plain_config_is_refused(name: str):
    error = render_error({"config": {name: "do-not-render-me"}})
    assert f"config.{name} looks like a secret" in error
    assert "do-not-render-me" not in error


def test_required_secrets_need_a_secret_to_come_from():
    error = render_error({"secrets": {"existingSecret": ""}})
    assert "DATABASE_URL must come from a Secret" in error


def test_migrations_run_once_per_release_before_the_new_pods(defaults: Manifests):
    job = one(defaults, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    assert container(job)["command"] == ["switchboard", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0
    # Same database as the server, and no ServiceAccount that a first install has not created yet.
    assert env_of(job)["DATABASE_URL"] == env_of(one(defaults, "Deployment"))["DATABASE_URL"]
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]
    assert not [k for k, _ in render({"migrations": {"enabled": False}}) if k == "Job"]


def test_the_ingress_exposes_only_the_platform_webhooks(defaults: Manifests, everything: Manifests):
    assert not [k for k, _ in defaults if k == "Ingress"]
    ingress = one(everything, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    paths = rule["http"]["paths"]
    assert [p["path"] for p in paths] == PLATFORM_PATHS
    service = one(everything, "Service")["metadata"]["name"]
    backend = {"name": service, "port": {"name": "http"}}
    assert all(p["backend"]["service"] == backend for p in paths)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"][0]["secretName"] == "sb-tls"


def test_the_service_monitor_scrapes_metrics_when_asked(defaults: Manifests, everything: Manifests):
    assert not [k for k, _ in defaults if k == "ServiceMonitor"]
    monitor = one(everything, "ServiceMonitor")
    service = one(everything, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["assistants"]}


def test_every_variable_the_chart_sets_is_a_real_setting(
    defaults: Manifests, everything: Manifests
):
    """Guards against a typo or a renamed setting that the server would silently ignore."""
    for manifests in (defaults, everything):
        names = set(env_of(one(manifests, "Deployment")))
        assert names <= SETTINGS, sorted(names - SETTINGS)
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert set(values["secrets"]["requiredKeys"]) <= SETTINGS


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "maxReplicas must be at least"),
        ({"config": {"PORT": "8080"}}, "config.PORT is set by the chart"),
    ],
)
def test_inconsistent_values_are_refused_with_a_reason(values: dict[str, Any], message: str):
    assert message in render_error(values)


def test_config_values_reach_both_the_server_and_the_migration_job(everything: Manifests):
    for workload in (one(everything, "Deployment"), one(everything, "Job")):
        env = env_of(workload)
        assert env["SWITCHBOARD_CHAT_MODEL"]["value"] == "gpt-4o-mini"
        assert env["SWITCHBOARD_SAMPLE_KNOWLEDGE"]["value"] == ""  # no sample in a cluster


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"ingres": {"enabled": True}}, "ingres"),  # a misspelt key is not silently ignored
        ({"replicaCount": "three"}, "replicaCount"),
        ({"secrets": {"env": [{"name": "DATABASE_URL", "key": "uri"}]}}, "secretName"),
    ],
)
def test_values_that_do_not_fit_the_schema_are_refused(values: dict[str, Any], named: str):
    assert named in render_error(values)
