"""ledger, operators, affiliates, commissions (issue 4)

Revision ID: 0003_ledger
Revises: 0002_chain
"""

revision = "0003_ledger"
down_revision = "0002_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
