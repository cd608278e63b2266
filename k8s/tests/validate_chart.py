#!/usr/bin/env python3
"""Offline validation of the Masthead Helm chart.

For each values scenario: `helm lint --strict` (Helm v4 SDK via
helm-python-sdk), the `helm template` equivalent, Kubernetes JSON-schema
validation of every rendered object (kubernetes-validate, strict: unknown
fields fail) and a few chart invariants. Then negative checks: deliberately
broken copies of the chart must fail. Needs no cluster and no network.

Declared-but-absent dependencies: the nats/mongodb subcharts cannot be
fetched offline, and Helm's lint reports a missing charts/ entry as a
warning, which strict mode turns into a failure. That one finding is waived
only when the missing charts are exactly the ones `helm dependency list`
reports as missing and they are disabled in the values under test; the
waiver is printed. Real installs run `helm dependency build` first.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import kubernetes_validate.version
import yaml

KUBE_VERSION = "1.30.0"
RELEASE = "masthead"
NAMESPACE = "masthead"
ROLES = ("api", "matcher", "projector", "mailer")
# No schema for CRD-backed kinds is bundled with kubernetes-validate.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"),
}
MISSING_DEPS = re.compile(r"chart directory is missing these dependencies: (.+)")


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- lint


def lint(chart: Path, values: dict[str, Any] | None, quiet: bool = False) -> list[str]:
    report = helm.lint(
        chart,
        values,
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBE_VERSION}",
    )
    missing = {d["name"] for d in helm.dependency_list(chart) if d["status"] == "missing"}
    with helm.Chart.load(chart) as loaded:
        merged = loaded.merge_values(values)

    problems: list[str] = []
    findings = [(m["severity"], m["error"]) for m in report["messages"]]
    # errors normally repeats the warning/error messages; keep anything extra.
    known = {e for _, e in findings}
    findings += [(3, e) for e in report["errors"] if e not in known]
    for severity, error in findings:
        if severity < 2:
            if not quiet:
                log(f"    lint info: {error}")
            continue
        match = MISSING_DEPS.fullmatch(error)
        if match:
            named = set(match.group(1).split(","))
            enabled = sorted(n for n in named if (merged.get(n) or {}).get("enabled"))
            if named == missing and not enabled:
                if not quiet:
                    log(
                        f"    lint WAIVED: {error} (all disabled in these values; "
                        "run `helm dependency build` before a real install)"
                    )
                continue
        problems.append(f"lint: {error}")
    return problems


# ------------------------------------------------------------------------- render


def render(chart: Path, values: dict[str, Any] | None) -> tuple[list[tuple[str, dict]], list[str]]:
    try:
        with helm.Chart.load(chart) as loaded:
            manifests = loaded.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as exc:
        return [], [f"render: {exc}"]
    docs: list[tuple[str, dict]] = []
    problems: list[str] = []
    for source, text in sorted(manifests.items()):
        if source.endswith("NOTES.txt"):
            continue
        try:
            for doc in yaml.safe_load_all(text):
                if doc:
                    docs.append((source, doc))
        except yaml.YAMLError as exc:
            problems.append(f"render: {source} is not valid YAML: {exc}")
    return docs, problems


# ----------------------------------------------------------------------- validate


def validate(docs: list[tuple[str, dict]]) -> tuple[list[str], int, list[str]]:
    problems: list[str] = []
    skipped: list[str] = []
    checked = 0
    for source, doc in docs:
        kind, api = doc.get("kind"), doc.get("apiVersion")
        name = (doc.get("metadata") or {}).get("name")
        if (api, kind) in CRD_KINDS:
            skipped.append(f"{kind}/{name}")
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"schema: {source} {kind}/{name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            # An unknown kind/apiVersion is a bug, not something to skip.
            problems.append(f"schema: {source}: {exc.message}")
    return problems, checked, skipped


# --------------------------------------------------------------------- invariants


def _mongodb_problems(docs: list[tuple[str, dict]], values: dict) -> list[str]:
    """mongodb.enabled: one MongoDBCommunity whose user's Secret (the
    operator names it <resource>-<auth db>-<user>) is what the roles read."""
    found = list(_by_kind(docs, "MongoDBCommunity").values())
    if not values["mongodb"]["enabled"]:
        return ["invariant: MongoDBCommunity rendered with mongodb.enabled false"] if found else []
    if len(found) != 1:
        return ["invariant: mongodb.enabled but no single MongoDBCommunity rendered"]
    user = found[0]["spec"]["users"][0]
    want = f"{found[0]['metadata']['name']}-{user['db']}-{user['name']}"
    problems = []
    for name, dep in _by_kind(docs, "Deployment").items():
        env = {e["name"]: e for c in dep["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
        ref = ((env.get("MASTHEAD_MONGODB_URI") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        if (ref.get("name"), ref.get("key")) != (want, "connectionString.standard"):
            problems.append(f"invariant: {name} reads MASTHEAD_MONGODB_URI from {ref}, not the operator's {want}")
    return problems


def _by_kind(docs: list[tuple[str, dict]], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in docs if d.get("kind") == kind}


def _role(doc: dict) -> str:
    return doc["metadata"]["labels"].get("app.kubernetes.io/component", "")


def _check_pod(where: str, pod: dict, long_running: bool) -> list[str]:
    problems = []
    psc = pod.get("securityContext") or {}
    if not psc.get("runAsNonRoot") or (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod securityContext must set runAsNonRoot and seccomp RuntimeDefault")
    mounts_needed = {"/tmp", "/var/lib/masthead"}
    for c in pod["containers"]:
        sc = c.get("securityContext") or {}
        if (
            sc.get("allowPrivilegeEscalation") is not False
            or sc.get("readOnlyRootFilesystem") is not True
            or "ALL" not in ((sc.get("capabilities") or {}).get("drop") or [])
        ):
            problems.append(f"{where}/{c['name']}: container securityContext is not restricted")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        if not mounts_needed <= mounts:
            problems.append(f"{where}/{c['name']}: missing writable mounts {sorted(mounts_needed - mounts)}")
        if not (c.get("resources") or {}).get("requests"):
            problems.append(f"{where}/{c['name']}: no resource requests")
        if long_running:
            live = ((c.get("livenessProbe") or {}).get("httpGet") or {}).get("path")
            ready = ((c.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
            if (live, ready) != ("/healthz", "/readyz"):
                problems.append(f"{where}/{c['name']}: probes must be /healthz (liveness) and /readyz (readiness)")
    return problems


def invariants(docs: list[tuple[str, dict]], values: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    deployments = {_role(d): d for d in _by_kind(docs, "Deployment").values()}
    if set(deployments) != set(ROLES):
        problems.append(f"invariant: Deployments for {sorted(deployments)}, want {sorted(ROLES)}")
    for role, dep in deployments.items():
        tpl = dep["spec"]["template"]
        problems += _check_pod(f"Deployment/{role}", tpl["spec"], long_running=True)
        if tpl["spec"]["containers"][0].get("args") != [role]:
            problems.append(f"invariant: Deployment/{role} must run `masthead {role}`")
        if "checksum/config" not in (tpl["metadata"].get("annotations") or {}):
            problems.append(f"invariant: Deployment/{role} lacks the checksum/config annotation")
        if not tpl["spec"].get("terminationGracePeriodSeconds"):
            problems.append(f"invariant: Deployment/{role} lacks terminationGracePeriodSeconds")

    hpas = {d["spec"]["scaleTargetRef"]["name"].rsplit("-", 1)[-1] for d in _by_kind(docs, "HorizontalPodAutoscaler").values()}
    if not hpas <= {"api", "projector"}:
        problems.append(f"invariant: HPAs only for api and projector, got {sorted(hpas)}")
    if "matcher" in deployments and deployments["matcher"]["spec"].get("replicas", 1) < 2:
        problems.append("invariant: matcher needs >= 2 replicas (active/standby)")

    pdbs = {_role(d) for d in _by_kind(docs, "PodDisruptionBudget").values()}
    want_pdbs = {r for r in ROLES if values[r]["pdb"]["enabled"]}
    if pdbs != want_pdbs:
        problems.append(f"invariant: PDBs for {sorted(pdbs)}, want {sorted(want_pdbs)}")

    services = {_role(d): d for d in _by_kind(docs, "Service").values()}
    for role in ROLES:
        ports = {p["name"] for p in (services.get(role) or {}).get("spec", {}).get("ports", [])}
        if "metrics" not in ports:
            problems.append(f"invariant: no Service with a metrics port for {role}")
    if "http" not in {p["name"] for p in services.get("api", {}).get("spec", {}).get("ports", [])}:
        problems.append("invariant: the api Service has no http port")

    jobs = list(_by_kind(docs, "Job").values())
    if values["setup"]["enabled"]:
        hooks = [(j["metadata"].get("annotations") or {}).get("helm.sh/hook", "") for j in jobs]
        if len(jobs) != 1 or "pre-upgrade" not in hooks[0]:
            problems.append("invariant: expected one setup hook Job on pre-upgrade")
        else:
            ann = jobs[0]["metadata"]["annotations"]
            if "helm.sh/hook-weight" not in ann or "helm.sh/hook-delete-policy" not in ann:
                problems.append("invariant: setup Job lacks hook-weight/hook-delete-policy")
            problems += _check_pod("Job/setup", jobs[0]["spec"]["template"]["spec"], long_running=False)

    if values["ingress"]["enabled"] and not _by_kind(docs, "Ingress"):
        problems.append("invariant: ingress.enabled but no Ingress rendered")
    if values["serviceMonitor"]["enabled"] and not _by_kind(docs, "ServiceMonitor"):
        problems.append("invariant: serviceMonitor.enabled but no ServiceMonitor rendered")
    problems += _access_invariants(docs, values)
    problems += _mongodb_problems(docs, values)
    if values["secrets"]["existingSecret"] and _by_kind(docs, "Secret"):
        names = [n for n in _by_kind(docs, "Secret") if not n.endswith(("-setup", "-mongodb-password"))]
        if names:
            problems.append(f"invariant: existingSecret set but the chart renders Secret(s) {names}")
    return problems


def _access_invariants(docs: list[tuple[str, dict]], values: dict[str, Any]) -> list[str]:
    """Tokens can be validated on every api replica alike; /metrics is on
    the operations port; the NetworkPolicies fence the ops port and NATS."""
    problems: list[str] = []
    config = next(iter(_by_kind(docs, "ConfigMap").values()), {}).get("data", {})
    ops_port = values["config"]["opsPort"]
    if config.get("MASTHEAD_OPS_ADDR") != f"0.0.0.0:{ops_port}":
        problems.append("invariant: MASTHEAD_OPS_ADDR must put /metrics on the operations port")
    for role, dep in ((_role(d), d) for d in _by_kind(docs, "Deployment").values()):
        env = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        if "MASTHEAD_AUTH_HS256_SECRET" not in env:
            problems.append(f"invariant: Deployment/{role} does not read the token secret from the Secret")
    for name, svc in _by_kind(docs, "Service").items():
        for port in svc["spec"]["ports"]:
            if port["name"] == "metrics" and port["targetPort"] != "ops":
                problems.append(f"invariant: Service/{name} metrics port must target the ops port")
    if not values["secrets"]["existingSecret"] and not values["config"]["auth"]["jwksUrl"]:
        secret = _by_kind(docs, "Secret").get(RELEASE, {})
        key = values["secrets"]["keys"]["authHs256Secret"]
        if len((secret.get("stringData") or {}).get(key, "")) < 32:
            problems.append("invariant: without a JWKS URL the chart Secret needs an HS256 secret of >= 32 bytes")
    policies = _by_kind(docs, "NetworkPolicy")
    if values["networkPolicy"]["enabled"]:
        ops = [p for p in policies.values() if any(
            port.get("port") == "ops" for rule in p["spec"].get("ingress", []) for port in rule.get("ports", []))]
        if not ops or any("from" not in rule for p in ops for rule in p["spec"]["ingress"]):
            problems.append("invariant: a NetworkPolicy must limit who reaches the ops port")
        wants_nats = values["nats"]["enabled"] or values["networkPolicy"]["nats"]["podSelector"]
        nats = [p for p in policies.values() if any(
            port.get("port") == 4222 for rule in p["spec"].get("ingress", []) for port in rule.get("ports", []))]
        if wants_nats and (not nats or any("from" not in rule for rule in nats[0]["spec"]["ingress"])):
            problems.append("invariant: a NetworkPolicy must limit who reaches NATS")
    elif policies:
        problems.append("invariant: networkPolicy.enabled is false but NetworkPolicies are rendered")
    return problems


# ------------------------------------------------------------------------- README


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        out: list[str] = []
        for k, v in node.items():
            out += _leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [prefix]


def readme_problems(chart: Path) -> list[str]:
    readme = (chart / "README.md").read_text().split("\n## Values", 1)[-1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\|\s*`([^`]+)`\s*\|", readme, re.M))
    values = yaml.safe_load((chart / "values.yaml").read_text())
    problems = []
    leaves = _leaf_paths(values)
    for key in sorted(documented):
        if not any(leaf == key or leaf.startswith(key + ".") for leaf in leaves):
            problems.append(f"readme: `{key}` is documented but not in values.yaml")
    for path in leaves:
        parts = path.split(".")
        if not any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1)):
            problems.append(f"readme: value `{path}` is not in the README values table")
    return problems


# ----------------------------------------------------------------------- pipeline


def run_scenario(
    chart: Path, values: dict[str, Any] | None, do_lint: bool = True, quiet: bool = False
) -> tuple[list[str], int, list[str]]:
    problems: list[str] = []
    if do_lint:
        problems += lint(chart, values, quiet)
    docs, render_problems = render(chart, values)
    problems += render_problems
    schema_problems, checked, skipped = validate(docs)
    problems += schema_problems
    if docs and not render_problems:
        with helm.Chart.load(chart) as loaded:
            merged = loaded.merge_values(values)
        try:
            problems += invariants(docs, merged)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            problems.append(f"invariant: rendered objects have an unexpected shape ({exc!r})")
    return problems, checked, skipped


# Each mutation must make the suite fail; (file, old, new).
NEGATIVE_CASES = [
    ("invalid YAML", "templates/configmap.yaml", "data:\n", "data:\n  broken: [unclosed\n"),
    ("replicas: \"two\"", "templates/deployment.yaml", "replicas: {{ $r.replicaCount }}", 'replicas: "two"'),
    ("unknown field", "templates/deployment.yaml", "  revisionHistoryLimit: 5\n", "  revisionHistoryLimit: 5\n  replicaz: 2\n"),
    ("ops port without a policy", "templates/networkpolicy.yaml", "        - port: ops\n", "        - port: http\n"),
    ("metrics on the public port", "templates/service.yaml", "      targetPort: ops", "      targetPort: http"),
]


def negative_checks(chart: Path) -> list[str]:
    problems = []
    with tempfile.TemporaryDirectory(prefix="masthead-chart-neg-") as tmp:
        for label, rel, old, new in NEGATIVE_CASES:
            broken = Path(tmp) / label.replace(" ", "_").replace('"', "")
            shutil.copytree(chart, broken / chart.name)
            target = broken / chart.name / rel
            text = target.read_text()
            if old not in text:
                problems.append(f"negative: mutation '{label}' no longer applies to {rel}; update the test")
                continue
            target.write_text(text.replace(old, new, 1))
            found, _, _ = run_scenario(broken / chart.name, None, quiet=True)
            if found:
                log(f"    negative '{label}': failed as expected ({found[0][:140]})")
            else:
                problems.append(f"negative: chart with '{label}' in {rel} PASSED validation")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=Path(__file__).resolve().parents[1] / "masthead")
    args = parser.parse_args()
    chart: Path = args.chart.resolve()

    log(f"helm SDK {helm.helm_sdk_version()} (helm-c {helm.helm_c_version()}), "
        f"kubernetes-validate {kubernetes_validate.version.__version__}, "
        f"schemas for Kubernetes {KUBE_VERSION}")
    log(f"Skipping schema validation for CRD kinds without bundled schemas: "
        f"{', '.join(f'{a} {k}' for a, k in sorted(CRD_KINDS))}")

    production = yaml.safe_load((chart / "values-production.yaml").read_text())
    # Exercises the branches the two files leave untouched; lint is skipped
    # because enabling the subcharts makes their absence (offline) a real error.
    branches = {
        "nats": {"enabled": True},
        "mongodb": {"enabled": True},
        "secrets": {"natsCreds": "-----BEGIN NATS USER JWT-----\nplaceholder\n", "smtpPassword": "placeholder"},
        "config": {"matchThreshold": 85, "extraEnv": {"FOO": "bar"}, "smtpUrl": "smtps://mail:465"},
        "api": {"autoscaling": {"enabled": False, "targetMemoryUtilizationPercentage": 80}, "podAnnotations": {"a": "b"}},
        "projector": {"autoscaling": {"targetMemoryUtilizationPercentage": 80}},
        "mailer": {"pdb": {"enabled": False}},
        "ingress": {"enabled": True},
        "serviceAccount": {"create": False},
    }
    scenarios = [
        ("default values", None, True),
        ("values-production.yaml", production, True),
        ("in-chart subcharts + chart-managed secrets (render only)", branches, False),
    ]

    failures: list[str] = []
    total_checked = 0
    for name, values, do_lint in scenarios:
        log(f"\n== {name}")
        problems, checked, skipped = run_scenario(chart, values, do_lint)
        total_checked += checked
        if not do_lint:
            log("    lint SKIPPED: subcharts enabled but not vendored (offline)")
        log(f"    rendered and schema-validated {checked} objects"
            + (f"; skipped (CRD, no bundled schema): {', '.join(skipped)}" if skipped else ""))
        for p in problems:
            log(f"    FAIL {p}")
        failures += [f"[{name}] {p}" for p in problems]

    log("\n== README values table")
    readme = readme_problems(chart)
    for p in readme:
        log(f"    FAIL {p}")
    if not readme:
        log("    every key of values.yaml is documented")
    failures += readme

    log("\n== negative checks (broken chart copies must fail)")
    neg = negative_checks(chart)
    for p in neg:
        log(f"    FAIL {p}")
    failures += neg

    if failures:
        log(f"\nCHART: FAILED ({len(failures)} problem(s))")
        return 1
    log(f"\nCHART: OK ({len(scenarios)} scenarios, {total_checked} objects validated, "
        f"{len(NEGATIVE_CASES)} negative checks failed as expected)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
