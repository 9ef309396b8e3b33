"""What the running server holds: the modules of the configuration in force, the probe
pool and its own metrics; and the reload that swaps modules without dropping any.

A reload reads and checks the whole new file first; only a file without problems
replaces the modules, so a bad edit keeps the old ones probing (one log line, the
reload metric at 0). A module whose definition did not change keeps its runtime,
and with it its warm connections and rate histories.
"""

from __future__ import annotations

import asyncio
import logging

from healthprobes.checks.serve.config import Config, ConfigError, load_config
from healthprobes.checks.serve.modules import ModuleRuntime
from healthprobes.checks.serve.own_metrics import OwnMetrics
from healthprobes.checks.serve.probing import Answer, Prober

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthprobes.checks.runtime.options import Values

LOG = logging.getLogger("healthprobes.serve")


class ServeState:
    def __init__(self, path: str, config: Config) -> None:
        self.path = path
        self.config = config
        self.metrics = OwnMetrics()
        self.prober = Prober(config.settings.max_concurrent_probes, config.settings.per_module)
        self.runtimes = {name: ModuleRuntime(module, config.settings)
                         for name, module in config.modules.items()}
        self.metrics.loaded(True)
        self.ready = True

    def runtime(self, name: str) -> ModuleRuntime | None:
        return self.runtimes.get(name)

    async def values_for(self, runtime: ModuleRuntime, target: str) -> Values:
        # Parsing may read files (a password file): off the event loop.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, runtime.values_for, target)

    async def probe(self, runtime: ModuleRuntime, target: str | None, seconds: float,
                    values: Values | None = None) -> Answer:
        values = runtime.default if values is None else values
        answer = await self.prober.probe(runtime, values, target, seconds)
        self.metrics.probed(runtime.module.name, answer.report.state, answer.seconds)
        return answer

    async def reload(self) -> bool:
        loop = asyncio.get_running_loop()
        try:
            config = await loop.run_in_executor(None, load_config, self.path)
        except ConfigError as error:
            self.metrics.loaded(False)
            LOG.error("reload of %s failed, the old modules keep running: %s", self.path,
                      "; ".join(error.problems))
            return False
        old = self.runtimes
        runtimes = {}
        for name, module in config.modules.items():
            kept = old.get(name)
            if (kept is not None and kept.module.definition() == module.definition()
                    and config.settings == self.config.settings):
                runtimes[name] = kept
            else:
                runtimes[name] = ModuleRuntime(module, config.settings)
        self.runtimes, self.config = runtimes, config
        self.prober.resize(config.settings.max_concurrent_probes, config.settings.per_module)
        kept_ids = {id(runtime) for runtime in runtimes.values()}
        for runtime in old.values():
            if id(runtime) not in kept_ids:
                runtime.close()
        self.metrics.loaded(True)
        LOG.info("reloaded %s: %d modules (%s)", self.path, len(runtimes),
                 ", ".join(sorted(runtimes)))
        return True

    def close(self) -> None:
        for runtime in self.runtimes.values():
            runtime.close()
        self.prober.close()
