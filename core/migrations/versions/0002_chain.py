"""chain: relayer outbox (issue 3)

Revision ID: 0002_chain
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0002_chain"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_tx",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("from_address", sa.String(42), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("value", AmountType(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("nonce", sa.Integer(), nullable=True),
        sa.Column("gas_limit", sa.Integer(), nullable=True),
        sa.Column("caller_gas_limit", sa.Boolean(), nullable=False),
        sa.Column("max_fee_per_gas", AmountType(), nullable=True),
        sa.Column("max_priority_fee_per_gas", AmountType(), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("replacements", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("receipt_status", sa.Integer(), nullable=True),
        sa.Column("gas_used", sa.Integer(), nullable=True),
        sa.Column("effective_gas_price", AmountType(), nullable=True),
        sa.Column("fee_wei", AmountType(), nullable=True),
        sa.Column("logs", sa.JSON(), nullable=True),
        sa.Column("revert_reason", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("signed_at", UtcDateTime(), nullable=True),
        sa.Column("broadcast_at", UtcDateTime(), nullable=True),
        sa.Column("mined_at", UtcDateTime(), nullable=True),
        sa.Column("final_at", UtcDateTime(), nullable=True),
        # Two requests can never hold the same nonce, whatever the code does.
        sa.UniqueConstraint("chain_id", "from_address", "nonce", name="uq_chain_tx_nonce"),
    )
    op.create_index("ix_chain_tx_key", "chain_tx", ["key"], unique=True)
    op.create_index("ix_chain_tx_status", "chain_tx", ["status"])
    op.create_table(
        "chain_tx_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tx_id", sa.Integer(), sa.ForeignKey("chain_tx.id"), nullable=False),
        sa.Column("nonce", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False, unique=True),
        sa.Column("raw_tx", sa.Text(), nullable=False),
        sa.Column("max_fee_per_gas", AmountType(), nullable=False),
        sa.Column("max_priority_fee_per_gas", AmountType(), nullable=False),
        sa.Column("gas_limit", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_chain_tx_attempt_tx_id", "chain_tx_attempt", ["tx_id"])
    op.create_table(
        "chain_nonce",
        sa.Column("chain_id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("next_nonce", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chain_nonce")
    op.drop_index("ix_chain_tx_attempt_tx_id", table_name="chain_tx_attempt")
    op.drop_table("chain_tx_attempt")
    op.drop_index("ix_chain_tx_status", table_name="chain_tx")
    op.drop_index("ix_chain_tx_key", table_name="chain_tx")
    op.drop_table("chain_tx")
