"""foundation: programs and platform flags

Revision ID: 0001_foundation
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "program",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("treasury_address", sa.String(42), nullable=False),
        sa.Column("fee_usd_minor", AmountType(), nullable=False),
        sa.Column("claim_amount_minor", AmountType(), nullable=False),
        sa.Column("commission_bps", sa.JSON(), nullable=False),
        sa.Column("max_depth", sa.Integer(), nullable=False),
        sa.Column("hold_days", sa.Integer(), nullable=False),
        sa.Column("payment_provider", sa.String(32), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_program_slug", "program", ["slug"], unique=True)
    op.create_table(
        "platform_flag",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("platform_flag")
    op.drop_index("ix_program_slug", table_name="program")
    op.drop_table("program")
