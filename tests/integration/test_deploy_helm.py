"""The Helm chart helm/taskbus, checked without a cluster.

Owns: Chart.yaml and values.yaml parse, every .Values reference exists, balanced template
actions, the workloads (a Deployment per daemon, probes, the migration hooks, Secret and
ConfigMap created before the migration job), Secret vs ConfigMap (the SMTP URL in the
Secret), the reports claim mounted by the API (read-only) and the reporter, `helm lint
--strict` and `helm template` without --kube-version (refusals included); issue 11:
liveness and readiness probes on every Deployment at a port its container declares (the
daemons' metrics ports of the contract), the optional ServiceMonitor, PrometheusRule (the
groups of the one rule file) and Ingress rendered only when enabled, and hooks deleted
once they succeeded (nothing of a release outlives `helm uninstall` but the reports
claim); issue 13: values-3node.yaml (the scaled topology: RF 3 / min.insync 2, the
replica's URL in the Secret, a Redis Cluster seed list) renders an autoscaling/v2 HPA on
CPU, one PodDisruptionBudget per Deployment, anti-affinity (preferred, required, none) and
zone spread on every Deployment; values that would break a scaled deployment are refused
(writers over partitions, min.insync over replication, an API grace period shorter than
its drain); every rendered object passes the Kubernetes schemas (kubernetes-validate,
strict).
Rules: every environment variable the chart gives a taskbus binary must be one the
binaries read (helpers/deploy_files.py, `config_vars`); the helm binary comes from
tests/run (TASKBUS_HELM, compose/lib/helm.sh) and its absence FAILS the test.
"""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from helpers.deploy_files import CHART, IMPORT_MAX_BODY, STREAM_DAEMONS
from helpers.deploy_files import config_vars  # noqa: F401 (a fixture)
from helpers.monitoring import DAEMON_PORT_OFFSETS, METRICS_BASE_PORT, RULES

pytestmark = pytest.mark.stack_independent


@pytest.fixture(scope="module")
def chart_values():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "taskbus", chart
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[\w.]+)?", str(chart["version"])), chart["version"]
    assert chart.get("appVersion"), "Chart.yaml has no appVersion"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert isinstance(values, dict)
    return values


def templates():
    files = sorted((CHART / "templates").glob("*"))
    assert files, "the chart has no templates"
    return {f.name: f.read_text() for f in files if f.is_file()}


def test_helm_templates_balance_and_reference_existing_values(chart_values):
    for name, text in templates().items():
        opens, closes = text.count("{{"), text.count("}}")
        assert opens == closes, f"{name}: {opens} '{{{{' but {closes} '}}}}'"
        actions = re.findall(r"\{\{-?\s*(.*?)\s*-?\}\}", text, re.S)
        assert len(actions) == opens, f"{name}: an action spans another"
        blocks = sum(1 for a in actions if re.match(r"(if|with|range|define|block)\b", a))
        ends = sum(1 for a in actions if re.fullmatch(r"end", a))
        assert blocks == ends, f"{name}: {blocks} blocks opened, {ends} ended"
        for ref in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            node = chart_values
            for key in ref.strip(".").split("."):
                assert isinstance(node, dict) and key in node, f"{name}: .Values{ref} is not in values.yaml"
                node = node[key]


