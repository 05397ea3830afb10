"""Payment providers: wire formats, webhook signatures, JWT auth, HTTP clients, and the create-charge
protocol — usable without Temporal (the activities in `activities/payments.py` are thin shells over it).

    interface.py  ProviderCharge, the provider-client protocol, ProviderError / PaymentsNotConfigured,
                  the webhook rejections (each maps to one HTTP answer)
    wire.py       what both providers' formats share: metadata keys, decimal money strings, JSON fields
    http.py       one provider call over httpx → JSON, with today's retryable/permanent rules
    commerce.py   Coinbase Commerce: charges, `X-CC-Webhook-Signature`, CommerceClient
    business.py   Coinbase Business: payment links, `X-Hook0-Signature`, BusinessClient
    cdp_jwt.py    the CDP API-key JWT that authenticates Business requests
    webhooks.py   verify + parse one delivery into a `models.payments.PaymentEvent` (all the API needs)
    charges.py    create (crash-safe reservation), read and close a payment for a flow

Layering: imports `core/` and `models/` only (the tables and payload types stay in `models/payments.py`).
The API imports verification and parsing (`payments.webhooks`); the sandbox imports formats only; nothing
here imports `activities/`, `workflows/`, `temporal/` or `api/`. Errors are `core.errors.DomainError`s;
the worker's interceptor turns them into Temporal failures.
"""
