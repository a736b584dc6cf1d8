"""The OpenAPI description served at ``/openapi.json``, built from the contract's own JSON
schemas so the two cannot drift apart (a test checks it against the routes the app serves)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson

from streams.http_api import MAX_BATCH


def _schema(name: str) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(
        resources.files("contract").joinpath(f"{name}.schema.json").read_bytes()
    )
    document.pop("$schema", None)
    document.pop("$id", None)
    return document


_ERROR = {
    "type": "object",
    "required": ["error", "field"],
    "properties": {
        "error": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "path such as `listings[3].price`"},
    },
}


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "invalid input, naming the field",
        401: "missing or invalid bearer token",
        413: "body too large",
    }
    return {str(code): {"description": text[code], **_json("Error")} for code in codes}


@cache
def openapi_document() -> bytes:
    listings = {
        "type": "array",
        "maxItems": MAX_BATCH,
        "items": {"$ref": "#/components/schemas/Listing"},
    }
    verdicts = {"type": "array", "items": {"$ref": "#/components/schemas/Verdict"}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Haze listing screener", "version": "1"},
        "components": {
            "schemas": {
                "Listing": _schema("listing"),
                "Verdict": _schema("verdict"),
                "Feedback": _schema("feedback"),
                "Error": _ERROR,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/screen": {
                "post": {
                    "summary": "Screen one listing",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": True, **_json("Listing")},
                    "responses": {
                        "200": {"description": "the verdict", **_json("Verdict")},
                        **_errors(400, 401, 413),
                    },
                }
            },
            "/v1/screen/batch": {
                "post": {
                    "summary": f"Screen up to {MAX_BATCH} listings; all or nothing",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["listings"],
                                    "properties": {"listings": listings},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "verdicts in request order",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"verdicts": verdicts},
                                    }
                                }
                            },
                        },
                        **_errors(400, 401, 413),
                    },
                }
            },
            "/v1/feedback": {
                "post": {
                    "summary": "Outcome from a rights holder or reviewer",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": True, **_json("Feedback")},
                    "responses": {
                        "202": {"description": "applied to the offender state"},
                        **_errors(400, 401, 413),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health",
                    "responses": {
                        "200": {"description": "ok or degraded"},
                        "503": {"description": "cannot screen"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
    }
    return orjson.dumps(document)
