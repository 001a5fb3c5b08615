"""k8s/: every overlay rendered, validated and checked (issue 17).

Renders each overlay with ``kubectl kustomize``; validates the Kubernetes
objects against the Kubernetes schemas (kubernetes-validate, strict), KEDA's
and the Prometheus Operator's against models of their published CRDs
(tests/deploy/crd_models.py, in the deploy tools' venv), CloudNativePG's
against its published API (tests/deploy/crd-published, node) and, like
RabbitMQ's, against minimal schemas of the fields we use that refuse any
other field (tests/deploy/crd_schemas.py: no reachable package ships
RabbitMQ's); runs checkov; and
checks what an ops team relies on: every service in ``services/`` has its
Deployment, probes, PodDisruptionBudget, scaler and Secret, the connection
budget fits PostgreSQL, only the gateway is reachable from outside.

The deploy tools (checkov, the CRD models) live in ``.venv-checkov``
(``make deploy-tools``); without it those two tests skip, unless
``QQ_REQUIRE_DEPLOY_TOOLS`` is set (``make k8s-check`` and CI set it).
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from kernel.config import ROOT
from tests.deploy.crd_schemas import SCHEMAS

OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.32"  # the government cloud's; kubernetes-validate carries its schemas
TOOLS = Path(os.environ.get("QQ_DEPLOY_VENV", ROOT / ".venv-checkov"))
ADMIN_PORT = 9100
RPC_TIMEOUT_SECONDS = 10  # config/*.yaml: the longest a caller waits for one RPC


def code_services():
    """What the code runs: the gateway and every folder of services/ with a service.py."""
    return ["gateway", *sorted(p.parent.name for p in (ROOT / "services").glob("*/service.py"))]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """overlay → (path of the rendered YAML, its objects)."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.fail("kubectl is needed to render k8s/ (kubectl kustomize)")
    out = tmp_path_factory.mktemp("rendered")
    result = {}
    for overlay in OVERLAYS:
        text = subprocess.run([kubectl, "kustomize", str(ROOT / "k8s" / "overlays" / overlay)],
                              check=True, capture_output=True, text=True, timeout=60).stdout
        path = out / f"{overlay}.yaml"
        path.write_text(text)
        result[overlay] = (path, [d for d in yaml.safe_load_all(text) if d])
    return result


def of_kind(docs, kind, name=None):
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def tools(executable):
    path = TOOLS / "bin" / executable
    if not path.exists():
        if os.environ.get("QQ_REQUIRE_DEPLOY_TOOLS"):
            pytest.fail(f"{path} is missing: make deploy-tools")
        pytest.skip(f"{path} is missing (make deploy-tools installs it)")
    return str(path)


# -- validity ---------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_its_schema(rendered, overlay):
    # rule: ops (issue 17) — every object valid: Kubernetes' schemas, or the operators'
    _, docs = rendered[overlay]
    problems, unchecked = [], []
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        schema = SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if schema is not None:
            problems += [f"{where} {list(e.absolute_path)}: {e.message}"
                         for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            unchecked.append(doc)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)
    # what neither covers is checked by the CRD models (next test); nothing else
    assert {(d["apiVersion"], d["kind"]) for d in unchecked} <= {
        ("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"),
        ("monitoring.coreos.com/v1", "ServiceMonitor")}


