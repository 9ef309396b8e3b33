"""What pip installs: one import package, healthprobes, and the launchers; nothing under a
generic top-level name such as checks or probes."""

import subprocess
import sys
from importlib import metadata


def installed_files(tmp_path) -> list[tuple[str, ...]]:
    """The installed distribution's files (read from an empty directory, where a build's
    healthprobes.egg-info in the checkout cannot stand in for it)."""
    code = ("from importlib import metadata; "
            "print('\\n'.join('/'.join(f.parts) for f in metadata.distribution("
            "'healthprobes').files))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=30, check=True)
    return [tuple(line.split("/")) for line in done.stdout.splitlines()]


def test_the_distribution_installs_only_healthprobes_and_the_launchers(tmp_path):
    files = installed_files(tmp_path)
    tops = {parts[0] for parts in files if not parts[0].endswith(".dist-info")}
    scripts = {parts[-1] for parts in files if parts[0] == ".."}
    assert tops == {"healthprobes", ".."}, tops  # "..": the launchers, in the venv's bin
    assert {"check_etcd", "check_grpc_health", "check_metrics"} <= scripts, scripts


def test_generic_names_do_not_import_but_healthprobes_does(tmp_path):
    code = ("import importlib.util as u, sys; "
            "print(u.find_spec('checks'), u.find_spec('probes'), "
            "u.find_spec('healthprobes.checks.runtime') is not None)")
    # From an empty directory: the repository's own folders are not on the path there.
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=30)
    assert done.stdout.split() == ["None", "None", "True"], done.stdout + done.stderr


def test_the_version_lives_in_one_place():
    from healthprobes.checks import __version__

    assert metadata.version("healthprobes") == __version__
    launcher = subprocess.run([sys.executable.replace("python", "check_etcd"), "--version"],
                              capture_output=True, text=True, timeout=30)
    assert launcher.stdout.strip() == f"check_etcd (healthprobes) {__version__}"
