"""The compiled partitioner agrees with Kafka's default partitioner (aiokafka's murmur2)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.partitioning import murmur2, partition_for


@settings(deadline=None)  # the first call loads the compiled kernel
@given(st.binary(max_size=300))
def test_murmur2_matches_aiokafka(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@settings(deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=64))
def test_partition_matches_kafka_default_partitioner(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_known_kafka_value() -> None:
    # Kafka's own test vector (org.apache.kafka.common.utils.UtilsTest.testMurmur2)
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF


def test_keyless_records_go_to_some_partition() -> None:
    assert {partition_for(None, [3, 5, 7]) for _ in range(200)} <= {3, 5, 7}
