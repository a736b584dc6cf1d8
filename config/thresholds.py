"""The thresholds file: decision bands, hard rules, stream and state policies, detector knobs.

Analysts edit this file (``SCREEN_CONFIG``); it is validated strictly (unknown keys and wrong
types are refused, naming the field) into one frozen :class:`ScreenConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.duplicate import DuplicateConfig
from config.keyword import KeywordConfig
from config.loader import load_model
from config.price import PriceConfig

DEFAULT_CONFIG_PATH = Path(__file__).parent / "defaults" / "thresholds.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DecisionConfig(_Strict):
    """How reasons become a decision.

    The listing score is the noisy-OR of its reason scores (``1 - prod(1 - s)``): independent
    weak signals add up, one strong signal dominates, and the result stays in [0, 1].
    """

    review_threshold: float = Field(0.5, ge=0.0, le=1.0)
    block_threshold: float = Field(0.85, ge=0.0, le=1.0)
    combine: Literal["noisy_or", "max"] = "noisy_or"
    hard_block_codes: list[str] = Field(default_factory=list)
    """Reason codes that block whatever the score (e.g. a prohibited item)."""
    hard_review_codes: list[str] = Field(default_factory=list)
    """Reason codes that send a listing to review at least, whatever the score."""
    degraded_policy: Literal["fail_open", "fail_closed"] = "fail_open"
    """What a verdict is when state cannot be read in time: allow (open) or review (closed)."""

    @model_validator(mode="after")
    def _bands_ordered(self) -> DecisionConfig:
        if self.review_threshold > self.block_threshold:
            raise ValueError("review_threshold must not exceed block_threshold")
        return self


class StreamConfig(_Strict):
    """Batching of the Kafka agent."""

    batch_size: int = Field(500, ge=1, le=10_000)
    batch_timeout_ms: int = Field(0, ge=0, le=10_000)
    """How long a partial batch may wait for more events once none are queued (0: screen at
    once). Batches grow by themselves under load: a batch is what queued while the previous
    one was screened (``streams/batching.py``)."""
    delivery_depth: int = Field(2, ge=1, le=16)
    """Screened batches whose outputs may be in delivery while the next one is screened."""
    fetch_min_bytes: int = Field(1, ge=1, le=64 * 1024 * 1024)
    fetch_max_wait_ms: int = Field(1500, ge=0, le=10_000)
    """The broker answers a fetch once it holds ``fetch_min_bytes`` for this consumer or after
    ``fetch_max_wait_ms``. The defaults (Faust's) answer at the first record and long-poll when
    idle. Read at start-up."""
    fetch_busy_min_bytes: int = Field(16384, ge=0, le=64 * 1024 * 1024)
    fetch_busy_wait_ms: int = Field(10, ge=0, le=10_000)
    """While fetches bring records, the next one asks for ``fetch_busy_min_bytes`` within
    ``fetch_busy_wait_ms`` instead; a fetch that brings none goes back to the two above (a
    long poll while idle). Fewer, fuller fetches under steady traffic: at 1,000 listings/s a
    fetch answered at the first record is a fetch, a thread hop and a loop turn per listing or
    two. 0 bytes: always the two above. Read at start-up."""


class StateConfig(_Strict):
    """Rolling windows and budgets of the Redis-backed state."""

    key_prefix: str = Field("haze", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    history_window_days: float = Field(30.0, gt=0)
    """How long store signals, fingerprints and prices are remembered."""
    ledger_ttl_days: float = Field(7.0, gt=0)
    """How long a screened (listing_id, revision) is remembered for idempotent redelivery."""
    redis_budget_ms: int = Field(50, ge=1, le=60_000)
    """A Redis round trip slower than this counts as a failure (degraded verdicts)."""
    inline_tables: Literal["replica", "redis"] = "replica"
    """Where the LSH buckets are probed. ``replica``: each worker replays a log Redis keeps
    per time slot into buckets of its own memory (Redis answers each batch with a few string
    commands; a worker holds the whole window, ~1.4 kB a listing at the default 12 bands);
    ``redis``: the buckets live in Redis and a script probes them (~40 us of Redis's single
    thread a listing, nothing held by workers). The two keep different keys: switching starts
    the table empty. Read at start-up."""
    series_cache_s: float = Field(2.0, ge=0.0, le=60.0)
    """Deprecated, no effect: it bounded a worker-local cache of price samples, which ready
    baselines in Redis replaced (``state.prices``). Still accepted so existing files load."""


class DetectorsConfig(_Strict):
    keyword: KeywordConfig = KeywordConfig()
    price: PriceConfig = PriceConfig()
    duplicate: DuplicateConfig = DuplicateConfig()


class ScreenConfig(_Strict):
    """Everything analysts tune. ``version`` names it in every verdict."""

    version: str = Field(min_length=1, max_length=64)
    decision: DecisionConfig = DecisionConfig()
    stream: StreamConfig = StreamConfig()
    state: StateConfig = StateConfig()
    detectors: DetectorsConfig = DetectorsConfig()

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        # YAML reads `version: 3` as an int and `2026-11-23` as a date; both mean text here.
        return value if isinstance(value, str) or value is None else str(value)


def load_screen_config(path: str | Path = DEFAULT_CONFIG_PATH) -> tuple[ScreenConfig, str]:
    """Load the thresholds file; returns the config and a digest of the file's bytes."""
    return load_model(ScreenConfig, path)
