"""The configuration file: modules (a check and its arguments) and settings, checked.

Every module's arguments go through the executable's own parser and validation, so
a mistake reads exactly as ``check_etcd`` or ``check_grpc_health`` would say it. All
problems are collected, one line each, so one ``--check-config`` run shows them all.
Arguments are never quoted back in a problem: an inline password would be (see
:func:`secret_values`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from healthprobes.checks.runtime.options import HelpRequested, UsageError, Values

# The executables a module may name: where its program lives and which option a
# Prometheus ?target= replaces.
CHECKS = {
    "check_grpc_health": ("healthprobes.checks.grpc_health", "addr"),
    "check_etcd": ("healthprobes.checks.etcd.program", "endpoints"),
    "check_metrics": ("healthprobes.checks.metrics", "url"),
}
MODULE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
MODULE_KEYS = {"check", "args", "targets"}
CONFIG_LIMIT = 1 << 20  # a config file is a few kilobytes; a megabyte is not one
DEFAULT_MAX_CONCURRENT_PROBES = 32
DEFAULT_MAX_TARGETS_PER_MODULE = 256


@dataclass
class Settings:
    max_concurrent_probes: int = DEFAULT_MAX_CONCURRENT_PROBES
    # Where check_metrics (and check_etcd metrics) keep rate histories when a module's
    # own arguments name no --state-dir: a folder per module under it. Unset: memory.
    state_dir: str | None = None
    # Parsed options kept per ?target= of one module (with their warm connections);
    # the least recently probed go first.
    max_targets_per_module: int = DEFAULT_MAX_TARGETS_PER_MODULE
    # Checks one module runs at once (None: a quarter of the pool, at least 1), so that
    # a module whose targets hang leaves the rest of the pool to the other modules.
    max_concurrent_probes_per_module: int | None = None

    @property
    def per_module(self) -> int:
        chosen = self.max_concurrent_probes_per_module
        return chosen if chosen is not None else max(1, self.max_concurrent_probes // 4)


@dataclass
class Module:
    name: str
    check: str
    args: list[str]
    targets: list[str]
    values: Values  # the arguments as parsed and validated, without a ?target=

    def definition(self) -> tuple:
        """What makes two modules the same: a reload keeps a module's warm connections
        when this did not change."""
        return self.check, tuple(self.args), tuple(self.targets)

    @property
    def program(self):
        return program_of(self.check)

    @property
    def target_option(self) -> str:
        return CHECKS[self.check][1]


@dataclass
class Config:
    modules: dict[str, Module]
    settings: Settings = field(default_factory=Settings)


class ConfigError(Exception):
    """Everything wrong with a configuration file, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def program_of(check: str):
    module = __import__(CHECKS[check][0], fromlist=["PROGRAM"])
    return module.PROGRAM


# Options whose value is itself a secret (never a file name): quoted nowhere.
_SECRET_OPTION_WORDS = ("password", "token", "secret", "credential")


def secret_values(args: list[str]) -> list[str]:
    """Values in a module's arguments that may be secrets: an inline password
    (``--user name:password``), the value of a sensitive ``--rpc-header``, the value
    after an option named like a password. Problems about the module never show them."""
    from healthprobes.checks.grpc_health import is_sensitive_header

    found = []
    for index, arg in enumerate(args):
        name, equals, attached = arg.partition("=")
        value = attached if equals else (args[index + 1] if index + 1 < len(args) else "")
        bare = name.lstrip("-").lower()
        if bare == "user" and ":" in value:
            found.append(value.partition(":")[2])
        elif bare == "rpc-header":
            header, _, header_value = value.partition(":")
            if is_sensitive_header(header.strip().lower()) and header_value.strip():
                found.append(header_value.strip())
                found.append(header_value.strip().split(None, 1)[-1])
        elif (arg.startswith("-") and not bare.endswith("-file")
              and any(word in bare for word in _SECRET_OPTION_WORDS) and value):
            found.append(value)
    return [secret for secret in found if secret]


