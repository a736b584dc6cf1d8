"""Locust load test of the inline path: ``POST /v1/screen`` with realistic labelled listings.

Run headless against a running worker (loopback by default), e.g.::

    .venv/bin/locust -f loadtest/locustfile.py --headless -u 200 -r 100 -t 30s \\
        --host http://127.0.0.1:6066 --json-file results/inline

Each user sends one request per second on a timetable of its own with a random phase
(``loadtest/pacing.py``: locust's ``constant_throughput`` let users that started together stay
together, a burst each second), so ``-u`` is the target rate in requests per second, spread
evenly over the second. ``LOADTEST_MIX`` (``class=weight,...``; ``HAZE_LOAD_MIX`` is read
too) changes the mix of listing classes (see ``loadtest/generator.py``, ``loadtest/mix.py``);
``SCREEN_API_TOKEN`` is sent when set. Users are ``FastHttpUser`` (geventhttpclient): the load
generator shares the machine's cores with the worker, so its own cost per request matters.
Repeat offenders: ``LOADTEST_OFFENDERS`` (default 2) episodes per 100 single screens, each a
store that lists, is banned through ``POST /v1/feedback`` and comes back (same store, a linked
store, a copied listing; ``loadtest/offenders.py``); 0 turns them off.
Kept out of pytest's collection and of the worker: importing locust patches sockets (gevent).
"""

from __future__ import annotations

import itertools
import os
import uuid

import orjson
from locust import FastHttpUser, task

from config.registry import load_registry
from loadtest.generator import ListingGenerator
from loadtest.mix import parse_mix
from loadtest.offenders import OffenderEpisodes
from loadtest.pacing import timetabled

_MIX = parse_mix(os.environ.get("LOADTEST_MIX") or os.environ.get("HAZE_LOAD_MIX"))

_REGISTRY, _ = (
    load_registry(os.environ["SCREEN_REGISTRY"])
    if os.environ.get("SCREEN_REGISTRY")
    else load_registry()
)
_OFFENDERS = int(os.environ.get("LOADTEST_OFFENDERS") or 2)
_SEQUENCE = itertools.count()
_RUN = uuid.uuid4().hex[:6]


class ScreeningUser(FastHttpUser):
    wait_time = timetabled(1.0)

    def on_start(self) -> None:
        user = next(_SEQUENCE)
        self.listings = iter(
            ListingGenerator(_REGISTRY, seed=user, mix=_MIX, id_prefix=f"lc{_RUN}u{user}")
        )
        self.offenders = OffenderEpisodes(_REGISTRY, seed=user, id_prefix=f"lo{_RUN}u{user}")
        token = os.environ.get("SCREEN_API_TOKEN")
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.wait()  # the first request on this user's phase too, not with the spawn's burst

    def _post(self, path: str, doc: dict[str, object], expected: int) -> None:
        with self.client.post(
            path, data=orjson.dumps(doc), headers=self.headers, catch_response=True
        ) as r:
            if r.status_code != expected:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")

    @task(100)
    def screen(self) -> None:
        self._post("/v1/screen", next(self.listings), 200)

    @task(max(_OFFENDERS, 0))
    def repeat_offender(self) -> None:
        if _OFFENDERS <= 0:
            return
        for kind, doc in self.offenders.episode():
            if kind == "feedback":
                self._post("/v1/feedback", doc, 202)
            else:
                self._post("/v1/screen", doc, 200)
