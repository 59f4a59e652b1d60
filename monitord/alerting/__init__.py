"""Alerting: the routing tree and its receivers (route.py), matchers, and the receivers' settings.

Later parts (grouping and timing, muting, notifiers) build on the parsed
settings here; this package imports only ``domain`` and ``yamldoc``.
"""
