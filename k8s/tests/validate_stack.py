#!/usr/bin/env python3
"""Static checks of the non-Helm deployment artefacts.

* infra/docker-compose.yml (+ infra/compose/*): every Masthead role is a
  service with a healthcheck, gated depends_on and a restart policy; the
  one-shot setup gates them; mounted config files exist and parse.
  `docker compose config -q` runs too when the compose plugin is installed.
* infra/Dockerfile: multi-stage, locked release build, every workspace
  member's manifest copied for the dependency layer, non-root numeric USER,
  ENTRYPOINT/CMD/EXPOSE as the chart and compose file expect.
* infra/Dockerfile builds: see dockerfile_build.py (build context after
  .dockerignore, the stubbed dependency layer, the runtime image's files).
* infra/grafana/masthead-dashboard.json: valid JSON, templated Prometheus
  datasource, every query uses only metric names the binary exports, and
  every exported metric is on the dashboard.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dockerfile_build  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
ROLES = ("api", "matcher", "projector", "mailer")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}

# What the binary exports (Prometheus names; histograms add _bucket/_sum/_count).
METRICS = {
    "masthead_http_server_request_duration_seconds": "histogram",
    "masthead_events_appended_total": "counter",
    "masthead_consumer_events_processed_total": "counter",
    "masthead_consumer_events_failed_total": "counter",
    "masthead_match_duration_seconds": "histogram",
    "masthead_match_score": "histogram",
    "masthead_match_outcomes_total": "counter",
    "masthead_mail_sent_total": "counter",
    "masthead_mail_failed_total": "counter",
    "masthead_consumer_pending_messages": "gauge",
    "masthead_consumer_ack_pending_messages": "gauge",
    "masthead_dead_letters_total": "gauge",
}


def log(msg: str = "") -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------- compose


def check_compose() -> list[str]:
    path = INFRA / "docker-compose.yml"
    problems: list[str] = []
    try:
        compose = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return [f"compose: {path.name} is not valid YAML: {exc}"]
    services = compose.get("services") or {}

    for name in ("nats", "mongodb", "mailpit", "otel-collector", "jaeger", "prometheus", "setup", *ROLES):
        if name not in services:
            problems.append(f"compose: service '{name}' is missing")
    nats = services.get("nats") or {}
    if "-js" not in (nats.get("command") or []) or not nats.get("healthcheck"):
        problems.append("compose: nats must run with -js and have a healthcheck")

    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {} for d in deps}
        for dep, spec in deps.items():
            if dep not in services:
                problems.append(f"compose: {name} depends on unknown service '{dep}'")
            cond = (spec or {}).get("condition", "service_started")
            if cond not in CONDITIONS:
                problems.append(f"compose: {name} -> {dep} has unknown condition '{cond}'")
            if cond == "service_healthy" and not (services.get(dep) or {}).get("healthcheck"):
                problems.append(f"compose: {name} waits for {dep} to be healthy, but {dep} has no healthcheck")
        for vol in svc.get("volumes") or []:
            src = str(vol).split(":", 1)[0]
            if src.startswith("."):
                if not (path.parent / src).exists():
                    problems.append(f"compose: {name} mounts missing path {src}")

    for role in ("setup", *ROLES):
        svc = services.get(role)
        if not svc:
            continue
        build = svc.get("build") or {}
        dockerfile = (path.parent / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()
        if dockerfile != (INFRA / "Dockerfile").resolve():
            problems.append(f"compose: {role} must build from infra/Dockerfile (got {dockerfile})")
        if svc.get("command") != [role]:
            problems.append(f"compose: {role} must run command [\"{role}\"]")
        env = svc.get("environment") or {}
        if env.get("MASTHEAD_LOG_FORMAT") != "json" or not str(env.get("MASTHEAD_HTTP_ADDR", "")).startswith("0.0.0.0:"):
            problems.append(f"compose: {role} needs MASTHEAD_LOG_FORMAT=json and MASTHEAD_HTTP_ADDR=0.0.0.0:8080")
    setup = services.get("setup") or {}
    if str(setup.get("restart", "no")) != "no":
        problems.append("compose: setup is one-shot and must not restart")
    for role in ROLES:
        svc = services.get(role) or {}
        if not (svc.get("healthcheck") or {}).get("test"):
            problems.append(f"compose: {role} has no healthcheck")
        if svc.get("restart") != "unless-stopped":
            problems.append(f"compose: {role} must use restart: unless-stopped")
        deps = svc.get("depends_on") or {}
        if not isinstance(deps, dict) or not all(isinstance(v, dict) and "condition" in v for v in deps.values()):
            problems.append(f"compose: {role} depends_on must use conditions")
        elif (deps.get("setup") or {}).get("condition") != "service_completed_successfully":
            problems.append(f"compose: {role} must wait for setup (service_completed_successfully)")
        elif (deps.get("nats") or {}).get("condition") != "service_healthy":
            problems.append(f"compose: {role} must wait for a healthy nats")

    # Config files the stack mounts.
    try:
        prom = yaml.safe_load((INFRA / "compose" / "prometheus.yml").read_text())
        text = json.dumps(prom)
        for role in ROLES:
            if f'"{role}"' not in text:
                problems.append(f"compose: prometheus.yml does not scrape {role}")
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"compose: prometheus.yml: {exc}")
    try:
        otel = yaml.safe_load((INFRA / "compose" / "otel-collector.yaml").read_text())
        for pname, pipe in otel["service"]["pipelines"].items():
            for section in ("receivers", "processors", "exporters"):
                for comp in pipe.get(section, []):
                    if comp not in (otel.get(section) or {}):
                        problems.append(f"compose: otel pipeline {pname} uses undefined {section[:-1]} {comp}")
        if "otlp/jaeger" not in otel.get("exporters", {}):
            problems.append("compose: otel collector does not export traces to jaeger")
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        problems.append(f"compose: otel-collector.yaml: {exc}")

    # The real parser, when the compose plugin exists (no engine needed).
    docker = shutil.which("docker")
    has_compose = docker and subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True
    ).returncode == 0
    if has_compose:
        run = subprocess.run([docker, "compose", "-f", str(path), "config", "-q"], capture_output=True, text=True)
        if run.returncode != 0:
            problems.append(f"compose: docker compose config failed: {run.stderr.strip()}")
        else:
            log("    docker compose config -q: OK")
    else:
        log("    docker compose config: SKIPPED (no compose plugin for the docker CLI here); static checks only")
    return problems


# ---------------------------------------------------------------- Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\") if current else stripped.rstrip("\\")
        if not stripped.endswith("\\"):
            lines.append(current.strip())
            current = ""
    out = []
    for line in lines:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def check_dockerfile() -> list[str]:
    problems: list[str] = []
    text = (INFRA / "Dockerfile").read_text()
    ins = dockerfile_instructions(text)
    froms = [i for i, (w, _) in enumerate(ins) if w == "FROM"]
    if len(froms) < 2:
        problems.append("dockerfile: not multi-stage")
    if froms and "rust:" not in ins[froms[0]][1]:
        problems.append("dockerfile: the first stage should build on the rust image")
    final = ins[froms[-1]:] if froms else ins
    users = [rest for w, rest in final if w == "USER"]
    if not users:
        problems.append("dockerfile: runtime stage has no USER")
    else:
        user = users[-1].split(":")[0]
        if user in ("0", "root") or not user.isdigit():
            problems.append(f"dockerfile: runtime USER must be a numeric non-root uid (got {users[-1]})")
        elif user != "10001":
            problems.append(f"dockerfile: runtime uid must be 10001 to match the chart (got {user})")
    if ("ENTRYPOINT", '["masthead"]') not in final:
        problems.append('dockerfile: ENTRYPOINT must be ["masthead"]')
    if ("CMD", '["api"]') not in final:
        problems.append('dockerfile: CMD must default to ["api"]')
    if not any(w == "EXPOSE" and "8080" in rest for w, rest in final):
        problems.append("dockerfile: EXPOSE 8080 missing")
    runs = " ".join(rest for w, rest in ins if w == "RUN")
    if "--locked" not in runs or "-p masthead" not in runs or "--release" not in runs:
        problems.append("dockerfile: build must be `cargo build --release --locked -p masthead`")
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    copied = set()
    for w, rest in ins:
        if w == "COPY":
            copied.update(a for a in shlex.split(rest) if a.endswith("Cargo.toml"))
    for member in members:
        if f"{member}/Cargo.toml" not in copied:
            problems.append(f"dockerfile: dependency layer does not copy {member}/Cargo.toml (new workspace member?)")
    ignore = ROOT / ".dockerignore"
    if not ignore.exists() or "target" not in ignore.read_text().split():
        problems.append("dockerignore: /.dockerignore must exclude target")
    return problems


# ----------------------------------------------------------------- dashboard

_METRIC_RE = re.compile(r"\bmasthead_[a-z0-9_]+")


def _base_metric(name: str) -> str | None:
    if name in METRICS:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and METRICS.get(base) == "histogram":
            return base
    return None


def check_dashboard() -> list[str]:
    problems: list[str] = []
    path = INFRA / "grafana" / "masthead-dashboard.json"
    try:
        dash = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return [f"dashboard: {exc}"]
    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list", [])}
    ds_var = variables.get("DS_PROMETHEUS")
    if not ds_var or ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
        problems.append("dashboard: needs a Prometheus datasource variable DS_PROMETHEUS")

    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels") or [])

    used: set[str] = set()
    ids = []
    for p in walk(dash.get("panels") or []):
        ids.append(p.get("id"))
        if p.get("type") == "row":
            continue
        title = p.get("title", "?")
        if (p.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
            problems.append(f"dashboard: panel '{title}' does not use ${{DS_PROMETHEUS}}")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"dashboard: panel '{title}' has no queries")
        for t in targets:
            names = _METRIC_RE.findall(t.get("expr", ""))
            if not names:
                problems.append(f"dashboard: panel '{title}' query {t.get('refId')} uses no masthead metric")
            for n in names:
                base = _base_metric(n)
                if base is None:
                    problems.append(f"dashboard: panel '{title}' uses unknown metric {n}")
                else:
                    used.add(base)
    if len(ids) != len(set(ids)):
        problems.append("dashboard: panel ids are not unique")
    for metric in sorted(set(METRICS) - used):
        problems.append(f"dashboard: exported metric {metric} is on no panel")
    return problems


def check_dockerfile_builds() -> list[str]:
    text = (INFRA / "Dockerfile").read_text()
    problems = dockerfile_build.check(text)
    if not problems:
        problems = dockerfile_build.negative_checks(text)
    if not problems:
        log("    build context, stubbed dependency layer (cargo metadata/tree --locked), runtime files: OK")
        log("    (no container engine here: `docker build` itself did not run)")
    return problems


def main() -> int:
    failures: list[str] = []
    checks = (
        ("docker-compose", check_compose),
        ("Dockerfile", check_dockerfile),
        ("Dockerfile builds", check_dockerfile_builds),
        ("Grafana dashboard", check_dashboard),
    )
    for title, check in checks:
        log(f"\n== {title}")
        problems = check()
        for p in problems:
            log(f"    FAIL {p}")
        if not problems:
            log("    OK")
        failures += problems
    if failures:
        log(f"\nSTACK: FAILED ({len(failures)} problem(s))")
        return 1
    log("\nSTACK: OK (compose, Dockerfile, dashboard)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
