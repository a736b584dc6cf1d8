"""The duplicate-store and repeat-offender detector: the store behind the listing.

Banned sellers come back with new storefronts, borrowed identities and the same listings,
lightly edited. Per batch this detector reads, in the engine's one round trip, the stored
buckets of every listing's keyed signals, title LSH bands and image-hash chunks (with the
offender status of every store found there), and finds:

- ``STORE_BANNED``: the listing's own store is banned;
- ``LINKED_TO_BANNED_STORE`` (strong): the store shares an identity signal with a banned store;
- ``DUPLICATE_OF_BANNED_LISTING`` (strong): the title is a near-duplicate of a banned store's;
- ``IMAGE_OF_BANNED_LISTING``: an image is a near-copy of a banned store's image;
- ``SHARED_SIGNAL_BURST`` (weak): many fresh stores appeared on one signal in a short window;
- ``DUPLICATE_ACROSS_STORES`` (weak): many unrelated stores post the same listing.

Shared signals, shared titles and shared photos alone are never strong reasons: chains of
authorised shops share a bank account, resellers share titles and stock photos. A store is
never linked to, or a duplicate of, itself. Evidence names signal kinds and stores, never a
signal value or digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from config.duplicate import DuplicateConfig
from config.registry import Registry
from config.thresholds import ScreenConfig
from contract.listing import Listing
from contract.verdict import Decision, Reason
from detectors.base import Detector
from detectors.batch import ListingBatch
from detectors.fingerprints import (
    ImageHashes,
    TitleFingerprints,
    TitleHasher,
    image_hashes,
)
from detectors.linkage import Linkage
from detectors.matching import Matches, entry_ref, image_matches, title_matches
from state.base import StateNeeds, StateSnapshot, StateUpdates
from state.buckets import BucketQuery, BucketRows, Buckets

NAME = "duplicate"


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What needs, detect and updates all derive from a batch (computed once per batch)."""

    titles: TitleFingerprints
    images: ImageHashes


