"""The deployment files against the code they deploy (docs/deploy.md).

Kubernetes (deploy/k8s): every object validates against the Kubernetes OpenAPI schema of the oldest and the
newest version we claim (kubernetes-validate's JSON schemas, offline, strict: an unknown field fails); every
container's arguments parse with fenghuo's own CLI parser; every environment variable is one the code reads; the
detector StatefulSet has as many replicas as the event topics have partitions; pods run as non-root on a read-only
root filesystem with requests and limits; probes hit the endpoints the processes serve; secrets are referenced,
never shipped. systemd (deploy/systemd): ``systemd-analyze verify`` on the units with the real executable, the
hardening keys, and the same CLI and environment checks of their ExecStart lines and environment files.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from fenghuo.cli.config_check import load_checked
from fenghuo.cli.main import parser
from fenghuo.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
UNITS = ROOT / "deploy" / "systemd"
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())  # the oldest supported by Kubernetes today, newest
WORKLOADS = ("Deployment", "StatefulSet", "Job")
ROLES = ("detectors", "alerts", "store-writer")
SETTINGS_ENV = {f"FENGHUO_{name.upper()}" for name in Settings.model_fields}
SECRET = "fenghuo-secrets"
SECRET_KEYS = {"store-url", "api-keys", "webhook-secret"}


def k8s_objects() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return out


OBJECTS = k8s_objects()


def named(kind: str, name: str) -> dict[str, Any]:
    return next(o for _, o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name)


def env_config() -> dict[str, str]:
    return dict(named("ConfigMap", "fenghuo-env")["data"])


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [(o["metadata"]["name"], o["spec"]["template"]["spec"]) for _, o in OBJECTS if o["kind"] in WORKLOADS]


def containers() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{name}/{c['name']}", c) for name, spec in pod_specs() for c in spec["containers"]]


def parse_cli(argv: list[str]) -> Any:
    """fenghuo's real parser on ``argv``; a usage error (argparse exits 2) fails the test with the command."""
    try:
        return parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`fenghuo {' '.join(argv)}` does not parse with the CLI (exit {exc.code})")


