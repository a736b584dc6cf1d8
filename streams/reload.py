"""Live tuning: the thresholds file, the registry and the shadow thresholds are watched, and a
changed file is validated and swapped in whole; a broken one is refused and the old config stays.

``poll`` is cheap (a ``stat`` per file) and runs on a timer; ``reload`` compiles the detectors
(and warms their kernels), so the worker runs it in a thread off the event loop.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from config.errors import ConfigError
from haze.runtime import Runtime
from streams.service import ScreenService

log = logging.getLogger(__name__)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return (-1, -1)
    return (info.st_mtime_ns, info.st_size)


class ConfigWatcher:
    def __init__(self, service: ScreenService) -> None:
        self.service = service
        settings = service.settings
        self._paths = (settings.config_path, settings.registry_path, settings.shadow_config_path)
        self._seen = tuple(_stamp(path) for path in self._paths)

    def changed(self) -> bool:
        """True when any watched file changed since the last reload attempt."""
        return tuple(_stamp(path) for path in self._paths) != self._seen

    def reload(self) -> bool:
        """Validate and swap in the files as they are now; False (old config kept) if invalid."""
        self._seen = tuple(_stamp(path) for path in self._paths)
        config_path, registry_path, shadow_path = self._paths
        metrics = self.service.metrics
        try:
            runtime = Runtime.load(config_path, registry_path)
            shadow = Runtime.load(shadow_path, registry_path) if shadow_path else None
        except ConfigError as exc:
            metrics.config_reloads.labels(outcome="rejected").inc()
            log.error(
                "config reload refused, keeping %s: %s", self.service.runtime.config_version, exc
            )
            return False
        self.service.screener.swap(runtime, shadow=shadow)
        metrics.set_config_version(runtime.config_version)
        metrics.config_reloads.labels(outcome="applied").inc()
        log.warning("config reloaded: %s", runtime.config_version)
        return True