def scrub(text: str, args: list[str]) -> str:
    from healthprobes.checks.runtime.secrets import REDACTED

    for secret in sorted(secret_values(args), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def parse_module_args(check: str, args: list[str]) -> Values:
    """The arguments through the executable's parser and validation; raises UsageError
    with the executable's own message."""
    from healthprobes.checks.runtime.evaluation import parse_arguments

    try:
        return parse_arguments(program_of(check), args)
    except HelpRequested:
        raise UsageError("--help and --version have no place in a module's args") from None


def load_config(path: str) -> Config:
    """Read and check the file; raises ConfigError naming every problem."""
    import yaml
    from healthprobes.probes.local_files import FileProblem, read_regular

    try:
        # Regular files only, bounded: a FIFO or /dev/zero named as the configuration
        # is refused at once instead of hanging the start or a SIGHUP reload.
        raw = read_regular(path, CONFIG_LIMIT)
    except FileProblem as problem:
        raise ConfigError([f"configuration: {problem}"]) from None
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except RecursionError:
        raise ConfigError([f"{path}: nests too deeply to be a configuration"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError([f"{path}: not valid YAML{line}"]) from None
    return config_from(document, path)


def config_from(document: object, path: str = "config") -> Config:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise ConfigError([f"{path}: the top level must be a mapping with 'modules:'"])
    unknown = sorted(str(key) for key in document if key not in ("modules", "settings"))
    if unknown:
        problems.append(f"{path}: unknown top-level key(s) {', '.join(unknown)} (modules, "
                        "settings)")
    settings = read_settings(document.get("settings"), problems)
    modules_document = document.get("modules")
    if not isinstance(modules_document, dict) or not modules_document:
        problems.append(f"{path}: 'modules:' must map module names to their check and args")
        modules_document = {}
    modules = {}
    for name, spec in modules_document.items():
        module = read_module(str(name), spec, settings, problems)
        if module is not None:
            modules[module.name] = module
    if problems:
        raise ConfigError(problems)
    return Config(modules, settings)


def read_settings(document: object, problems: list[str]) -> Settings:
    settings = Settings()
    if document is None:
        return settings
    if not isinstance(document, dict):
        problems.append("settings: must be a mapping")
        return settings
    for key, value in document.items():
        if key in ("max_concurrent_probes", "max_targets_per_module",
                   "max_concurrent_probes_per_module"):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
                problems.append(f"settings.{key}: a whole number from 1 to 4096")
                continue
            setattr(settings, key, value)
        elif key == "state_dir":
            if not isinstance(value, str) or not value.startswith("/"):
                problems.append("settings.state_dir: an absolute directory path")
                continue
            settings.state_dir = value
        else:
            problems.append(f"settings: unknown key {key!r} (max_concurrent_probes, "
                            "max_concurrent_probes_per_module, max_targets_per_module, "
                            "state_dir)")
    return settings


def read_module(name: str, spec: object, settings: Settings,
                problems: list[str]) -> Module | None:
    where = f"modules.{name}"
    if not MODULE_NAME.fullmatch(name):
        problems.append(f"{where}: a module name is 1-100 of A-Z a-z 0-9 _ . - (it is part of "
                        "the URL /probe/NAME)")
        return None
    if not isinstance(spec, dict):
        problems.append(f"{where}: must be a mapping with check and args")
        return None
    unknown = sorted(str(key) for key in spec if key not in MODULE_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)} (check, args, targets)")
    check = spec.get("check")
    if check not in CHECKS:
        problems.append(f"{where}.check: one of {', '.join(CHECKS)}")
        return None
    args = spec.get("args", [])
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        problems.append(f"{where}.args: a list of strings, as the executable takes them "
                        "(quote numbers: \"5\")")
        return None
    targets = spec.get("targets", [])
    if not isinstance(targets, list) or not all(
            isinstance(pattern, str) and pattern for pattern in targets):
        problems.append(f"{where}.targets: a list of patterns (strings)")
        return None
    from healthprobes.checks.serve.targets import pattern_problem

    for pattern in targets:
        problem = pattern_problem(pattern)
        if problem:
            problems.append(f"{where}.targets: {scrub(problem, args)}")
    try:
        values = parse_module_args(check, args)
    except UsageError as error:
        problems.append(f"{where}: {check}: invalid arguments: {scrub(str(error), args)}")
        return None
    except Exception as error:  # our own bug while reading them: one line, no traceback
        problems.append(f"{where}: {check}: internal error while reading the arguments: "
                        f"{type(error).__name__}")
        return None
    apply_settings(name, values, settings)
    return Module(name, check, list(args), list(targets), values)


def apply_settings(name: str, values: Values, settings: Settings) -> None:
    """Where a module keeps rate histories: its own --state-dir, else a folder of its own
    under settings.state_dir, else memory (set up by the module's runtime)."""
    if hasattr(values, "state_dir") and not values.state_dir and settings.state_dir:
        values.state_dir = os.path.join(settings.state_dir, name)
