"""The local stack behind ``make services-up/down/status``: which services to manage, where.

Ports and folders come from ``KAFKA_PORT`` (9092), ``REDIS_PORT`` (6379), ``PROMETHEUS_PORT``
(9090) and ``HAZE_SERVICES_DIR`` (``.services``). When ``KAFKA_BOOTSTRAP_SERVERS`` or
``REDIS_URL`` is set, that service is someone else's: nothing is started or stopped for it, only
its reachability is reported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from haze.prometheus import PrometheusService
from haze.services import ROOT, KafkaService, RedisService, port_open


@dataclass
class LocalStack:
    kafka: KafkaService | None
    redis: RedisService | None
    external_kafka: str | None
    external_redis: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalStack:
        env = os.environ if env is None else env
        base = Path(env.get("HAZE_SERVICES_DIR") or ROOT / ".services")
        external_kafka = env.get("KAFKA_BOOTSTRAP_SERVERS") or None
        external_redis = env.get("REDIS_URL") or None
        kafka_port = int(env.get("KAFKA_PORT") or 9092)
        kafka = (
            None
            if external_kafka
            else KafkaService(
                kafka_port,
                base / "kafka",
                controller_port=int(env.get("KAFKA_CONTROLLER_PORT") or kafka_port + 1),
            )
        )
        redis = (
            None
            if external_redis
            else RedisService(int(env.get("REDIS_PORT") or 6379), base / "redis")
        )
        return cls(kafka, redis, external_kafka, external_redis)

    @property
    def kafka_bootstrap(self) -> str:
        return self.external_kafka or (self.kafka.bootstrap if self.kafka else "")

    @property
    def redis_url(self) -> str:
        return self.external_redis or (self.redis.url if self.redis else "")

    def up(self) -> None:
        if self.redis:
            self.redis.start()
        if self.kafka:
            self.kafka.start()

    def down(self) -> list[str]:
        stopped = []
        for service in (self.kafka, self.redis):
            if service and service.stop():
                stopped.append(service.name)
        return stopped

    def status(self) -> dict[str, str]:
        report = {}
        if self.kafka:
            pid = self.kafka.pid()
            report["kafka"] = (
                f"running (pid {pid}) on {self.kafka.bootstrap}"
                if pid and self.kafka.healthy()
                else f"starting (pid {pid})"
                if pid
                else "stopped"
            )
        else:
            report["kafka"] = f"external {self.external_kafka}: " + _reach_kafka(
                self.external_kafka or ""
            )
        if self.redis:
            pid = self.redis.pid()
            report["redis"] = (
                f"running (pid {pid}) on {self.redis.url}"
                if pid and self.redis.healthy()
                else "stopped"
            )
        else:
            report["redis"] = f"external {self.external_redis}: " + _reach_redis(
                self.external_redis or ""
            )
        return report


def local_prometheus(env: Mapping[str, str] | None = None) -> PrometheusService:
    """The Prometheus of ``make prometheus-up``: on 127.0.0.1:``PROMETHEUS_PORT`` (9090),
    scraping the workers on ``SCREEN_HTTP_PORT`` (6066; a comma-separated list of ports for
    several local workers), data in ``.services/prometheus``."""
    env = os.environ if env is None else env
    base = Path(env.get("HAZE_SERVICES_DIR") or ROOT / ".services")
    ports = [p.strip() for p in (env.get("SCREEN_HTTP_PORT") or "6066").split(",") if p.strip()]
    return PrometheusService(
        int(env.get("PROMETHEUS_PORT") or 9090),
        base / "prometheus",
        [f"127.0.0.1:{port}" for port in ports],
    )


def _reach_kafka(bootstrap: str) -> str:
    for host_port in bootstrap.split(","):
        host, _, port = host_port.strip().removeprefix("kafka://").rpartition(":")
        if port.isdigit() and port_open(int(port), host or "127.0.0.1"):
            return "reachable"
    return "unreachable"


def _reach_redis(url: str) -> str:
    parsed = urlparse(url)
    return (
        "reachable"
        if port_open(parsed.port or 6379, parsed.hostname or "127.0.0.1")
        else "unreachable"
    )
