"""Rolling state behind the detectors: every Redis key, script and TTL lives in this package.

``base`` defines what a batch asks for (:class:`StateNeeds`), what it gets
(:class:`StateSnapshot`) and what it writes back (:class:`StateUpdates`); ``redis`` serves them
in one round trip each, ``memory`` is the in-process twin for unit tests.
"""
