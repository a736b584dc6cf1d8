"""Benchmarks, apart from tests: ``python -m bench [--only NAME]`` (``make bench``).

Each module ``bench/<name>.py`` exposes ``run() -> dict`` returning one object for
``docs/benchmarks.json``: one number per contender (the keys the issues name), plus optional
``"targets"`` (a dict of human-readable targets) and ``"notes"`` (a string). The runner merges
results into ``docs/benchmarks.json`` and regenerates ``docs/benchmarks.md`` with the machine and
versions.
"""

BENCHMARKS = ("stream", "keyword", "price", "duplicate", "inline")
