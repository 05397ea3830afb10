"""The relayer: the only component holding a hot key. Every platform transaction goes through its
outbox, exactly once per idempotency key (ARCHITECTURE §5).

Layering: imports `core/`, `models/` and `contracts/` only; never `activities/`, `workflows/`,
`temporal/`, `api/` or `cli/`.
"""
