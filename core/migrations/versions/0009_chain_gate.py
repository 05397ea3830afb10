"""chain gate: the relayer's spend is measured over recent transactions per chain (issue 10)

Revision ID: 0009_chain_gate
Revises: 0008_wallet_auth
"""

from alembic import op

revision = "0009_chain_gate"
down_revision = "0008_wallet_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_chain_tx_chain_created", "chain_tx", ["chain_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_chain_tx_chain_created", table_name="chain_tx")
