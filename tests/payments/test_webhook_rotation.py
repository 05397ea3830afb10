"""Webhook secret rotation with an overlap: an event signed with the previous secret is accepted until
`SGE_COINBASE_*_WEBHOOK_SECRET_PREVIOUS_UNTIL`, refused after; the previous secret is redacted and
production refuses an overlap without an end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from core.redact import mask_secrets, register_secrets
from core.settings import ConfigError, Settings, load_settings
from models.platform import PaymentProvider
from payments.interface import BadSignature
from payments.webhooks import accepted_secrets, verified_event
from sandbox.webhooks import sign_commerce, sign_hook0
from tests.helpers.payments import BUSINESS_WEBHOOK_SECRET, COMMERCE_WEBHOOK_SECRET
from tests.helpers.production import safe_production
from tests.payments.test_webhook_api import COMMERCE, business_request, commerce_body, commerce_headers

OLD_COMMERCE = "old-commerce-secret-being-rotated-out-0001"
OLD_BUSINESS = "old-business-secret-being-rotated-out-0002"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def rotating(settings: Settings, until: datetime | None) -> Settings:
    return settings.model_copy(
        update={
            "coinbase_commerce_webhook_secret_previous": SecretStr(OLD_COMMERCE),
            "coinbase_commerce_webhook_secret_previous_until": until,
            "coinbase_business_webhook_secret_previous": SecretStr(OLD_BUSINESS),
            "coinbase_business_webhook_secret_previous_until": until,
        }
    )


def business_signed_with(secret: str) -> tuple[bytes, dict[str, str]]:
    body, headers = business_request("68f7a946db0529ea9b6d3a12", "pay-1", "hook0-rot-1")
    t = int(datetime.now(UTC).timestamp())
    signed = [(n, headers[n]) for n in ("content-type", "x-event-id", "x-event-type")]
    return body, {**headers, "x-hook0-signature": sign_hook0(secret, t, signed, body)}


def test_the_previous_secret_is_accepted_only_inside_the_window(settings):
    during = rotating(settings, NOW + timedelta(days=7))
    assert accepted_secrets(during, PaymentProvider.COINBASE_COMMERCE, NOW) == [COMMERCE_WEBHOOK_SECRET, OLD_COMMERCE]
    assert accepted_secrets(during, PaymentProvider.COINBASE_BUSINESS, NOW) == [BUSINESS_WEBHOOK_SECRET, OLD_BUSINESS]
    after = NOW + timedelta(days=7, seconds=1)
    assert accepted_secrets(during, PaymentProvider.COINBASE_COMMERCE, after) == [COMMERCE_WEBHOOK_SECRET]
    # No end given: the old secret is not accepted at all (and production refuses the setting).
    assert accepted_secrets(rotating(settings, None), PaymentProvider.COINBASE_COMMERCE, NOW) == [
        COMMERCE_WEBHOOK_SECRET
    ]
    # Without a current secret the endpoint stays unconfigured: the previous one alone never verifies.
    bare = during.model_copy(update={"coinbase_commerce_webhook_secret": None})
    assert accepted_secrets(bare, PaymentProvider.COINBASE_COMMERCE, NOW) == [None]


@pytest.mark.parametrize("provider", [PaymentProvider.COINBASE_COMMERCE, PaymentProvider.COINBASE_BUSINESS])
def test_old_signature_verifies_during_the_overlap_and_is_refused_after(settings, provider):
    now = datetime.now(UTC)
    old = OLD_COMMERCE if provider == PaymentProvider.COINBASE_COMMERCE else OLD_BUSINESS
    if provider == PaymentProvider.COINBASE_COMMERCE:
        body = commerce_body("ch-rot", "pay-1", event_id="evt-rot")
        headers = {"x-cc-webhook-signature": sign_commerce(old, body)}
    else:
        body, headers = business_signed_with(old)
    during = rotating(settings, now + timedelta(hours=1))
    event = verified_event(provider, accepted_secrets(during, provider), body, headers)
    assert event.provider == provider
    ended = rotating(settings, now - timedelta(seconds=1))
    with pytest.raises(BadSignature):
        verified_event(provider, accepted_secrets(ended, provider), body, headers)
    # A signature under neither secret is refused during the overlap too.
    with pytest.raises(BadSignature):
        verified_event(provider, [COMMERCE_WEBHOOK_SECRET, "some-other-secret"], body, {**headers, **_forged(headers)})


def _forged(headers: dict[str, str]) -> dict[str, str]:
    if "x-cc-webhook-signature" in headers:
        return {"x-cc-webhook-signature": "00" * 32}
    return {"x-hook0-signature": headers["x-hook0-signature"].rsplit("v1=", 1)[0] + "v1=" + "00" * 32}


async def test_through_the_api(settings, db_engine, temporal_dev):
    body = commerce_body("ch-rot-api", "pay-nobody", event_id="evt-rot-api")
    headers = commerce_headers(body, OLD_COMMERCE)
    for until, status in ((datetime.now(UTC) + timedelta(hours=1), 200), (datetime.now(UTC) - timedelta(hours=1), 401)):
        app = create_app(rotating(settings, until), temporal_client=temporal_dev.client, engine=db_engine)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                resp = await client.post(COMMERCE, content=body, headers=headers)
        assert resp.status_code == status, resp.text
        if status == 401:
            assert resp.json()["error"]["code"] == "bad_signature"


def test_the_previous_secret_is_redacted(settings):
    register_secrets(rotating(settings, NOW))
    assert mask_secrets(f"leaked {OLD_COMMERCE} and {OLD_BUSINESS}") == "leaked *** and ***"


def test_production_refuses_an_overlap_without_an_end():
    with pytest.raises(ConfigError) as err:
        load_settings(**safe_production(coinbase_commerce_webhook_secret_previous=OLD_COMMERCE))
    assert err.value.setting == "SGE_COINBASE_COMMERCE_WEBHOOK_SECRET_PREVIOUS_UNTIL"
    assert OLD_COMMERCE not in str(err.value)
    load_settings(
        **safe_production(
            coinbase_commerce_webhook_secret_previous=OLD_COMMERCE,
            coinbase_commerce_webhook_secret_previous_until="2026-12-31T00:00:00Z",
        )
    )


def test_the_overlap_end_needs_a_time_zone():
    with pytest.raises(ConfigError):
        load_settings(**safe_production(coinbase_commerce_webhook_secret_previous_until="2026-12-31T00:00:00"))
