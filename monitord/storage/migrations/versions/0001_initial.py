"""Initial schema: customers, circuits, maintenance windows, events, alerts.

Written by hand to match monitord/storage/tables.py as of this revision; the
parity test in tests/storage checks that nothing differs at head. Types are
spelled out here (not imported from tables.py) so this revision never changes.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# BIGINT ids everywhere but SQLite, which only auto-increments INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("account_manager_name", sa.String(), nullable=False),
        sa.Column("account_manager_email", sa.String(), nullable=False),
        sa.Column("account_manager_phone", sa.String(), nullable=False),
        sa.Column("contact_name", sa.String(), nullable=True),
        sa.Column("contact_email", sa.String(), nullable=True),
        sa.Column("contact_phone", sa.String(), nullable=True),
        sa.Column("segment", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )
    op.create_table(
        "circuits",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("customer", sa.String(), nullable=False),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("sla_class", sa.String(), nullable=False),
        sa.Column("vpn", sa.Boolean(), nullable=False),
        sa.Column("a_end", sa.String(), nullable=False),
        sa.Column("z_end", sa.String(), nullable=False),
        sa.Column("monitor_host", sa.String(), nullable=True),
        sa.Column("monitor_port", sa.Integer(), nullable=True),
        sa.Column("monitor_ifindex", sa.Integer(), nullable=True),
        sa.Column("monitor_ifname", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_circuits"),
        sa.ForeignKeyConstraint(["customer"], ["customers.id"], name="fk_circuits_customer_customers"),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("circuit", sa.String(), nullable=False),
        sa.Column("start", _TIME, nullable=False),
        sa.Column("end", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_windows"),
        sa.ForeignKeyConstraint(["circuit"], ["circuits.id"], name="fk_maintenance_windows_circuit_circuits"),
        sa.UniqueConstraint("circuit", "start", "end", name="uq_maintenance_windows_circuit_start_end"),
    )
    op.create_table(
        "events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.CHAR(64), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("ticket", sa.String(), nullable=True),
        sa.Column("circuit", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("key", name="uq_events_key"),
    )
    op.create_index("ix_events_ticket", "events", ["ticket"])
    op.create_index("ix_events_circuit", "events", ["circuit"])
    op.create_table(
        "alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("fired_at", _TIME, nullable=False),
        sa.Column("resolved_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("name", "labels", "fired_at", name="uq_alerts_name_labels_fired_at"),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_index("ix_events_circuit", table_name="events")
    op.drop_index("ix_events_ticket", table_name="events")
    op.drop_table("events")
    op.drop_table("maintenance_windows")
    op.drop_table("circuits")
    op.drop_table("customers")
