"""payments: payment and webhook_event (issue 5)

Revision ID: 0004_payments
Revises: 0003_ledger
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0004_payments"
down_revision = "0003_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("wallet_lower", sa.String(42), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_ref", sa.String(100), nullable=True),
        sa.Column("hosted_url", sa.String(500), nullable=True),
        sa.Column("amount_minor", AmountType(), nullable=False),
        sa.Column("currency", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("flow_id", sa.String(200), nullable=False),
        sa.Column("create_attempts", sa.Integer(), nullable=False),
        sa.Column("paid_minor", AmountType(), nullable=True),
        sa.Column("paid_currency", sa.String(10), nullable=True),
        sa.Column("outcome_reason", sa.String(500), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        # NULL refs (rows still `creating`) do not collide on either database.
        sa.UniqueConstraint("provider", "provider_ref", name="uq_payment_provider_ref"),
    )
    op.create_index("ix_payment_key", "payment", ["key"], unique=True)
    op.create_index("ix_payment_program_id", "payment", ["program_id"])
    op.create_index("ix_payment_wallet_lower", "payment", ["wallet_lower"])
    op.create_index("ix_payment_status", "payment", ["status"])
    op.create_index("ix_payment_flow_id", "payment", ["flow_id"])

    op.create_table(
        "webhook_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("provider_ref", sa.String(100), nullable=True),
        sa.Column("payment_key", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("handed_off_at", UtcDateTime(), nullable=True),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("provider", "event_id", name="uq_webhook_event_provider_event"),
    )
    op.create_index("ix_webhook_event_provider_ref", "webhook_event", ["provider_ref"])
    op.create_index("ix_webhook_event_outcome", "webhook_event", ["outcome"])


def downgrade() -> None:
    op.drop_index("ix_webhook_event_outcome", table_name="webhook_event")
    op.drop_index("ix_webhook_event_provider_ref", table_name="webhook_event")
    op.drop_table("webhook_event")
    for name in (
        "ix_payment_flow_id",
        "ix_payment_status",
        "ix_payment_wallet_lower",
        "ix_payment_program_id",
        "ix_payment_key",
    ):
        op.drop_index(name, table_name="payment")
    op.drop_table("payment")
