"""Prometheus metrics: a custom collector that reads the daemon's current state at scrape time.

No per-series Gauge objects: each scrape builds its families from the state
it is handed through a callable, so there is nothing to keep in step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from monitord import __version__
from monitord.domain import Alert
from monitord.sources.tickets_sql import PollStats


@dataclass(frozen=True)
class Snapshot:
    """What a scrape reads from the daemon."""

    reload_ok: bool
    reload_timestamp: float  # seconds since the epoch of the last reload attempt (or start)
    firing: list[Alert]
    next_instant: float | None  # seconds since the epoch of the engine's next wake-up
    events_total: int
    ticket_sources: Mapping[str, PollStats] = field(default_factory=dict)  # by source name
    notifications: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (receiver, result) -> notices
    outbox_backlog: int | None = None  # notices written and not yet sent or given up; None: no outbox
    deliveries: Mapping[tuple[str, str, str], int] = field(default_factory=dict)  # (receiver, kind, result)


class StateCollector(Collector):
    """Builds every metric family from a fresh ``Snapshot`` at each scrape."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """The metric families of the current state."""
        s = self._snapshot()
        info = InfoMetricFamily("monitord_build", "monitord version")
        info.add_metric([], {"version": __version__})
        yield info
        ok = GaugeMetricFamily("monitord_config_last_reload_successful",
                               "Whether the last configuration reload succeeded (1) or kept the old set (0).")
        ok.add_metric([], 1.0 if s.reload_ok else 0.0)
        yield ok
        when = GaugeMetricFamily("monitord_config_last_reload_success_timestamp_seconds",
                                 "When the configuration in force was loaded.")
        when.add_metric([], s.reload_timestamp)
        yield when
        firing = GaugeMetricFamily("monitord_alerts_firing", "Alerts firing now, by name and severity.",
                                   labels=["alertname", "severity"])
        for (name, severity), n in sorted(Counter((a.name, a.labels.get("severity", "")) for a in s.firing).items()):
            firing.add_metric([name, severity], n)
        yield firing
        nxt = GaugeMetricFamily("monitord_engine_next_wakeup_timestamp_seconds",
                                "The next instant at which an alert changes (absent when none is scheduled).")
        if s.next_instant is not None:
            nxt.add_metric([], s.next_instant)
        yield nxt
        events = GaugeMetricFamily("monitord_events_ingested", "Events ingested since the daemon started.")
        events.add_metric([], s.events_total)
        yield events
        yield from _ticket_source_families(s.ticket_sources)
        yield from _notification_families(s.notifications, s.outbox_backlog, s.deliveries)


def _notification_families(counts: Mapping[tuple[str, str], int], backlog: int | None,
                           deliveries: Mapping[tuple[str, str, str], int]) -> Iterator[Metric]:
    """Notices by receiver and result, each notifier's attempts by result, and the outbox backlog."""
    sent = CounterMetricFamily("monitord_notifications", "Notices by receiver and result: sent, failed (given up: "
                               "not retryable, or too old), retry (a failed round that will be tried again).",
                               labels=["receiver", "result"])
    for (receiver, result), n in sorted(counts.items()):
        sent.add_metric([receiver, result], n)
    yield sent
    steps = CounterMetricFamily("monitord_notifier_deliveries", "Notifier outcomes (notify.base.Result) by "
                                "receiver and kind: each attempt sent, retried or failed; skipped; Alertmanager "
                                "re-sends.", labels=["receiver", "kind", "result"])
    for (receiver, kind, result), n in sorted(deliveries.items()):
        steps.add_metric([receiver, kind, result], n)
    yield steps
    if backlog is not None:
        waiting = GaugeMetricFamily("monitord_notification_outbox_backlog",
                                    "Notices written to the outbox and not yet sent or given up.")
        waiting.add_metric([], backlog)
        yield waiting


def _ticket_source_families(sources: Mapping[str, PollStats]) -> Iterator[Metric]:
    """The ticket databases' row, error and freshness metrics, one series per source (and reason)."""
    rows = CounterMetricFamily("monitord_ticket_source_rows", "Ticket database rows ingested as events.",
                               labels=["source"])
    skipped = CounterMetricFamily("monitord_ticket_source_rows_skipped",
                                  "Ticket database rows skipped: malformed (not a ticket event) or rejected "
                                  "(unknown circuit, ticket never reported).", labels=["source", "reason"])
    errors = CounterMetricFamily("monitord_ticket_source_poll_errors",
                                 "Ticket database polls that failed (unreachable, bad query, storage error).",
                                 labels=["source"])
    last = GaugeMetricFamily("monitord_ticket_source_last_success_timestamp_seconds",
                             "When a poll of the ticket database last completed (absent until one has).",
                             labels=["source"])
    for name, st in sorted(sources.items()):
        rows.add_metric([name], st.ingested)
        skipped.add_metric([name, "malformed"], st.malformed)
        skipped.add_metric([name, "rejected"], st.rejected)
        errors.add_metric([name], st.errors)
        if st.last_success is not None:
            last.add_metric([name], st.last_success)
    yield from (rows, skipped, errors, last)


def exposition(snapshot: Callable[[], Snapshot]) -> bytes:
    """The Prometheus text exposition of the state ``snapshot`` returns."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(snapshot))
    return generate_latest(registry)
