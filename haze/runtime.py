"""A compiled configuration: thresholds + registry + the detectors built from them.

The engine holds one :class:`Runtime` and swaps it whole when a file changes, so a batch is
always screened by one consistent version (named in every verdict as ``config_version``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.registry import Registry, load_registry
from config.thresholds import ScreenConfig, load_screen_config
from detectors.base import Detector
from detectors.catalog import build_detectors
from detectors.decision import DecisionStep


@dataclass(frozen=True, slots=True)
class Runtime:
    config: ScreenConfig
    registry: Registry
    config_version: str
    detectors: tuple[Detector, ...]
    decision: DecisionStep

    @classmethod
    def build(
        cls, config: ScreenConfig, registry: Registry, *, digest: str = "", warm: bool = True
    ) -> Runtime:
        detectors = tuple(build_detectors(config, registry))
        if warm:
            for detector in detectors:
                detector.warm()
        version = f"{config.version}/{registry.version}" + (f"@{digest}" if digest else "")
        return cls(config, registry, version, detectors, DecisionStep(config.decision, registry))

    @classmethod
    def load(cls, config_path: Path, registry_path: Path, *, warm: bool = True) -> Runtime:
        """Load, validate and compile both files; raises ``ConfigError`` naming file and field."""
        config, config_digest = load_screen_config(config_path)
        registry, registry_digest = load_registry(registry_path)
        return cls.build(
            config, registry, digest=f"{config_digest[:6]}{registry_digest[:6]}", warm=warm
        )