def test_the_kubernetes_schemas_refuse_a_misspelt_field(rendered):
    # rule: ops (issue 17) — strict: a probe under a wrong name is not silently dropped
    deployment = json.loads(json.dumps(of_kind(rendered["prod"][1], "Deployment", "appeals")[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


BAD_SCALED_OBJECT = {  # a field KEDA does not have: the CRD models must refuse it
    "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
    "spec": {"scaleTargetRef": {"name": "x"}, "minReplicas": 2,  # KEDA says minReplicaCount
             "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "rpc-x"}}]}}


@pytest.fixture(scope="module")
def tool_runs(rendered, tmp_path_factory):
    """crd_models.py and checkov started at once, side by side (most of their
    time is their own imports); each test then waits for its own."""
    if not (TOOLS / "bin" / "checkov").exists():
        return None
    folder = tmp_path_factory.mktemp("tools")
    bad_path = folder / "bad.yaml"
    bad_path.write_text(yaml.safe_dump(BAD_SCALED_OBJECT))
    rendered_dir = folder / "rendered"
    rendered_dir.mkdir()
    for overlay in OVERLAYS:
        shutil.copy(rendered[overlay][0], rendered_dir / f"{overlay}.yaml")
    shutil.copy(ROOT / "Dockerfile", rendered_dir / "Dockerfile")  # the image, checked too
    paths = {**{o: str(rendered[o][0]) for o in OVERLAYS}, "bad": str(bad_path)}
    crd = subprocess.Popen([str(TOOLS / "bin" / "python"), str(ROOT / "tests/deploy/crd_models.py"),
                            *paths.values()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # --skip-download: the built-in checks only, nothing fetched from checkov's platform
    checkov = subprocess.Popen([str(TOOLS / "bin" / "checkov"), "-d", str(rendered_dir),
                                "--framework", "kubernetes", "dockerfile", "--quiet", "--compact",
                                "--skip-download", "-o", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    yield {"crd": (crd, paths), "checkov": checkov}
    for proc in (crd, checkov):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def crd_model_report(tool_runs):
    tools("python")
    proc, paths = tool_runs["crd"]
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err  # 1: the bad one was refused
    report = json.loads(out)
    return {name: {"checked": report["checked"][path], "problems": report["problems"][path]}
            for name, path in paths.items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_and_prometheus_objects_validate_against_their_published_crds(rendered,
                                                                           crd_model_report,
                                                                           overlay):
    # rule: ops (issue 17)
    report = crd_model_report[overlay]
    assert report["problems"] == []
    docs = rendered[overlay][1]
    assert report["checked"] == {kind: len(of_kind(docs, kind)) for kind in (
        "ScaledObject", "TriggerAuthentication", "ServiceMonitor")}  # every one looked at


def test_the_crd_models_check_refuses_an_unknown_field(crd_model_report):
    # rule: ops (issue 17) — the check above can fail
    assert any("minReplicas" in p for p in crd_model_report["bad"]["problems"])


def test_the_operator_schemas_refuse_a_misspelt_field():
    # rule: ops (issue 17)
    pooler = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Pooler", "metadata": {"name": "p"},
              "spec": {"cluster": {"name": "c"}, "instances": 2, "type": "rw",
                       "pgbouncer": {"poolmode": "transaction"}}}
    errors = list(jsonschema.Draft202012Validator(
        SCHEMAS[("postgresql.cnpg.io/v1", "Pooler")]).iter_errors(pooler))
    assert errors


CRD_PUBLISHED = ROOT / "tests" / "deploy" / "crd-published"


def cloudnative_pg_report(docs, tmp_path):
    """CloudNativePG's objects checked by its published API (check.mjs, node)."""
    if not (CRD_PUBLISHED / "node_modules" / "@kubernetes-models" / "cloudnative-pg").exists():
        if os.environ.get("QQ_REQUIRE_DEPLOY_TOOLS"):
            pytest.fail("tests/deploy/crd-published/node_modules is missing: make deploy-tools")
        pytest.skip("CloudNativePG's models are not installed (make deploy-tools)")
    path = tmp_path / "objects.json"
    path.write_text(json.dumps(docs))
    out = subprocess.run([shutil.which("node") or "node", str(CRD_PUBLISHED / "check.mjs"), str(path)],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cloudnative_pg_objects_validate_against_its_published_api(rendered, overlay, tmp_path):
    # rule: ops (issue 17) — types, enumerations and required fields as CloudNativePG publishes
    # them; the minimal schemas (crd_schemas.py) add the refusal of unknown fields
    docs = rendered[overlay][1]
    report = cloudnative_pg_report(docs, tmp_path)
    assert report["problems"] == []
    assert report["checked"] == {kind: len(of_kind(docs, kind)) for kind in (
        "Cluster", "Database", "Pooler", "ScheduledBackup") if of_kind(docs, kind)}
    assert report["checked"]["Cluster"] == 1  # every one looked at, the cluster included


def test_cloudnative_pg_published_api_refuses_a_wrong_value(rendered, tmp_path):
    # rule: ops (issue 17) — the check above can fail
    docs = json.loads(json.dumps([d for d in rendered["prod"][1]
                                  if d["apiVersion"] == "postgresql.cnpg.io/v1"]))
    pooler = of_kind(docs, "Pooler")[0]
    pooler["spec"]["pgbouncer"]["poolMode"] = "statement-ish"  # not one of CNPG's modes
    database = of_kind(docs, "Database")[0]
    database["spec"]["owner"] = 42  # a role name is a string
    report = cloudnative_pg_report(docs, tmp_path)
    assert any(p.startswith("Pooler/") and "poolMode" in p for p in report["problems"])
    assert any(p.startswith("Database/") and "owner" in p for p in report["problems"])


def test_checkov_leaves_no_failed_check_and_every_skip_has_its_reason(tool_runs):
    # rule: ops (issue 17)
    tools("checkov")
    out, err = tool_runs["checkov"].communicate(timeout=300)
    assert out.strip(), err
    reports = json.loads(out)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}"
              for r in reports for c in r["results"].get("failed_checks", [])]
    assert not failed, "\n".join(failed)
    assert sum(r["summary"]["passed"] for r in reports) > 500  # it really checked
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}
    for r in reports:
        for skip in r["results"].get("skipped_checks", []):
            assert len((skip.get("suppress_comment") or "").strip()) > 20, skip["check_id"]


# -- what every service must have ----------------------------------------------------------------

def service_gaps(docs, name):
    """What ``name`` lacks in one rendered overlay (empty: nothing)."""
    gaps = []
    deployment = of_kind(docs, "Deployment", name)
    if not deployment:
        return [f"{name}: no Deployment"]
    spec = deployment[0]["spec"]["template"]["spec"]
    labels = deployment[0]["spec"]["template"]["metadata"]["labels"]
    main = next((c for c in spec["containers"] if c["name"] == name), None)
    if main is None:
        return [f"{name}: no container named {name}"]
    ports = {p["name"]: p["containerPort"] for p in main.get("ports", [])}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = main.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or ports.get(get.get("port"), get.get("port")) != ADMIN_PORT:
            gaps.append(f"{name}: {probe} is not GET {path} on the admin port {ADMIN_PORT}")
    env = {e["name"]: e.get("value") for e in main.get("env", [])}
    if env.get("ADMIN_PORT") != str(ADMIN_PORT):
        gaps.append(f"{name}: ADMIN_PORT is not {ADMIN_PORT}")
    if not any(p["spec"]["selector"].get("matchLabels", {}).items() <= labels.items()
               for p in of_kind(docs, "PodDisruptionBudget")):
        gaps.append(f"{name}: no PodDisruptionBudget")
    scaled = [s for s in of_kind(docs, "ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == name]
    hpa = [h for h in of_kind(docs, "HorizontalPodAutoscaler")
           if h["spec"]["scaleTargetRef"]["name"] == name]
    if name == "gateway":
        if not any(m["type"] == "Resource" and m["resource"]["name"] == "cpu"
                   for h in hpa for m in h["spec"]["metrics"]):
            gaps.append("gateway: no HorizontalPodAutoscaler on CPU")
    elif not any(t["type"] == "rabbitmq" and t["metadata"].get("queueName") == f"rpc-{name}"
                 for s in scaled for t in s["spec"]["triggers"]):
        gaps.append(f"{name}: no KEDA ScaledObject on its queue rpc-{name}")
    secret = f"qinqing-{name}"
    mounted = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    if mounted != {secret}:
        gaps.append(f"{name}: mounts {sorted(mounted)}, not its own Secret {secret} alone")
    if not any(u["spec"].get("importCredentialsSecret", {}).get("name") == secret
               for u in of_kind(docs, "User")):
        gaps.append(f"{name}: no RabbitMQ User from {secret}")
    cluster = of_kind(docs, "Cluster")
    roles = cluster[0]["spec"].get("managed", {}).get("roles", []) if cluster else []
    if not any(r["name"] == name and r.get("passwordSecret", {}).get("name") == secret
               for r in roles):
        gaps.append(f"{name}: no PostgreSQL role from {secret}")
    if not any(d["spec"]["name"] == name and d["spec"]["owner"] == name
               for d in of_kind(docs, "Database")):
        gaps.append(f"{name}: no database of its own")
    if not any(s["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == name
               for s in of_kind(docs, "ServiceMonitor")):
        gaps.append(f"{name}: no ServiceMonitor")
    if not any(p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
               and "Egress" in p["spec"].get("policyTypes", [])
               for p in of_kind(docs, "NetworkPolicy") if p["spec"]["podSelector"]):
        gaps.append(f"{name}: no NetworkPolicy limits where it reaches")
    return gaps


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_in_the_code_has_its_deployment_probes_pdb_scaler_and_secret(rendered,
                                                                                 overlay):
    # rule: ops (issue 17)
    _, docs = rendered[overlay]
    gaps = [gap for name in code_services() for gap in service_gaps(docs, name)]
    assert not gaps, "\n".join(gaps)
    if overlay == "dev":  # prod's Secrets are created by hand, never committed (docs/deploy.md)
        secrets = {s["metadata"]["name"] for s in of_kind(docs, "Secret")}
        assert {f"qinqing-{name}" for name in code_services()} <= secrets


def test_a_service_without_manifests_is_reported(rendered):
    # rule: ops (issue 17) — a new folder in services/ fails the suite until k8s/ has it
    _, docs = rendered["dev"]
    assert service_gaps(docs, "registry") == ["registry: no Deployment"]
    stripped = [d for d in docs if not (d["kind"] in ("PodDisruptionBudget", "ScaledObject")
                                        and d["metadata"]["name"] == "appeals")]
    gaps = service_gaps(stripped, "appeals")
    assert gaps == ["appeals: no PodDisruptionBudget",
                    "appeals: no KEDA ScaledObject on its queue rpc-appeals"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down_and_pinned(rendered, overlay):
    # rule: ops (issue 17)
    _, docs = rendered[overlay]
    for deployment in of_kind(docs, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        name = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        # the scaler owns the count: a re-apply must not reset it
        assert "replicas" not in deployment["spec"], name
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} >= {
            "kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        # longer than any handler; a caller gives up on an RPC after RPC_TIMEOUT_SECONDS
        assert pod["terminationGracePeriodSeconds"] > RPC_TIMEOUT_SECONDS
        for container in pod.get("initContainers", []) + pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, name
            image = container["image"]
            assert not image.endswith(":latest") and re.search(r"(:\d+\.\d+\.\d+|@sha256:[0-9a-f]{64})$",
                                                                image), image
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
            # credentials only as the mounted Secret, never as values or env references
            for var in container.get("env", []):
                assert "secretKeyRef" not in var.get("valueFrom", {}), (name, var["name"])
                assert not re.search(r"://[^{/]*:[^{/]*@", var.get("value") or ""), (name, var["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migrations_run_before_the_service_on_a_direct_connection(rendered, overlay):
    # rule: ops (issue 17) — schema at head before a new version takes traffic
    _, docs = rendered[overlay]
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["args"] == ["migrate", name]
        init_env = {e["name"]: e.get("value") for e in init["env"]}
        assert "@qinqing-pg-rw:5432/" in init_env["DB_URL"]  # the primary, not the pooler
        main_env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert main_env["DB_MIGRATE_ON_START"] == "false"
        assert "@qinqing-pg-pooler-rw:5432/" in main_env["DB_URL"]
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_reachable_from_outside_and_over_tls(rendered, overlay):
    # rule: ops (issue 17)
    _, docs = rendered[overlay]
    (ingress,) = of_kind(docs, "Ingress")
    backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"]
                for p in r["http"]["paths"]}
    assert backends == {"gateway"}
    paths = {p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert not paths & {"/", "/metrics", "/healthz", "/readyz"}
    hosts = {h for r in ingress["spec"]["rules"] for h in [r["host"]]}
    assert hosts <= {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in of_kind(docs, "Service"))
    (deny,) = of_kind(docs, "NetworkPolicy", "default-deny")
    assert deny["spec"]["podSelector"] == {} and "Ingress" in deny["spec"]["policyTypes"]
    open_to_namespaces = {
        p["metadata"]["name"]: {f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                                for rule in p["spec"].get("ingress", []) for f in rule["from"]
                                if "namespaceSelector" in f}
        for p in of_kind(docs, "NetworkPolicy")}
    assert open_to_namespaces["gateway"] == {"ingress-nginx"}
    assert "ingress-nginx" not in set().union(*(v for k, v in open_to_namespaces.items()
                                                if k != "gateway"))


# -- the connection budget -------------------------------------------------------------------

def max_replicas(docs, name):
    for s in of_kind(docs, "ScaledObject"):
        if s["spec"]["scaleTargetRef"]["name"] == name:
            return s["spec"]["maxReplicaCount"]
    for h in of_kind(docs, "HorizontalPodAutoscaler"):
        if h["spec"]["scaleTargetRef"]["name"] == name:
            return h["spec"]["maxReplicas"]
    return of_kind(docs, "Deployment", name)[0]["spec"].get("replicas", 1)


def connection_budget(docs):
    """PostgreSQL's connections at the worst moment, from the rendered objects."""
    (cluster,) = of_kind(docs, "Cluster")
    params = cluster["spec"]["postgresql"]["parameters"]
    max_connections = int(params.get("max_connections", 100))  # PostgreSQL's default
    reserved = int(params.get("superuser_reserved_connections", 3)) + int(
        params.get("max_wal_senders", 10))  # CNPG's default for replication
    (pooler,) = of_kind(docs, "Pooler")
    bouncer = pooler["spec"]["pgbouncer"]["parameters"]
    databases = {d["spec"]["name"] for d in of_kind(docs, "Database")}
    # without max_db_connections PgBouncer opens a pool per user and database, unbounded
    pooled = pooler["spec"]["instances"] * int(bouncer["max_db_connections"]) * len(databases)
    # a full restart: every pod's init container holds one direct connection while it migrates
    migrating = sum(max_replicas(docs, d["metadata"]["name"]) for d in of_kind(docs, "Deployment"))
    clients = {}
    for d in of_kind(docs, "Deployment"):
        env = {e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
        per_pod = int(env["DB_POOL_SIZE"]) + int(env["DB_MAX_OVERFLOW"])
        clients[d["metadata"]["name"]] = per_pod * max_replicas(docs, d["metadata"]["name"])
    return {"max_connections": max_connections, "reserved": reserved, "pooled": pooled,
            "migrating": migrating, "server_total": pooled + migrating + reserved,
            "clients": clients, "client_total": sum(clients.values()),
            "pooler_accepts": pooler["spec"]["instances"] * int(bouncer["max_client_conn"]),
            "pool_mode": pooler["spec"]["pgbouncer"]["poolMode"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_connection_budget_fits_postgresql(rendered, overlay):
    # rule: ops (issue 17) — before: pools of 10 + 20 per replica, straight to a
    # PostgreSQL of 100 connections, could open 360
    _, docs = rendered[overlay]
    budget = connection_budget(docs)
    assert budget["pool_mode"] == "transaction"
    assert budget["server_total"] <= budget["max_connections"], budget
    assert budget["client_total"] <= budget["pooler_accepts"], budget
    assert set(budget["clients"]) == set(code_services()) | set(budget["clients"])


def test_connection_budget_counts_what_the_scalers_allow(rendered):
    # rule: ops (issue 17) — raising a maximum past the budget fails the check
    _, docs = rendered["prod"]
    docs = json.loads(json.dumps(docs))
    (pooler,) = of_kind(docs, "Pooler")
    pooler["spec"]["instances"] = 3
    budget = connection_budget(docs)
    assert budget["server_total"] > budget["max_connections"]
    for s in of_kind(docs, "ScaledObject"):
        s["spec"]["maxReplicaCount"] = 100
    assert connection_budget(docs)["client_total"] > budget["client_total"]


# -- observability ---------------------------------------------------------------------------

def exported_metric_names():
    """Metric names the code registers (kernel/metrics.py, services, gateway), as exposed."""
    names = set()
    for folder in ("kernel", "services", "gateway"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for kind, name in re.findall(r"(gauge|counter|Counter|Gauge|Histogram)\(\s*f?\"([a-z_{}]+)\"",
                                         text):
                name = name.replace("{prefix}", "qinqing")
                if kind in ("counter", "Counter"):
                    names.add(name + "_total")
                elif kind == "Histogram":
                    names |= {name + "_bucket", name + "_count", name + "_sum"}
                else:
                    names.add(name)
    return names


def test_dashboard_shows_what_the_services_export():
    # rule: ops (issue 17) — latency, error rate, queue depth, open and overdue appeals, outbox
    dashboard = json.loads((ROOT / "k8s/base/monitoring/qinqing-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = set(re.findall(r"\b(qinqing_[a-z_]+|process_[a-z_]+|rabbitmq_[a-z_]+)\b", exprs))
    exported = exported_metric_names()
    assert {"qinqing_entrypoint_latency_seconds_bucket", "qinqing_entrypoint_errors_total",
            "qinqing_entrypoint_calls_total", "qinqing_appeals_open", "qinqing_appeals_overdue",
            "qinqing_outbox_pending"} <= used & exported
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    process = set(re.findall(r"^(process_[a-z_]+)", generate_latest(registry).decode(), re.M))
    unknown = {m for m in used if not m.startswith("rabbitmq_")} - exported - process
    assert not unknown, f"the dashboard reads metrics nobody exports: {unknown}"
    assert "rabbitmq_detailed_queue_messages_ready" in used  # queue depth, from RabbitMQ itself


# -- the broker: each service on its own names ---------------------------------------------------

def test_each_services_broker_permissions_are_those_of_broker_users_sh(rendered):
    # rule: ops (issues 13, 17) — k8s/ grants each service's RabbitMQ user exactly what
    # scripts/broker-users.sh grants (its own queues and exchanges; no amq.default), and the
    # services are told to take their RPC replies through reply queues of their own
    out = subprocess.run(["bash", str(ROOT / "scripts" / "broker-users.sh"), "qinqing"],
                         env=dict(os.environ, QQ_BROKER_PERMISSIONS_ONLY="1"),
                         check=True, capture_output=True, text=True, timeout=30).stdout
    expected = {}
    for line in out.splitlines():
        service, configure, write, read = line.split(" ")
        expected[service] = {"configure": configure, "write": write, "read": read}
    for overlay in OVERLAYS:
        docs = rendered[overlay][1]
        granted = {d["spec"]["userReference"]["name"]: d["spec"]["permissions"]
                   for d in of_kind(docs, "Permission") if d["spec"]["userReference"]["name"] != "keda"}
        assert granted == expected, overlay
        assert all(not re.search(p["write"], "amq.default") for p in granted.values())
        assert all(not re.search(p["read"], "rpc-appeals") for s, p in granted.items() if s != "appeals")
        settings = of_kind(docs, "ConfigMap", "qinqing-settings")[0]["data"]
        assert settings["RPC_REPLY_TO"] == "queue"
        for name in code_services():
            env = of_kind(docs, "Deployment", name)[0]["spec"]["template"]["spec"]["containers"][0]["env"]
            assert any(e["name"] == "RPC_REPLY_TO" for e in env), name
