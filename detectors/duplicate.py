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

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

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
from detectors.linkage import BannedLink, Burst, Linkage, SignalIndex
from detectors.matching import (
    FEW_PAYLOADS,
    Matches,
    entry_ref,
    image_matches,
    title_matches,
    title_payloads,
)
from state.base import StateNeeds, StateSnapshot, StateUpdates
from state.buckets import BucketQuery, BucketRows, Buckets
from state.inline import InlineHits, ProbeAdd

NAME = "duplicate"


@dataclass(slots=True)
class _Prepared:
    """What needs, detect and updates all derive from a batch (computed once per batch)."""

    titles: TitleFingerprints
    images: ImageHashes
    image_parts: npt.NDArray[np.int64]
    image_fields: npt.NDArray[np.uint64]
    """The image-hash bucket of each image's chunks, image after image (part: chunk index)."""
    rows: npt.NDArray[np.int64]
    """Listings with a usable title: looked up in and added to the LSH buckets."""
    payloads: bytes
    offsets: npt.NDArray[np.int64]
    """Their bucket entries (``title_payloads``)."""
    store_codes: npt.NDArray[np.int64]
    """A number per store of the batch, for each listing."""
    signals: SignalIndex
    """The linking signals of the batch."""
    all_titles: bool
    """Whether every listing has a usable title (``rows`` is all of them)."""


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
        """Compile (or load cached) kernels on a two-title batch that exercises every path,
        the stored one with each title's entry found by the other."""
        titles = ("warm up black running shoes 42", "warm up black running shoes 43 耐克跑鞋")
        listings = [
            Listing(f"w{i}", "s", f"s{i}", text, "c", 1.0, image_phashes=(0x0F0F0F0F0F0F0F0F ^ i,))
            for i, text in enumerate(titles)
        ]
        batch = ListingBatch(listings, now=0.0)
        self.detect(batch, StateSnapshot())
        prepared = self._prepared(batch)
        starts = prepared.offsets[[1, 0]]
        stored = InlineHits(
            prepared.payloads,
            np.array([0, 1], dtype=np.int64),
            np.zeros(2, dtype=np.int64),
            starts,
            np.diff(prepared.offsets)[[1, 0]],
            np.zeros(2, dtype=np.int64),
        )
        self.detect(ListingBatch(listings, now=0.0), StateSnapshot(inline={Buckets.LSH: stored}))
        # what batches of more than FEW_PAYLOADS titles use
        many = [x.store_id for x in listings] * (FEW_PAYLOADS // 2 + 1)
        title_payloads(np.tile(prepared.titles.sketch, (len(many) // 2, 1)), many, many)

    # --- per batch ---

    def _prepared(self, batch: ListingBatch) -> _Prepared:
        def compute(b: ListingBatch) -> _Prepared:
            listings = b.listings
            titles = self.hasher.fingerprint([x.title for x in listings])
            images = image_hashes([x.image_phashes for x in listings], self.config.phash_min_bits)
            rows = np.flatnonzero(titles.valid)
            every = len(rows) == len(listings)
            chosen = listings if every else [listings[i] for i in rows.tolist()]
            sketches = titles.sketch if every else titles.sketch[rows]
            store_ids = [x.store_id for x in listings]
            payloads, offsets = title_payloads(
                sketches,
                store_ids if every else [x.store_id for x in chosen],
                [x.listing_id for x in chosen],
            )
            if len(listings) == 1:
                store_codes = _ONE_STORE
            else:  # each store numbered in order of first appearance
                codes = dict(zip(dict.fromkeys(store_ids), itertools.count()))
                store_codes = np.fromiter(
                    map(codes.__getitem__, store_ids), dtype=np.int64, count=len(store_ids)
                )
            signals = SignalIndex(listings, self.config.link_signals)
            return _Prepared(
                titles,
                images,
                *_image_buckets(images),
                rows,
                payloads,
                offsets,
                store_codes,
                signals,
                every,
            )

        # keyed by config: a shadow config's detector gets its own (the engine hands it the
        # live batch for its needs)
        known: dict[int, tuple[DuplicateConfig, _Prepared]] = batch.derived(
            "duplicate.prepared", _nothing_yet
        )
        found = known.get(id(self.config))
        if found is not None and found[0] is self.config:
            return found[1]
        prepared = compute(batch)
        known[id(self.config)] = (self.config, prepared)
        return prepared

    def _linkage(self, batch: ListingBatch, state: StateSnapshot) -> Linkage:
        """The batch's signal groups with what ``state`` holds of them, built once for detect
        and updates (which the engine calls with the same batch and snapshot)."""
        known: dict[int, tuple[DuplicateConfig, StateSnapshot, Linkage]] = batch.derived(
            "duplicate.linkage", _nothing_yet
        )
        found = known.get(id(self.config))
        if found is not None and found[0] is self.config and found[1] is state:
            return found[2]
        prepared = self._prepared(batch)
        linkage = Linkage(batch.listings, self.config.link_signals, state, prepared.signals)
        known[id(self.config)] = (self.config, state, linkage)
        return linkage

    def _title_hits(
        self, batch: ListingBatch, prepared: _Prepared, hits: InlineHits | None
    ) -> InlineHits | None:
        """The LSH probe's hits by row of ``prepared.rows``. The probe was made in ``needs``
        for the batch the engine read state for; when it judges part of it (the rest answered
        by the ledger), the hits of the parent's probe rows are renumbered to this batch's."""
        parent = batch.parent
        if hits is None or not len(hits) or parent is None:
            return hits
        probed = self._prepared(parent).rows  # probe row -> listing of the parent
        ours = np.full(len(parent), -1, dtype=np.int64)  # listing of the parent -> our row
        ours[np.asarray(batch.parent_rows, dtype=np.int64)[prepared.rows]] = np.arange(
            len(prepared.rows), dtype=np.int64
        )
        return hits.renumbered(ours[probed])

    def needs(self, batch: ListingBatch) -> StateNeeds:
        prepared = self._prepared(batch)
        needs = StateNeeds()
        needs.stores.update(x.store_id for x in batch.listings)
        rows = prepared.rows
        if len(rows):
            every = prepared.all_titles
            needs.probe(
                ProbeAdd(
                    Buckets.LSH,
                    prepared.titles.bands if every else prepared.titles.bands[rows],
                    prepared.payloads,
                    prepared.offsets,
                    batch.event_times if every else batch.event_times[rows],
                    np.ones(len(rows), dtype=np.bool_),
                )
            )
        if len(prepared.images.hashes):
            needs.want_buckets(
                BucketQuery(Buckets.PHASH, prepared.image_parts, prepared.image_fields)
            )
        if prepared.signals.keys:
            needs.want_buckets(prepared.signals.query())
        return needs

    def detect(self, batch: ListingBatch, state: StateSnapshot) -> list[list[Reason]]:
        listings = batch.listings
        reasons: list[list[Reason]] = [[] for _ in listings]
        if not listings:
            return reasons
        prepared = self._prepared(batch)
        config = self.config
        linkage = self._linkage(batch, state)
        titles = title_matches(
            listings,
            prepared.titles,
            prepared.rows,
            prepared.payloads,
            prepared.offsets,
            prepared.store_codes,
            self._title_hits(batch, prepared, state.inline.get(Buckets.LSH)),
            threshold=config.jaccard_threshold,
            cap=config.lsh_bucket_cap,
            rows_per_band=config.rows,
        )
        images = image_matches(
            listings,
            prepared.images,
            state.buckets.get(Buckets.PHASH),
            max_distance=config.phash_max_distance,
            cap=config.phash_bucket_cap,
        )
        bursts = linkage.bursts(self._burst_window_s, config.burst_min_stores)
        stores = {x.store_id for x in listings} | set(titles.ref_store) | set(images.ref_store)
        banned_stores = state.banned_among(stores)
        banned_titles = titles.best(titles.stores_where(banned_stores))
        banned_images = images.best(images.stores_where(banned_stores))
        title_stores = titles.best_per_store()
        # only listings with something to say are looked at one by one
        flagged = (
            {i for i, x in enumerate(listings) if x.store_id in banned_stores}
            if banned_stores
            else set()
        )
        flagged.update(banned_titles, banned_images)
        flagged.update(i for i, burst in enumerate(bursts) if burst is not None)
        flagged.update(
            i for i, pairs in title_stores.items() if len(pairs) >= config.across_stores_min
        )
        links: dict[int, BannedLink] = {}
        for i, keys in enumerate(linkage.of_listing):
            if keys and (link := linkage.banned_link(i, state)) is not None:
                links[i] = link
        flagged.update(links)
        for i in sorted(flagged):
            reasons[i] = self._reasons(
                i,
                listings[i],
                state,
                linkage,
                titles,
                images,
                banned_titles,
                banned_images,
                links.get(i),
                bursts[i],
                title_stores.get(i, []),
            )
        return reasons

    def _reasons(
        self,
        i: int,
        listing: Listing,
        state: StateSnapshot,
        linkage: Linkage,
        titles: Matches,
        images: Matches,
        banned_titles: dict[int, int],
        banned_images: dict[int, int],
        link: BannedLink | None,
        burst: Burst | None,
        title_stores: list[int],
    ) -> list[Reason]:
        """Listing ``i``'s reasons, strongest kinds first (``link``: its banned link)."""
        config = self.config
        scores = config.scores
        found = []
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
        if burst is not None:
            evidence = {
                "signal": burst.kind,
                "fresh_stores": burst.fresh_stores,
                "window_hours": config.burst_window_hours,
            }
            found.append(Reason(NAME, "SHARED_SIGNAL_BURST", scores.shared_signal_burst, evidence))
        across = _unrelated(titles, title_stores, i, linkage)
        if len(across) >= config.across_stores_min:
            evidence = {**_evidence(titles, across[0]), "stores": len(across)}
            found.append(
                Reason(NAME, "DUPLICATE_ACROSS_STORES", scores.duplicate_across_stores, evidence)
            )
        return found

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
        # the title bands were added by the fetch (they do not depend on the decisions)
        if len(prepared.images.hashes):
            updates.add_buckets(self._image_rows(listings, prepared))
        linkage = self._linkage(batch, state)
        if linkage.groups:
            updates.add_buckets(linkage.updates())
        return updates

    @staticmethod
    def _image_rows(listings: Sequence[Listing], prepared: _Prepared) -> BucketRows:
        images = prepared.images
        owners = images.owner.tolist()
        count, width = images.chunks.shape
        return BucketRows(
            Buckets.PHASH,
            prepared.image_parts,
            prepared.image_fields,
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


def _image_buckets(
    images: ImageHashes,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """Each image's chunk buckets, image after image: (chunk index, chunk value)."""
    count, width = images.chunks.shape
    if count == 0:
        return _NO_PARTS, _NO_FIELDS
    return np.tile(np.arange(width, dtype=np.int64), count), images.chunks.ravel()


_NO_PARTS = np.zeros(0, dtype=np.int64)
_ONE_STORE = np.zeros(1, dtype=np.int64)
_NO_FIELDS = np.zeros(0, dtype=np.uint64)


def _nothing_yet(batch: ListingBatch) -> dict[Any, Any]:
    return {}
