"""Both API surfaces in-process without servers (the security tests' fixtures, reused)."""

from tests.security.conftest import local_settings, surfaces  # noqa: F401
