"""safe: pending treasury-Safe transactions and their owner signatures (issue 14)

Revision ID: 0017_safe
Revises: 0016_kyc
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0017_safe"
down_revision = "0016_kyc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safe_tx",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("safe", sa.String(42), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("value", AmountType(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("operation", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.Integer(), nullable=False),
        sa.Column("safe_tx_hash", sa.String(66), nullable=False),
        sa.Column("typed_data", sa.Text(), nullable=False),
        sa.Column("signatures", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("executed_tx_hash", sa.String(66), nullable=True),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("executed_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_safe_tx_safe", "safe_tx", ["safe"])
    op.create_index("ix_safe_tx_safe_tx_hash", "safe_tx", ["safe_tx_hash"], unique=True)
    op.create_index("ix_safe_tx_status", "safe_tx", ["status"])


def downgrade() -> None:
    op.drop_table("safe_tx")
