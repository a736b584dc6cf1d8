"""Near-duplicate matches of a batch: candidates from the stored buckets and from the batch
itself, verified against the matched listing's fingerprint.

Candidates come from buckets (LSH bands, image-hash chunks) and are verified on what the bucket
entry carries: the stored 4-bit title sketch (estimated Jaccard similarity) or the image hash
itself (exact Hamming distance). A store never matches itself, so a seller's own relisting or
new revision is not a duplicate of anything.

Title buckets are inline (``state.inline``): each entry is a payload of sketch, store id and
listing id (``title_payloads``), so the chance candidates that generic titles of one category
meet by the thousand cost a few bytes each and are verified in one compiled pass; only the
verified ones are decoded into Python strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from contract.listing import Listing
from detectors._duplicate_kernels import bucket_pairs
from detectors._match_kernels import build_payloads, pair_similarity, verify_hits
from detectors.fingerprints import CHANCE, ImageHashes, TitleFingerprints, hamming
from state.buckets import BucketEntry, BucketHits
from state.inline import InlineHits

REF_SEP = "|"
"""Separates the listing id from the fingerprint in a bucket entry's ref."""


def entry_ref(listing_id: str, fingerprint: str) -> str:
    return f"{listing_id}{REF_SEP}{fingerprint}"


