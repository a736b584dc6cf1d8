"""Series windows and caps, bucket-table caps, the price window and the offender policy, from
the thresholds file."""

from __future__ import annotations

from config.thresholds import ScreenConfig
from state.base import Series, SeriesPolicy, StorePolicy
from state.buckets import BucketPolicy, Buckets
from state.prices import PricePolicy

DAY_S = 86400.0

# Members kept per series id: enough for candidate lists, bounded so one hot id (a common LSH
# bucket) cannot grow without limit. Price rings are sized by the price detector's
# market.sample_size, which travels with its writes (state.prices.PriceRows.cap).
_MAX_MEMBERS = {
    Series.SIGNAL: 256,
    Series.LSH: 64,
    Series.PHASH: 64,
    Series.STORE_LISTINGS: 2048,
}


def series_policies(config: ScreenConfig) -> dict[Series, SeriesPolicy]:
    window = config.state.history_window_days * DAY_S
    return {kind: SeriesPolicy(window_s=window, max_members=_MAX_MEMBERS[kind]) for kind in Series}


def price_policy(config: ScreenConfig) -> PricePolicy:
    """Price observations share the history window."""
    return PricePolicy(window_s=config.state.history_window_days * DAY_S)


def bucket_policies(config: ScreenConfig) -> dict[Buckets, BucketPolicy]:
    """Fingerprint and signal buckets share the history window; their caps are the duplicate
    detector's (a hot bucket keeps its newest entries)."""
    window = config.state.history_window_days * DAY_S
    duplicate = config.detectors.duplicate
    caps = {
        Buckets.SIGNAL: duplicate.signal_store_cap,
        Buckets.LSH: duplicate.lsh_bucket_cap,
        Buckets.PHASH: duplicate.phash_bucket_cap,
    }
    return {kind: BucketPolicy(window_s=window, max_entries=cap) for kind, cap in caps.items()}


def store_policy(config: ScreenConfig) -> StorePolicy:
    return StorePolicy(strikes_to_ban=config.detectors.duplicate.strikes_to_ban)
