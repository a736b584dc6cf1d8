"""The Lua scripts' shared helpers are written once and pasted in by the loader."""

from __future__ import annotations

from importlib import resources

import pytest

from state.redis import _script, _source

SCRIPTS = sorted(
    entry.name
    for entry in resources.files("state").joinpath("scripts").iterdir()
    if entry.name.endswith(".lua") and not entry.name.startswith("_")
)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_include_is_expanded(name: str) -> None:
    assert "--@include" not in _script(name)


@pytest.mark.parametrize("name", ["fetch_prices.lua", "commit_prices.lua"])
def test_the_price_scripts_get_the_chunked_mget_once(name: str) -> None:
    assert "local function mget" not in _source(name)  # written once, in _mget_chunked.lua
    expanded = _script(name)
    definition = "local function mget(keys)"
    assert expanded.count(definition) == 1
    # defined before the script's first call of it
    defined_at = expanded.index(definition)
    first_call = expanded.index("mget(", defined_at + len(definition))
    assert defined_at < first_call
