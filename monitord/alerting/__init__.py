"""Alerting at run time: the routing tree (route.py) and whom its receivers reach (receivers.py).

The parsed settings are ``monitord.config.alerting``'s; grouping and timing,
muting and the notifiers build on both.
"""
