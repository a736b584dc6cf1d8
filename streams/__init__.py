"""Kafka and HTTP wiring around the engine: the Faust app, its topics, agents and web views.

Thin on purpose: parsing lives in ``contract``, screening in ``haze.engine``, state in
``state``. ``streams.app.build_app(settings)`` assembles one worker.
"""
