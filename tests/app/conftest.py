"""The user's app: in-process page checks reuse the security suite's two-surface client."""

from tests.security.conftest import local_settings, surfaces_client  # noqa: F401 - fixtures and helper
