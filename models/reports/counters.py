"""Counting refusals that leave no other trace in the DB (the reports' fraud and auth sections).

`count_event` adds one in the caller's transaction; `count_event_now` in its own short one (for request
paths that are refusing, where no other write happens). Neither ever raises: a counter that cannot be
written is logged, never a reason to answer differently."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from core.columns import utcnow
from core.db import table_of
from core.logs import get_logger
from models.reports.tables import SecurityEventCount

log = get_logger(__name__)
_COUNTS = table_of(SecurityEventCount)

OPERATOR_AUTH = "operator_auth"
SIWE = "siwe"
ATTRIBUTION = "attribution"


def count_event(session: Session, kind: str, code: str) -> None:
    conn = session.connection()
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_COUNTS)
    stmt = insert.values(day=utcnow().date(), kind=kind[:32], code=code[:64], count=1)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["day", "kind", "code"], set_={"count": _COUNTS.c["count"] + 1})
    )


def count_event_now(engine: Engine | None, kind: str, code: str) -> None:
    if engine is None:
        return
    try:
        with Session(engine) as session:
            count_event(session, kind, code)
            session.commit()
    except Exception as exc:  # noqa: BLE001 - a counter must never change the answer
        log.warning("security_event_not_counted", kind=kind, code=code, error=str(exc)[:200])
