"""reports: operator reports (daily, weekly) and the per-day counters of refusals (issue 12 part C)

Revision ID: 0014_reports
Revises: 0011_reconciliation
"""

import sqlalchemy as sa
from alembic import op

from core.columns import UtcDateTime

revision = "0014_reports"
down_revision = "0011_reconciliation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_report",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("kind", "period_start", name="uq_operator_report_kind_period"),
    )
    op.create_index("ix_operator_report_period_start", "operator_report", ["period_start"])
    op.create_table(
        "security_event_count",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("security_event_count")
    op.drop_index("ix_operator_report_period_start", table_name="operator_report")
    op.drop_table("operator_report")
