"""wallet auth: registration messages (EIP-4361 nonces), consent evidence, redacted idempotency records (issue 10)

Idempotency records written before this revision were scoped by the raw Authorization header and may
hold operators' API keys in plaintext: they are deleted (a client retry simply runs again).

Revision ID: 0008_wallet_auth
Revises: 0007_append_only
"""

import sqlalchemy as sa
from alembic import op

from core.columns import UtcDateTime

revision = "0008_wallet_auth"
down_revision = "0007_append_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_nonce",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("referral_code", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.Column("signature_hash", sa.String(64), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
    )
    for column in ("wallet", "client_ip", "expires_at"):
        op.create_index(f"ix_auth_nonce_{column}", "auth_nonce", [column])
    op.create_table(
        "wallet_consent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("flow_id", sa.String(200), nullable=False),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False, unique=True),
        sa.Column("terms_version", sa.String(32), nullable=False),
        sa.Column("terms_sha256", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(132), nullable=False),
        sa.Column("signed_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_wallet_consent_flow_id", "wallet_consent", ["flow_id"])
    op.execute("DELETE FROM idempotency_record")
    with op.batch_alter_table("idempotency_record") as batch:
        batch.add_column(sa.Column("redacted", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_record") as batch:
        batch.drop_column("redacted")
    op.drop_table("wallet_consent")
    op.drop_table("auth_nonce")
