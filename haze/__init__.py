"""Haze: a real-time listing screener for marketplaces.

The application package: the command line (``python -m haze``), the error root and the
screening engine that ties contract, config, state and detectors together. Kafka and HTTP
wiring lives in ``streams/``.
"""

__version__ = "0.1.0"
