"""The duplicate detector's thresholds: validated strictly, shipped in the defaults file, and
fed into the state policies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.duplicate import DuplicateConfig
from config.thresholds import load_screen_config
from state.buckets import Buckets
from state.policies import bucket_policies, store_policy
from tests.detectors.duplicate_harness import screen_config


def test_the_defaults_file_states_every_knob() -> None:
    config, _ = load_screen_config()
    assert config.detectors.duplicate == DuplicateConfig()


@pytest.mark.parametrize(
    "bad",
    [
        {"bands": 30, "rows": 3},  # 90 band values from a 64-value signature
        {"phash_max_distance": 4},  # 4 flips can touch all four chunks: no exact chunk left
        {"link_signals": ["iban"]},  # not a signal kind
        {"jaccard_threshold": 0},
        {"unknown_knob": 1},
    ],
)
def test_invalid_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DuplicateConfig.model_validate(bad)


def test_caps_and_strikes_reach_the_state_policies() -> None:
    config = screen_config(
        lsh_bucket_cap=7, phash_bucket_cap=8, signal_store_cap=9, strikes_to_ban=4
    )
    policies = bucket_policies(config)
    assert {kind: p.max_entries for kind, p in policies.items()} == {
        Buckets.LSH: 7,
        Buckets.PHASH: 8,
        Buckets.SIGNAL: 9,
    }
    window = config.state.history_window_days * 86400
    assert all(p.window_s == window for p in policies.values())
    assert store_policy(config).strikes_to_ban == 4
