"""The base layer: settings, money, tables, DB engine/session and Alembic migrations.

Importing this package registers every table on `SQLModel.metadata` (Alembic and tests rely on it).
"""

from models import platform  # noqa: F401
from models import affiliates, commissions, ledger, operators, programs  # noqa: F401
from models import chain  # noqa: F401
from models import idempotency, onboarding  # noqa: F401
from models import payments  # noqa: F401