def test_helm_chart_has_the_workloads(chart_values):
    t = templates()
    every = "\n".join(t.values())
    kinds = re.findall(r"^kind:\s*(\w+)", every, re.M)
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job", "Secret", "ConfigMap"):
        assert kind in kinds, f"the chart makes no {kind}"
    assert kinds.count("Deployment") >= 4, "API, relay, writer and importer Deployments"
    api = next(v for v in t.values() if re.search(r"kind:\s*Deployment", v) and "taskbus-api" in v)
    assert re.search(r"readinessProbe:\s*\n\s*httpGet:\s*\n\s*path:\s*/ready", api), "API readiness must probe /ready"
    assert re.search(r"livenessProbe:\s*\n\s*httpGet:\s*\n\s*path:\s*/health", api), "API liveness must probe /health"
    assert re.search(r"preStop:\s*\n\s*exec:\s*\n\s*command:\s*\[\"sleep\"", api), "no preStop sleep"
    assert "maxUnavailable: 0" in api, "a rolling update must not drop capacity"
    for binary in ("taskbus-relay", "taskbus-writer", "taskbus-importer"):
        dep = next((v for v in t.values() if re.search(r"kind:\s*Deployment", v)
                    and re.search(rf'command:\s*\["{binary}"\]', v)), None)
        assert dep, f"no Deployment runs {binary}"
        assert "replicas:" in dep and 'include "taskbus.envFrom"' in dep, f"{binary}: replicas, shared environment"
        assert "terminationGracePeriodSeconds" in dep and "resources:" in dep, binary
    # The issue-4 daemons share one Deployment template (taskbus.workerDeployment).
    for component, binary in STREAM_DAEMONS.items():
        dep = t.get(f"{component}-deployment.yaml", "")
        assert re.search(rf'include "taskbus.workerDeployment".*"binary" "{binary}"', dep), f"no Deployment runs {binary}"
        assert f".Values.{component}.enabled" in dep and component in chart_values, component
        for key in ("replicaCount", "resources", "terminationGracePeriodSeconds"):
            assert key in chart_values[component], f"values.yaml {component} lacks {key}"
    helpers = t["_helpers.tpl"]
    assert "replicas:" in helpers and 'include "taskbus.envFrom"' in helpers and "resources:" in helpers
    job = next(v for v in t.values() if re.search(r"kind:\s*Job", v))
    assert re.search(r"helm\.sh/hook:\s*pre-install,\s*pre-upgrade", job), "the migration job must be a pre-install/pre-upgrade hook"
    assert '"taskbus-admin", "migrate"' in job and '"taskbus-admin", "topics"' in job
    assert job.index('"migrate"') < job.index('"topics"'), "topics after migrations"
    # Anything the pre-install job reads must exist before it: hooks of a lower weight.
    for kind in ("Secret", "ConfigMap"):
        src = next(v for v in t.values() if re.search(rf"^kind:\s*{kind}", v, re.M))
        w = re.search(r"helm\.sh/hook-weight:\s*\"(-?\d+)\"", src)
        jw = re.search(r"helm\.sh/hook-weight:\s*\"(-?\d+)\"", job)
        assert "pre-install" in src and w and jw and int(w.group(1)) < int(jw.group(1)), (
            f"the {kind} must be a pre-install hook created before the migration job")


def test_helm_environment_is_real_configuration(chart_values, config_vars):
    t = templates()
    config = chart_values["config"]
    unknown = set(config) - config_vars
    assert not unknown, f"values.yaml config sets variables no binary reads: {sorted(unknown)}"
    assert not {"TASKBUS_JWT_SECRET", "DATABASE_URL", "DATABASE_READ_URL"} & set(config), "secrets belong in the Secret"
    secret = next(v for v in t.values() if re.search(r"^kind:\s*Secret", v, re.M))
    for key in re.findall(r"^\s+([A-Z][A-Z0-9_]+):", secret, re.M):
        assert key in config_vars, f"the Secret sets {key}, which no binary reads"
    assert re.search(r"^\s+TASKBUS_JWT_SECRET:", secret, re.M) and re.search(r"^\s+DATABASE_URL:", secret, re.M)
    for name, text in t.items():
        for var in re.findall(r"-\s*name:\s*([A-Z][A-Z0-9_]+)\s*$", text, re.M):
            assert var in config_vars, f"{name} sets {var}, which no binary reads"
    assert chart_values["secrets"]["jwtSecret"] == "", "no JWT secret may be committed in values.yaml"


OPTIONAL_PARTS = ["--set", "monitoring.serviceMonitor.enabled=true", "--set", "monitoring.prometheusRule.enabled=true",
                  "--set", "api.ingress.enabled=true"]
SETS = ["--set", "secrets.jwtSecret=" + "x" * 40, "--set", "secrets.databaseUrl=postgresql://u:p@db/taskbus"]


def helm_binary():
    # tests/run builds a pinned helm once (compose/lib/helm.sh) and passes it here.
    helm = os.environ.get("TASKBUS_HELM") or shutil.which("helm")
    assert helm and os.access(helm, os.X_OK), "no helm binary: tests/run builds one (compose/lib/helm.sh)"
    return helm


