"""Backtests: labelled listings replayed through the real detectors and decision step.

``dataset`` reads labelled JSON Lines (errors name file, line and field), ``isolation`` gives
each run fresh state (a unique Redis key prefix it removes afterwards, or memory), ``runner``
screens warm-up, feedback and labelled listings in stream-sized batches on an event-time clock,
``metrics`` turns results into confusion matrices and rates (pure functions), ``report``
renders them, ``sweep`` and ``chart`` vary one threshold. ``command`` is the ``haze backtest``
CLI. Definitions: ``docs/backtesting.md``.
"""
