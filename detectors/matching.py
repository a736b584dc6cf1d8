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
from itertools import accumulate

import numpy as np
import numpy.typing as npt

from contract.listing import Listing
from detectors._duplicate_kernels import bucket_pairs
from detectors._match_kernels import batch_title_pairs, build_payloads, verify_hits
from detectors.fingerprints import CHANCE, ImageHashes, TitleFingerprints, hamming
from state.buckets import BucketEntry, BucketHits
from state.inline import InlineHits

FEW_PAIRS = 64
"""Up to this many pairs, matches are ranked in plain Python: array calls cost a few
microseconds each whatever their size, which is most of a small batch's time."""
FEW_IMAGES = 64
FEW_IMAGE_HITS = 256
"""Up to this many usable images in the batch and stored bucket rows, images are matched in
plain Python (the same pairs, in the same order, as the array path)."""

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

    def _ranked_few(self, pairs: list[int]) -> list[int]:
        """:meth:`_ranked` for a few pairs, without arrays (the same stable order)."""
        query, ref, similarity = self.query, self.ref, self.similarity
        listing, store = self.ref_listing, self.ref_store

        def rank(k: int) -> tuple[int, float, str]:
            r = int(ref[k])
            return int(query[k]), -float(similarity[k]), f"{listing[r]}\x00{store[r]}"

        return sorted(pairs, key=rank)

    def best(self, where: npt.NDArray[np.bool_]) -> dict[int, int]:
        """Per batch listing, its best pair among those ``where`` is true."""
        if len(where) == 0 or not where.any():
            return {}
        if len(where) <= FEW_PAIRS:
            best: dict[int, int] = {}
            for k in self._ranked_few(np.flatnonzero(where).tolist()):
                best.setdefault(int(self.query[k]), k)
            return best
        ranked = self._ranked(np.flatnonzero(where))
        queries = self.query[ranked]
        first = np.ones(len(ranked), dtype=np.bool_)
        first[1:] = queries[1:] != queries[:-1]
        return dict(zip(queries[first].tolist(), ranked[first].tolist(), strict=True))

    def best_per_store(self) -> dict[int, list[int]]:
        """Per batch listing, its best pair with each matched store, best first."""
        count = len(self.query)
        if count == 0:
            return {}
        grouped: dict[int, list[int]] = {}
        if count <= FEW_PAIRS:
            seen: set[tuple[int, str]] = set()
            for k in self._ranked_few(list(range(count))):
                q = int(self.query[k])
                key = (q, self.ref_store[int(self.ref[k])])
                if key not in seen:
                    seen.add(key)
                    grouped.setdefault(q, []).append(k)
            return grouped
        ranked = self._ranked(np.arange(count, dtype=np.int64))
        codes: dict[str, int] = {}
        refs = self.ref[ranked].tolist()
        store_code = np.array([codes.setdefault(self.ref_store[r], len(codes)) for r in refs])
        keys = self.query[ranked] * (len(codes) + 1) + store_code.astype(np.int64)
        _, first = np.unique(keys, return_index=True)
        for k in ranked[np.sort(first)].tolist():
            grouped.setdefault(int(self.query[k]), []).append(k)
        return grouped

    def stores_where(self, stores: set[str]) -> npt.NDArray[np.bool_]:
        """Which pairs match a listing of one of ``stores``."""
        if not stores or len(self.query) == 0:
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
        at = np.fromiter(
            accumulate(map(len, encoded), initial=0), dtype=np.int64, count=len(encoded) + 1
        )
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), at)


FEW_PAYLOADS = 32
"""Up to this many titles, bucket entries are joined in plain Python rather than packed by
the kernel (the same bytes)."""