def render(*args):
    """The documents `helm template` renders with the required secrets and args (no
    --kube-version: the chart must render with helm's own default)."""
    r = subprocess.run([helm_binary(), "template", "t", str(CHART), *SETS, *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def test_helm_lints_and_renders(tmp_path):
    helm = helm_binary()
    sets = SETS
    # Without --kube-version: a kubeVersion constraint in Chart.yaml above helm's default
    # (v1.20 for a helm built from source) would refuse every render.
    assert "kubeVersion" not in yaml.safe_load((CHART / "Chart.yaml").read_text())
    for extra in ([], OPTIONAL_PARTS):
        r = subprocess.run([helm, "lint", "--strict", str(CHART), *sets, *extra], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([helm, "template", "t", str(CHART), *sets], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler",
                                         "PodDisruptionBudget", "Job", "Secret", "ConfigMap"}
    r = subprocess.run([helm, "template", "t", str(CHART)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "jwtSecret" in r.stderr, "the chart must refuse to render without a JWT secret"
    check_rendered_daemons(docs)
    # The SMTP URL (it may carry a password) goes to the Secret, never the ConfigMap.
    smtp = "smtp://mailer:s3cret@relay.example.com:587"
    r = subprocess.run([helm, "template", "t", str(CHART), *sets, "--set", "secrets.smtpUrl=" + smtp],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert next(d for d in rendered if d["kind"] == "Secret")["stringData"].get("TASKBUS_SMTP_URL") == smtp
    assert "TASKBUS_SMTP_URL" not in next(d for d in rendered if d["kind"] == "ConfigMap")["data"]
    # A claim of one's own replaces the chart's.
    r = subprocess.run([helm, "template", "t", str(CHART), *sets, "--set", "reports.persistence.existingClaim=nfs-reports"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert not [d for d in rendered if d["kind"] == "PersistentVolumeClaim"]
    claims = {v["persistentVolumeClaim"]["claimName"] for d in rendered if d["kind"] == "Deployment"
              for v in d["spec"]["template"]["spec"].get("volumes", []) if "persistentVolumeClaim" in v}
    assert claims == {"nfs-reports"}, claims
    # A writer beyond the partition count would sit idle in its consumer group.
    r = subprocess.run([helm, "template", "t", str(CHART), *sets, "--set", "writer.replicaCount=7"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "TASKBUS_KAFKA_PARTITIONS" in r.stderr, "7 writers over 6 partitions must be refused"
    r = subprocess.run([helm, "template", "t", str(CHART), *sets, "--set", "writer.replicaCount=7",
                        "--set-string", "config.TASKBUS_KAFKA_PARTITIONS=12"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    writer = next(d for d in yaml.safe_load_all(r.stdout) if d and d["kind"] == "Deployment"
                  and d["spec"]["template"]["spec"]["containers"][0]["command"] == ["taskbus-writer"])
    assert writer["spec"]["replicas"] == 7


def check_rendered_daemons(docs):
    """The rendered Deployments: one per daemon, each with the shared ConfigMap and Secret."""
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret")
    data = config["data"]
    assert data.get("TASKBUS_IMPORT_MAX_BODY_BYTES") == str(IMPORT_MAX_BODY), data
    assert data.get("TASKBUS_WRITER_TOPIC") == data.get("TASKBUS_IMPORT_TOPIC") == "task-commands", data
    assert int(data.get("TASKBUS_IMPORT_MAX_RATE", "0")) >= 1, data
    deployments = {}
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        (container,) = d["spec"]["template"]["spec"]["containers"]
        deployments[container["command"][0]] = (d, container)
    assert set(deployments) == {"taskbus-api", "taskbus-relay", "taskbus-writer", "taskbus-importer",
                                *STREAM_DAEMONS.values()}, set(deployments)
    for binary, (d, c) in deployments.items():
        refs = {(k, v["name"]) for src in c.get("envFrom", []) for k, v in src.items()}
        assert refs == {("configMapRef", config["metadata"]["name"]), ("secretRef", secret["metadata"]["name"])}, (
            f"{binary} does not take the shared environment: {refs}")
        res = c.get("resources") or {}
        assert res.get("requests", {}).get("memory") and res.get("limits", {}).get("memory"), f"{binary}: {res}"
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"].get("runAsNonRoot") is True, binary
        assert c["securityContext"].get("readOnlyRootFilesystem") is True, binary
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in d["spec"]["selector"]["matchLabels"].items()), binary
        assert "checksum/config" in d["spec"]["template"]["metadata"].get("annotations", {}), (
            f"{binary} pods must roll when the configuration changes")
    partitions = int(data["TASKBUS_KAFKA_PARTITIONS"])
    writers = deployments["taskbus-writer"][0]["spec"]["replicas"]
    assert 2 <= writers <= partitions, f"{writers} writers over {partitions} partitions"
    assert deployments["taskbus-importer"][0]["spec"]["replicas"] >= 1
    for binary in STREAM_DAEMONS.values():
        assert deployments[binary][0]["spec"]["replicas"] >= 1, binary
    for var in ("TASKBUS_PUBLIC_URL", "TASKBUS_SMTP_FROM", "TASKBUS_REPORTS_DIR", "TASKBUS_REMINDER_LEAD_SECONDS",
                "TASKBUS_SCHEDULER_INTERVAL_MS", "TASKBUS_WEBHOOK_MAX_ATTEMPTS", "TASKBUS_NOTIFY_MAX_ATTEMPTS"):
        assert data.get(var), f"the ConfigMap lacks {var}"
    assert "TASKBUS_SMTP_URL" not in data, "the SMTP URL may hold a password: it belongs in the Secret"
    # The API reads (read-only) what the reporter writes: the same claim, at TASKBUS_REPORTS_DIR.
    (pvc,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"], "pods on different nodes share the reports"
    mounts = {}
    for binary in ("taskbus-api", "taskbus-reporter"):
        d, c = deployments[binary]
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"].get("volumes", [])}
        (m,) = [m for m in c.get("volumeMounts", []) if m["mountPath"] == data["TASKBUS_REPORTS_DIR"]]
        mounts[binary] = (vols[m["name"]].get("persistentVolumeClaim", {}).get("claimName"), m.get("readOnly", False))
    assert mounts == {"taskbus-api": (pvc["metadata"]["name"], True),
                      "taskbus-reporter": (pvc["metadata"]["name"], False)}, mounts


def containers_by_binary(docs):
    out = {}
    for d in docs:
        if d["kind"] == "Deployment":
            (c,) = d["spec"]["template"]["spec"]["containers"]
            out[c["command"][0]] = (d, c)
    return out


def probe_port(container, probe):
    """The containerPort a probe reaches: by name or by number, declared by the container."""
    port = container[probe]["httpGet"]["port"]
    ports = container.get("ports") or []
    match = [p for p in ports if p.get("name") == port or p["containerPort"] == port]
    assert match, f"{container['name']}: {probe} probes port {port!r}, which the container does not declare {ports}"
    return match[0]["containerPort"]


def test_helm_probes_on_every_deployment():
    docs = render()
    deployments = containers_by_binary(docs)
    assert len(deployments) == 1 + len(DAEMON_PORT_OFFSETS), sorted(deployments)
    for binary, (d, c) in deployments.items():
        for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
            assert probe in c and c[probe].get("httpGet"), f"{binary} has no HTTP {probe}"
            assert c[probe]["httpGet"]["path"] == path, f"{binary}: {probe} {c[probe]}"
            assert c[probe].get("periodSeconds") and c[probe].get("timeoutSeconds"), f"{binary}: {probe}"
        assert probe_port(c, "readinessProbe") == probe_port(c, "livenessProbe"), binary
        component = binary.removeprefix("taskbus-")
        if component == "api":
            assert probe_port(c, "livenessProbe") == 8080
            continue
        # The daemon's listener: TASKBUS_METRICS_PORT (9400) + its offset (the contract).
        assert probe_port(c, "livenessProbe") == METRICS_BASE_PORT + DAEMON_PORT_OFFSETS[component], binary
        ann = d["spec"]["template"]["metadata"]["annotations"]
        assert ann.get("prometheus.io/port") == str(METRICS_BASE_PORT + DAEMON_PORT_OFFSETS[component]), ann
    # The base port and one daemon's own port move the probes with them.
    docs = render("--set-string", "config.TASKBUS_METRICS_PORT=9500",
                  "--set-string", "config.TASKBUS_WRITER_METRICS_PORT=9999")
    deployments = containers_by_binary(docs)
    assert probe_port(deployments["taskbus-writer"][1], "livenessProbe") == 9999
    assert probe_port(deployments["taskbus-relay"][1], "readinessProbe") == 9502
    assert probe_port(deployments["taskbus-activity"][1], "readinessProbe") == 9509
    # Port 0 turns a daemon's listener off, which its probes need: the render refuses it,
    # whether it comes as a string or a number, for the base or for one daemon.
    for flag, setting in (("--set-string", "config.TASKBUS_METRICS_PORT=0"),
                          ("--set", "config.TASKBUS_METRICS_PORT=0"),
                          ("--set", "config.TASKBUS_WRITER_METRICS_PORT=0"),
                          ("--set-string", "config.TASKBUS_RELAY_METRICS_PORT=70000")):
        r = subprocess.run([helm_binary(), "template", "t", str(CHART), *SETS, flag, setting],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and "metrics port" in r.stderr.replace("METRICS_PORT", "metrics port"), \
            (setting, r.returncode, r.stderr[-300:])
    # A disabled daemon has neither a Deployment nor a metrics Service.
    docs = render("--set", "notifier.enabled=false")
    assert "taskbus-notifier" not in containers_by_binary(docs)
    assert not [d for d in docs if d["kind"] == "Service" and "notifier" in d["metadata"]["name"]]


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def test_helm_monitoring_and_ingress_only_when_enabled():
    optional = {"ServiceMonitor", "PrometheusRule", "Ingress"}
    docs = render()
    assert not optional & {d["kind"] for d in docs}, "the optional parts must be off by default"
    docs = render(*OPTIONAL_PARTS, "--set", "api.ingress.className=nginx",
                  "--set", "api.ingress.hosts[0].host=tasks.example.org",
                  "--set", "api.ingress.tls[0].secretName=tasks-tls", "--set", "api.ingress.tls[0].hosts[0]=tasks.example.org",
                  "--set", "monitoring.prometheusRule.labels.release=kps")
    kinds = [d["kind"] for d in docs]
    assert all(kinds.count(k) == 1 for k in optional), kinds
    by_kind = {d["kind"]: d for d in docs}
    # The PrometheusRule carries the rule file's groups, unchanged.
    rule = by_kind["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["metadata"]["labels"]["release"] == "kps"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    # The ServiceMonitor reaches every process: each Deployment's pods are behind a Service
    # it selects, on a port one of its endpoints names, and the job is taskbus-<component>.
    sm = by_kind["ServiceMonitor"]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    endpoint_ports = {e["port"] for e in sm["spec"]["endpoints"]}
    for e in sm["spec"]["endpoints"]:
        assert e["path"] == "/metrics"
        (relabel,) = [r for r in e.get("relabelings", []) if r.get("targetLabel") == "job"]
        assert relabel["sourceLabels"] == ["__meta_kubernetes_service_label_app_kubernetes_io_component"]
        assert relabel["replacement"] == "taskbus-$1", relabel
    services = [d for d in docs if d["kind"] == "Service" and selects(sm["spec"]["selector"]["matchLabels"],
                                                                       d["metadata"]["labels"])]
    for binary, (d, c) in containers_by_binary(docs).items():
        pod_labels = d["spec"]["template"]["metadata"]["labels"]
        declared = {p["name"] for p in c["ports"]}
        scraped = [svc for svc in services if selects(svc["spec"]["selector"], pod_labels)
                   and {p["name"] for p in svc["spec"]["ports"]} & endpoint_ports
                   and {p["targetPort"] for p in svc["spec"]["ports"] if p["name"] in endpoint_ports} & declared]
        assert scraped, f"no Service the ServiceMonitor selects reaches {binary}'s metrics port"
        (svc,) = scraped
        assert svc["metadata"]["labels"]["app.kubernetes.io/component"] == binary.removeprefix("taskbus-"), (
            f"{binary} would be scraped as job taskbus-{svc['metadata']['labels']['app.kubernetes.io/component']}")
    # The Ingress routes to the API Service's http port, with the class and TLS asked for.
    ing = by_kind["Ingress"]
    assert ing["apiVersion"] == "networking.k8s.io/v1" and ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"secretName": "tasks-tls", "hosts": ["tasks.example.org"]}]
    (rule,) = ing["spec"]["rules"]
    assert rule["host"] == "tasks.example.org"
    (path,) = rule["http"]["paths"]
    api_svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "t-taskbus-api")
    assert path["backend"]["service"] == {"name": "t-taskbus-api", "port": {"name": "http"}}
    assert "http" in {p["name"] for p in api_svc["spec"]["ports"]}


def test_helm_hooks_are_deleted_and_read_only_hook_resources():
    docs = render()
    hooks = {(d["kind"], d["metadata"]["name"]): d for d in docs
             if "helm.sh/hook" in (d["metadata"].get("annotations") or {})}
    assert {k for k, _ in hooks} == {"Job", "ConfigMap", "Secret"}, sorted(hooks)
    for (kind, name), d in hooks.items():
        policy = d["metadata"]["annotations"].get("helm.sh/hook-delete-policy", "").split(",")
        # hook-succeeded: gone once the hooks succeeded (helm uninstall never deletes a
        # hook); before-hook-creation: a failed one, kept for inspection, is replaced.
        assert {"before-hook-creation", "hook-succeeded"} <= set(policy), f"{kind} {name}: {policy}"
    job = next(d for (k, _), d in hooks.items() if k == "Job")
    job_weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    pod = job["spec"]["template"]["spec"]
    for c in pod.get("initContainers", []) + pod["containers"]:
        for src in c["envFrom"]:
            ((ref_kind, ref),) = src.items()
            kind = {"configMapRef": "ConfigMap", "secretRef": "Secret"}[ref_kind]
            hook = hooks.get((kind, ref["name"]))
            assert hook, f"the migration job reads {kind} {ref['name']}, which is no hook: it would not exist yet"
            assert int(hook["metadata"]["annotations"]["helm.sh/hook-weight"]) < job_weight
    # The Deployments read the release's own ConfigMap and Secret, which outlive the hooks.
    for binary, (d, c) in containers_by_binary(docs).items():
        for src in c["envFrom"]:
            ((ref_kind, ref),) = src.items()
            kind = {"configMapRef": "ConfigMap", "secretRef": "Secret"}[ref_kind]
            assert (kind, ref["name"]) not in hooks, f"{binary} reads the hook {kind} {ref['name']}, deleted after install"
            assert any(x["kind"] == kind and x["metadata"]["name"] == ref["name"] for x in docs), (binary, ref)


RETENTION = {"TASKBUS_EVENTS_RETENTION": "forever", "TASKBUS_COMMANDS_RETENTION": "7d",
             "TASKBUS_DLQ_RETENTION": "30d", "TASKBUS_STATE_TOMBSTONE_RETENTION": "1d",
             "TASKBUS_KAFKA_MIN_INSYNC_REPLICAS": "2"}


def topic_job_environment(docs):
    """The environment the migration job's `taskbus-admin topics` container reads from
    ConfigMaps (name -> value)."""
    job = next(d for d in docs if d["kind"] == "Job")
    (topics,) = [c for c in job["spec"]["template"]["spec"]["containers"]
                 if c["command"] == ["taskbus-admin", "topics"]]
    env = {}
    for src in topics["envFrom"]:
        ref = src.get("configMapRef")
        if ref:
            cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == ref["name"])
            env.update(cm["data"])
    for e in topics.get("env", []):
        env[e["name"]] = e.get("value")
    return env


def test_helm_topic_job_gets_the_retention_policy(chart_values):
    """Issue 12: the retention variables are in values.yaml with the documented defaults
    (min.insync.replicas 2 of replication 3) and reach the topic job, also when set."""
    config = chart_values["config"]
    assert {k: str(config.get(k)) for k in RETENTION} == RETENTION
    assert int(config["TASKBUS_KAFKA_MIN_INSYNC_REPLICAS"]) <= int(config["TASKBUS_KAFKA_REPLICATION"])
    env = topic_job_environment(render())
    assert {k: env.get(k) for k in RETENTION} == RETENTION, env
    env = topic_job_environment(render("--set-string", "config.TASKBUS_EVENTS_RETENTION=400d",
                                       "--set-string", "config.TASKBUS_DLQ_RETENTION=36h"))
    assert env["TASKBUS_EVENTS_RETENTION"] == "400d" and env["TASKBUS_DLQ_RETENTION"] == "36h", env


# ---------------------------------------------------------------- issue 13: many boxes

THREE_NODE = CHART / "values-3node.yaml"
JWT = ["--set", "secrets.jwtSecret=" + "x" * 40]


def helm_template(*args):
    """(returncode, documents, stderr) of `helm template` with args as given."""
    r = subprocess.run([helm_binary(), "template", "t", str(CHART), *args], capture_output=True, text=True,
                       timeout=120)
    docs = [d for d in yaml.safe_load_all(r.stdout) if d] if r.returncode == 0 else []
    return r.returncode, docs, r.stderr


def render_3node(*args):
    rc, docs, err = helm_template("-f", str(THREE_NODE), *JWT, *args)
    assert rc == 0, err
    return docs


def pod_labels(deployment):
    return deployment["spec"]["template"]["metadata"]["labels"]


def test_helm_three_node_values_are_the_scaled_topology(config_vars):
    """values-3node.yaml: 3 brokers at RF 3 / min.insync 2, a primary and a replica, a
    Redis Cluster seed list, and only variables the binaries read."""
    v = yaml.safe_load(THREE_NODE.read_text())
    config = v["config"]
    assert not set(config) - config_vars, f"values-3node.yaml sets unknown variables: {set(config) - config_vars}"
    assert len(config["KAFKA_BROKERS"].split(",")) == 3, config["KAFKA_BROKERS"]
    assert (config["TASKBUS_KAFKA_REPLICATION"], config["TASKBUS_KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    m = re.fullmatch(r"redis://([^/]+)(/0)?", config["REDIS_URL"])
    assert m and len(m.group(1).split(",")) == 6, f"a seed list of the 6 cluster nodes on db 0: {config['REDIS_URL']}"
    secrets = v["secrets"]
    assert secrets["jwtSecret"] == "", "no JWT secret may be committed"
    assert secrets["databaseReadUrl"] and secrets["databaseReadUrl"] != secrets["databaseUrl"], secrets
    assert 3 <= v["writer"]["replicaCount"] <= int(config["TASKBUS_KAFKA_PARTITIONS"])
    assert v["relay"]["replicaCount"] >= 2, "a standby relay on another node"


def test_helm_three_node_renders_hpa_pdbs_spread_and_the_replica():
    helm = helm_binary()
    r = subprocess.run([helm, "lint", "--strict", str(CHART), "-f", str(THREE_NODE), *JWT],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    v = yaml.safe_load(THREE_NODE.read_text())
    docs = render_3node()
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert len(deployments) == 1 + len(DAEMON_PORT_OFFSETS), sorted(deployments)
    # The API scales on CPU (autoscaling/v2), from 3 pods: the HPA owns its replica count.
    (hpa,) = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "t-taskbus-api"}
    assert 3 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"], hpa["spec"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu", metric
    assert metric["resource"]["target"]["type"] == "Utilization", metric
    assert "replicas" not in deployments["t-taskbus-api"]["spec"], "the HPA, not the Deployment, sets the API's replicas"
    # The replica's URL is in the Secret; nothing of Postgres, Redis or Kafka is lost.
    (secret,) = [d for d in docs if d["kind"] == "Secret" and "helm.sh/hook" not in (d["metadata"].get("annotations") or {})]
    assert secret["stringData"]["DATABASE_READ_URL"] == v["secrets"]["databaseReadUrl"]
    assert secret["stringData"]["DATABASE_URL"] == v["secrets"]["databaseUrl"]
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "t-taskbus-runtime-config"]
    for key in ("REDIS_URL", "KAFKA_BROKERS", "TASKBUS_KAFKA_REPLICATION", "TASKBUS_KAFKA_MIN_INSYNC_REPLICAS"):
        assert cm["data"][key] == v["config"][key], key
    # Exactly one PodDisruptionBudget per Deployment, selecting its pods and no other's.
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert len(pdbs) == len(deployments), [p["metadata"]["name"] for p in pdbs]
    for name, dep in deployments.items():
        mine = [p for p in pdbs if selects(p["spec"]["selector"]["matchLabels"], pod_labels(dep))]
        assert len(mine) == 1, f"{name}: {len(mine)} PodDisruptionBudgets select its pods"
        (pdb,) = mine
        assert pdb["apiVersion"] == "policy/v1" and pdb["spec"].get("maxUnavailable") == 1, pdb["spec"]
        others = [n for n, o in deployments.items() if n != name
                  and selects(pdb["spec"]["selector"]["matchLabels"], pod_labels(o))]
        assert not others, f"{pdb['metadata']['name']} also selects {others}"
        # Replicas apart by node (preferred) and over zones, each term about its own pods.
        pod = dep["spec"]["template"]["spec"]
        (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname", term
        assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        assert "requiredDuringSchedulingIgnoredDuringExecution" not in pod["affinity"]["podAntiAffinity"]
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone" and spread["maxSkew"] == 1, spread
        assert spread["whenUnsatisfiable"] == "ScheduleAnyway", spread
        assert spread["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    writers = deployments["t-taskbus-writer"]["spec"]["replicas"]
    assert writers == v["writer"]["replicaCount"] <= int(cm["data"]["TASKBUS_KAFKA_PARTITIONS"])
    assert deployments["t-taskbus-relay"]["spec"]["replicas"] == 2
    # More writers than partitions is refused with the 3-node values too.
    rc, _, err = helm_template("-f", str(THREE_NODE), *JWT, "--set", "writer.replicaCount=7")
    assert rc != 0 and "TASKBUS_KAFKA_PARTITIONS" in err, (rc, err[-300:])
    rc, _, err = helm_template("-f", str(THREE_NODE), *JWT, "--set", "writer.replicaCount=6")
    assert rc == 0, err


def test_helm_anti_affinity_modes():
    docs = render("--set", "scheduling.podAntiAffinity=required", "--set", "writer.podAntiAffinity=preferred")
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        anti = d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        want = ("preferredDuringSchedulingIgnoredDuringExecution" if d["metadata"]["name"] == "t-taskbus-writer"
                else "requiredDuringSchedulingIgnoredDuringExecution")
        assert list(anti) == [want], (d["metadata"]["name"], anti)
        if want.startswith("required"):
            (term,) = anti[want]
            assert term["topologyKey"] == "kubernetes.io/hostname"
            assert term["labelSelector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]
    docs = render("--set", "scheduling.podAntiAffinity=none", "--set", "scheduling.topologySpread.enabled=false")
    for d in docs:
        if d["kind"] == "Deployment":
            pod = d["spec"]["template"]["spec"]
            assert "affinity" not in pod and "topologySpreadConstraints" not in pod, d["metadata"]["name"]
    # A section's own affinity replaces the generated one.
    own = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["workers"]}]}]}}}
    docs = render("--set-json", "relay.affinity=" + __import__("json").dumps(own))
    relay = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "t-taskbus-relay")
    assert relay["spec"]["template"]["spec"]["affinity"] == own
    rc, _, err = helm_template(*SETS, "--set", "writer.podAntiAffinity=sometimes")
    assert rc != 0 and "preferred, required or none" in err, err[-300:]


def test_helm_refuses_values_that_break_a_scaled_deployment():
    refusals = {
        "TASKBUS_KAFKA_REPLICATION": ["--set-string", "config.TASKBUS_KAFKA_MIN_INSYNC_REPLICAS=4"],
        "terminationGracePeriodSeconds": ["--set", "api.terminationGracePeriodSeconds=30"],
        "db other than 0": ["--set", "config.REDIS_URL=redis://r1:6379\\,r2:6379/2"],
        "maxUnavailable and minAvailable": ["--set", "relay.podDisruptionBudget.minAvailable=1",
                                            "--set", "relay.podDisruptionBudget.maxUnavailable=1"],
    }
    for needle, args in refusals.items():
        rc, _, err = helm_template(*SETS, *args)
        assert rc != 0 and needle in err, (args, rc, err[-300:])
    # Their neighbours render: a seed list on db 0, a longer drain, min.insync = replication.
    docs = render("--set", "config.REDIS_URL=redis://r1:6379\\,r2:6379/0", "--set", "api.preStopSleepSeconds=5",
                  "--set", "api.terminationGracePeriodSeconds=35", "--set-string", "config.TASKBUS_KAFKA_MIN_INSYNC_REPLICAS=3")
    assert next(d for d in docs if d["kind"] == "ConfigMap")["data"]["REDIS_URL"] == "redis://r1:6379,r2:6379/0"
    # A section's PDB override: minAvailable for the relay, none for the scheduler.
    docs = render("--set", "relay.podDisruptionBudget.minAvailable=1", "--set", "scheduler.podDisruptionBudget.enabled=false")
    pdbs = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert pdbs["t-taskbus-relay"].get("minAvailable") == 1 and "maxUnavailable" not in pdbs["t-taskbus-relay"]
    assert "t-taskbus-scheduler" not in pdbs and pdbs["t-taskbus-writer"]["maxUnavailable"] == 1


def test_helm_api_grace_covers_its_drain(chart_values):
    """The chart's idea of the API's stop (taskbus.apiStopSeconds) is api/main.c's drain
    plus producer flush, and the default grace period covers preStop + that."""
    main_c = (CHART.parent.parent / "api" / "main.c").read_text()
    drain = int(re.search(r"#define DRAIN_MS (\d+)", main_c).group(1))
    flush = int(re.search(r"#define PRODUCER_FLUSH_MS (\d+)", main_c).group(1))
    helpers = templates()["_helpers.tpl"]
    stop = int(re.search(r'define "taskbus.apiStopSeconds" -\}\}\s*(\d+)', helpers).group(1))
    assert stop * 1000 >= drain + flush, f"the chart allows {stop} s, the API takes up to {drain + flush} ms"
    api = chart_values["api"]
    assert api["terminationGracePeriodSeconds"] >= api["preStopSleepSeconds"] + stop, api


def test_helm_output_validates_against_kubernetes_schemas():
    """Every rendered object (defaults, the optional parts, the 3-node values) against the
    Kubernetes OpenAPI schemas, strict (an unknown field fails), of the oldest and newest
    versions kubernetes-validate ships. The Prometheus Operator's kinds are CRDs: skipped."""
    import kubernetes_validate
    from kubernetes_validate.utils import all_versions

    versions = sorted(set(all_versions()), key=lambda s: tuple(int(x) for x in s.split(".")))
    oldest, newest = versions[0], versions[-1]
    crds = {"ServiceMonitor", "PrometheusRule"}
    renders = {"defaults": render(), "optional parts": render(*OPTIONAL_PARTS), "3-node": render_3node()}
    for what, docs in renders.items():
        for d in docs:
            if d["kind"] in crds:
                continue
            for version in (oldest, newest):
                try:
                    kubernetes_validate.validate(d, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    pytest.fail(f"{what}: {d['kind']} {d['metadata']['name']} is invalid for Kubernetes {version}: {e}")
    # The validator sees a misspelt field (so a pass above means something).
    dep = next(d for d in renders["3-node"] if d["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["topologySpreadConstraint"] = dep["spec"]["template"]["spec"].pop(
        "topologySpreadConstraints")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, newest, strict=True)
