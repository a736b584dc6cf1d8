"""Thresholds, registry and environment: bad values are refused naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.registry import load_registry
from config.settings import settings_from_env
from config.thresholds import load_screen_config
from tests.conftest import write_config


def test_default_files_load() -> None:
    config, digest = load_screen_config()
    registry, _ = load_registry()
    assert config.decision.review_threshold < config.decision.block_threshold
    assert registry.brands and digest


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"decision__review_threshold": "high"}, "decision.review_threshold"),  # wrong type
        ({"decision__block_threshold": 1.5}, "decision.block_threshold"),  # out of range
        ({"decision__reviw_threshold": 0.4}, "decision.reviw_threshold"),  # unknown key (typo)
        ({"stream__batch_size": "500"}, "stream.batch_size"),  # a string is not an int
        ({"state__key_prefix": 5}, "state.key_prefix"),  # a number is not text
        ({"surprise": 1}, "surprise"),  # unknown top-level key
    ],
)
def test_bad_thresholds_are_refused_naming_the_field(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    path = write_config(tmp_path, **change)
    with pytest.raises(ConfigError) as caught:
        load_screen_config(path)
    assert caught.value.field == field
    assert str(path) in str(caught.value)


def test_review_band_above_block_band_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, decision__review_threshold=0.9, decision__block_threshold=0.8)
    with pytest.raises(ConfigError, match="review_threshold must not exceed"):
        load_screen_config(path)


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_screen_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("decision: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_screen_config(broken)


def test_registry_references_must_resolve(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("version: 1\nbrands:\n  - id: a\n    rights_holder: nobody\n    aliases: [a]\n")
    with pytest.raises(ConfigError, match="unknown rights_holder"):
        load_registry(path)


def test_contract_registry_example_loads() -> None:
    registry, _ = load_registry(Path(__file__).parents[2] / "contract" / "registry.example.yaml")
    assert registry.brand("aurora") is not None
    assert registry.version == "2026-11-22.1"


def test_environment_uses_the_contract_names() -> None:
    settings = settings_from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "h1:9092,h2:9093",
            "REDIS_URL": "redis://r:1/2",
            "SCREEN_HTTP_PORT": "7000",
            "SCREEN_API_TOKEN": "t",
            "SCREEN_SIGNAL_KEY": "k",
            "SCREEN_TOPIC_VERDICTS": "v2",
        }
    )
    assert settings.kafka_broker_url == "kafka://h1:9092;kafka://h2:9093"
    assert (settings.redis_url, settings.http_port, settings.api_token) == (
        "redis://r:1/2",
        7000,
        "t",
    )
    assert settings.topics.verdicts == "v2" and settings.topics.submitted == "listings.submitted"


def test_bad_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SCREEN_HTTP_PORT"):
        settings_from_env({"SCREEN_HTTP_PORT": "lots"})
    with pytest.raises(ConfigError, match="SCREEN_SIGNAL_KEY"):
        settings_from_env({"SCREEN_MODE": "production"})
