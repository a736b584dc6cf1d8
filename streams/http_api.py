"""The inline API (contract ``HTTP`` table): ``POST /v1/screen``, ``/v1/screen/batch``,
``/v1/feedback``.

The publishing path waits on these, so they answer from the engine directly, with every Redis
round trip bounded by ``state.redis_budget_ms`` (past it the verdict follows the configured
fail-open/closed policy, never a 5xx) and their Kafka outputs delivered in the background by
the :class:`~streams.outbox.Outbox`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson
from faust.web import Request, Response, View

from contract.errors import ContractError
from contract.feedback import feedback_from_dict
from contract.listing import Listing, listing_from_dict
from detectors.offenders import apply_feedback
from haze.engine import Screened
from state.errors import StateUnavailable
from streams.coalesce import Coalescer
from streams.inline_context import InlineContext
from streams.publisher import Record
from streams.service import ScreenService

MAX_BATCH = 1000
MAX_LISTING_BYTES = 256 * 1024
MAX_BATCH_BYTES = 64 * 1024 * 1024


def _error(view: View, status: int, error: str, field: str | None = None) -> Response:
    return view.bytes(
        orjson.dumps({"error": error, "field": field}),
        content_type="application/json",
        status=status,
    )


def _ok(view: View, body: bytes, status: int = 200) -> Response:
    return view.bytes(body, content_type="application/json", status=status)


class InlineApi:
    """Request handling shared by the views; the views only adapt Faust's web layer."""

    def __init__(self, service: ScreenService, inline: InlineContext) -> None:
        self.service = service
        self.inline = inline
        self._coalescer: Coalescer[Listing, Screened] = Coalescer(self._screen_now)
        token = service.settings.api_token
        self._token = f"Bearer {token}".encode() if token else None

    def authorised(self, request: Request) -> bool:
        if self._token is None:
            return True
        given = (request.headers.get("Authorization") or "").encode()
        return hmac.compare_digest(given, self._token)

    async def body(self, request: Request, limit: int) -> Any:
        """The decoded JSON body; raises ContractError (400) or _TooLarge (413)."""
        length = request.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise _TooLarge(limit)
        raw = await request.read()
        if len(raw) > limit:
            raise _TooLarge(limit)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ContractError(None, f"body is not valid JSON: {exc}") from exc

    def listing(self, document: Any) -> Listing:
        return listing_from_dict(document, self.service.keyer)

    async def screen(self, listings: list[Listing]) -> list[Screened]:
        """Screen with whatever other requests are waiting (one engine batch for all)."""
        return await self._coalescer.submit(listings)

    async def _screen_now(self, listings: list[Listing]) -> list[Screened]:
        config = self.service.runtime.config
        started = time.perf_counter()
        resources = self.inline.get()
        # the answer does not wait for the state write, nor for the updates that go into it:
        # the outbox computes and applies it before it produces these verdicts (and journals
        # their ledger entries meanwhile)
        results, pending = await resources.screener.screen_deferred(
            listings,
            degrade=True,
            budget_s=config.state.redis_budget_ms / 1000.0,
            defer_updates=True,
        )
        metrics = self.service.metrics
        metrics.batch_size.labels(path="http").observe(len(listings))
        metrics.batch_seconds.labels(path="http").observe(time.perf_counter() - started)
        topics = self.service.settings.topics
        metrics.count_verdicts("http", results)
        for result in results:
            if not result.fresh and (
                result.complaint is None or resources.outbox.owes_complaint(result.key)
            ):
                continue  # its outputs are already delivered or on their way
            key = result.listing_id.encode()
            records = [Record(topics.verdicts, key, result.verdict)]
            if result.complaint is not None:
                records.append(Record(topics.complaints, key, result.complaint))
                metrics.complaints.inc()
            # a repeat owing a complaint (its first delivery was never confirmed) has it
            # checked against the topic before it is raised
            resources.outbox.put(
                records,
                result.key,
                verify_since=result.unconfirmed_since,
                fingerprint=result.fingerprint,
            )
        if pending is not None:
            resources.outbox.after(pending)
        return results


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")


def _guarded(api: InlineApi, endpoint: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """Auth, error mapping and latency metrics around one handler."""
    histogram = api.service.metrics.http_seconds.labels(endpoint=endpoint)

    async def post(view: View, request: Request) -> Response:
        started = time.perf_counter()
        try:
            if not api.authorised(request):
                return _error(view, 401, "missing or invalid bearer token")
            response: Response = await handler(view, request)
            return response
        except ContractError as exc:
            return _error(view, 400, exc.reason, exc.field)
        except _TooLarge as exc:
            return _error(view, 413, str(exc))
        except StateUnavailable as exc:  # feedback cannot degrade: it must reach the state
            return _error(view, 503, f"state unavailable: {exc}")
        finally:
            histogram.observe(time.perf_counter() - started)

    return post


def register_inline_api(app: Any, api: InlineApi) -> None:
    async def screen_one(view: View, request: Request) -> Response:
        listing = api.listing(await api.body(request, MAX_LISTING_BYTES))
        (result,) = await api.screen([listing])
        return _ok(view, result.verdict)

    async def screen_batch(view: View, request: Request) -> Response:
        document = await api.body(request, MAX_BATCH_BYTES)
        if not isinstance(document, dict) or not isinstance(document.get("listings"), list):
            raise ContractError("listings", "must be an array of listings")
        items = document["listings"]
        if len(items) > MAX_BATCH:
            raise ContractError(
                "listings", f"at most {MAX_BATCH} listings per batch ({len(items)})"
            )
        listings = []
        for index, item in enumerate(items):
            try:
                listings.append(api.listing(item))
            except ContractError as exc:
                raise exc.nested(f"listings[{index}]") from exc
        results = await api.screen(listings) if listings else []
        return _ok(view, b'{"verdicts":[' + b",".join(r.verdict for r in results) + b"]}")

    async def feedback(view: View, request: Request) -> Response:
        record = feedback_from_dict(await api.body(request, MAX_LISTING_BYTES))
        status = await apply_feedback(record, api.inline.get().state, time.time())
        api.service.metrics.feedback.labels(outcome=record.outcome).inc()
        body: dict[str, Any] = {"status": "accepted", "store_id": record.store_id}
        if status is not None:
            body["store"] = {"banned": status.banned, "strikes": status.strikes}
        return _ok(view, orjson.dumps(body), status=202)

    for path, endpoint, handler in (
        ("/v1/screen", "screen", screen_one),
        ("/v1/screen/batch", "screen_batch", screen_batch),
        ("/v1/feedback", "feedback", feedback),
    ):
        view_class = type(f"View_{endpoint}", (View,), {"post": _guarded(api, endpoint, handler)})
        app.page(path)(view_class)
