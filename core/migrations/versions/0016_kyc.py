"""kyc: the kyc_check table — the provider's reference and the outcome only, never documents (issue 15)

Revision ID: 0016_kyc
Revises: 0010_payouts
"""

import sqlalchemy as sa
from alembic import op

from core.columns import UtcDateTime

revision = "0016_kyc"
down_revision = "0010_payouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_check",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("check_key", sa.String(200), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_kyc_check_check_key", "kyc_check", ["check_key"], unique=True)
    op.create_index("ix_kyc_check_reference", "kyc_check", ["reference"], unique=True)
    op.create_index("ix_kyc_check_wallet", "kyc_check", ["wallet"])


def downgrade() -> None:
    op.drop_table("kyc_check")
