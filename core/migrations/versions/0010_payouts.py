"""payout batches, their lines, approvers' addresses (issue 11)

Revision ID: 0010_payouts
Revises: 0015_compliance (numbered 0010 as assigned; placed after the head main had when it merged)
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0010_payouts"
down_revision = "0015_compliance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payout_batch",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("operator.id"), nullable=True),
        sa.Column("token", sa.String(42), nullable=False),
        sa.Column("asset", sa.String(8), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("payout_contract", sa.String(42), nullable=False),
        sa.Column("batch_ref", sa.String(66), nullable=False),
        sa.Column("deadline", UtcDateTime(), nullable=True),
        sa.Column("total", AmountType(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("lines_root", sa.String(66), nullable=False),
        sa.Column("digest", sa.String(66), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("eligible", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("approvals", sa.JSON(), nullable=False),
        sa.Column("typed_data", sa.JSON(), nullable=False),
        sa.Column("approve_tx", sa.String(66), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_payout_batch_program_id", "payout_batch", ["program_id"])
    op.create_index("ix_payout_batch_state", "payout_batch", ["state"])
    op.create_table(
        "payout_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.String(120), sa.ForeignKey("payout_batch.id"), nullable=False),
        sa.Column("payout_id", sa.String(66), nullable=False, unique=True),
        sa.Column("affiliate_id", sa.Integer(), sa.ForeignKey("affiliate.id"), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("amount", AmountType(), nullable=False),
        sa.Column("gross", AmountType(), nullable=False),
        sa.Column("netted", sa.JSON(), nullable=False),
        sa.Column("commission_ids", sa.JSON(), nullable=False),
        sa.Column("reservation_key", sa.String(200), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("chain_tx", sa.String(66), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_payout_line_batch_id", "payout_line", ["batch_id"])
    op.create_index("ix_payout_line_affiliate_id", "payout_line", ["affiliate_id"])
    op.create_table(
        "approver_address",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operator.id"), nullable=False),
        sa.Column("address", sa.String(42), nullable=False, unique=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_approver_address_operator_id", "approver_address", ["operator_id"])


def downgrade() -> None:
    op.drop_index("ix_approver_address_operator_id", table_name="approver_address")
    op.drop_table("approver_address")
    op.drop_index("ix_payout_line_affiliate_id", table_name="payout_line")
    op.drop_index("ix_payout_line_batch_id", table_name="payout_line")
    op.drop_table("payout_line")
    op.drop_index("ix_payout_batch_state", table_name="payout_batch")
    op.drop_index("ix_payout_batch_program_id", table_name="payout_batch")
    op.drop_table("payout_batch")
