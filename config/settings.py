"""Process settings, read from the environment exactly once (at the edge) and then frozen.

The variable names are the contract's (``contract/README.md``); the ``SCREEN_TOPIC_*`` and a
few operational variables extend it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.errors import ConfigError
from config.registry import DEFAULT_REGISTRY_PATH
from config.thresholds import DEFAULT_CONFIG_PATH

DEMO_SIGNAL_KEY = "haze-demo-signal-key-not-for-production"


WORKER_ROLES = ("all", "inline")
"""What ``haze run --role`` starts: ``all``, the stream agents and the HTTP API; ``inline``, the
HTTP API alone, in a consumer group of its own (``<app id>-inline``) that screens nothing
from the stream, so that inline requests never wait for the GIL behind a stream batch."""


class Topics(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    submitted: str = "listings.submitted"
    verdicts: str = "listings.verdicts"
    complaints: str = "complaints.proactive"
    deadletter: str = "listings.deadletter"
    feedback: str = "screening.feedback"


class Settings(BaseModel):
    """Where the infrastructure is, which files to load, and secrets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kafka_bootstrap_servers: str = "localhost:9092"
    redis_url: str = "redis://localhost:6379/0"
    config_path: Path = DEFAULT_CONFIG_PATH
    registry_path: Path = DEFAULT_REGISTRY_PATH
    shadow_config_path: Path | None = None
    http_port: int = Field(6066, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    api_token: str | None = None
    signal_key: str = DEMO_SIGNAL_KEY
    mode: Literal["demo", "production"] = "demo"
    app_id: str = "haze-screener"
    data_dir: Path = Path(".services/worker")
    topics: Topics = Topics()
    partitions: int = Field(4, ge=1, le=1024)

    @property
    def kafka_broker_url(self) -> str:
        """The bootstrap list in Faust's ``kafka://host:port;host:port`` form."""
        hosts = [h.strip() for h in self.kafka_bootstrap_servers.split(",") if h.strip()]
        return ";".join(h if "://" in h else f"kafka://{h}" for h in hosts)


_ENV_FIELDS: dict[str, str] = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka_bootstrap_servers",
    "REDIS_URL": "redis_url",
    "SCREEN_CONFIG": "config_path",
    "SCREEN_REGISTRY": "registry_path",
    "SCREEN_SHADOW_CONFIG": "shadow_config_path",
    "SCREEN_HTTP_PORT": "http_port",
    "SCREEN_HTTP_HOST": "http_host",
    "SCREEN_API_TOKEN": "api_token",
    "SCREEN_SIGNAL_KEY": "signal_key",
    "SCREEN_MODE": "mode",
    "SCREEN_APP_ID": "app_id",
    "SCREEN_DATA_DIR": "data_dir",
    "SCREEN_PARTITIONS": "partitions",
}
_TOPIC_ENV = {
    "SCREEN_TOPIC_SUBMITTED": "submitted",
    "SCREEN_TOPIC_VERDICTS": "verdicts",
    "SCREEN_TOPIC_COMPLAINTS": "complaints",
    "SCREEN_TOPIC_DEADLETTER": "deadletter",
    "SCREEN_TOPIC_FEEDBACK": "feedback",
}


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from environment variables; empty values count as unset."""
    env = os.environ if env is None else env
    values: dict[str, object] = {
        field: env[name] for name, field in _ENV_FIELDS.items() if env.get(name, "").strip()
    }
    topics = {field: env[name] for name, field in _TOPIC_ENV.items() if env.get(name, "").strip()}
    if topics:
        values["topics"] = topics
    if values.get("mode") == "production" and "signal_key" not in values:
        raise ConfigError("SCREEN_SIGNAL_KEY", None, "required when SCREEN_MODE=production")
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        variable = next((n for n, f in _ENV_FIELDS.items() if f == field), field or "environment")
        raise ConfigError(variable, None, first["msg"]) from exc
