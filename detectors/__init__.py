"""Pure detectors: a batch of listings plus the state they asked for in, reasons out.

``base`` holds the interface, ``decision`` turns reasons into allow/review/block, ``catalog``
lists every detector the engine builds. Detectors do no I/O.
"""
