"""No secret is ever printed, and files named by options cannot hang or flood a check.

The servers here are recorded-answer stand-ins (servers/http_standin.py) that echo the
request back: no real etcd or exporter does that, which is exactly the hostile case.
"""

import base64
import json
import os
import time

import pytest

from servers.http_standin import echo, standin
from tests.conftest import run_command

PASSWORD = 'pa"ss\\wörd-s3cret'  # a quote and a backslash: echoed JSON escapes them
TOKEN = "eyJhbGciOiJSUzI1NiJ9.token-body.signature-part"
FORMATS = ("nagios", "json", "influx", "prometheus")


@pytest.fixture
def secret_files(tmp_path):
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    return password, token


def leaked(text: str) -> list[str]:
    """Any secret form, or any 6 characters of one (a quote cut short keeps a prefix)."""
    forms = {PASSWORD, json.dumps(PASSWORD)[1:-1], TOKEN,
             base64.b64encode(f"mon:{PASSWORD}".encode()).decode()}
    return [form[start:start + 6] for form in forms for start in range(len(form) - 5)
            if form[start:start + 6] in text]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("verbose", ["-v", "-vvv"])
def test_an_echoing_etcd_gateway_cannot_make_the_check_print_the_password(
        secret_files, fmt, verbose):
    password, _ = secret_files
    error = echo(500, lambda text: json.dumps({"error": text, "code": 2, "message": text}))
    with standin({"/v3/auth/authenticate": error}) as (url, _):
        run = run_command("check_etcd", "members", "--endpoints", url, "--user", "mon",
                          "--password-file", str(password), "--format", fmt, verbose)
    assert run.code == (0 if fmt in ("influx", "prometheus") else 2), run.out
    if fmt != "prometheus":  # the Prometheus output carries states and numbers, no text
        assert "<redacted>" in run.out  # the echo came back, and was scrubbed
    assert leaked(run.out + run.err) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_echoing_exporter_cannot_make_the_check_print_the_token(secret_files, fmt):
    _, token = secret_files
    with standin({"/metrics": echo(500)}) as (url, _):
        bearer = run_command("check_metrics", "--url", url + "/metrics", "--expr", "up",
                             "--bearer-token-file", str(token), "--format", fmt, "-vvv")
    if fmt != "prometheus":
        assert "Bearer <redacted>" in bearer.out, bearer.out
    assert leaked(bearer.out + bearer.err) == []


def test_basic_auth_is_scrubbed_in_its_base64_form_too(secret_files):
    password, _ = secret_files
    with standin({"/metrics": echo(500)}) as (url, _):
        run = run_command("check_metrics", "--url", url + "/metrics", "--expr", "up",
                          "--user", "mon", "--password-file", str(password), "-v")
    assert "Basic <redacted>" in run.out, run.out
    assert leaked(run.out) == []


def test_sensitive_rpc_headers_never_reach_a_message():
    value = "Bearer " + TOKEN
    bad_name = run_command("check_grpc_health", "--addr", "127.0.0.1:1", "--rpc-header",
                           f"authorization {value}")
    assert bad_name.code == 3 and leaked(bad_name.out) == []


@pytest.mark.parametrize("option", ["--password-file", "--bearer-token-file"])
def test_a_fifo_as_secret_file_is_refused_at_once(tmp_path, option):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = (["check_etcd", "members", "--user", "mon", "--password-file", str(fifo)]
            if option == "--password-file" else
            ["check_metrics", "--url", "http://127.0.0.1:1/m", "--expr", "up", option,
             str(fifo)])
    started = time.monotonic()
    run = run_command(*args, "-t", "2")
    assert run.code == 3 and "is not a regular file" in run.first_line, run.out
    assert time.monotonic() - started < 2


def test_dev_zero_and_oversized_secret_files_are_refused(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * (65 * 1024))
    zero = run_command("check_etcd", "members", "--user", "mon", "--password-file",
                       "/dev/zero", "-t", "2")
    assert zero.code == 3 and "is not a regular file" in zero.first_line
    large = run_command("check_etcd", "members", "--user", "mon", "--password-file",
                        str(big), "-t", "2")
    assert large.code == 3 and "is larger than 65536 bytes" in large.first_line


def test_the_deadline_runs_while_options_are_read():
    """The watchdog starts before the options: whatever hangs while they are read (here
    a read of standard input that never ends, through /proc/self/fd/0 on a pipe that
    stays open) still ends at -t with one line."""
    import subprocess
    import sys

    from tests.conftest import BIN

    reader, writer = os.pipe()
    try:
        started = time.monotonic()
        done = subprocess.run([str(BIN / "check_etcd"), "members", "--user", "mon",
                               "--password-file", "/dev/stdin", "-t", "1.5", "--format",
                               "json"], stdin=reader, capture_output=True, text=True,
                              timeout=20, env={k: v for k, v in os.environ.items()
                                               if not k.startswith("HEALTHPROBES_")})
        elapsed = time.monotonic() - started
    finally:
        os.close(reader)
        os.close(writer)
    assert elapsed < 2.0, elapsed
    assert done.returncode == 3, done.stdout
    assert json.loads(done.stdout)["state"] == "UNKNOWN"
    assert sys.executable  # the launcher's own interpreter ran it


@pytest.mark.parametrize("command", [
    ["check_etcd", "certs", "--cert-file", "{fifo}"],
    ["check_grpc_health", "--addr", "127.0.0.1:1", "--tls", "--tls-ca-cert", "{fifo}"],
    ["check_etcd", "health", "--endpoints", "https://127.0.0.1:1", "--cacert", "{fifo}"],
    ["check_metrics", "--url", "https://127.0.0.1:1/m", "--expr", "up", "--cacert", "{fifo}"],
])
def test_certificate_files_that_never_end_are_refused_at_once(tmp_path, command):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    run = run_command(*[part.format(fifo=fifo) for part in command], "-t", "3")
    assert time.monotonic() - started < 2, run.out
    assert run.code in (2, 3) and "is not a regular file" in run.out, run.out
    assert run.err == ""
