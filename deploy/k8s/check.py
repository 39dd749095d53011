#!/usr/bin/env python3
"""Checks a rendered Meridian deployment (kubectl kustomize deploy/k8s) as a
cluster would run it, beyond what the Kubernetes schemas see:

- the edge's region table, the region overlays and regions/*.toml name the
  same six regions at the same places;
- each region's origin is reachable where the edge looks for it: its
  Service is `origin-<id>` in the namespace the edge's name points into, on
  the edge's port, targeting the port the origin listens on;
- every selector (Service, PodDisruptionBudget, NetworkPolicy, PodMonitor,
  the autoscaler's target) picks exactly one Deployment's pods, so no
  region's Service sends to another region's pods;
- the edge and every origin take the internal secret from the same Secret
  key, and every ConfigMap or Secret a pod mounts or reads is either in
  the rendering or one of the Secrets docs/deploy.md has the operator make;
- the PrometheusRule carries deploy/prometheus/alerts.yml's rules as they are;
- the configs the pods mount pass `edge --check` / `origin --check`, run
  with exactly the environment their Deployment gives them (Secrets as
  placeholder values) and the example stores file.

    check.py RENDERED.yaml --edge BIN --origin BIN --work DIR

Exits non-zero with every problem found, one per line.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAMESPACE = "meridian"
# The Secrets an operator creates (docs/deploy.md): name -> keys.
OPERATOR_SECRETS = {
    "meridian-secrets": {
        "internal-secret",
        "edge-admin-token",
        "analytics-admin-token",
        "carrier-secret",
        "clickhouse-password",
    },
    "meridian-stores": {"stores.toml"},
    "edge-tls": {"tls.crt", "tls.key"},
}

problems: list[str] = []


def problem(message: str) -> None:
    problems.append(message)


# Deliberate faults, each of which the checks must report (the part of the
# message given), so a check that cannot fail is noticed: run with
# --self-test.
def _origin(docs, rid):
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == f"origin-{rid}")


def _service(docs, rid):
    return next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == f"origin-{rid}")


def _edge_config(docs):
    return next(d for d in docs if d["kind"] == "ConfigMap" and "edge.toml" in d.get("data", {}))


FAULTS = {
    "a Service selecting another region's pods": (
        lambda docs: _service(docs, "dallas")["spec"]["selector"].update({"meridian.dev/region": "chicago"}),
        "Service/origin-dallas: does not select origin-dallas",
    ),
    "the edge looking at the wrong port": (
        lambda docs: _edge_config(docs)["data"].update(
            {"edge.toml": _edge_config(docs)["data"]["edge.toml"].replace(
                "origin-portland.meridian.svc.cluster.local:7100", "origin-portland.meridian.svc.cluster.local:7101")}
        ),
        "no port 7101",
    ),
    "an origin with another internal secret": (
        lambda docs: container(_origin(docs, "virginia"))["env"][1]["valueFrom"]["secretKeyRef"].update({"key": "carrier-secret"}),
        "its internal secret is not the edge's",
    ),
    "a Secret key nobody creates": (
        lambda docs: container(_origin(docs, "chicago"))["env"][2]["valueFrom"]["secretKeyRef"].update({"key": "admin"}),
        "which docs/deploy.md does not list",
    ),
    "a region file the origin refuses": (
        lambda docs: next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("origin-region-new-york"))["data"].update(
            {"region.toml": "id = \"new-york\"\nlistenn = 1\n"}
        ),
        "origin --check (new-york)",
    ),
    "an edge config the edge refuses": (
        lambda docs: _edge_config(docs)["data"].update(
            {"edge.toml": _edge_config(docs)["data"]["edge.toml"].replace("[health]", "[health]\nintervall_ms = 5")}
        ),
        "edge --check",
    ),
    "a region missing from the edge": (
        lambda docs: _edge_config(docs)["data"].update(
            {"edge.toml": _edge_config(docs)["data"]["edge.toml"].replace('id = "dallas"', 'id = "houston"')}
        ),
        "regions differ",
    ),
    "an alert rule lost": (
        lambda docs: next(d for d in docs if d["kind"] == "PrometheusRule")["spec"]["groups"][0]["rules"].pop(),
        "differs from deploy/prometheus/alerts.yml",
    ),
    "origins closed to the edge": (
        lambda docs: next(d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "origin-portland")["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0].update({"values": ["gateway"]}),
        "the edge's pods may not reach origin-portland",
    ),
}


def matches(selector: dict, labels: dict) -> bool:
    """Label-selector semantics for matchLabels and the In operator."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        if expr["operator"] != "In":
            raise SystemExit(f"check.py: selector operator {expr['operator']} not handled")
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def secret_env(deployment: dict) -> dict[str, tuple[str, str]]:
    """Environment variable -> (Secret, key) of a Deployment's container."""
    found = {}
    for env in container(deployment).get("env", []):
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            found[env["name"]] = (ref["name"], ref["key"])
    return found


