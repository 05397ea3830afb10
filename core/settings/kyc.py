"""The KYC provider (Sumsub's API shape) and the local KYC sandbox that stands in for it."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class KycFields(BaseModel):
    """KYC provider credentials, the onboarding flow's wait for an outcome, and the KYC sandbox."""

    kyc_api_url: str = Field("https://api.sumsub.com", description="KYC provider API base URL (Sumsub's shape).")
    kyc_app_token: SecretStr | None = Field(None, description="KYC provider app token (X-App-Token). Secret.")
    kyc_secret_key: SecretStr | None = Field(
        None, description="KYC provider secret key that signs requests (X-App-Access-Sig). Secret."
    )
    kyc_webhook_secret: SecretStr | None = Field(
        None, description="KYC webhook secret (X-Payload-Digest HMAC). Secret."
    )
    kyc_level_name: str = Field("basic-kyc-level", description="KYC provider verification level for applicants.")
    kyc_wait_seconds: int = Field(
        7 * 86400,
        ge=10,
        le=90 * 86400,
        description="How long an onboarding flow waits for a KYC outcome before it ends expired.",
    )
    kyc_sandbox_port: int = Field(8789, ge=1, le=65535, description="Port of the local KYC sandbox.")
    kyc_sandbox_host: str = Field("127.0.0.1", description="Bind address of the local KYC sandbox.")
    kyc_sandbox_public_url: str = Field(
        "", description="Base URL of the KYC sandbox's hosted verification pages (default http://<host>:<port>)."
    )

    @property
    def kyc_sandbox_base_url(self) -> str:
        return self.kyc_sandbox_public_url or f"http://{self.kyc_sandbox_host}:{self.kyc_sandbox_port}"
