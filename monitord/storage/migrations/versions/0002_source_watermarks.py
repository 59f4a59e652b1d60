"""Source watermarks: how far each external ticket database has been read.

Written by hand to match monitord/storage/tables.py as of this revision, types
spelled out as in 0001.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_watermarks",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("watermark", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_source_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("source_watermarks")
