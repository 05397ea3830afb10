"""onboarding flows and HTTP idempotency records (issue 5)

Revision ID: 0005_onboarding
Revises: 0004_payments
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0005_onboarding"
down_revision = "0004_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "onboarding",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("flow_id", sa.String(200), nullable=False, unique=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("state_since", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("referrer_wallet", sa.String(42), nullable=True),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("mint_tx", sa.String(66), nullable=True),
        sa.Column("referral_tx", sa.String(66), nullable=True),
        sa.Column("rail", sa.String(32), nullable=True),
        sa.Column("payment_ref", sa.String(200), nullable=True),
        sa.Column("paid_amount_minor", AmountType(), nullable=True),
        sa.Column("paid_asset", sa.String(8), nullable=True),
        sa.Column("claim_tx", sa.String(66), nullable=True),
        sa.Column("sge_amount_minor", AmountType(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("program_id", "wallet", name="uq_onboarding_program_wallet"),
    )
    op.create_index("ix_onboarding_program_id", "onboarding", ["program_id"])
    op.create_index("ix_onboarding_state", "onboarding", ["state"])
    op.create_table(
        "idempotency_record",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_idempotency_record_expires_at", "idempotency_record", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_record_expires_at", table_name="idempotency_record")
    op.drop_table("idempotency_record")
    op.drop_index("ix_onboarding_state", table_name="onboarding")
    op.drop_index("ix_onboarding_program_id", table_name="onboarding")
    op.drop_table("onboarding")
