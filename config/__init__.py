"""Settings, thresholds and the brand registry.

``settings.Settings`` is read from the environment once, at the edge; ``thresholds.ScreenConfig``
and ``registry.Registry`` are validated from YAML files. All three are frozen.
"""
