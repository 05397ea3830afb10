"""Local stand-ins for external services, used by `sge dev up`, the demo and the tests. Today: the payment
sandbox, which speaks Coinbase Commerce's and Coinbase Business's HTTP APIs and sends signed webhooks.

    app.py           the FastAPI app and how its parts are wired (`create_sandbox_app`, `sge payments-sandbox`)
    store.py         configuration, the charges held in memory, their wire formats
    commerce_api.py  Coinbase Commerce charges API
    business_api.py  Coinbase Business payment-links API (CDP JWT checked)
    checkout.py      hosted checkout pages and payer actions (pay, underpay, fail, expire), expiry
    webhooks.py      signed webhook delivery with retries and the duplicate / out-of-order switches

Layering: imports `core/` and the formats of `payments/` (e.g. the CDP key format) only — never
`activities/`, `workflows/`, `temporal/` or `api/`. Its webhook signing is its own code, so the sandbox
and the platform's verification check each other.
"""
