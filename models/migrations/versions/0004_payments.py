"""payments: provider charges and webhook events (issue 5)

Revision ID: 0004_payments
Revises: 0003_ledger
"""

revision = "0004_payments"
down_revision = "0003_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
