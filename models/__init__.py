"""Tables, money types and the domain rules (ledger, commissions, affiliates, operators, programs);
the activity and workflow contract types. Imports only `core/`.

Importing this package registers every table on `SQLModel.metadata` (Alembic and tests rely on it).
"""

from models import platform  # noqa: F401
from models import affiliates, commissions, ledger, operators, programs  # noqa: F401
from models import chain  # noqa: F401
from models import idempotency, onboarding  # noqa: F401
from models import payments  # noqa: F401
