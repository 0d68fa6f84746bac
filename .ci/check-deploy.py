#!/usr/bin/env python3
"""Checks the deployment files: Kubernetes objects, the kustomization, the GitHub App manifest
and the settings named in docs/deploy.md.

Run by .ci/run with the Python of a virtualenv holding kubernetes-validate (and so PyYAML):
    VENV/bin/python .ci/check-deploy.py
Exits 1 listing every problem found, 0 when there is none.

Why more than `kubernetes-validate --strict deploy/kubernetes/*.yaml`: that command exits 0 with
only a WARN line for any kind or apiVersion it has no schema for -- kustomization.yaml, but also
a misspelt `apiVersion: apps/v2` -- so a WARN counts as a failure here, the kustomization is
checked on its own, and the objects are checked against each other and against the code (a
setting name the server does not read is silently ignored by it, so a typo would go unnoticed).
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
MANIFEST = ROOT / "deploy" / "github-app-manifest.json"
DOCS = ROOT / "docs" / "deploy.md"
# The oldest Kubernetes the objects are meant for (the preStop `sleep` action is on by default
# from 1.30) and the newest the pinned kubernetes-validate ships schemas for.
K8S_VERSIONS = ["1.30.0", "1.37.0"]
# Installed next to this Python (a virtualenv) or on PATH (a per-user install).
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
if not VALIDATE.exists():
    VALIDATE = Path(shutil.which("kubernetes-validate") or "kubernetes-validate")

problems: list[str] = []


def fail(message: str) -> None:
    problems.append(message)
    print(f"FAIL {message}")


def documents(path: Path) -> list[dict]:
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


def handled_events() -> set[str]:
    """The webhook events the App reads (the HANDLED list in src/app/events.rs)."""
    text = (ROOT / "src" / "app" / "events.rs").read_text()
    match = re.search(r"const HANDLED: &\[&str\] = &\[(.*?)\];", text, re.S)
    if not match:
        fail("src/app/events.rs: HANDLED list not found; update .ci/check-deploy.py")
        return set()
    return set(re.findall(r'"([a-z_]+)"', match.group(1)))


# ---- the objects, one file at a time ------------------------------------------------------------

KUSTOMIZATION = K8S / "kustomization.yaml"
object_files = sorted(p for p in K8S.glob("*.yaml") if p != KUSTOMIZATION)
examples = [p for p in object_files if p.name.endswith(".example.yaml")]
print("== kubernetes-validate --strict, Kubernetes " + " and ".join(K8S_VERSIONS))
validate(object_files, "deploy/kubernetes")

# ---- the kustomization --------------------------------------------------------------------------

print("== deploy/kubernetes/kustomization.yaml")
KUSTOMIZE_FIELDS = {
    "apiVersion", "kind", "metadata", "namespace", "namePrefix", "nameSuffix", "resources",
    "components", "images", "labels", "commonLabels", "commonAnnotations", "patches",
    "configMapGenerator", "secretGenerator", "generatorOptions", "replicas", "replacements",
    "buildMetadata", "sortOptions",
}
kz = documents(KUSTOMIZATION)[0]
if (kz.get("apiVersion"), kz.get("kind")) != ("kustomize.config.k8s.io/v1beta1", "Kustomization"):
    fail("kustomization.yaml: apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization")
for key in sorted(set(kz) - KUSTOMIZE_FIELDS):
    fail(f"kustomization.yaml: unknown field {key!r}")
resources = kz.get("resources") or []
if len(resources) != len(set(resources)):
    fail("kustomization.yaml: a resource is listed twice")
listed = {K8S / r for r in resources}
for path in sorted(listed - set(object_files)):
    fail(f"kustomization.yaml: resource {rel(path)} does not exist here")
for path in sorted(set(object_files) - listed - set(examples)):
    fail(f"kustomization.yaml: {rel(path)} is not listed (and so never applied)")
for path in sorted(listed & set(examples)):
    fail(f"kustomization.yaml: example {rel(path)} must not be applied (placeholders)")
images = kz.get("images") or []
for image in images:
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", str(image.get("digest", ""))):
        fail(f"kustomization.yaml: image {image.get('name')!r} must be pinned by digest (sha256:<64 hex>)")
    if "newTag" in image:
        fail(f"kustomization.yaml: image {image.get('name')!r} has newTag; use the digest only")
image_names = {i.get("name") for i in images}

objects = {}  # (kind, name) -> object, the applied ones
for path in sorted(listed & set(object_files)):
    for doc in documents(path):
        objects[(doc["kind"], doc["metadata"]["name"])] = doc
example_objects = {(d["kind"], d["metadata"]["name"]): d for p in examples for d in documents(p)}


def one(kind: str) -> dict:
    found = [o for (k, _), o in objects.items() if k == kind]
    if len(found) != 1:
        fail(f"deploy/kubernetes: expected one {kind}, found {len(found)}")
        return {}
    return found[0]


# ---- the objects against each other and against the code ---------------------------------------

print("== deploy/kubernetes: references between objects, settings, security")
settings = code_settings()
deployment = one("Deployment")
pod = deployment.get("spec", {}).get("template", {})
pod_labels = pod.get("metadata", {}).get("labels", {})
spec = pod.get("spec", {})
containers = spec.get("containers", []) + spec.get("initContainers", [])


def selects_pods(selector: dict, where: str) -> None:
    wanted = selector.get("matchLabels", selector)
    if not wanted or any(pod_labels.get(k) != v for k, v in wanted.items()):
        fail(f"{where}: selector {wanted} does not select the Deployment's pods {pod_labels}")


selects_pods(deployment["spec"]["selector"], "Deployment")
selects_pods(one("Service").get("spec", {}).get("selector", {}), "Service")
selects_pods(one("PodDisruptionBudget").get("spec", {}).get("selector", {}), "PodDisruptionBudget")
selects_pods(one("NetworkPolicy").get("spec", {}).get("podSelector", {}), "NetworkPolicy")
for c in spec.get("topologySpreadConstraints", []):
    selects_pods(c.get("labelSelector", {}), "topologySpreadConstraints")
hpa_target = one("HorizontalPodAutoscaler").get("spec", {}).get("scaleTargetRef", {})
if (hpa_target.get("kind"), hpa_target.get("name")) != ("Deployment", deployment["metadata"]["name"]):
    fail(f"HorizontalPodAutoscaler: scaleTargetRef {hpa_target} is not the Deployment")
if ("ServiceAccount", spec.get("serviceAccountName")) not in objects:
    fail(f"Deployment: service account {spec.get('serviceAccountName')!r} is not defined")

secrets = {name: o for (k, name), o in example_objects.items() if k == "Secret"}


def secret_key(name: str, key: str, optional: bool, where: str) -> None:
    if name not in secrets:
        fail(f"{where}: Secret {name!r} has no example in deploy/kubernetes/*.example.yaml")
    elif not optional and key not in (secrets[name].get("stringData") or secrets[name].get("data") or {}):
        fail(f"{where}: key {key!r} of Secret {name!r} is missing from its example")


config = {}
for c in containers:
    where = f"container {c.get('name')}"
    image = c.get("image", "")
    if image not in image_names or ":" in image or "@" in image:
        fail(f"{where}: image {image!r} must be a bare name set by kustomization.yaml images:")
    for source in c.get("envFrom", []):
        ref = source.get("configMapRef") or {}
        cm = objects.get(("ConfigMap", ref.get("name")))
        if cm is None:
            fail(f"{where}: envFrom ConfigMap {ref.get('name')!r} is not defined")
        else:
            config.update(cm.get("data") or {})
        if "secretRef" in source:
            fail(f"{where}: take secrets key by key (env valueFrom), not with envFrom")
    env_names = [e["name"] for e in c.get("env", [])]
    for e in c.get("env", []):
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            secret_key(ref["name"], ref["key"], ref.get("optional", False), f"{where} env {e['name']}")
    for name in sorted(set(config) | set(env_names)):
        if name.startswith("REVIEWGATE_") and name not in settings:
            fail(f"{where}: {name} is not a setting the server reads (typo?)")
    for required in ("REVIEWGATE_APP_ID", "REVIEWGATE_WEBHOOK_SECRET"):
        if required not in config and required not in env_names:
            fail(f"{where}: {required} is not set")
    if "REVIEWGATE_PRIVATE_KEY_PATH" not in config and "REVIEWGATE_PRIVATE_KEY" not in env_names:
        fail(f"{where}: neither REVIEWGATE_PRIVATE_KEY_PATH nor REVIEWGATE_PRIVATE_KEY is set")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    listen = config.get("REVIEWGATE_LISTEN", "0.0.0.0:8080")
    if int(listen.rsplit(":", 1)[1]) not in ports.values():
        fail(f"{where}: REVIEWGATE_LISTEN {listen} is not a container port {ports}")
    for probe in ("readinessProbe", "livenessProbe"):
        port = (c.get(probe) or {}).get("httpGet", {}).get("port")
        if port is None or (port not in ports and port not in ports.values()):
            fail(f"{where}: {probe} port {port!r} is not a container port")
    if (c.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/readyz":
        fail(f"{where}: readinessProbe must be GET /readyz")
    if (c.get("livenessProbe") or {}).get("httpGet", {}).get("path") != "/healthz":
        fail(f"{where}: livenessProbe must be GET /healthz")
    sc = c.get("securityContext") or {}
    for key, want in (("allowPrivilegeEscalation", False), ("readOnlyRootFilesystem", True),
                      ("runAsNonRoot", True)):
        if sc.get(key) != want:
            fail(f"{where}: securityContext.{key} must be {want}")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        fail(f"{where}: securityContext.capabilities.drop must be [ALL]")
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in (c.get("resources") or {}).get(kind, {}):
                fail(f"{where}: resources.{kind}.{resource} is not set")
    mounted = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    secret_files = set()
    for v in spec.get("volumes", []):
        if "secret" in v:
            for item in v["secret"].get("items", []):
                secret_key(v["secret"]["secretName"], item["key"], False, f"volume {v['name']}")
                if v["name"] in mounted:
                    secret_files.add(f"{mounted[v['name']].rstrip('/')}/{item['path']}")
    key_path = config.get("REVIEWGATE_PRIVATE_KEY_PATH")
    if key_path is not None and key_path not in secret_files:
        fail(f"{where}: REVIEWGATE_PRIVATE_KEY_PATH {key_path} is not a file mounted from a Secret")

psc = spec.get("securityContext") or {}
if not psc.get("runAsNonRoot") or not isinstance(psc.get("runAsUser"), int) or psc.get("runAsUser") == 0:
    fail("Deployment: pod securityContext needs runAsNonRoot and a numeric non-root runAsUser")
if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
    fail("Deployment: pod seccompProfile must be RuntimeDefault")
if spec.get("automountServiceAccountToken") is not False:
    fail("Deployment: automountServiceAccountToken must be false")
grace = int(config.get("REVIEWGATE_SHUTDOWN_GRACE_SECS", 20))
pause = max(((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
            for c in containers)
period = spec.get("terminationGracePeriodSeconds", 30)
if period <= pause + grace + 1:
    fail(f"Deployment: terminationGracePeriodSeconds {period} must exceed preStop {pause} s "
         f"+ REVIEWGATE_SHUTDOWN_GRACE_SECS {grace} s + 1 s runtime shutdown")

# ---- the GitHub App manifest --------------------------------------------------------------------

print("== deploy/github-app-manifest.json")
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
manifest = json.loads(MANIFEST.read_text())
for key in sorted(set(manifest) - MANIFEST_FIELDS):
    fail(f"github-app-manifest.json: {key!r} is not a manifest parameter")
hook = manifest.get("hook_attributes") or {}
for key in sorted(set(hook) - {"url", "active"}):
    fail(f"github-app-manifest.json: hook_attributes.{key} is not a manifest parameter")
if not str(hook.get("url", "")).startswith("https://") or not hook["url"].endswith("/webhook"):
    fail("github-app-manifest.json: hook_attributes.url must be https://.../webhook (the server's route)")
if hook.get("active") is not True:
    fail("github-app-manifest.json: hook_attributes.active must be true")
if not str(manifest.get("url", "")).startswith("https://"):
    fail("github-app-manifest.json: url (required) must be an https URL")
if manifest.get("public") is not False:
    fail("github-app-manifest.json: public must be false")
events = manifest.get("default_events") or []
handled = handled_events()
if len(events) != len(set(events)) or set(events) != handled:
    fail(f"github-app-manifest.json: default_events {sorted(events)} differ from the events "
         f"src/app/events.rs handles {sorted(handled)}")
if manifest.get("default_permissions") != PERMISSIONS:
    fail(f"github-app-manifest.json: default_permissions must be exactly {PERMISSIONS}")
for event in events:
    needed = EVENT_PERMISSION.get(event)
    if needed is None:
        fail(f"github-app-manifest.json: event {event} has no known permission; update .ci/check-deploy.py")
    elif needed not in (manifest.get("default_permissions") or {}):
        fail(f"github-app-manifest.json: event {event} needs permission {needed}")

# ---- docs/deploy.md -----------------------------------------------------------------------------

print("== docs/deploy.md: settings and examples")
docs = DOCS.read_text()
named = set(re.findall(r"\bREVIEWGATE_[A-Z0-9_]*[A-Z0-9]\b", docs))
for name in sorted(settings - named):
    fail(f"docs/deploy.md: setting {name} (read in src/) is not documented")
for name in sorted(named - settings):
    fail(f"docs/deploy.md: {name} is not a setting the server reads")
blocks = [b for b in re.findall(r"^```yaml\n(.*?)^```", docs, re.S | re.M) if "apiVersion:" in b]
with tempfile.TemporaryDirectory() as tmp:
    paths = []
    for i, block in enumerate(blocks):
        paths.append(Path(tmp) / f"docs-deploy-md-example-{i + 1}.yaml")
        paths[-1].write_text(block)
    if paths:
        validate(paths, "docs/deploy.md yaml examples")

# ---- the rendered kustomization, when kubectl is at hand ----------------------------------------

kubectl = shutil.which("kubectl")
if kubectl:
    print("== kubectl kustomize deploy/kubernetes, then kubernetes-validate")
    run = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"kubectl kustomize failed: {run.stderr.strip()}")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rendered = Path(tmp) / "rendered.yaml"
            rendered.write_text(run.stdout)
            validate([rendered], "rendered kustomization")
            docs_out = documents(rendered)
            if len(docs_out) != len(objects):
                fail(f"rendered kustomization: {len(docs_out)} objects, expected {len(objects)}")
            for doc in docs_out:
                if doc["metadata"].get("namespace") != kz.get("namespace"):
                    fail(f"rendered {doc['kind']}/{doc['metadata']['name']}: not in namespace {kz.get('namespace')}")
                for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                    if not re.fullmatch(r"[^@:]+(:\d+)?[^@:]*@sha256:[0-9a-f]{64}", c["image"]):
                        fail(f"rendered container {c['name']}: image {c['image']} is not pinned by digest")
                    else:
                        print(f"INFO rendered image {c['image']}")
else:
    print("== kubectl not installed: the kustomization was checked above without rendering it")

if problems:
    print(f"deployment checks: {len(problems)} problem(s)", file=sys.stderr)
    sys.exit(1)
print("deployment checks: no problems")
