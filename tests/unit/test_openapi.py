"""/openapi.json stays true: its paths are exactly the routes the app serves, and its schemas
are the contract's."""

from __future__ import annotations

from pathlib import Path

import orjson

from config.settings import Settings
from streams.app import build_app
from streams.openapi import openapi_document

CONTRACT = Path(__file__).parents[2] / "contract"


def test_paths_match_the_served_routes() -> None:
    app = build_app(Settings())
    served = {
        resource.canonical
        for resource in app.web.web_app.router.resources()
        if resource.canonical.startswith(("/v1/", "/healthz", "/metrics", "/openapi"))
    }
    documented = set(orjson.loads(openapi_document())["paths"])
    assert served == documented


def test_schemas_are_the_contracts() -> None:
    schemas = orjson.loads(openapi_document())["components"]["schemas"]
    for name in ("listing", "verdict", "feedback"):
        contract = orjson.loads((CONTRACT / f"{name}.schema.json").read_bytes())
        assert schemas[name.capitalize()]["properties"] == contract["properties"]
        assert schemas[name.capitalize()]["required"] == contract["required"]


def test_the_project_copy_keeps_every_field_of_the_shared_contract() -> None:
    shared = Path(__file__).parents[3] / "shared" / "contract"
    if not shared.is_dir():
        import pytest

        pytest.skip("no ../shared/contract beside the project")
    for source in shared.glob("*.schema.json"):
        theirs = orjson.loads(source.read_bytes())
        ours = orjson.loads((CONTRACT / source.name).read_bytes())
        for name, spec in theirs.get("properties", {}).items():
            assert ours["properties"].get(name) == spec, f"{source.name}: {name} changed"
        assert set(theirs.get("required", [])) <= set(ours.get("required", []))
