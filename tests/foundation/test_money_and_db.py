import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from core import migrate
from core.columns import utcnow
from core.db import session_scope
from models.money import AmountError, format_amount, parse_amount
from models.platform import PaymentProvider, PlatformFlag, Program


@pytest.mark.parametrize(
    ("text_", "scale", "minor"),
    [("100.00", 6, 100_000_000), ("0.000001", 6, 1), ("1000", 18, 10**21), ("-2.5", 6, -2_500_000), ("1.10", 1, 11)],
)
def test_parse_amount_is_exact(text_, scale, minor):
    assert parse_amount(text_, scale) == minor


@pytest.mark.parametrize("bad", ["1.0000001", "1e3", "abc", "", "1,00", " 1.2.3"])
def test_parse_amount_rejects_what_it_cannot_represent(bad):
    with pytest.raises(AmountError):
        parse_amount(bad, 6)


def test_parse_amount_refuses_floats():
    with pytest.raises(AmountError):
        parse_amount(100.0, 6)  # type: ignore[arg-type]


def test_format_roundtrips():
    for minor in (0, 1, 100_000_000, -1, 10**21 + 7):
        assert parse_amount(format_amount(minor, 18), 18) == minor
    assert format_amount(100_000_000, 6) == "100.000000"


def test_wide_amounts_survive_the_database(db_engine):
    claim = 1000 * 10**18 + 1  # beyond BIGINT
    with session_scope(db_engine) as session:
        session.add(
            Program(
                slug="p1",
                name="P1",
                treasury_address="0x" + "ab" * 20,
                fee_usd_minor=100_000_000,
                claim_amount_minor=claim,
                commission_bps=[1000, 500],
                payment_provider=PaymentProvider.COINBASE_BUSINESS,
            )
        )
    with Session(db_engine) as session:
        program = session.exec(select(Program)).one()
    assert program.claim_amount_minor == claim
    assert isinstance(program.claim_amount_minor, int)
    assert program.created_at.tzinfo is not None
    assert program.payment_provider is PaymentProvider.COINBASE_BUSINESS


def test_program_slug_is_unique(db_engine):
    def add():
        with session_scope(db_engine) as session:
            session.add(
                Program(
                    slug="dup",
                    name="D",
                    treasury_address="0x" + "00" * 20,
                    fee_usd_minor=1,
                    claim_amount_minor=1,
                    commission_bps=[1000],
                )
            )

    add()
    with pytest.raises(Exception, match=r"(?i)unique"):
        add()


def test_naive_datetimes_are_refused(db_engine):
    from datetime import datetime

    with pytest.raises(Exception, match="naive"):
        with session_scope(db_engine) as session:
            session.add(PlatformFlag(key="x", value=True, updated_at=datetime(2026, 1, 1)))
    with session_scope(db_engine) as session:
        session.add(PlatformFlag(key="x", value=True, updated_at=utcnow()))


def test_migrations_go_down_and_up_again(db_engine):
    assert migrate.current(db_engine) == migrate.head()
    migrate.downgrade(db_engine, "base")
    with db_engine.connect() as conn:
        tables = conn.dialect.get_table_names(conn)
    assert "program" not in tables
    migrate.upgrade(db_engine)
    assert migrate.current(db_engine) == migrate.head()
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM program")).scalar() == 0


def test_the_migrations_build_exactly_the_models_schema(db_engine):
    """Every table, column and index a model declares comes from a migration (and nothing else): a model
    change without its migration, or an index only the migration has, shows here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import models  # noqa: F401 - registers every table

    with db_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")] == []
