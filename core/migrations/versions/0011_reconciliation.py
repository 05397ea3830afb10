"""reconciliation: treasury movements, reconciliation reports and checks, chain-log cursors (issue 12)

Revision ID: 0011_reconciliation
Revises: 0009_chain_gate
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0011_reconciliation"
down_revision = "0009_chain_gate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "treasury_movement",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("asset", sa.String(8), nullable=False),
        sa.Column("amount", AmountType(), nullable=False),
        sa.Column("gas_wei", AmountType(), nullable=False),
        sa.Column("from_address", sa.String(42), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("block_number", sa.Integer(), nullable=False),
        sa.Column("ledger_tx_id", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_treasury_movement_tx_hash", "treasury_movement", ["tx_hash"], unique=True)
    op.create_index("ix_treasury_movement_kind", "treasury_movement", ["kind"])
    op.create_index("ix_treasury_movement_to_address", "treasury_movement", ["to_address"])
    op.create_table(
        "reconciliation_report",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_key", sa.String(200), nullable=False, unique=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("unexplained_checks", sa.Integer(), nullable=False),
        sa.Column("halted", sa.Boolean(), nullable=False),
        sa.Column("from_block", sa.Integer(), nullable=True),
        sa.Column("to_block", sa.Integer(), nullable=True),
        sa.Column("first_items", sa.JSON(), nullable=False),
    )
    op.create_index("ix_reconciliation_report_started_at", "reconciliation_report", ["started_at"])
    op.create_table(
        "reconciliation_check",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reconciliation_report.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("asset", sa.String(8), nullable=False),
        sa.Column("expected", AmountType(), nullable=False),
        sa.Column("actual", AmountType(), nullable=False),
        sa.Column("difference", AmountType(), nullable=False),
        sa.Column("explained", AmountType(), nullable=False),
        sa.Column("unexplained", AmountType(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
    )
    op.create_index("ix_reconciliation_check_report_id", "reconciliation_check", ["report_id"])
    op.create_table(
        "reconciliation_cursor",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_cursor")
    op.drop_table("reconciliation_check")
    op.drop_table("reconciliation_report")
    op.drop_table("treasury_movement")
