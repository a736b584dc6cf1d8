"""Creating the contract's topics before a worker subscribes.

A consumer that subscribes to a topic that does not exist yet only notices it at its next
metadata refresh (minutes); creating every topic up front makes a fresh deployment consume the
moment the first listing arrives.
"""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from config.settings import Settings


def topic_names(settings: Settings) -> list[str]:
    topics = settings.topics
    return [
        topics.submitted,
        topics.verdicts,
        topics.complaints,
        topics.deadletter,
        topics.feedback,
    ]


async def ensure_topics(settings: Settings, *, timeout_s: float = 60.0) -> list[str]:
    """Create any missing contract topic (``settings.partitions`` partitions, replication 1
    unless the cluster needs more). Returns the names it created. Retries until the broker
    answers or ``timeout_s`` passes."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [name for name in topic_names(settings) if name not in existing]
            created = []
            for name in missing:
                try:
                    await admin.create_topics(
                        [NewTopic(name, num_partitions=settings.partitions, replication_factor=1)]
                    )
                    created.append(name)
                except TopicAlreadyExistsError:
                    pass
            return created
        except (KafkaError, OSError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
