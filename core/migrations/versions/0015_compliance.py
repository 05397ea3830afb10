"""compliance: versioned program documents (terms, privacy, risk) (issue 15)

Revision ID: 0015_compliance
Revises: 0014_reports
"""

import sqlalchemy as sa
from alembic import op

from core.columns import UtcDateTime

revision = "0015_compliance"
down_revision = "0014_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "program_document",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("program_id", "kind", "version", name="uq_program_document_version"),
    )
    op.create_index("ix_program_document_program_id", "program_document", ["program_id"])


def downgrade() -> None:
    op.drop_index("ix_program_document_program_id", table_name="program_document")
    op.drop_table("program_document")
