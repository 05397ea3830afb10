"""Fixtures for the KYC tests: the base settings plus a KYC webhook secret."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.settings import Settings

KYC_WEBHOOK_SECRET = "kyc-webhook-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"kyc_webhook_secret": SecretStr(KYC_WEBHOOK_SECRET)})