def title_payloads(
    sketches: npt.NDArray[np.uint8], store_ids: Sequence[str], listing_ids: Sequence[str]
) -> tuple[bytes, npt.NDArray[np.int64]]:
    """The inline entry of each title: its sketch, its store id's length (big-endian u16),
    its store id and its listing id; and where each starts (``offsets``, one more)."""
    if len(store_ids) > FEW_PAYLOADS:
        stores, listings = PackedIds.of(store_ids), PackedIds.of(listing_ids)
        payloads, offsets = build_payloads(
            sketches, stores.data, stores.at, listings.data, listings.at
        )
        return payloads.tobytes(), offsets
    width = sketches.shape[1]
    flat = sketches.tobytes()
    pieces: list[bytes] = []
    sizes: list[int] = []
    for j, (store_id, listing_id) in enumerate(zip(store_ids, listing_ids, strict=True)):
        store, listing = store_id.encode(), listing_id.encode()
        pieces += [
            flat[j * width : (j + 1) * width],
            (len(store) & 0xFFFF).to_bytes(2, "big"),
            store,
            listing,
        ]
        sizes.append(width + 2 + len(store) + len(listing))
    offsets = np.fromiter(accumulate(sizes, initial=0), dtype=np.int64, count=len(sizes) + 1)
    return b"".join(pieces), offsets


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
    own_payloads: bytes,
    own_offsets: npt.NDArray[np.int64],
    store_codes: npt.NDArray[np.int64],
    hits: InlineHits | None,
    *,
    threshold: float,
    cap: int,
    rows_per_band: int,
) -> Matches:
    """Listings whose titles are near-duplicates (estimated Jaccard >= ``threshold``) of other
    stores' listings in the batch or in the stored LSH buckets. ``probe_rows`` are the batch
    rows that were looked up (row ``j`` of ``hits`` is listing ``probe_rows[j]``, whose own
    bucket entry is ``own_payloads[own_offsets[j]:own_offsets[j + 1]]``); ``store_codes``
    number the batch's stores (equal codes, same store)."""
    ref_listing = [x.listing_id for x in listings]
    ref_store = [x.store_id for x in listings]
    if len(probe_rows) >= 2:
        q, r, similarity = batch_title_pairs(
            prints.bands,
            prints.valid,
            cap,
            store_codes,
            prints.sketch,
            rows_per_band,
            CHANCE,
            threshold,
        )
    else:  # one usable title: no pair inside the batch
        q, r, similarity = _NO_PAIRS, _NO_PAIRS, _NO_SIMILARITY
    if hits is not None and len(hits):
        every = len(probe_rows) == len(listings)
        sketches = prints.sketch if every else prints.sketch[probe_rows]
        found, stored_similarity = verify_hits(
            hits.buffer,
            hits.start,
            hits.length,
            hits.row,
            hits.part,
            sketches,
            np.frombuffer(own_payloads, dtype=np.uint8),
            own_offsets,
            rows_per_band,
            CHANCE,
            threshold,
            hits.digest,
        )
        if len(found):
            width = sketches.shape[1]
            first_ref = len(ref_listing)
            data = hits.data
            starts, lengths = hits.start[found].tolist(), hits.length[found].tolist()
            for start, length in zip(starts, lengths, strict=True):
                store_id, listing_id = _payload_ids(data, start, start + length, width)
                ref_store.append(store_id)
                ref_listing.append(listing_id)
            stored_q = probe_rows[hits.row[found]]
            stored_r = np.arange(first_ref, len(ref_listing), dtype=np.int64)
            if len(q):
                q = np.concatenate((q, stored_q))
                r = np.concatenate((r, stored_r))
                similarity = np.concatenate((similarity, stored_similarity))
            else:
                q, r, similarity = stored_q, stored_r, stored_similarity
    return Matches(q, r, similarity, None, ref_listing, ref_store)


_NO_PAIRS = np.zeros(0, dtype=np.int64)
_NO_SIMILARITY = np.zeros(0, dtype=np.float64)


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
    stored = hits is not None and bool(hits.entries)
    if m == 0 and not stored:
        return Matches(_NO_PAIRS, _NO_PAIRS, _NO_SIMILARITY, _NO_PAIRS, [], [])
    chunks = images.chunks
    if m <= FEW_IMAGES and (hits is None or len(hits.parts) <= FEW_IMAGE_HITS):
        few = _few_image_matches(listings, images, chunks, hits, max_distance, cap)
        if few is not None:
            return few
    return _image_matches(listings, images, chunks, hits, max_distance, cap)