# -- Kubernetes -----------------------------------------------------------------------------------------------
def test_the_kustomization_lists_every_manifest_and_nothing_else() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["namespace"] == named("Namespace", "fenghuo")["metadata"]["name"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("where,obj", OBJECTS, ids=[f"{f}:{o['kind']}/{o['metadata']['name']}" for f, o in OBJECTS])
def test_each_object_validates_against_the_kubernetes_schema(where: str, obj: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{where}: {obj['kind']}/{obj['metadata']['name']} at {path}: {exc.message}")


def test_the_schema_check_catches_a_misspelt_field() -> None:
    """The check above can fail: a field Kubernetes does not know (strict schemas) and a wrong type are refused."""
    import copy

    api = copy.deepcopy(named("Deployment", "fenghuo-api"))
    api["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, K8S_VERSIONS[-1], strict=True)
    api = copy.deepcopy(named("Deployment", "fenghuo-api"))
    api["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, K8S_VERSIONS[-1], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")
def test_kubectl_kustomize_renders_every_object_into_the_namespace() -> None:
    """What `kubectl apply -k deploy/k8s` would send (rendered offline): the same objects, each in the namespace,
    still valid after kustomize added its labels and image."""
    run = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    rendered = [d for d in yaml.safe_load_all(run.stdout) if d]
    key = sorted((o["kind"], o["metadata"]["name"]) for o in rendered)
    assert key == sorted((o["kind"], o["metadata"]["name"]) for _, o in OBJECTS)
    for o in rendered:
        assert o["kind"] == "Namespace" or o["metadata"]["namespace"] == "fenghuo"
        kubernetes_validate.validate(o, K8S_VERSIONS[-1], strict=True)


def expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in args, from the container's environment."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m.group(1)], arg)


def container_env(c: dict[str, Any]) -> dict[str, str]:
    env = dict(env_config())
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", f"<{e['name']}>")
    return env


@pytest.mark.parametrize("name,c", containers(), ids=[n for n, _ in containers()])
def test_container_arguments_parse_with_the_cli(name: str, c: dict[str, Any]) -> None:
    assert "command" not in c, "the image's ENTRYPOINT is fenghuo (deploy/Dockerfile): give args only"
    argv = [expand(a, container_env(c)) for a in c["args"]]
    args = parse_cli(argv)
    if getattr(args, "role", None) == "detectors" or argv[:2] == ["kafka", "create-topics"]:
        assert args.partitions == int(env_config()["FENGHUO_PARTITIONS"])


def test_every_environment_variable_is_read_by_the_code() -> None:
    """A setting (FENGHUO_<field>), a $(VAR) some container's args use, or a ${VAR} the configuration reads."""
    config_text = named("ConfigMap", "fenghuo-config")["data"]["fenghuo.yaml"]
    used_in_args = {m for _, c in containers() for a in c["args"] for m in re.findall(r"\$\((\w+)\)", a)}
    used_in_config = set(re.findall(r"\$\{(\w+)\}", config_text))
    names = set(env_config()) | {e["name"] for _, c in containers() for e in c.get("env", [])}
    unknown = sorted(n for n in names if n not in SETTINGS_ENV | used_in_args | used_in_config)
    assert unknown == [], f"environment variables no code reads: {unknown}"
    for name, c in containers():  # what loads the configuration has what it interpolates
        if "create-topics" not in c["args"]:
            assert {e["name"] for e in c.get("env", [])} >= used_in_config - set(env_config()), name


def test_detector_workers_are_as_many_as_the_partitions() -> None:
    workers = named("StatefulSet", "fenghuo-detectors")
    assert workers["spec"]["replicas"] == int(env_config()["FENGHUO_PARTITIONS"])
    assert workers["spec"]["serviceName"] == named("Service", "fenghuo-detectors")["metadata"]["name"]
    assert named("Service", "fenghuo-detectors")["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("name,spec", pod_specs(), ids=[n for n, _ in pod_specs()])
def test_pods_run_unprivileged_on_a_read_only_root(name: str, spec: dict[str, Any]) -> None:
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0 and pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec.get("automountServiceAccountToken") is False
    mounted = {v["name"] for v in spec["volumes"]}
    for c in spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        for kind in ("requests", "limits"):
            assert set(c["resources"][kind]) == {"cpu", "memory"}, f"{name}: {kind}"
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert "/tmp" in mounts and set(mounts.values()) <= mounted  # a writable /tmp on a read-only root
        if c["args"][0] in ("run", "worker"):
            assert mounts.get("/data") and env_config()["FENGHUO_DATA_DIR"] == "/data"
        assert env_config()["FENGHUO_CONFIG"].startswith(next(p for p, n in mounts.items() if n == "config") + "/")


def test_probes_reach_what_each_process_serves() -> None:
    api = named("Deployment", "fenghuo-api")["spec"]["template"]["spec"]["containers"][0]
    port = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert port["http"] == int(parse_cli(api["args"]).port)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert api[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = named("Service", "fenghuo-api")["spec"]["ports"][0]
    assert service["targetPort"] == "http"
    workers = [c for n, c in containers() if c["args"][0] == "worker"]
    assert sorted(c["args"][1] for c in workers) == sorted(ROLES)
    for c in workers:
        assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
        health = next(p["containerPort"] for p in c["ports"] if p["name"] == "health")
        assert health == int(env_config()["FENGHUO_PROBE_PORT"])


def test_secrets_are_referenced_never_shipped() -> None:
    assert not [o for _, o in OBJECTS if o["kind"] == "Secret"], "no Secret is shipped: docs/deploy.md makes it"
    refs = [e["valueFrom"]["secretKeyRef"] for _, c in containers() for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})]
    assert refs and all(r["name"] == SECRET and not r.get("optional") for r in refs)
    assert {r["key"] for r in refs} == SECRET_KEYS
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert all(f"--from-literal={key}=" in doc for key in SECRET_KEYS), "docs/deploy.md shows how to make each key"
    secretish = [k for k in env_config() if re.search(r"SECRET|PASSWORD|KEYS|STORE_URL", k)]
    assert secretish == [], "secrets belong in the Secret, not the ConfigMap"


def test_the_shipped_configuration_passes_check_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fenghuo.yaml"
    path.write_text(named("ConfigMap", "fenghuo-config")["data"]["fenghuo.yaml"], encoding="utf-8")
    monkeypatch.setenv("FENGHUO_WEBHOOK_SECRET", "test-only-webhook-secret")
    config = load_checked(path)
    assert config.rules and config.nodes


# -- systemd --------------------------------------------------------------------------------------------------
def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections -> key -> every value (keys such as EnvironmentFile= repeat)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out[section] = {}
        else:
            key, _, value = line.partition("=")
            out[section].setdefault(key, []).append(value)
    return out


def env_file(name: str) -> dict[str, str]:
    out = {}
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


SERVICES = ("fenghuo-api.service", "fenghuo-worker@.service", "fenghuo-topics.service")
FENGHUO_BIN = "/opt/fenghuo/venv/bin/fenghuo"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """Verified with the real executable in place of the install path; any warning (an unknown key, a bad value)
    fails, not only the exit code (systemd-analyze exits 0 on an unknown key)."""
    real = shutil.which("fenghuo", path=str(Path(__import__("sys").executable).parent))
    assert real, "the fenghuo console script of this environment"
    names = []
    for name in SERVICES:
        text = (UNITS / name).read_text(encoding="utf-8").replace(FENGHUO_BIN, real)
        instances = [name.replace("@", f"@{role}") for role in ROLES] if "@" in name else [name]
        for inst in instances:
            (tmp_path / inst).write_text(text, encoding="utf-8")
            names.append(str(tmp_path / inst))
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and run.stderr.strip() == "", run.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_units_are_hardened_and_restart_on_failure(name: str) -> None:
    service = unit(name)["Service"]
    assert service["NoNewPrivileges"] == ["yes"] and service["ProtectSystem"] == ["strict"]
    assert service.get("DynamicUser") == ["yes"] or service.get("User"), "never root"
    assert service["ExecStart"][0].startswith(FENGHUO_BIN + " ")
    assert "/etc/fenghuo/fenghuo.env" in service["EnvironmentFile"]
    if service["Type"] != ["oneshot"]:
        assert service["Restart"] == ["on-failure"]
        assert service["StateDirectory"], "ProtectSystem=strict: the data directory is the StateDirectory"
        assert "/etc/fenghuo/secrets.env" in service["EnvironmentFile"], "secrets: required, not optional (no '-')"


def unit_argv(name: str, role: str | None) -> list[str]:
    """ExecStart as systemd would run it: specifiers (%i, %H) and ${VAR} from the environment files."""
    env = env_file("fenghuo.env") | (env_file(f"{role}.env") if role else {})
    env["STATE_DIRECTORY"] = f"/var/lib/fenghuo/{role or 'api'}"
    line = unit(name)["Service"]["ExecStart"][0].replace("%i", role or "").replace("%H", "host1")
    missing = set(re.findall(r"\$\{(\w+)\}", line)) - set(env)
    assert not missing, f"{name}: ExecStart uses {missing}, which no environment file sets"
    return shlex.split(re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line))[1:]


@pytest.mark.parametrize("name,role", [("fenghuo-api.service", None), ("fenghuo-topics.service", None)]
                         + [("fenghuo-worker@.service", r) for r in ROLES])
def test_unit_commands_parse_with_the_cli(name: str, role: str | None) -> None:
    args = parse_cli(unit_argv(name, role))
    if role:
        assert args.role == role and args.partitions == int(env_file("fenghuo.env")["FENGHUO_PARTITIONS"])


def test_environment_files_hold_settings_and_no_secret() -> None:
    lines = [line for name in SERVICES for line in unit(name)["Service"]["ExecStart"]]
    used = {m for line in lines for m in re.findall(r"\$\{(\w+)\}", line)}
    for name in ["fenghuo.env"] + [f"{r}.env" for r in ROLES]:
        unknown = sorted(set(env_file(name)) - SETTINGS_ENV - used)
        assert unknown == [], f"{name}: no code reads {unknown}"
        assert not [k for k in env_file(name) if re.search(r"SECRET|PASSWORD|KEYS|STORE_URL", k)], name
    assert env_file("secrets.env.example") == {}, "the example sets nothing: every line is commented out"
    ports = [env_file(f"{r}.env")["FENGHUO_PROBE_PORT"] for r in ROLES]
    assert len(set(ports)) == len(ROLES), "the workers of one machine need their own health ports"
