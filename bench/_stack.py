"""A private stack for one benchmark: its own Kafka and Redis on free ports and a worker
environment with its own topics and consumer group, so runs never see each other's data."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from config.settings import Topics
from haze.services import KafkaService, RedisService, free_port


@dataclass
class BenchStack:
    workdir: Path
    kafka: KafkaService
    redis: RedisService
    topics: Topics
    env: dict[str, str]

    @property
    def port(self) -> int:
        return int(self.env["SCREEN_HTTP_PORT"])

    @classmethod
    def start(cls, name: str) -> BenchStack:
        workdir = Path(tempfile.mkdtemp(prefix=f"haze-bench-{name}-"))
        kafka = KafkaService(free_port(), workdir / "kafka", controller_port=free_port())
        redis = RedisService(free_port(), workdir / "redis")
        redis.start()
        try:
            kafka.start()
        except Exception:
            redis.stop()  # leave nothing running behind a failed start
            raise
        tag = f"{name}{uuid.uuid4().hex[:6]}"
        topics = Topics(**{field: f"{tag}.{field}" for field in Topics.model_fields})
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "REDIS_URL": redis.url,
            "SCREEN_HTTP_PORT": str(free_port()),
            "SCREEN_APP_ID": tag,
            "SCREEN_DATA_DIR": str(workdir / "worker"),
            **{
                f"SCREEN_TOPIC_{field.upper()}": getattr(topics, field)
                for field in Topics.model_fields
            },
        }
        return cls(workdir, kafka, redis, topics, env)

    def stop(self) -> None:
        self.kafka.stop()
        self.redis.stop()
