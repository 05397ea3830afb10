"""KYC providers: the platform-side interface and one adapter (Sumsub's public API shape).

    interface.py  KycOutcome, KycCheck (the normalised applicant), the provider-client protocol, errors
    sumsub.py     Sumsub: applicants API, request signing (X-App-Access-Sig), webhook digest
                  (X-Payload-Digest), SumsubClient, parse of applicants and webhooks

Only the provider's applicant reference and the review outcome ever leave this package: no documents,
names or dates of birth are read or stored (the provider holds them). Layering: `core/` and `models/`
only, like the payment providers beside it.
"""
