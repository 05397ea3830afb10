"""payment outcomes: what the books hold per payment, and suspense items (issue 9)

Revision ID: 0006_payment_outcomes
Revises: 0005_onboarding
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0006_payment_outcomes"
down_revision = "0005_onboarding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment") as batch:
        batch.add_column(sa.Column("received_minor", AmountType(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("suspense_minor", AmountType(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("settled", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("reversed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "suspense_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ledger_tx_id", sa.String(200), nullable=False, unique=True),
        sa.Column("payment_ref", sa.String(200), nullable=False),
        sa.Column("payment_key", sa.String(200), nullable=True),
        sa.Column("flow_id", sa.String(200), nullable=True),
        sa.Column("rail", sa.String(32), nullable=False),
        sa.Column("asset", sa.String(8), nullable=False),
        sa.Column("amount_minor", AmountType(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("external_ref", sa.String(200), nullable=True),
        sa.Column("resolution_tx_id", sa.String(200), nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
    )
    for column in ("payment_ref", "payment_key", "flow_id", "status"):
        op.create_index(f"ix_suspense_item_{column}", "suspense_item", [column])


def downgrade() -> None:
    op.drop_table("suspense_item")
    with op.batch_alter_table("payment") as batch:
        for column in ("reversed", "settled", "suspense_minor", "received_minor"):
            batch.drop_column(column)