def placeholder_env(deployment: dict) -> dict[str, str]:
    """The container's environment with a placeholder for each Secret value."""
    env = {"PATH": os.environ["PATH"]}
    for item in container(deployment).get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            env[item["name"]] = f"placeholder-{item['name'].lower()}-0123456789"
    return env


def mounted(deployment: dict, kind_key: str) -> dict[str, str]:
    """Mount path -> ConfigMap or Secret name, for `configMap`/`secret` volumes."""
    spec = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    paths = {}
    for mount in container(deployment).get("volumeMounts", []):
        source = volumes[mount["name"]].get(kind_key)
        if source:
            paths[mount["mountPath"]] = source.get("name") or source.get("secretName")
    return paths


def run_check(argv: list[str], env: dict, what: str) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        problem(f"{what}: {(result.stderr or result.stdout).strip()}")


def check(docs: list[dict], opts: argparse.Namespace, work: pathlib.Path) -> None:
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
        ns = d["metadata"].get("namespace")
        if d["kind"] != "Namespace" and ns != NAMESPACE:
            problem(f"{d['kind']}/{d['metadata']['name']}: namespace {ns!r}, expected {NAMESPACE!r}")
    named = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    deployments = by_kind.get("Deployment", [])
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}

    # Every selector picks the pods of exactly one Deployment.
    def pods_of(selector: dict, what: str) -> dict | None:
        picked = [
            dep for dep in deployments
            if matches(selector, dep["spec"]["template"]["metadata"]["labels"])
        ]
        if len(picked) != 1:
            names = [p["metadata"]["name"] for p in picked]
            problem(f"{what}: selects the pods of {names or 'no Deployment'}, expected one")
            return None
        return picked[0]

    for dep in deployments:
        pods_of(dep["spec"]["selector"], f"Deployment/{dep['metadata']['name']} selector")
    for svc in by_kind.get("Service", []):
        dep = pods_of({"matchLabels": svc["spec"]["selector"]}, f"Service/{svc['metadata']['name']}")
        if dep:
            ports = {p["name"]: p["containerPort"] for p in container(dep)["ports"]}
            for port in svc["spec"]["ports"]:
                if port["targetPort"] not in ports:
                    problem(f"Service/{svc['metadata']['name']}: targetPort {port['targetPort']} is not a port of {dep['metadata']['name']}")
    for kind in ("PodDisruptionBudget", "PodMonitor"):
        for obj in by_kind.get(kind, []):
            pods_of(obj["spec"]["selector"], f"{kind}/{obj['metadata']['name']}")
    for pol in by_kind.get("NetworkPolicy", []):
        dep = pods_of(pol["spec"]["podSelector"], f"NetworkPolicy/{pol['metadata']['name']}")
        sources = [
            src["podSelector"]
            for rule in pol["spec"].get("ingress", [])
            for src in rule.get("from", [])
            if "podSelector" in src
        ]
        edge_dep = named.get(("Deployment", "edge"))
        if dep and edge_dep and not any(
            matches(s, edge_dep["spec"]["template"]["metadata"]["labels"]) for s in sources
        ):
            problem(f"NetworkPolicy/{pol['metadata']['name']}: the edge's pods may not reach {dep['metadata']['name']}")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) not in named:
            problem(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: no {target['kind']}/{target['name']}")

    # The alert rules are alerts.yml's, every rule an alert with a query.
    alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    rules = by_kind.get("PrometheusRule", [])
    if len(rules) != 1 or rules[0]["spec"] != alerts:
        problem("PrometheusRule/meridian-alerts: differs from deploy/prometheus/alerts.yml")
    for group in alerts["groups"]:
        for rule in group["rules"]:
            if not rule.get("alert") or not rule.get("expr"):
                problem(f"alerts.yml group {group['name']}: a rule without alert or expr")

    # Everything mounted or read exists, or is an operator's Secret.
    for dep in deployments:
        name = dep["metadata"]["name"]
        for path, cm in mounted(dep, "configMap").items():
            if cm not in configmaps:
                problem(f"Deployment/{name}: mounts ConfigMap {cm} at {path}, not in the rendering")
        for path, secret in mounted(dep, "secret").items():
            if secret not in OPERATOR_SECRETS:
                problem(f"Deployment/{name}: mounts Secret {secret}, which docs/deploy.md does not list")
        for var, (secret, key) in secret_env(dep).items():
            if key not in OPERATOR_SECRETS.get(secret, set()):
                problem(f"Deployment/{name}: {var} from Secret {secret} key {key}, which docs/deploy.md does not list")

    edge = named.get(("Deployment", "edge"))
    if not edge:
        problem("no Deployment/edge")
        return
    edge_secret = secret_env(edge).get("MERIDIAN_INTERNAL_SECRET")
    if not edge_secret:
        problem("Deployment/edge: MERIDIAN_INTERNAL_SECRET does not come from a Secret")

    # The edge's config, checked by the edge, as mounted in its pod.
    edge_mounts = mounted(edge, "configMap")
    edge_cm_path = next(p for p, cm in edge_mounts.items() if "edge.toml" in configmaps[cm]["data"])
    edge_args = container(edge)["args"]
    config_path = edge_args[edge_args.index("--config") + 1]
    if pathlib.PurePosixPath(config_path).parent != pathlib.PurePosixPath(edge_cm_path):
        problem(f"Deployment/edge: --config {config_path} is not in the ConfigMap mounted at {edge_cm_path}")
    edge_text = configmaps[edge_mounts[edge_cm_path]]["data"]["edge.toml"]
    edge_config = tomllib.loads(edge_text)
    root = work / "edge-pod"
    for path, secret in mounted(edge, "secret").items():
        target = root / path.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        if secret == "edge-tls":
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "1", "-subj", "/CN=meridian.example.com",
                 "-keyout", str(target / "tls.key"), "-out", str(target / "tls.crt")],
                check=True, capture_output=True,
            )
    edge_file = root / config_path.lstrip("/")
    edge_file.parent.mkdir(parents=True, exist_ok=True)
    edge_file.write_text(edge_text)
    run_check([opts.edge, "--config", str(edge_file), "--check"], placeholder_env(edge), "edge --check")

    # The six regions: regions/*.toml, the edge's table, the overlays.
    sources = {}
    for f in sorted((ROOT / "regions").glob("*.toml")):
        t = tomllib.loads(f.read_text())
        sources[t["id"]] = t
    edge_regions = {r["id"]: r for r in edge_config.get("regions", [])}
    origins = {
        d["spec"]["template"]["metadata"]["labels"].get("meridian.dev/region"): d
        for d in deployments if d["metadata"]["name"] != "edge"
    }
    if not (set(sources) == set(edge_regions) == set(origins)) or len(sources) != 6:
        problem(f"regions differ: regions/*.toml {sorted(sources)}, edge.toml {sorted(edge_regions)}, "
                f"origin Deployments {sorted(map(str, origins))}")
    stores_example = ROOT / "deploy/k8s/stores.example.toml"
    for rid, entry in sorted(edge_regions.items()):
        dep = origins.get(rid)
        if not dep:
            continue
        name = dep["metadata"]["name"]
        m = re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", entry["origin"])
        if not m:
            problem(f"edge.toml region {rid}: origin {entry['origin']} is not a Service name in the cluster")
            continue
        svc_name, ns, port = m.group(1), m.group(2), int(m.group(3))
        svc = named.get(("Service", svc_name))
        if ns != NAMESPACE or not svc:
            problem(f"edge.toml region {rid}: no Service {svc_name} in {ns}")
            continue
        if not matches({"matchLabels": svc["spec"]["selector"]}, dep["spec"]["template"]["metadata"]["labels"]):
            problem(f"Service/{svc_name}: does not select {name}'s pods (region {rid})")
        svc_port = next((p for p in svc["spec"]["ports"] if p["port"] == port), None)
        if not svc_port:
            problem(f"Service/{svc_name}: no port {port} (edge.toml region {rid})")
            continue
        container_port = next(
            p["containerPort"] for p in container(dep)["ports"] if p["name"] == svc_port["targetPort"]
        )
        if secret_env(dep).get("MERIDIAN_INTERNAL_SECRET") != edge_secret:
            problem(f"Deployment/{name}: its internal secret is not the edge's {edge_secret}")

        # The region's own file, as mounted, checked by the origin.
        region_mounts = mounted(dep, "configMap")
        args = container(dep)["args"]
        region_path = args[args.index("--region") + 1]
        mount = str(pathlib.PurePosixPath(region_path).parent)
        cm = configmaps.get(region_mounts.get(mount, ""))
        if not cm:
            problem(f"Deployment/{name}: --region {region_path} is not in a mounted ConfigMap")
            continue
        text = cm["data"][pathlib.PurePosixPath(region_path).name]
        region = tomllib.loads(text)
        source = sources.get(rid, {})
        if region.get("id") != rid:
            problem(f"Deployment/{name}: mounts the region file of {region.get('id')}")
        for key in ("latitude", "longitude"):
            if not (region.get(key) == entry[key] == source.get(key)):
                problem(f"region {rid}: {key} differs between regions/{rid}.toml, its overlay and edge.toml")
        listen_port = int(str(region.get("listen", ":0")).rsplit(":", 1)[-1] or 0)
        if listen_port != container_port:
            problem(f"region {rid}: the origin listens on {listen_port}, its Service targets {container_port}")
        region_file = work / f"origin-{rid}" / "region.toml"
        region_file.parent.mkdir(parents=True, exist_ok=True)
        region_file.write_text(text)
        env = placeholder_env(dep)
        if "MERIDIAN_STORES" not in env:
            problem(f"Deployment/{name}: no MERIDIAN_STORES (a region of several pods needs shared stores)")
            continue
        stores_dir = str(pathlib.PurePosixPath(env["MERIDIAN_STORES"]).parent)
        if mounted(dep, "secret").get(stores_dir) != "meridian-stores":
            problem(f"Deployment/{name}: MERIDIAN_STORES is not in the mounted meridian-stores Secret")
        env["MERIDIAN_STORES"] = str(stores_example)
        run_check([opts.origin, "--region", str(region_file), "--check"], env, f"origin --check ({rid})")


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("rendered")
    args.add_argument("--edge", required=True)
    args.add_argument("--origin", required=True)
    args.add_argument("--work", required=True)
    args.add_argument("--self-test", action="store_true",
                      help="also check that each deliberate fault in FAULTS is reported")
    opts = args.parse_args()
    work = pathlib.Path(opts.work)
    text = pathlib.Path(opts.rendered).read_text()
    load = lambda: [d for d in yaml.safe_load_all(text) if d]  # noqa: E731

    check(load(), opts, work / "as-rendered")
    for p in problems:
        print(f"k8s check: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print("k8s check: regions, Services, selectors, Secrets and configs line up")
    if opts.self_test:
        missed = []
        for i, (name, (fault, expected)) in enumerate(FAULTS.items()):
            docs = load()
            fault(docs)
            problems.clear()
            check(docs, opts, work / f"fault-{i}")
            if not any(expected in p for p in problems):
                missed.append(f"{name}: expected {expected!r}, got {problems}")
        if missed:
            for m in missed:
                print(f"k8s check self-test: not reported: {m}", file=sys.stderr)
            sys.exit(1)
        print(f"k8s check: each of {len(FAULTS)} deliberate faults was reported")


if __name__ == "__main__":
    main()
