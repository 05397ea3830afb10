"""Local stand-ins for external services, used by `sge dev up`, the demo and the tests. Today: the payment
sandbox, which speaks Coinbase Commerce's and Coinbase Business's HTTP APIs and sends signed webhooks.

    app.py           the FastAPI app and how its parts are wired (`create_sandbox_app`, `sge payments-sandbox`)
    store.py         configuration, the charges held in memory, their wire formats
    commerce_api.py  Coinbase Commerce charges API
    business_api.py  Coinbase Business payment-links API (CDP JWT checked)
    checkout.py      payer and merchant actions (pay, underpay, multiple, fail, expire, refund, resolve),
                     expiry, and the table of events and snapshots each produces
    commerce_outcomes.py  what each action does to a Commerce charge (timeline, payments[]) and its events
    business_outcomes.py  the same for a Business payment link (status, settlement)
    hosted_page.py   the hosted checkout page: the charge as it stands, a button or form per action
    webhooks.py      signed webhook delivery with retries and the duplicate / out-of-order switches
    kyc_app.py       the KYC sandbox (`sge kyc-sandbox`): a Sumsub applicants stand-in with approve / reject /
                     review buttons; kyc_store.py its applicants, kyc_webhooks.py its signed, retried webhooks

Layering: imports `core/` and the formats of `payments/` (e.g. the CDP key format) only — never
`activities/`, `workflows/`, `temporal/` or `api/`. Its webhook signing is its own code, so the sandbox
and the platform's verification check each other.
"""
