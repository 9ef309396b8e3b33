"""State directories and files as ssh and gpg treat theirs, and bounded reads of every
file a check is pointed at (the recorded-answer stand-in plays the scrape target)."""

import json
import os
import time

import pytest

from servers.http_standin import standin
from tests.conftest import run_command
from tests.test_metrics import Counter, counter_args


def metrics(*args, **kwargs):
    return run_command("check_metrics", *args, **kwargs)


@pytest.fixture
def target():
    counter = Counter()
    with standin({"/metrics": counter.route}) as (base, _):
        yield base


def test_a_state_directory_others_can_write_is_refused(target, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    assert metrics(*counter_args(target, state)).code == 0
    state.chmod(0o777)
    run = metrics(*counter_args(target, state))
    assert run.code == 3, run.out
    assert f"refusing the state directory {state}: others can write to it (mode 777)" \
        in run.first_line and f"chmod 700 {state}" in run.first_line


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_a_state_directory_of_another_user_is_refused(target, tmp_path):
    state = tmp_path / "theirs"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)
    run = metrics(*counter_args(target, state))
    assert run.code == 3 and "belongs to uid 65534" in run.first_line, run.out


def test_a_symlinked_state_directory_is_refused(target, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    run = metrics(*counter_args(target, link))
    assert run.code == 3 and "is a symbolic link" in run.first_line, run.out


def test_a_planted_lock_symlink_is_not_followed(target, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    assert metrics(*counter_args(target, state)).code == 0
    (lock,) = state.glob("*.lock")
    victim = tmp_path / "victim"
    lock.unlink()
    lock.symlink_to(victim)  # a check run as root must not create or touch this
    run = metrics(*counter_args(target, state))
    assert run.code == 3 and "cannot use the state directory" in run.first_line, run.out
    assert not victim.exists()


def test_an_oversized_state_file_is_corrupt_and_the_run_stays_in_time(target, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    metrics(*counter_args(target, state))
    (file,) = state.glob("*.json")
    document = json.loads(file.read_text())
    series = next(iter(document["series"]))
    now = time.time()
    document["series"][series] = [[now - 1 - index * 1e-4, 1.0] for index in range(2_000_000)]
    file.write_text(json.dumps(document))
    assert file.stat().st_size > 40 << 20
    started = time.monotonic()
    run = metrics(*counter_args(target, state), "-t", "3", "-v")
    assert time.monotonic() - started < 3.5
    assert run.code == 0 and "larger than 8 MiB" in run.out, run.out
    assert "collecting a baseline" in run.out
    assert file.stat().st_size < 1 << 20  # the new baseline replaced it


def test_many_series_keep_the_state_file_bounded(tmp_path):
    lines = "".join(f'w_total{{n="{index}"}} {index}\n' for index in range(30_000))

    def route(path, query):
        return 200, {"Content-Type": "text/plain"}, lines.encode()

    state = tmp_path / "state"
    with standin({"/metrics": route}) as (base, _):
        for _ in range(10):
            run = metrics("--url", base + "/metrics", "--state-dir", str(state),
                          "--expr", "sum(rate(w_total[1h]))", "-t", "20")
            assert run.code == 0, run.out
    (file,) = state.glob("*.json")
    stored = json.loads(file.read_text())
    assert sum(len(points) for points in stored["series"].values()) <= 200_000
    assert file.stat().st_size < 8 << 20


@pytest.mark.parametrize("kind", ["fifo", "zero", "huge", "aliases", "deep"])
def test_hostile_rules_files_are_refused_in_one_line(target, tmp_path, kind):
    path = tmp_path / "rules.yml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path = "/dev/zero"
    elif kind == "huge":
        path.write_bytes(b"# " + b"x" * (17 << 20) + b"\n")
    elif kind == "aliases":  # each level repeats the one before nine times
        levels = ["a0: &a0 [{alert: A, expr: up}]"]
        levels += [f"a{n}: &a{n} [{', '.join(['*a' + str(n - 1)] * 9)}]" for n in range(1, 9)]
        path.write_text("\n".join(levels) + "\ngroups: [{name: g, rules: *a8}]\n")
    else:
        path.write_text("groups: " + "[" * 5000 + "]" * 5000 + "\n")
    started = time.monotonic()
    run = metrics("--url", target + "/metrics", "--rules", str(path), "-t", "3")
    assert time.monotonic() - started < 3.5
    assert run.code == 3 and run.first_line.startswith("METRICS UNKNOWN - invalid arguments: "
                                                       "--rules"), run.out
    assert len(run.out.splitlines()) == 2 and run.err == ""
