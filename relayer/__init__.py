"""The relayer: the only component holding a hot key. Every platform transaction goes through its
outbox, exactly once per idempotency key (ARCHITECTURE §5).

Usable without Temporal: the CLI, the benchmark and tests drive `Relayer` directly; the Temporal
activities (activities/relayer.py) are a thin shell over it. Modules:

- `engine`      `Relayer`: submit, poll, wait for finality, read; built up from `base` (key, RPC
                client, chain facts, DB, nonces, signing), `submission` (record → sign → persist →
                broadcast) and `tracking` (receipts, confirmations, reorgs, replacement)
- `fees`        the EIP-1559 fee policy, pure functions (market fees, ≥ 10 % bumps, the ceiling)
- `outbox`      light row types for the outbox tables, prebuilt statements, receipt parsing
- `group_commit` batches concurrent submits into one nonce-locked DB transaction
- `signing`     the type-2 transaction signer that holds the key
- `errors`      the `RelayerError` family (`core.errors.DomainError`s with retryable semantics)
- `status`      the relayer's health for `sge relayer status` and readiness checks

Layering: imports `core/`, `models/` (the outbox tables and the payload types stay in
models/chain.py) and `contracts/` only; never `activities/`, `workflows/`, `temporal/`, `api/` or
`cli/`.
"""

from relayer.engine import Relayer
from relayer.errors import (
    BadRequest,
    BalanceTooLow,
    ChainUnavailable,
    IdempotencyConflict,
    Misconfigured,
    RelayerError,
    UnknownTransaction,
)
from relayer.status import relayer_status

__all__ = [
    "BadRequest",
    "BalanceTooLow",
    "ChainUnavailable",
    "IdempotencyConflict",
    "Misconfigured",
    "Relayer",
    "RelayerError",
    "UnknownTransaction",
    "relayer_status",
]
