"""Every detector the engine runs, in order (earlier ones annotate the batch for later ones)."""

from __future__ import annotations

from config.registry import Registry
from config.thresholds import ScreenConfig
from detectors.base import Detector
from detectors.duplicate import DuplicateDetector

DETECTOR_CLASSES: tuple[type[Detector], ...] = (DuplicateDetector,)


def build_detectors(config: ScreenConfig, registry: Registry) -> list[Detector]:
    """Build every enabled detector for this config and registry."""
    built = (cls.build(config, registry) for cls in DETECTOR_CLASSES)
    return [detector for detector in built if detector is not None]
