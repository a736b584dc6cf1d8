"""Everything one worker holds: settings, the engine, state, metrics and the batch pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import Settings
from config.thresholds import ScreenConfig
from contract.signals import SignalKeyer
from haze.engine import Screener
from haze.runtime import Runtime
from state.base import StateStore
from state.observed import StateObserver, observed
from state.policies import bucket_policies, price_policy, series_policies, store_policy
from state.redis import RedisStateStore
from streams.metrics import ScreenMetrics


@dataclass
class ScreenService:
    settings: Settings
    screener: Screener
    keyer: SignalKeyer
    metrics: ScreenMetrics

    @property
    def runtime(self) -> Runtime:
        return self.screener.runtime

    @property
    def state(self) -> StateStore:
        return self.screener.state

    @classmethod
    def create(cls, settings: Settings, runtime: Runtime | None = None) -> ScreenService:
        """Load and compile the config (warming kernels) and connect the state store lazily."""
        runtime = runtime or Runtime.load(settings.config_path, settings.registry_path)
        shadow = (
            Runtime.load(settings.shadow_config_path, settings.registry_path)
            if settings.shadow_config_path
            else None
        )
        metrics = ScreenMetrics()
        metrics.set_config_version(runtime.config_version)
        state = build_state_store(settings, runtime.config, metrics.state_observer("stream"))
        metrics.watch_state("stream", state)
        return cls(
            settings,
            Screener(runtime, state, shadow=shadow, observer=metrics.observer("stream")),
            SignalKeyer(settings.signal_key),
            metrics,
        )


def build_state_store(
    settings: Settings, config: ScreenConfig, observe: StateObserver | None = None
) -> StateStore:
    """The Redis store for this config; ``observe`` times every Redis round trip.

    Each event loop gets its own (the stream agent's and the inline API's thread), since an
    asyncio Redis connection belongs to the loop that opened it."""
    redis = RedisStateStore.from_url(
        settings.redis_url,
        series_policies(config),
        prefix=config.state.key_prefix,
        ledger_ttl_s=config.state.ledger_ttl_days * 86400,
        store_policy=store_policy(config),
        bucket_policies=bucket_policies(config),
        price_policy=price_policy(config),
        timeout_s=max(5.0, config.state.redis_budget_ms / 1000.0),
        inline_tables=config.state.inline_tables,
    )
    return observed(redis, observe)
