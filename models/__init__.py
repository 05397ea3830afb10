"""Tables, money types and the domain rules (ledger, commissions, affiliates, operators, programs);
the activity and workflow contract types. Imports only `core/`.

Importing this package registers every table on `SQLModel.metadata` (Alembic and tests rely on it).
"""

from models import (  # noqa: F401
    affiliates,
    audit,
    auth_nonces,
    chain,
    commissions,
    idempotency,
    ledger,
    onboarding,
    operators,
    payments,
    platform,
    programs,
    recon,
    safe_txs,
    subjects,
    suspense,
    treasury,
)