class DuplicateDetector(Detector):
    name = NAME

    def __init__(self, config: DuplicateConfig) -> None:
        self.config = config
        self.hasher = TitleHasher(
            config.num_perm, config.bands, config.rows, config.cjk_shingle, config.min_features
        )
        self._burst_window_s = config.burst_window_hours * 3600.0

    @classmethod
    def build(cls, config: ScreenConfig, registry: Registry) -> DuplicateDetector | None:
        duplicate = config.detectors.duplicate
        return cls(duplicate) if duplicate.enabled else None

    def warm(self) -> None:
        """Compile (or load cached) kernels on a two-title batch that exercises every path."""
        titles = ("warm up black running shoes 42", "warm up black running shoes 43 耐克跑鞋")
        listings = [
            Listing(f"w{i}", "s", f"s{i}", text, "c", 1.0, image_phashes=(0x0F0F0F0F0F0F0F0F ^ i,))
            for i, text in enumerate(titles)
        ]
        batch = ListingBatch(listings, now=0.0)
        self.detect(batch, StateSnapshot())

    # --- per batch ---

    def _prepared(self, batch: ListingBatch) -> _Prepared:
        def compute(b: ListingBatch) -> _Prepared:
            titles = self.hasher.fingerprint([x.title for x in b.listings])
            images = image_hashes([x.image_phashes for x in b.listings], self.config.phash_min_bits)
            return _Prepared(titles, images)

        return batch.derived("duplicate.prepared", compute)

    def _linkage(self, batch: ListingBatch, state: StateSnapshot | None) -> Linkage:
        return Linkage(batch.listings, self.config.link_signals, state)

    def needs(self, batch: ListingBatch) -> StateNeeds:
        prepared = self._prepared(batch)
        needs = StateNeeds()
        needs.stores.update(x.store_id for x in batch.listings)
        titles = prepared.titles
        rows = np.flatnonzero(titles.valid)
        if len(rows):
            parts = np.tile(np.arange(self.config.bands, dtype=np.int64), len(rows))
            needs.want_buckets(BucketQuery(Buckets.LSH, parts, titles.bands[rows].ravel()))
        images = prepared.images
        if len(images.hashes):
            chunks = images.chunks
            parts = np.tile(np.arange(chunks.shape[1], dtype=np.int64), len(chunks))
            needs.want_buckets(BucketQuery(Buckets.PHASH, parts, chunks.ravel()))
        linkage = self._linkage(batch, None)
        if linkage.groups:
            needs.want_buckets(linkage.query())
        return needs

    def detect(self, batch: ListingBatch, state: StateSnapshot) -> list[list[Reason]]:
        listings = batch.listings
        reasons: list[list[Reason]] = [[] for _ in listings]
        if not listings:
            return reasons
        prepared = self._prepared(batch)
        config = self.config
        scores = config.scores
        linkage = self._linkage(batch, state)
        titles = title_matches(
            listings,
            prepared.titles,
            state.buckets.get(Buckets.LSH),
            threshold=config.jaccard_threshold,
            cap=config.lsh_bucket_cap,
        )
        images = image_matches(
            listings,
            prepared.images,
            state.buckets.get(Buckets.PHASH),
            max_distance=config.phash_max_distance,
            cap=config.phash_bucket_cap,
        )
        bursts = linkage.bursts(self._burst_window_s, config.burst_min_stores)
        banned_stores = {s for s, status in state.stores.items() if status.banned}
        banned_titles = titles.best(titles.stores_where(banned_stores))
        banned_images = images.best(images.stores_where(banned_stores))
        title_stores = titles.best_per_store()
        for i, listing in enumerate(listings):
            found = reasons[i]
            own = state.store(listing.store_id)
            if own.banned:
                found.append(
                    Reason(
                        NAME,
                        "STORE_BANNED",
                        scores.store_banned,
                        {"store": listing.store_id, "banned_at": own.banned_at},
                    )
                )
            link = linkage.banned_link(i, state)
            if link is not None:
                evidence = {
                    "banned_store": link.banned_store,
                    "signals": list(link.kinds),
                    "banned_stores_linked": link.banned_stores,
                }
                found.append(
                    Reason(NAME, "LINKED_TO_BANNED_STORE", scores.linked_to_banned_store, evidence)
                )
            banned = banned_titles.get(i)
            if banned is not None:
                found.append(
                    Reason(
                        NAME,
                        "DUPLICATE_OF_BANNED_LISTING",
                        scores.duplicate_of_banned_listing,
                        _evidence(titles, banned),
                    )
                )
            banned = banned_images.get(i)
            if banned is not None:
                found.append(
                    Reason(
                        NAME,
                        "IMAGE_OF_BANNED_LISTING",
                        scores.image_of_banned_listing,
                        _evidence(images, banned),
                    )
                )
            burst = bursts[i]
            if burst is not None:
                evidence = {
                    "signal": burst.kind,
                    "fresh_stores": burst.fresh_stores,
                    "window_hours": config.burst_window_hours,
                }
                found.append(
                    Reason(NAME, "SHARED_SIGNAL_BURST", scores.shared_signal_burst, evidence)
                )
            across = _unrelated(titles, title_stores.get(i, []), i, linkage)
            if len(across) >= config.across_stores_min:
                evidence = {**_evidence(titles, across[0]), "stores": len(across)}
                found.append(
                    Reason(
                        NAME, "DUPLICATE_ACROSS_STORES", scores.duplicate_across_stores, evidence
                    )
                )
        return reasons

    def updates(
        self, batch: ListingBatch, state: StateSnapshot, decisions: Sequence[Decision]
    ) -> StateUpdates:
        """Every screened listing is history, whatever its decision: its signals, its title
        bands and its image chunks join the rolling buckets."""
        updates = StateUpdates()
        listings = batch.listings
        if not listings:
            return updates
        prepared = self._prepared(batch)
        titles = prepared.titles
        rows = np.flatnonzero(titles.valid)
        if len(rows):
            updates.add_buckets(self._title_rows(listings, titles, rows))
        if len(prepared.images.hashes):
            updates.add_buckets(self._image_rows(listings, prepared.images))
        linkage = self._linkage(batch, state)
        if linkage.groups:
            updates.add_buckets(linkage.updates())
        return updates

    def _title_rows(
        self, listings: Sequence[Listing], titles: TitleFingerprints, rows: np.ndarray[Any, Any]
    ) -> BucketRows:
        bands = self.config.bands
        chosen = [listings[i] for i in rows.tolist()]
        return BucketRows(
            Buckets.LSH,
            np.tile(np.arange(bands, dtype=np.int64), len(rows)),
            titles.bands[rows].ravel(),
            np.repeat(np.arange(len(rows), dtype=np.int64), bands),
            [x.store_id for x in chosen],
            [
                entry_ref(x.listing_id, titles.encoded(i))
                for x, i in zip(chosen, rows.tolist(), strict=True)
            ],
            np.array([x.event_time for x in chosen], dtype=np.float64),
        )

    @staticmethod
    def _image_rows(listings: Sequence[Listing], images: ImageHashes) -> BucketRows:
        chunks = images.chunks
        owners = images.owner.tolist()
        count, width = chunks.shape
        return BucketRows(
            Buckets.PHASH,
            np.tile(np.arange(width, dtype=np.int64), count),
            chunks.ravel(),
            np.repeat(np.arange(count, dtype=np.int64), width),
            [listings[i].store_id for i in owners],
            [
                entry_ref(listings[i].listing_id, f"{h:016x}")
                for i, h in zip(owners, images.hashes.tolist(), strict=True)
            ],
            np.array([listings[i].event_time for i in owners], dtype=np.float64),
        )


def _unrelated(matches: Matches, pairs: list[int], i: int, linkage: Linkage) -> list[int]:
    """The pairs (one per matched store) whose store is not linked to listing ``i``'s store."""
    return [k for k in pairs if not linkage.linked(i, matches.ref_store[matches.ref[k]])]


def _evidence(matches: Matches, k: int) -> dict[str, Any]:
    ref = int(matches.ref[k])
    evidence: dict[str, Any] = {
        "matched_listing": matches.ref_listing[ref],
        "matched_store": matches.ref_store[ref],
        "similarity": round(float(matches.similarity[k]), 3),
    }
    if matches.distance is not None:
        evidence["hamming_distance"] = int(matches.distance[k])
    return evidence
