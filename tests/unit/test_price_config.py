"""The ``detectors.price`` section: defaults load, bad values are refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.thresholds import DEFAULT_CONFIG_PATH, load_screen_config


def test_the_default_file_carries_every_price_knob() -> None:
    config, _ = load_screen_config(DEFAULT_CONFIG_PATH)
    price = config.detectors.price
    assert price.rates["CNY"] == 1.0 and price.rates["USD"] > 1.0
    assert price.reference.start_ratio < 0.7  # an honest 30% discount never fires
    assert price.reference.block_ratio > 0.1  # a tenth of the reference blocks
    assert price.market.min_observations <= price.market.sample_size


@pytest.mark.parametrize(
    ("price", "field"),
    [
        ("reference: {start_ratio: 0.2}", "detectors.price.reference"),  # below review_ratio
        ("market: {start_z: -9}", "detectors.price.market"),  # knots out of order
        ("market: {half_life_days: 0}", "detectors.price.market.half_life_days"),
        ("market: {min_observations: 300, sample_size: 256}", "detectors.price.market"),
        ("rates: {usd: 7.1}", "detectors.price.rates"),
        ("rates: {USD: -1}", "detectors.price.rates"),
        ("shipping: {start_ratio: 40}", "detectors.price.shipping"),
        ("surprise: 1", "detectors.price.surprise"),
    ],
)
def test_bad_values_are_refused_naming_the_field(tmp_path: Path, price: str, field: str) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(f"version: t\ndetectors:\n  price:\n    {price}\n")
    with pytest.raises(ConfigError) as caught:
        load_screen_config(path)
    assert caught.value.field is not None and caught.value.field.startswith(field)
    assert str(path) in str(caught.value)