@dataclass(frozen=True, slots=True)
class Matches:
    """Verified pairs: batch listing ``query[k]`` matches reference ``ref[k]``, a listing named
    by ``ref_listing``/``ref_store`` (the batch's own listings come first)."""

    query: npt.NDArray[np.int64]
    ref: npt.NDArray[np.int64]
    similarity: npt.NDArray[np.float64]
    distance: npt.NDArray[np.int64] | None
    ref_listing: list[str]
    ref_store: list[str]

    def _ranked(self, pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """``pairs`` ordered by query, then most similar first, ties by matched listing id and
        store (never by storage order, so every backend ranks alike)."""
        refs, which = np.unique(self.ref[pairs], return_inverse=True)
        names = [f"{self.ref_listing[r]}\x00{self.ref_store[r]}" for r in refs.tolist()]
        _, rank = np.unique(np.array(names, dtype=object), return_inverse=True)
        order = np.lexsort((rank[which], -self.similarity[pairs], self.query[pairs]))
        return pairs[order]

    def best(self, where: npt.NDArray[np.bool_]) -> dict[int, int]:
        """Per batch listing, its best pair among those ``where`` is true."""
        ranked = self._ranked(np.flatnonzero(where))
        queries = self.query[ranked]
        first = np.ones(len(ranked), dtype=np.bool_)
        first[1:] = queries[1:] != queries[:-1]
        return dict(zip(queries[first].tolist(), ranked[first].tolist(), strict=True))

    def best_per_store(self) -> dict[int, list[int]]:
        """Per batch listing, its best pair with each matched store, best first."""
        ranked = self._ranked(np.arange(len(self.query), dtype=np.int64))
        codes: dict[str, int] = {}
        refs = self.ref[ranked].tolist()
        store_code = np.array([codes.setdefault(self.ref_store[r], len(codes)) for r in refs])
        keys = self.query[ranked] * (len(codes) + 1) + store_code.astype(np.int64)
        _, first = np.unique(keys, return_index=True)
        grouped: dict[int, list[int]] = {}
        for k in ranked[np.sort(first)].tolist():
            grouped.setdefault(int(self.query[k]), []).append(k)
        return grouped

    def stores_where(self, stores: set[str]) -> npt.NDArray[np.bool_]:
        """Which pairs match a listing of one of ``stores``."""
        if not stores:
            return np.zeros(len(self.query), dtype=np.bool_)
        of_ref = np.array([store in stores for store in self.ref_store], dtype=np.bool_)
        return of_ref[self.ref]


def _split_refs(entries: Sequence[BucketEntry]) -> tuple[list[str], list[str]]:
    """Listing ids and fingerprints of stored entries (``<listing id>|<fingerprint>``)."""
    ids, prints = [], []
    for entry in entries:
        listing_id, _, fingerprint = entry.ref.rpartition(REF_SEP)
        ids.append(listing_id)
        prints.append(fingerprint)
    return ids, prints


def _stored_pairs(
    keys: npt.NDArray[np.uint64], usable: npt.NDArray[np.bool_], hits: BucketHits, offset: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Pairs (row, offset + entry) for every usable row whose bucket in some column holds
    stored entries, each pair once (a stored listing sits in several buckets of a row)."""
    rows = np.flatnonzero(usable)
    qs, rs = [], []
    for part in np.unique(hits.parts).tolist():
        if part >= keys.shape[1]:
            continue
        in_part = hits.parts == part
        order = np.argsort(hits.values[in_part], kind="stable")
        values, entries = hits.values[in_part][order], hits.entry[in_part][order]
        wanted = keys[rows, part]
        lo = np.searchsorted(values, wanted, side="left")
        counts = np.searchsorted(values, wanted, side="right") - lo
        total = int(counts.sum())
        if total == 0:
            continue
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        qs.append(np.repeat(rows, counts))
        rs.append(entries[starts + np.arange(total)])
    if not qs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    q, r = np.concatenate(qs), np.concatenate(rs)
    width = len(hits.entries) + 1
    unique = np.unique(q * width + r)
    return unique // width, unique % width + offset


def _distinct_other_store(
    q: npt.NDArray[np.int64],
    r: npt.NDArray[np.int64],
    query_store: Sequence[str],
    ref_store: Sequence[str],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Pairs whose reference is not the query's own store."""
    if len(q) == 0:
        return q, r
    codes: dict[str, int] = {}
    query_codes = np.array([codes.setdefault(s, len(codes)) for s in query_store], np.int64)
    ref_codes = np.array([codes.setdefault(s, len(codes)) for s in ref_store], np.int64)
    keep = query_codes[q] != ref_codes[r]
    return q[keep], r[keep]


@dataclass(frozen=True, slots=True)
class PackedIds:
    """UTF-8 ids of some listings, concatenated: id ``i`` is ``data[at[i]:at[i + 1]]``."""

    data: npt.NDArray[np.uint8]
    at: npt.NDArray[np.int64]

    @classmethod
    def of(cls, ids: Sequence[str]) -> PackedIds:
        encoded = [text.encode() for text in ids]
        at = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=at[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), at)


def title_payloads(
    sketches: npt.NDArray[np.uint8], stores: PackedIds, listings: PackedIds
) -> tuple[bytes, npt.NDArray[np.int64]]:
    """The inline entry of each title: its sketch, its store id and its listing id."""
    payloads, offsets = build_payloads(sketches, stores.data, stores.at, listings.data, listings.at)
    return payloads.tobytes(), offsets


def _payload_ids(data: bytes, start: int, stop: int, width: int) -> tuple[str, str]:
    """Store id and listing id of the payload ``data[start:stop]``."""
    at = start + width
    size = int.from_bytes(data[at : at + 2], "big")
    store_id = data[at + 2 : at + 2 + size].decode(errors="replace")
    return store_id, data[at + 2 + size : stop].decode(errors="replace")


def title_matches(
    listings: Sequence[Listing],
    prints: TitleFingerprints,
    probe_rows: npt.NDArray[np.int64],
    own_stores: PackedIds,
    store_codes: npt.NDArray[np.int64],
    hits: InlineHits | None,
    *,
    threshold: float,
    cap: int,
    rows_per_band: int,
) -> Matches:
    """Listings whose titles are near-duplicates (estimated Jaccard >= ``threshold``) of other
    stores' listings in the batch or in the stored LSH buckets. ``probe_rows`` are the batch
    rows that were looked up (row ``j`` of ``hits`` and ``own_stores`` is listing
    ``probe_rows[j]``); ``store_codes`` number the batch's stores (equal codes, same store)."""
    ref_listing = [x.listing_id for x in listings]
    ref_store = [x.store_id for x in listings]
    q, r = bucket_pairs(prints.bands, prints.valid, cap)
    other = store_codes[q] != store_codes[r]
    q, r = q[other], r[other]
    similarity = pair_similarity(prints.sketch, prints.bands, q, r, rows_per_band, CHANCE)
    keep = similarity >= threshold
    q, r, similarity = q[keep], r[keep], similarity[keep]
    if hits is not None and len(hits):
        sketches = prints.sketch[probe_rows]
        found, stored_similarity = verify_hits(
            hits.buffer,
            hits.start,
            hits.length,
            hits.row,
            hits.part,
            sketches,
            own_stores.data,
            own_stores.at,
            rows_per_band,
            CHANCE,
            threshold,
        )
        width = sketches.shape[1]
        first_ref = len(ref_listing)
        data = hits.data
        starts, lengths = hits.start[found].tolist(), hits.length[found].tolist()
        for start, length in zip(starts, lengths, strict=True):
            store_id, listing_id = _payload_ids(data, start, start + length, width)
            ref_store.append(store_id)
            ref_listing.append(listing_id)
        q = np.concatenate((q, probe_rows[hits.row[found]]))
        r = np.concatenate((r, np.arange(first_ref, len(ref_listing), dtype=np.int64)))
        similarity = np.concatenate((similarity, stored_similarity))
    return Matches(q, r, similarity, None, ref_listing, ref_store)


def image_matches(
    listings: Sequence[Listing],
    images: ImageHashes,
    hits: BucketHits | None,
    *,
    max_distance: int,
    cap: int,
) -> Matches:
    """Listings with an image within ``max_distance`` bits of another store's image, in the
    batch or in the stored image-hash buckets (one pair per listing and matched listing,
    the closest)."""
    m = len(images.hashes)
    owners = images.owner.tolist()
    ref_listing = [listings[i].listing_id for i in owners]
    ref_store = [listings[i].store_id for i in owners]
    chunks = images.chunks
    q, r = bucket_pairs(chunks, np.ones(m, dtype=np.bool_), cap)
    hashes = images.hashes
    usable = np.ones(m, dtype=np.bool_)
    if hits is not None and hits.entries:
        ids, encoded = _split_refs(hits.entries)
        stored = [_hex64(text) for text in encoded]
        ref_listing += ids
        ref_store += [entry.store_id for entry in hits.entries]
        hashes = np.concatenate((hashes, np.array([h or 0 for h in stored], dtype=np.uint64)))
        usable = np.concatenate((usable, np.array([h is not None for h in stored])))
        sq, sr = _stored_pairs(chunks, np.ones(m, dtype=np.bool_), hits, m)
        q, r = np.concatenate((q, sq)), np.concatenate((r, sr))
    q, r = _distinct_other_store(q, r, ref_store[:m], ref_store)
    distance = hamming(images.hashes[q], hashes[r])
    keep = (distance <= max_distance) & usable[r]
    q, r, distance = images.owner[q[keep]], r[keep], distance[keep]
    # one pair per (listing, matched listing): the closest of their images
    codes: dict[tuple[str, str], int] = {}
    matched = np.array(
        [codes.setdefault((ref_store[k], ref_listing[k]), len(codes)) for k in r.tolist()],
        dtype=np.int64,
    )
    order = np.lexsort((r, distance, matched, q))
    q, r, distance, matched = q[order], r[order], distance[order], matched[order]
    first = np.ones(len(q), dtype=np.bool_)
    first[1:] = (q[1:] != q[:-1]) | (matched[1:] != matched[:-1])
    q, r, distance = q[first], r[first], distance[first]
    return Matches(q, r, 1.0 - distance / 64.0, distance, ref_listing, ref_store)


def _hex64(text: str) -> int | None:
    """A stored image hash (16 hex digits), or ``None`` when malformed."""
    try:
        value = int(text, 16)
    except ValueError:
        return None
    return value if len(text) == 16 else None
