"""ledger, operators, affiliates, commissions (issue 4)

Revision ID: 0003_ledger
Revises: 0002_chain

The journal (ledger_tx, ledger_posting) and the audit log are append-only: UPDATE and DELETE are
refused by triggers on PostgreSQL and SQLite. On PostgreSQL a deferred constraint trigger also
checks at commit that every transaction's postings sum to zero per asset.
"""

import sqlalchemy as sa
from alembic import op

from core.columns import AmountType, UtcDateTime

revision = "0003_ledger"
down_revision = "0002_chain"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_APPEND_ONLY = ("ledger_tx", "ledger_posting", "audit_log")

_PG_FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION sge_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION sge_ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE total numeric;
    BEGIN
        SELECT COALESCE(SUM(amount), 0) INTO total FROM ledger_posting WHERE tx_id = NEW.tx_id AND asset = NEW.asset;
        IF total <> 0 THEN
            RAISE EXCEPTION 'ledger transaction % does not balance in %: %', NEW.tx_id, NEW.asset, total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
]


def upgrade() -> None:
    op.create_table(
        "ledger_tx",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("refs", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_ledger_tx_kind", "ledger_tx", ["kind"])
    op.create_table(
        "ledger_posting",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("tx_id", sa.String(200), sa.ForeignKey("ledger_tx.id"), nullable=False),
        sa.Column("account", sa.String(120), nullable=False),
        sa.Column("asset", sa.String(8), nullable=False),
        sa.Column("amount", AmountType(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_ledger_posting_tx_id", "ledger_posting", ["tx_id"])
    op.create_index("ix_ledger_posting_account", "ledger_posting", ["account", "asset", "id"])
    op.create_table(
        "ledger_pending",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reserve_tx_id", sa.String(200), sa.ForeignKey("ledger_tx.id"), nullable=False),
        sa.Column("resolve_tx_id", sa.String(200), sa.ForeignKey("ledger_tx.id"), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_ledger_pending_status", "ledger_pending", ["status"])

    op.create_table(
        "operator",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_hint", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_operator_name", "operator", ["name"], unique=True)
    op.create_index("ix_operator_key_hash", "operator", ["key_hash"], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_audit_log_operator_id", "audit_log", ["operator_id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"])

    op.create_table(
        "affiliate",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("affiliate.id"), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("program_id", "wallet", name="uq_affiliate_program_wallet"),
        sa.UniqueConstraint("program_id", "code", name="uq_affiliate_program_code"),
        sa.CheckConstraint("depth >= 1", name="ck_affiliate_depth"),
    )
    op.create_index("ix_affiliate_program_id", "affiliate", ["program_id"])
    op.create_index("ix_affiliate_parent_id", "affiliate", ["parent_id"])
    op.create_table(
        "affiliate_nonce",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "attribution",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("referrer_id", sa.Integer(), sa.ForeignKey("affiliate.id"), nullable=True),
        sa.Column("code", sa.String(8), nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("program_id", "wallet", name="uq_attribution_program_wallet"),
    )
    op.create_index("ix_attribution_referrer_id", "attribution", ["referrer_id"])

    op.create_table(
        "payment_settlement",
        sa.Column("payment_ref", sa.String(160), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("amount", AmountType(), nullable=False),
        sa.Column("asset", sa.String(8), nullable=False),
        sa.Column("rail", sa.String(32), nullable=False),
        sa.Column("referrer_id", sa.Integer(), sa.ForeignKey("affiliate.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settle_tx_id", sa.String(200), sa.ForeignKey("ledger_tx.id"), nullable=True),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("reverse_tx_id", sa.String(200), sa.ForeignKey("ledger_tx.id"), nullable=True),
        sa.Column("reverse_reason", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("reversed_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_payment_settlement_program_id", "payment_settlement", ["program_id"])
    op.create_index("ix_payment_settlement_wallet", "payment_settlement", ["wallet"])
    op.create_table(
        "commission",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("program.id"), nullable=False),
        sa.Column("payment_ref", sa.String(160), sa.ForeignKey("payment_settlement.payment_ref"), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("affiliate_id", sa.Integer(), sa.ForeignKey("affiliate.id"), nullable=False),
        sa.Column("base_amount", AmountType(), nullable=False),
        sa.Column("rate_bps", sa.Integer(), nullable=False),
        sa.Column("amount", AmountType(), nullable=False),
        sa.Column("asset", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payable_at", UtcDateTime(), nullable=False),
        sa.Column("accrue_tx_id", sa.String(200), sa.ForeignKey("ledger_tx.id"), nullable=False),
        sa.Column("release_tx_id", sa.String(200), nullable=True),
        sa.Column("released_at", UtcDateTime(), nullable=True),
        sa.Column("payout_key", sa.String(200), nullable=True),
        sa.Column("paid_at", UtcDateTime(), nullable=True),
        sa.Column("cancel_tx_id", sa.String(200), nullable=True),
        sa.Column("cancelled_at", UtcDateTime(), nullable=True),
        sa.Column("clawback_tx_id", sa.String(200), nullable=True),
        sa.Column("clawed_back_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("payment_ref", "level", name="uq_commission_payment_level"),
        sa.CheckConstraint("level >= 1", name="ck_commission_level"),
    )
    op.create_index("ix_commission_program_id", "commission", ["program_id"])
    op.create_index("ix_commission_affiliate_id", "commission", ["affiliate_id"])
    op.create_index("ix_commission_status", "commission", ["status"])
    op.create_index("ix_commission_payable_at", "commission", ["payable_at"])
    op.create_index("ix_commission_payout_key", "commission", ["payout_key"])

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for sql in _PG_FUNCTIONS:
            op.execute(sql)
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION sge_refuse_change()"
            )
        op.execute(
            "CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sge_ledger_check_balanced()"
        )
    elif dialect == "sqlite":
        for table in _APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting")
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS sge_ledger_check_balanced()")
        op.execute("DROP FUNCTION IF EXISTS sge_refuse_change()")
    elif dialect == "sqlite":
        for table in _APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    for table in (
        "commission",
        "payment_settlement",
        "attribution",
        "affiliate_nonce",
        "affiliate",
        "audit_log",
        "operator",
        "ledger_pending",
        "ledger_posting",
        "ledger_tx",
    ):
        op.drop_table(table)