def _image_matches(
    listings: Sequence[Listing],
    images: ImageHashes,
    chunks: npt.NDArray[np.uint64],
    hits: BucketHits | None,
    max_distance: int,
    cap: int,
) -> Matches:
    """:func:`image_matches` with arrays, for any size."""
    m = len(images.hashes)
    owners = images.owner.tolist()
    ref_listing = [listings[i].listing_id for i in owners]
    ref_store = [listings[i].store_id for i in owners]
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


def _few_image_matches(
    listings: Sequence[Listing],
    images: ImageHashes,
    chunks: npt.NDArray[np.uint64],
    hits: BucketHits | None,
    max_distance: int,
    cap: int,
) -> Matches | None:
    """:func:`_image_matches` in plain Python for a few images and stored rows: the same
    pairs in the same order. ``None`` (use the array path) for a stored hash that the array
    path would refuse."""
    owners = images.owner.tolist()
    hashes: list[int] = images.hashes.tolist()
    m = len(hashes)
    ref_listing = [listings[i].listing_id for i in owners]
    ref_store = [listings[i].store_id for i in owners]
    if m >= 2:
        bq, br = bucket_pairs(chunks, np.ones(m, dtype=np.bool_), cap)
        pairs = list(zip(bq.tolist(), br.tolist(), strict=True))
    else:
        pairs = []
    usable = [True] * m
    if hits is not None and hits.entries:
        ids, encoded = _split_refs(hits.entries)
        stored = [_hex64(text) for text in encoded]
        if any(h is not None and h < 0 for h in stored):
            return None
        ref_listing += ids
        ref_store += [entry.store_id for entry in hits.entries]
        hashes += [h or 0 for h in stored]
        usable += [h is not None for h in stored]
        width = chunks.shape[1]
        buckets: dict[tuple[int, int], list[int]] = {}
        for part, value, e in zip(
            hits.parts.tolist(), hits.values.tolist(), hits.entry.tolist(), strict=True
        ):
            if part < width:
                buckets.setdefault((part, value), []).append(e + m)
        found: set[tuple[int, int]] = set()
        for row, keys in enumerate(chunks.tolist()):
            for part, value in enumerate(keys):
                for e in buckets.get((part, value), ()):
                    found.add((row, e))
        pairs += sorted(found)
    kept: list[tuple[int, int, int]] = []  # (listing, reference, distance)
    for a, b in pairs:
        if ref_store[a] == ref_store[b]:
            continue
        distance = (hashes[a] ^ hashes[b]).bit_count()
        if distance <= max_distance and usable[b]:
            kept.append((owners[a], b, distance))
    codes: dict[tuple[str, str], int] = {}
    matched = [codes.setdefault((ref_store[b], ref_listing[b]), len(codes)) for _, b, _ in kept]
    order = sorted(range(len(kept)), key=lambda j: (kept[j][0], matched[j], kept[j][2], kept[j][1]))
    q: list[int] = []
    r: list[int] = []
    distances: list[int] = []
    last: tuple[int, int] | None = None
    for j in order:
        listing, b, distance = kept[j]
        if (listing, matched[j]) != last:
            last = (listing, matched[j])
            q.append(listing)
            r.append(b)
            distances.append(distance)
    distance_array = np.array(distances, dtype=np.int64)
    return Matches(
        np.array(q, dtype=np.int64),
        np.array(r, dtype=np.int64),
        1.0 - distance_array / 64.0,
        distance_array,
        ref_listing,
        ref_store,
    )


def _hex64(text: str) -> int | None:
    """A stored image hash (16 hex digits), or ``None`` when malformed."""
    try:
        value = int(text, 16)
    except ValueError:
        return None
    return value if len(text) == 16 else None
