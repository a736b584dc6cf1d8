"""The keyword kernels are cached on disk and fully warmed when a worker starts.

Warm-up must compile (or load) every signature real batches use: a kernel compiled on the first
real batch costs that batch a compile (tens to hundreds of milliseconds). The check runs in a
fresh interpreter, so kernels compiled by other tests cannot hide a gap.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

from numba.core.dispatcher import Dispatcher

from detectors import _keyword_kernels, _keyword_rule_kernels
from detectors.text import _normalize_kernels

ROOT = Path(__file__).resolve().parents[2]
MODULES = (_keyword_kernels, _keyword_rule_kernels, _normalize_kernels)

# Start the worker's way, snapshot every kernel's compiled signatures, screen batches of every
# shape (descriptions, claimed brands, scripts in and beyond the Basic Multilingual Plane,
# disguises, benign cues, nothing at all, a huge batch), snapshot again.
SCRIPT = r"""
import json, random
from numba.core.dispatcher import Dispatcher
from config.settings import Settings
from contract.listing import Listing
from detectors import _keyword_kernels, _keyword_rule_kernels
from detectors.batch import ListingBatch
from detectors.text import _normalize_kernels
from state.base import StateSnapshot
from streams.service import ScreenService

service = ScreenService.create(Settings())
keyword = service.runtime.detectors[0]
assert keyword.name == "keyword"

def signatures():
    found = {}
    for module in (_keyword_kernels, _keyword_rule_kernels, _normalize_kernels):
        for name, value in vars(module).items():
            if isinstance(value, Dispatcher):
                found[f"{module.__name__}.{name}"] = sorted(map(str, value.signatures))
    return found

before = signatures()
rng = random.Random(5)
titles = ["Aurora replica bag", "奥罗拉高仿包包", "K.E.S.T.R.E.L watch SUPER-FAKE",
          "Ivory white dress", "Charger compatible with Lumis", "Lumis Kestrel Aurora Nordvik",
          "穿山甲 鳞片", "plain mug", "ﷺ" * 30, "\u200bg\u200bu\u200bc", "x" * 512,
          "𝐀𝐮𝐫𝐨𝐫𝐚 bag 𠀀"]  # the last beyond the Basic Multilingual Plane
batches = [[], [Listing("a", "s", "st", "plain", "c", 1.0)]]
for size in (1, 7, 500, 3000):
    batches.append([
        Listing(f"l{i}", "s", rng.choice(["store-aurora-official", "st"]), rng.choice(titles), "c",
                1.0, description=rng.choice(["", "in the style of AURORA", "lorem " * 900]),
                brand=rng.choice([None, "Nordvik", "!!", ""]))
        for i in range(size)
    ])
for listings in batches:
    batch = ListingBatch(listings, 0.0)
    keyword.needs(batch)
    keyword.detect(batch, StateSnapshot())
print(json.dumps({"before": before, "after": signatures()}))
"""


def test_start_up_compiles_every_signature_real_batches_use() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = result["before"], result["after"]
    for kernel in ("normalize_batch", "find_terms", "judge_batch"):
        assert any(name.endswith(f".{kernel}") and sigs for name, sigs in before.items()), kernel
    assert after == before  # nothing compiled on a real batch


def test_every_kernel_is_cached_on_disk() -> None:
    kernels = [
        (module.__name__, name, value)
        for module in MODULES
        for name, value in inspect.getmembers(module)
        if isinstance(value, Dispatcher)
    ]
    assert len(kernels) >= 15
    for module, name, kernel in kernels:
        assert kernel._cache.__class__.__name__ != "NullCache", f"{module}.{name}: cache=True"
