"""Live tuning: file changes swap the config whole, broken files are refused, the shadow config
reports what it would decide and never acts."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import orjson

from config.registry import DEFAULT_REGISTRY_PATH
from config.settings import Settings
from haze.engine import Screener
from haze.runtime import Runtime
from state.memory import MemoryStateStore
from state.policies import series_policies
from streams.reload import ConfigWatcher
from streams.service import ScreenService
from tests.conftest import write_config
from tests.unit.test_engine_pipeline import WordDetector, _listing


def _touch_later(path: Path) -> None:
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def _service(tmp_path: Path) -> tuple[ScreenService, Path]:
    config = write_config(tmp_path, version="v1")
    registry = tmp_path / "registry.yaml"
    shutil.copy(DEFAULT_REGISTRY_PATH, registry)
    settings = Settings(config_path=config, registry_path=registry)
    return ScreenService.create(settings), config


def test_a_changed_file_is_swapped_in_and_a_broken_one_refused(tmp_path: Path) -> None:
    service, config = _service(tmp_path)
    watcher = ConfigWatcher(service)
    assert not watcher.changed()
    assert service.runtime.config_version.startswith("v1/")

    config.write_text(config.read_text().replace("version: v1", "version: v2"))
    _touch_later(config)
    assert watcher.changed() and watcher.reload()
    assert service.runtime.config_version.startswith("v2/")

    config.write_text(config.read_text().replace("review_threshold: 0.5", "review_threshold: lots"))
    _touch_later(config)
    assert watcher.changed() and not watcher.reload()
    assert service.runtime.config_version.startswith("v2/")  # the old config stays
    assert not watcher.changed()  # refused once, not retried every second
    rejected = service.metrics.config_reloads.labels(outcome="rejected")._value.get()
    assert rejected == 1


async def test_shadow_reports_its_decision_and_never_acts(tmp_path: Path) -> None:
    live = Runtime.load(write_config(tmp_path, version="live"), DEFAULT_REGISTRY_PATH, warm=False)
    strict = Runtime.load(
        write_config(
            tmp_path,
            version="strict",
            decision__review_threshold=0.2,
            decision__block_threshold=0.4,
        ),
        DEFAULT_REGISTRY_PATH,
        warm=False,
    )
    detector = WordDetector("fake", 0.45)
    live = Runtime(live.config, live.registry, live.config_version, (detector,), live.decision)
    strict = Runtime(
        strict.config, strict.registry, strict.config_version, (detector,), strict.decision
    )
    screener = Screener(live, MemoryStateStore(series_policies(live.config)), shadow=strict)
    flagged, plain = await screener.screen([_listing("a", "fake bag"), _listing("b", "mug")])
    verdict = orjson.loads(flagged.verdict)
    assert verdict["decision"] == "allow"  # 0.45 is below the live review band
    assert verdict["shadow"]["decision"] == "block" and flagged.shadow_differs
    assert verdict["shadow"]["config_version"].startswith("strict/")
    assert flagged.complaint is None  # the shadow's block raises nothing
    assert not plain.shadow_differs
