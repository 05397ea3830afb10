"""Everything the tests share that is not a fixture: conftest.py files only define fixtures (built
from these), and no test module imports from a conftest.py or from another test module.

- `processes`: anvil on a free port (`AnvilProcess`, `start_anvil`).
- `database`: `TestDatabase`, the per-session migrated database (SQLite, or PostgreSQL when
  SGE_TEST_DATABASE_URL is set).
- `temporal`: `temporal_address`.
- `workflows`: test workflows (`PaymentSignalRecorder`). Kept apart: Temporal's sandbox re-imports a
  workflow's module, so it imports nothing but passed-through models.
- `chain`: the contract driver on anvil (`Chain`, `deploy_chain`, `ETH`, `role`, `unauthorized`).
- `ledger`: programs, affiliates and operators in the database; row counts; the ledger invariants.
- `payments`: provider credentials, payment programs, the sandbox configuration, `ServerThread`,
  sandbox actions (`act`) and the webhooks a receiver got, verified and parsed (`received_events`).
- `relayer`: `make_settings` for a relayer on a given anvil; request and row helpers.
- `flows`: a scripted stand-in world for the onboarding flow's and payment aftercare's activities
  (`World`), a worker running them on a test's own task queue (`running`), and history readers.
"""
