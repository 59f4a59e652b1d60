"""The operator's trouble-ticket table, as a legacy system might have it, for the ticket-database tests."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table


def tt_events_table(name: str) -> Table:
    """One step of a ticket per row: step times as text, a real ``updated_at`` (the watermark column)."""
    return Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ticket_no", String(32)),
        Column("step", String(32)),
        Column("step_time", String(40)),
        Column("circuit_code", String(32)),
        Column("channel", String(32)),
        Column("note", String(200)),
        Column("updated_at", DateTime, nullable=False),
    )
